// Fuzz target: the JSON Lines event path of `fluxcap run` (tools/fluxcap/) on arbitrary
// bytes. The input is read as a file of lines through the tool's line reader (small
// blocks, a small --max-line-bytes) and every line goes through the tool's processor:
// parse, group, update, conditions, write. The first byte picks the memory mode.
//
// Invariants: nothing crashes; a bad line writes nothing; for an event, the output
// line is itself a valid event line (the tool's own validating parser accepts it),
// and every top-level field other than the tag map and the detections field is
// byte-identical and in the same order (checked by an independent scanner); the
// group key found without a full parse (line_processor::group_key_of, which routes
// lines under --threads) is the full parse's; finally the group states survive a
// save/load round trip.
#include "../../tools/fluxcap/io.hpp"
#include "../../tools/fluxcap/json_event.hpp"
#include "../../tools/fluxcap/json_schema.hpp"
#include "../../tools/fluxcap/line_parser.hpp"
#include "../../tools/fluxcap/process.hpp"
#include "../../tools/fluxcap/spec_file.hpp"

#include <fluxcap/serialize.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

constexpr std::string_view spec_text = R"(rules:
  - rulename: par
    action: parent
    parent: ppid
    child: pid
    tags: [p1, p2]
  - rulename: anc
    action: ancestor
    parent: ppid
    child: pid
    tags: [a]
  - rulename: seq
    action: temporal
    ordered: true
    groupby: [user]
    tags: [x, y, z]
  - rulename: any
    action: temporal
    tags: [u, v]
  - rule_name: low
    tags:
      - {name: s, prefix_get: ppid, prefix_put: pid, put_condition: s}
      - {name: t, put_condition: s}
conditions:
  d1: par.p1 and not 1 of seq.*
  d2: all of them
  d3:
    rule: seq
    condition: z or (x and not y)
  d4: 1 of other.f*
)";

const fluxcap_cli::loaded_spec& fuzz_spec() {
  static const fluxcap_cli::loaded_spec s = fluxcap_cli::load_spec_text(spec_text, "fuzz.yaml");
  return s;
}

const fluxcap_cli::json_schema& fuzz_schema() {
  static const fluxcap_cli::json_schema schema = [] {
    fluxcap_cli::field_config f;
    f.tags_field = "sigma";
    f.detections_field = "detections";
    f.group_key = "host";
    f.condition_rules = fluxcap_cli::condition_rules(fuzz_spec());
    return fluxcap_cli::json_schema(fuzz_spec().prog, f);
  }();
  return schema;
}

/// A top-level member of a valid JSON object: raw key (quotes included) and raw value.
struct member {
  std::string_view key;
  std::string_view value;
};

std::size_t skip_ws(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

/// Past the string starting at the quote at `i`.
std::size_t skip_string(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  std::abort();  // the line was validated: strings are closed
}

/// Past the value starting at `i` (the line is valid JSON).
std::size_t skip_value(std::string_view s, std::size_t i) {
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    std::size_t depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    std::abort();
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t' &&
         s[i] != '\r' && s[i] != '\n')
    ++i;
  return i;
}

/// The members of the top-level object of a valid line, in order.
std::vector<member> members(std::string_view s) {
  std::vector<member> out;
  std::size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') std::abort();
  i = skip_ws(s, i + 1);
  while (i < s.size() && s[i] != '}') {
    if (s[i] != '"') std::abort();
    const std::size_t key_end = skip_string(s, i);
    const std::size_t colon = skip_ws(s, key_end);
    if (colon >= s.size() || s[colon] != ':') std::abort();
    const std::size_t v = skip_ws(s, colon + 1);
    const std::size_t v_end = skip_value(s, v);
    out.push_back({s.substr(i, key_end - i), s.substr(v, v_end - v)});
    i = skip_ws(s, v_end);
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  return out;
}

/// Members the writer must leave alone: all but the tag map and the detections field.
/// Keys written with escapes are left out (they may spell either of those).
std::vector<member> untouched(std::string_view line) {
  std::vector<member> out;
  for (const auto& m : members(line)) {
    if (m.key.find('\\') != std::string_view::npos) continue;
    if (m.key == "\"sigma\"" || m.key == "\"detections\"") continue;
    out.push_back(m);
  }
  return out;
}

bool same(const std::vector<member>& a, const std::vector<member>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].value != b[i].value) return false;
  return true;
}

template <class Memory>
void run(std::span<const std::uint8_t> bytes, const Memory& memory) {
  using processor = fluxcap_cli::line_processor<Memory>;
  fluxcap_cli::event_limits limits;
  limits.line.max_tags = 64;
  limits.line.max_depth = 32;
  limits.max_groups = 6;
  processor proc(fuzz_spec(), fuzz_schema(), memory, limits, fluxcap::hash_key{1, 2});
  fluxcap_cli::line_parser check(fuzz_schema());
  fluxcap_cli::json_event check_event(fuzz_schema());

  const int fd = ::memfd_create("fuzz_jsonl", 0);
  if (fd < 0) std::abort();
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) std::abort();
    written += static_cast<std::size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) std::abort();

  const std::size_t pad = fluxcap_cli::line_parser::padding();
  fluxcap_cli::line_reader reader(fd, "fuzz", pad, 512, 64);
  std::string out, problem, copy, peeked, expected_key;
  std::string_view line;
  while (reader.next(line)) {
    if (reader.too_long()) {
      reader.skip_rest([](std::string_view) {});
      if (line.size() != 512) std::abort();
      continue;
    }
    if (line.find('\n') != std::string_view::npos) std::abort();
    out.clear();
    const auto outcome = proc.process(line, reader.readable(), out, problem);
    (void)proc.group_key_of(line, reader.readable(), peeked);  // any line: no crash
    if (outcome == processor::outcome::bad) {
      if (!out.empty() || problem.empty()) std::abort();
      continue;
    }
    if (outcome == processor::outcome::blank) {
      if (out != line) std::abort();
      continue;
    }
    // The output is a valid event line for the tool itself.
    copy.assign(out);
    copy.append(pad, ' ');
    if (!check.parse(std::string_view(copy.data(), out.size()), copy.size(), check_event, problem))
      std::abort();
    if (!same(untouched(line), untouched(out))) std::abort();
    // --threads routes an event by the group key found without a full parse: it must be
    // the key of the full parse.
    if (!check.parse(line, reader.readable(), check_event, problem)) std::abort();
    expected_key.clear();
    if (const auto& v = check_event.columns[fuzz_schema().group_column()]) {
      expected_key = '=';
      expected_key.append(*v);
    }
    if (!proc.group_key_of(line, reader.readable(), peeked) || peeked != expected_key) std::abort();
  }
  ::close(fd);

  const auto saved = fluxcap::save_store(proc.capacitor(), proc.store());
  typename processor::store_type restored(proc.capacitor().make_state());
  fluxcap::load_store(proc.capacitor(), std::span<const std::uint8_t>(saved), restored);
  if (restored.size() != proc.store().size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  // Small capacities, so that generations rotate and sets turn into filters. Built
  // once: sizing a bloom memory costs milliseconds.
  static const fluxcap::exact_memory exact({6, 1e-4, 3});
  static const fluxcap::bloom_memory bloom({40, 1e-2, 3});
  if ((data[0] & 1U) == 0)
    run(bytes, exact);
  else
    run(bytes, bloom);
  return 0;
}
