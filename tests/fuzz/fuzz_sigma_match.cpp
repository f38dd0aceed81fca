// Fuzz target: the Sigma compiler and engine against the naive evaluator (design 8.4).
// The input's bytes are the randomness of a generator that writes a small rule set
// (YAML) and a process tree of events; every event must fire exactly the same rules in
// `engine<dense_fields, exact_memory, pcre2_engine>` as in tests/sigma/naive_evaluator.hpp.
// The generator covers every modifier the compiler knows (re with i/m/s, anchored re,
// cidr, lt..gte, time parts, fieldref, base64/base64offset, wide/utf16*, windash,
// expand, exists, neq, null, cased, all, keywords), Parent/GrandParent/Ancestor fields and
// every condition form, over a small alphabet with wildcards, escapes, case variants and
// non-ASCII code points; event values are drawn from a pool holding the rules' texts as
// each modifier transforms them, so that rare matches (base64, UTF-16) are reached.
// Input layout: one byte per choice; past the end every choice is 0.
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/modifiers.hpp>
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "../sigma/naive_evaluator.hpp"

namespace {

namespace fs = fluxcap::sigma;

class byte_source {
 public:
  byte_source(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  /// A choice in [0, n): one input byte.
  std::size_t pick(std::size_t n) {
    if (n <= 1) return 0;
    const std::uint8_t b = at_ < size_ ? data_[at_] : 0;
    ++at_;
    return b % n;
  }
  bool coin() { return pick(2) == 1; }
  [[nodiscard]] bool exhausted() const { return at_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

/// The profile the rules are written for: ParentUser inline, other Parent*, GrandParent*
/// and Ancestor* fields carried; `Time` is the timestamp; two placeholders for `expand`.
fs::profile fuzz_profile() {
  fs::profile p;
  p.name = "fuzz";
  p.source.category = "process_creation";
  p.group = "host";
  p.process_id = "pid";
  p.parent_id = "ppid";
  p.timestamp = "Time";
  p.inline_parent_fields = {"ParentUser"};
  p.placeholders = {{"dom", {"a-b", "C"}}, {"glob", {"b*", "a?c"}}};
  return p;
}

class generator {
 public:
  explicit generator(byte_source& in) : in_(in) {}

  std::string rules(std::size_t n) {
    std::string out;
    for (std::size_t r = 0; r < n; ++r) {
      if (r) out += "---\n";
      out += "title: rule " + std::to_string(r) + "\nid: r" + std::to_string(r) +
             "\nlogsource: {category: process_creation}\ndetection:\n";
      const std::size_t identifiers = 1 + in_.pick(3);
      std::vector<std::string> names;
      for (std::size_t d = 0; d < identifiers; ++d) {
        const std::string name = (in_.pick(3) == 0 ? "filter_" : "sel_") + std::to_string(d);
        names.push_back(name);
        out += "  " + name + ":\n" + identifier();
      }
      if (in_.pick(5) == 0) {  // a list of conditions: their OR
        out +=
            "  condition:\n    - " + condition(names, 2) + "\n    - " + condition(names, 1) + "\n";
      } else {
        out += "  condition: " + condition(names, 3) + "\n";
      }
    }
    return out;
  }

  fs::dense_field_event event(std::size_t i) {
    fs::dense_field_event e;
    const std::string pid =
        (i > 0 && in_.pick(16) == 0) ? pids_[in_.pick(pids_.size())] : "P" + std::to_string(i);
    std::string ppid = "X" + std::to_string(in_.pick(3));
    if (!pids_.empty() && in_.pick(6) != 0)
      ppid = pids_[pids_.size() - 1 - in_.pick(std::min<std::size_t>(pids_.size(), 5))];
    pids_.push_back(pid);
    e.set("host", in_.pick(5) == 0 ? "h2" : "h1");
    e.set("pid", in_.pick(6) == 0 ? lower(pid) : pid);
    e.set("ppid", ppid);
    for (const char* f : {"Image", "CommandLine", "User", "ParentUser"}) {
      const std::size_t k = in_.pick(12);
      if (k == 0) continue;  // absent
      if (k == 1) {
        e.set(f, "", fs::value_kind::null);
      } else if (k == 2) {
        e.set_array(f, {value_text(), value_text()});
      } else if (k == 3) {
        e.set(f, std::to_string(in_.pick(4)), fs::value_kind::number);
      } else {
        e.set(f, value_text());
      }
    }
    switch (in_.pick(7)) {
      case 1:
        e.set("Num", std::to_string(static_cast<int>(in_.pick(7)) - 1), fs::value_kind::number);
        break;
      case 2:
        e.set("Num", "2.5", fs::value_kind::number);
        break;
      case 3:
        e.set("Num", std::to_string(in_.pick(7)));
        break;
      case 4:
        e.set("Num", in_.coin() ? "true" : "false", fs::value_kind::boolean);
        break;
      case 5:
        e.set("Num", "", fs::value_kind::null);
        break;
      default:
        break;
    }
    static const char* ips[] = {"10.1.2.3",        "192.168.0.1", "::1",    "10.x",
                                "::ffff:10.0.0.9", "10.0.0.0",    "fe80::1"};
    if (in_.pick(3) == 0) e.set("Ip", ips[in_.pick(7)]);
    static const char* times[] = {"2024-01-02T03:04:05Z",      "2024-12-31 23:59:59.000",
                                  "2023-01-01T00:00:00+02:00", "1700000000",
                                  "2024-02-29T12:30:00.123Z",  "not a time",
                                  "2021-01-03T01:02:03Z"};
    if (in_.pick(3) != 0) e.set("Time", times[in_.pick(7)]);
    if (in_.pick(4) == 0)
      e.set("Flag", in_.coin() ? "true" : "False",
            in_.coin() ? fs::value_kind::boolean : fs::value_kind::string);
    return e;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s)
      if (c == 'P') c = 'p';
    return s;
  }

  /// Text from a small alphabet: wildcards, escapes, case variants, dashes for windash
  /// and non-ASCII code points (whole, so that UTF-16 encodings stay possible).
  std::string letters(std::size_t max, bool event_side) {
    static const char* const rule_alphabet[] = {"a", "b", "A",  "c", "-",        "/",           " ",
                                                "*", "?", "\\", "B", "\xc3\xa9", "\xe2\x80\x94"};
    static const char* const event_alphabet[] = {
        "a",        "b",        "A",   "B",  "c",  "-", "/",
        " ",        "*",        "?",   "\\", "\n", "=", "\xe2\x80\x94",
        "\xc3\xa9", "\xc3\x89", "\xff"};
    std::string out;
    const std::size_t n = in_.pick(max + 1);
    for (std::size_t i = 0; i < n; ++i)
      out += event_side ? event_alphabet[in_.pick(std::size(event_alphabet))]
                        : rule_alphabet[in_.pick(std::size(rule_alphabet))];
    return out;
  }

  /// An event value: random letters, or a pool text (a rule text as a modifier turns
  /// it into bytes), possibly case-flipped and with letters around it.
  std::string value_text() {
    if (pool_.empty() || in_.pick(3) == 0) return letters(8, true);
    std::string v = pool_[in_.pick(pool_.size())];
    if (in_.pick(4) == 0)
      for (auto& c : v)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (in_.pick(3) == 0) v = letters(2, true) + v;
    if (in_.pick(3) == 0) v += letters(2, true);
    return v;
  }

  /// Remembers what a rule text can look like in an event.
  void remember(const std::string& text) {
    if (pool_.size() > 64) return;
    std::string plain;  // the text without wildcards and escapes, as an event would hold it
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        plain += text[++i];
      } else if (text[i] != '*' && text[i] != '?') {
        plain += text[i];
      }
    }
    pool_.push_back(plain);
    pool_.push_back(fs::base64_encode(plain));
    for (auto& b : fs::base64offset_variants(plain)) pool_.push_back(b);
    pool_.push_back(fs::encode_utf16(plain, fs::modifier::utf16le));
    pool_.push_back(fs::encode_utf16(plain, fs::modifier::utf16be));
    pool_.push_back(fs::encode_utf16(plain, fs::modifier::utf16));
    pool_.push_back(fs::base64_encode(fs::encode_utf16(plain, fs::modifier::utf16le)));
    std::string dashed = plain;
    for (auto& c : dashed)
      if (c == '-') c = '/';
    pool_.push_back(dashed);
  }

  std::string rule_text() {
    std::string t = letters(4, false);
    remember(t);
    return t;
  }

  static std::string quoted(const std::string& s) { return "'" + s + "'"; }

  std::string values(std::size_t n) {
    if (n == 1) return " " + quoted(rule_text()) + "\n";
    std::string out = " [";
    for (std::size_t i = 0; i < n; ++i) out += (i ? ", " : "") + quoted(rule_text());
    return out + "]\n";
  }

  std::string regex_value() {
    static const char* pieces[] = {"a",   "b",    "A",     ".",   ".*",   "^",   "$",
                                   "\\n", "[ab]", "(a|B)", "\\d", "+",    "?",   "c",
                                   "-",   "\\\\", "(?i)",  "\\s", "b{2}", "[^a]"};
    std::string out;
    const std::size_t n = 1 + in_.pick(5);
    for (std::size_t i = 0; i < n; ++i) out += pieces[in_.pick(sizeof pieces / sizeof *pieces)];
    std::string lit;
    for (char c : out)
      if (c == 'a' || c == 'b' || c == 'A' || c == 'c' || c == '-') lit += c;
    if (!lit.empty() && pool_.size() <= 64) pool_.push_back(lit);
    return quoted(out);
  }

  std::string string_modifiers() {
    std::string m;
    if (in_.pick(4) == 0) m += "|windash";
    static const char* encodings[] = {"|base64",  "|base64offset", "|wide",
                                      "|utf16le", "|utf16be",      "|utf16"};
    switch (in_.pick(6)) {
      case 0:
        m += encodings[in_.pick(6)];
        break;
      case 1:  // UTF-16 then base64, as PowerShell -EncodedCommand rules write it
        m += std::string(encodings[2 + in_.pick(4)]) + encodings[in_.pick(2)];
        break;
      default:
        break;
    }
    static const char* anchors[] = {"", "|contains", "|startswith", "|endswith"};
    m += anchors[in_.pick(4)];
    if (in_.pick(5) == 0) m += "|cased";
    return m;
  }

  std::string item() {
    static const char* fields[] = {"Image",
                                   "CommandLine",
                                   "User",
                                   "ParentUser",
                                   "ParentImage",
                                   "ParentCommandLine",
                                   "GrandParentImage",
                                   "GrandparentCommandLine",
                                   "AncestorCommandLine",
                                   "AncestorUser"};
    const std::string field = fields[in_.pick(10)];
    const std::string prefix = "    " + field;
    switch (in_.pick(20)) {
      case 0:
        return prefix + ":" + values(1 + in_.pick(3));
      case 1: {
        const std::string mods = string_modifiers();
        if (in_.pick(4) == 0) return prefix + mods + "|all:" + values(2 + in_.pick(2));
        return prefix + mods + ":" + values(1 + in_.pick(2));
      }
      case 2:
      case 3: {
        std::string m = "|re";
        if (in_.coin()) m += "|i";
        if (in_.pick(3) == 0) m += "|m";
        if (in_.pick(3) == 0) m += "|s";
        static const char* anchors[] = {"", "", "|startswith", "|endswith"};
        const std::string anchor = anchors[in_.pick(4)];
        if (in_.coin())
          m = anchor + m;  // the anchor may come before or after `re`
        else
          m += anchor;
        if (in_.pick(6) == 0) m += "|neq";
        if (in_.pick(6) == 0)
          return prefix + m + ": [" + regex_value() + ", " + regex_value() + "]\n";
        return prefix + m + ": " + regex_value() + "\n";
      }
      case 4:
        return prefix + ": null\n";
      case 5:
        return prefix + ": ''\n";
      case 6:
        return prefix + "|exists: " + (in_.coin() ? "true" : "false") + "\n";
      case 7:
        return prefix + "|neq" + (in_.coin() ? "|contains" : "") + ":" + values(1 + in_.pick(2));
      case 8: {
        static const char* ops[] = {"gt", "gte", "lt", "lte"};
        static const char* nums[] = {"0", "1", "2", "2.5", "3", "-1", "'2'"};
        return std::string("    Num|") + ops[in_.pick(4)] + ": " + nums[in_.pick(7)] + "\n";
      }
      case 9: {
        static const char* nums[] = {"3", "2.5", "0", "'1'", "true", "false", "null"};
        return std::string("    Num: ") + nums[in_.pick(7)] + "\n";
      }
      case 10: {
        static const char* nets[] = {"10.0.0.0/8", "'::1/128'",   "192.168.0.0/16", "'::/0'",
                                     "0.0.0.0/0",  "'fe80::/10'", "10.1.2.3/32"};
        if (in_.pick(4) == 0)
          return "    Ip|cidr: [" + std::string(nets[in_.pick(7)]) + ", " + nets[in_.pick(7)] +
                 "]\n";
        return "    Ip|cidr: " + std::string(nets[in_.pick(7)]) + "\n";
      }
      case 11: {
        static const char* units[] = {"minute", "hour", "day", "week", "month", "year"};
        static const char* values[] = {"0",  "1",  "2",    "3",    "4",  "5",  "12", "23",
                                       "30", "59", "2024", "2023", "53", "31", "29"};
        const std::string f = in_.pick(5) == 0 ? "CommandLine" : "Time";
        return "    " + f + "|" + units[in_.pick(6)] + ": " + values[in_.pick(15)] + "\n";
      }
      case 12: {
        static const char* anchors[] = {"", "|contains", "|startswith", "|endswith"};
        static const char* pairs[][2] = {{"CommandLine", "User"},
                                         {"Image", "ParentUser"},
                                         {"ParentImage", "ParentCommandLine"},
                                         {"AncestorUser", "AncestorImage"},
                                         {"CommandLine", "ParentImage"}};
        const auto* p = pairs[in_.pick(5)];
        return std::string("    ") + p[0] + "|fieldref" + anchors[in_.pick(4)] +
               (in_.pick(4) == 0 ? "|cased" : "") + ": " + p[1] + "\n";
      }
      case 13: {
        static const char* expansions[] = {"'%dom%'",       "'x%dom%y'", "'%glob%'",
                                           "'%dom%%glob%'", "'%nope%'",  "'a\\%dom%'"};
        const std::string t = expansions[in_.pick(6)];
        static const char* anchors[] = {"", "|contains", "|startswith", "|endswith"};
        if (pool_.size() <= 64) pool_.insert(pool_.end(), {"xa-by", "Cb", "a-b", "abc", "a-bbx"});
        return prefix + "|expand" + anchors[in_.pick(4)] + ": " + t + "\n";
      }
      case 14: {
        static const char* flags[] = {"true", "false", "'true'", "1"};
        return std::string("    Flag: ") + flags[in_.pick(4)] + "\n";
      }
      case 15:
        return prefix + "|contains|all:" + values(2 + in_.pick(2));
      case 16:
        return prefix + "|windash|contains:" + values(1 + in_.pick(2));
      case 17:
        return prefix + "|base64offset|contains:" + values(1);
      case 18:
        return prefix + "|cased:" + values(1 + in_.pick(2));
      default:
        return prefix + "|contains:" + values(1 + in_.pick(3));
    }
  }

  std::string keywords() {
    std::string out;
    switch (in_.pick(4)) {
      case 0:  // '|all': every keyword
        out = "    '|all':\n";
        for (std::size_t i = 0, n = 2 + in_.pick(2); i < n; ++i)
          out += "      - " + quoted(rule_text()) + "\n";
        return out;
      case 1: {  // keywords with string modifiers
        std::string mods = string_modifiers();
        if (mods.empty()) mods = "|contains";
        out = "    '" + mods + "':\n";
        for (std::size_t i = 0, n = 1 + in_.pick(2); i < n; ++i)
          out += "      - " + quoted(rule_text()) + "\n";
        return out;
      }
      default:
        for (std::size_t i = 0, n = 1 + in_.pick(3); i < n; ++i)
          out += "    - " + quoted(rule_text()) + "\n";
        return out;
    }
  }

  std::string identifier() {
    if (in_.pick(8) == 0) return keywords();
    const std::size_t maps = in_.pick(4) == 0 ? 2 : 1;
    std::string out;
    for (std::size_t m = 0; m < maps; ++m) {
      const std::size_t items = 1 + in_.pick(3);
      std::vector<std::string> lines;
      for (std::size_t i = 0; i < items; ++i) {
        std::string it = item();
        // One key once per map: duplicate keys are malformed YAML for Sigma.
        const std::string key = it.substr(0, it.find(':'));
        bool dup = false;
        for (const auto& l : lines) dup = dup || l.substr(0, l.find(':')) == key;
        if (!dup) lines.push_back(it);
      }
      for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string l = lines[i];
        if (maps > 1) l = (i == 0 ? "    - " : "      ") + l.substr(4);
        out += l;
      }
    }
    return out;
  }

  std::string condition(const std::vector<std::string>& names, int depth) {
    const std::size_t k = depth <= 0 ? in_.pick(3) : in_.pick(10);
    switch (k) {
      case 0:
        return names[in_.pick(names.size())];
      case 1: {
        static const char* forms[] = {"1 of sel_*",    "1 of them",   "any of sel_*",
                                      "1 of filter_*", "all of them", "all of filter_*",
                                      "any of them"};
        return forms[in_.pick(7)];
      }
      case 2:
        return "all of sel_*";
      case 3:
        return "not " + condition(names, depth - 1);
      case 4:
        return "(" + condition(names, depth - 1) + " and " + condition(names, depth - 1) + ")";
      case 5:
        return condition(names, depth - 1) + " or " + condition(names, depth - 1);
      case 6:
        return "not (" + condition(names, depth - 1) + " or " + condition(names, depth - 1) + ")";
      case 7:
        return condition(names, depth - 1) + " and " + condition(names, depth - 1) + " or " +
               condition(names, depth - 1);
      case 8:
        return "1 of sel_* and not 1 of filter_*";
      default:
        return condition(names, depth - 1) + " and not 1 of filter_*";
    }
  }

  byte_source& in_;
  std::vector<std::string> pids_;
  std::vector<std::string> pool_;
};

std::string describe(const fs::dense_field_event& e) {
  std::string out;
  for (const auto& f : e.fields) {
    out += f.path + "=";
    for (const auto& v : f.values) {
      out += '<';
      out += std::to_string(static_cast<int>(v.kind));
      out += ':';
      for (unsigned char c : v.text) {
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        }
      }
      out += ">";
    }
    out += " ";
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_source in(data, size);
  generator gen(in);
  const std::size_t rules_count = 1 + in.pick(5);
  const std::string yaml = gen.rules(rules_count);
  std::vector<fs::rule> rules;
  try {
    rules = fs::read_rules(yaml, "fuzz.yml");
  } catch (const fs::sigma_error& e) {
    std::fprintf(stderr, "the generator wrote an unreadable rule: %s\n%s\n", e.what(),
                 yaml.c_str());
    std::abort();
  }
  const fs::profile profile = fuzz_profile();
  fs::compiled_rules compiled;
  try {
    compiled = fs::compile(rules, profile, {}, fs::pcre2_engine{});
  } catch (const fs::sigma_error& e) {
    std::fprintf(stderr, "compile threw on generated rules: %s\n%s\n", e.what(), yaml.c_str());
    std::abort();
  }
  std::vector<bool> supported(rules.size(), false);
  for (const auto& r : compiled.reports) {
    supported[r.source_index] = r.status == fs::rule_status::ok;
    if (r.status == fs::rule_status::unsupported && r.reason.empty()) {
      std::fprintf(stderr, "unsupported without a reason\n%s\n", yaml.c_str());
      std::abort();
    }
  }
  fs::engine<fs::dense_fields, fluxcap::exact_memory, fs::pcre2_engine> eng(compiled);
  sigma_test::naive_evaluator<fs::pcre2_engine> naive(rules, profile);
  // A small memo, every value remembered: replays and evictions checked against the naive
  // evaluator on every input (and no 1 MiB default table to clear per input).
  auto scratch = eng.make_scratch(fs::value_cache_limits{16, 0});
  std::map<std::string, fluxcap::group_state> states;
  const std::size_t events_count = 1 + in.pick(24);
  for (std::size_t i = 0; i < events_count; ++i) {
    const auto e = gen.event(i);
    const auto group = std::string(eng.group_of(e, scratch).value_or(""));
    auto it = states.try_emplace(group, eng.make_state()).first;
    std::vector<std::string> fired;
    for (auto r : eng.process(it->second, e, scratch))
      fired.push_back(eng.compiled().rules[r].identity);
    const auto expected = naive.process(e, supported);
    if (fired != expected) {
      std::string a, b;
      for (const auto& x : fired) a += x + " ";
      for (const auto& x : expected) b += x + " ";
      std::fprintf(stderr, "event %zu: engine [%s] naive [%s]\nevent: %s\nrules:\n%s\n", i,
                   a.c_str(), b.c_str(), describe(e).c_str(), yaml.c_str());
      std::abort();
    }
  }
  return 0;
}
