// Unit tests of the fluxcap tool's input path (tools/fluxcap/): the line reader's bound on
// line length (with tiny read blocks, so that lines straddle refills), the line parser's
// bounds on tags and nesting, and the processor's bound on groups. End-to-end tests of
// the same limits are in cli_test.sh.
#include "../../tools/fluxcap/io.hpp"
#include "../../tools/fluxcap/json_event.hpp"
#include "../../tools/fluxcap/json_schema.hpp"
#include "../../tools/fluxcap/line_parser.hpp"
#include "../../tools/fluxcap/process.hpp"
#include "../../tools/fluxcap/spec_file.hpp"

#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// A memory file holding `text`, read back through a line_reader.
class memory_input {
 public:
  explicit memory_input(std::string_view text) : fd_(::memfd_create("cli_units", 0)) {
    REQUIRE(fd_ >= 0);
    REQUIRE(::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    REQUIRE(::lseek(fd_, 0, SEEK_SET) == 0);
  }
  ~memory_input() { ::close(fd_); }
  memory_input(const memory_input&) = delete;
  memory_input& operator=(const memory_input&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

struct read_line {
  std::string text;  ///< the whole line (the head and what skip_rest passed on)
  bool too_long = false;
};

std::vector<read_line> read_all(std::string_view text, std::size_t max_line, std::size_t block,
                                std::uint64_t* bytes = nullptr) {
  memory_input in(text);
  fluxcap_cli::line_reader reader(in.fd(), "mem", fluxcap_cli::line_parser::padding(), max_line,
                                  block);
  std::vector<read_line> out;
  std::string_view line;
  while (reader.next(line)) {
    read_line r{std::string(line), reader.too_long()};
    if (r.too_long) {
      CHECK(line.size() == max_line);
      reader.skip_rest([&](std::string_view piece) { r.text.append(piece); });
    }
    out.push_back(std::move(r));
  }
  if (bytes != nullptr) *bytes = reader.bytes();
  return out;
}

}  // namespace

TEST_CASE("line_reader: lines over max_line are flagged and their rest streamed") {
  const std::string text = "short\n" + std::string(10, 'a') + "\n" + std::string(11, 'b') + "\n\n" +
                           std::string(100, 'c') + "\nend";
  for (const std::size_t block : {1, 3, 8, 64, 4096}) {
    CAPTURE(block);
    std::uint64_t bytes = 0;
    const auto lines = read_all(text, 10, block, &bytes);
    REQUIRE(lines.size() == 6);
    CHECK(lines[0].text == "short");
    CHECK_FALSE(lines[0].too_long);
    CHECK(lines[1].text == std::string(10, 'a'));  // exactly max_line: fine
    CHECK_FALSE(lines[1].too_long);
    CHECK(lines[2].text == std::string(11, 'b'));  // one byte over
    CHECK(lines[2].too_long);
    CHECK(lines[3].text.empty());
    CHECK(lines[4].text == std::string(100, 'c'));
    CHECK(lines[4].too_long);
    CHECK(lines[5].text == "end");
    CHECK(bytes == text.size());
  }
  // A too-long last line without '\n', and a too-long line the caller does not consume.
  const auto last = read_all("x\n" + std::string(50, 'y'), 8, 4);
  REQUIRE(last.size() == 2);
  CHECK((last[1].too_long && last[1].text == std::string(50, 'y')));
  memory_input in(std::string(30, 'z') + "\nafter\n");
  fluxcap_cli::line_reader reader(in.fd(), "mem", fluxcap_cli::line_parser::padding(), 8, 4);
  std::string_view line;
  REQUIRE(reader.next(line));
  CHECK(reader.too_long());
  REQUIRE(reader.next(line));  // skips the rest by itself
  CHECK_FALSE(reader.too_long());
  CHECK(line == "after");
  CHECK_FALSE(reader.next(line));
}

TEST_CASE("line_reader: a UTF-8 byte order mark at the start is skipped, whatever the blocks") {
  const std::string bom = "\xef\xbb\xbf";
  for (const std::size_t block : {1, 2, 3, 4, 64}) {
    CAPTURE(block);
    std::uint64_t bytes = 0;
    auto lines = read_all(bom + "{}\n" + bom + "x\n", 100, block, &bytes);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].text == "{}");
    CHECK(lines[1].text == bom + "x");  // only at the start of the input
    CHECK(bytes == 11);
    lines = read_all(bom, 100, block, &bytes);  // nothing but the mark: no line
    CHECK(lines.empty());
    CHECK(bytes == 3);
    lines = read_all("\xef\xbb", 100, block);  // not a whole mark: a line like any other
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].text == "\xef\xbb");
    lines = read_all(bom + std::string(20, 'a') + "\nb", 8, block);  // the mark is not counted
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].too_long);
    CHECK(lines[0].text == std::string(20, 'a'));
  }
}

namespace {

const char* const spec_text = R"(rules:
  - rulename: seq
    action: temporal
    tags: [a, b]
)";

struct parsed {
  bool ok;
  std::string problem;
};

parsed parse_with(const fluxcap_cli::line_limits& limits, const std::string& line) {
  const auto spec = fluxcap_cli::load_spec_text(spec_text, "spec.yaml");
  const fluxcap_cli::json_schema schema(spec.prog, {});
  fluxcap_cli::line_parser parser(schema, limits);
  fluxcap_cli::json_event ev(schema);
  std::string padded = line + std::string(fluxcap_cli::line_parser::padding(), ' ');
  std::string problem;
  const bool ok =
      parser.parse(std::string_view(padded.data(), line.size()), padded.size(), ev, problem);
  return {ok, problem};
}

}  // namespace

TEST_CASE("line_parser: bounds on tags and nesting are bad lines with their message") {
  fluxcap_cli::line_limits limits;
  limits.max_tags = 3;
  limits.max_depth = 4;
  CHECK(parse_with(limits, R"({"sigma":{"seq":{"a":true},"x":{"p":true,"q":false}}})").ok);
  const auto four =
      parse_with(limits, R"({"sigma":{"seq":{"a":true,"b":true},"x":{"p":true,"q":false}}})");
  CHECK_FALSE(four.ok);
  CHECK(four.problem == "tag map 'sigma' has more than 3 tags");
  // The event is level 1: [[[]]] as a field value reaches level 4, one more is too deep.
  CHECK(parse_with(limits, R"({"x":[[[]]]})").ok);
  CHECK(parse_with(limits, R"({"x":{"y":[{}]}})").ok);
  const auto deep = parse_with(limits, R"({"x":[[[[]]]]})");
  CHECK_FALSE(deep.ok);
  CHECK(deep.problem == "nesting deeper than 4 levels of objects and arrays");
  CHECK(parse_with(limits, R"({"x":{"y":[{"z":1}]}})").ok);
  CHECK_FALSE(parse_with(limits, R"({"x":{"y":[{"z":[]}]}})").ok);
  // The defaults: 1024 levels.
  const fluxcap_cli::line_limits defaults;
  CHECK(parse_with(defaults, "{\"x\":" + std::string(1023, '[') + std::string(1023, ']') + "}").ok);
  CHECK_FALSE(
      parse_with(defaults, "{\"x\":" + std::string(1024, '[') + std::string(1024, ']') + "}").ok);
  CHECK_FALSE(
      parse_with(defaults, "{\"x\":" + std::string(200000, '[') + std::string(200000, ']') + "}")
          .ok);
}

TEST_CASE("line_processor: an event that would open a group past max_groups is a bad line") {
  const auto spec = fluxcap_cli::load_spec_text(spec_text, "spec.yaml");
  fluxcap_cli::field_config fields;
  fields.group_key = "host";
  const fluxcap_cli::json_schema schema(spec.prog, fields);
  fluxcap_cli::event_limits limits;
  limits.max_groups = 2;
  using processor = fluxcap_cli::line_processor<fluxcap::exact_memory>;
  processor proc(spec, schema, fluxcap::exact_memory({100, 1e-4, 5}), limits, fluxcap::hash_key{});
  std::string out, problem;
  auto process = [&](const std::string& line) {
    std::string padded = line + std::string(fluxcap_cli::line_parser::padding(), ' ');
    out.clear();
    return proc.process(std::string_view(padded.data(), line.size()), padded.size(), out, problem);
  };
  CHECK(process(R"({"host":"h1","sigma":{"seq":{"a":true}}})") == processor::outcome::event);
  CHECK(process(R"({"sigma":{"seq":{"a":true}}})") == processor::outcome::event);  // null group
  CHECK(process(R"({"host":"h2","sigma":{"seq":{"b":true}}})") == processor::outcome::bad);
  CHECK(problem == "more than 2 groups (--max-groups); this event would open a new one");
  CHECK(out.empty());
  CHECK(proc.store().size() == 2);
  // Known groups go on.
  CHECK(process(R"({"host":"h1","sigma":{"seq":{"b":true}}})") == processor::outcome::event);
  CHECK(out == R"({"host":"h1","sigma":{"seq":{"b":true,"a":true}}})");
  CHECK(process("  \t") == processor::outcome::blank);
  CHECK(out == "  \t");
}

TEST_CASE("line_processor: group_key_of gives the key of the full parse (routing for --threads)") {
  const auto spec = fluxcap_cli::load_spec_text(spec_text, "spec.yaml");
  fluxcap_cli::field_config fields;
  fields.group_key = "host";
  const fluxcap_cli::json_schema schema(spec.prog, fields);
  using processor = fluxcap_cli::line_processor<fluxcap::exact_memory>;
  processor proc(spec, schema, fluxcap::exact_memory({100, 1e-4, 5}), {}, fluxcap::hash_key{});
  fluxcap_cli::line_parser parser(schema);
  fluxcap_cli::json_event ev(schema);
  const std::vector<std::string> lines = {
      R"({"host":"h1","sigma":{}})",
      R"(  { "host" : "h1" , "x":1})",
      R"({"x":{"host":"nested","a":[{"host":1}],"s":"}\"{"},"host":"h2"})",
      R"({"host":"h\u0031"})",
      R"({"ho\u0073t":"h1"})",
      R"({"host":"a\\"})",
      R"({"host":"quote\"inside"})",
      R"({"host":17})",
      R"({"host":-1.5e3 })",
      R"({"host":true})",
      R"({"host":null})",
      R"({"host":""})",
      R"({"other":"x"})",
      R"({})",
      R"({"host":{"a":1}})",
      R"({"host":[1,2]})",
      R"({"pid":"1","s":"\\","host":"after an escaped value"})",
  };
  for (const auto& line : lines) {
    CAPTURE(line);
    const std::string padded = line + std::string(fluxcap_cli::line_parser::padding(), ' ');
    const std::string_view view(padded.data(), line.size());
    std::string problem;
    REQUIRE(parser.parse(view, padded.size(), ev, problem));
    std::string expected;
    if (const auto& v = ev.columns[schema.group_column()]) {
      expected = '=';
      expected.append(*v);
    }
    std::string key;
    CHECK(proc.group_key_of(view, padded.size(), key));
    CHECK(key == expected);
  }
  // Lines that are not events.
  std::string key = "stale";
  const std::string blank(64, ' ');
  CHECK_FALSE(proc.group_key_of(std::string_view(blank.data(), 3), blank.size(), key));
  CHECK(key.empty());
  const std::string bad = "not json" + std::string(64, ' ');
  CHECK_FALSE(proc.group_key_of(std::string_view(bad.data(), 8), bad.size(), key));
  // A bad line may still get a key (a quick look does not validate): where it is
  // processed does not matter, it is refused there.
  const std::string cut = "{\"host\":\"h1\"" + std::string(64, ' ');
  CHECK(proc.group_key_of(std::string_view(cut.data(), 12), cut.size(), key));
  CHECK(key == "=h1");
}
