// sigma::read_rule_paths on several threads: the same rules in the same order as one
// thread, and the same error (the first file in path order that fails) whatever the
// thread count. Also built and run under ThreadSanitizer (preset tsan).
#include <fluxcap/sigma/yaml.hpp>

#include <doctest/doctest.h>

#include <sigma_test_util.hpp>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace sg = fluxcap::sigma;

/// A temporary directory removed at the end of the test.
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("fluxcap_sigma_parallel_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  void write(const std::string& relative, const std::string& text) const {
    const auto p = path / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
};

std::string span_text(const sg::source_span& s) {
  return s.file + ":" + std::to_string(s.line) + ":" + std::to_string(s.column);
}

/// Everything the reader produced, as text, so that two readings compare whole. (Built
/// with += only: g++ 12 warns falsely (-Wrestrict) on "literal" + std::string.)
std::string fingerprint(const std::vector<sg::rule>& rules) {
  std::string out;
  const auto add = [&out](std::initializer_list<std::string_view> parts) {
    for (const auto p : parts) out += p;
  };
  for (const auto& r : rules) {
    add({r.identity, "@", span_text(r.where), " kind ", std::to_string(static_cast<int>(r.kind)),
         " level ", r.level.value_or("-"), "\n"});
    for (std::size_t i = 0; i < r.conditions.size(); ++i)
      add({"  condition ", r.conditions[i], "@", span_text(r.condition_where[i]), "\n"});
    for (const auto& d : r.detections) {
      add({"  ", d.name, "@", span_text(d.where), d.keywords ? " keywords\n" : "\n"});
      for (const auto& c : d.any_of)
        for (const auto& item : c.items) {
          add({"    ", item.field, "@", span_text(item.where)});
          for (const auto m : item.modifiers) add({"|", std::to_string(static_cast<int>(m))});
          for (const auto& m : item.unknown_modifiers) add({"|?", m});
          for (const auto& v : item.values)
            add({" ", std::to_string(static_cast<int>(v.type)), ":", v.text, "@",
                 span_text(v.where)});
          out += "\n";
        }
    }
  }
  return out;
}

std::string rule_text(int n, const std::string& id) {
  return "title: Rule " + std::to_string(n) + "\nid: " + id +
         "\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n"
         "  selection:\n    Image|endswith:\n      - '\\\\a" +
         std::to_string(n) + ".exe'\n      - '\\\\b.exe'\n    CommandLine|contains|all: [x, " +
         std::to_string(n) + "]\n  condition: selection\n";
}

/// The error of reading `dir` with `threads` threads, or "no error".
std::string error_with(const std::filesystem::path& dir, unsigned threads) {
  const std::vector<std::filesystem::path> paths{dir};
  try {
    (void)sg::read_rule_paths(paths, {}, threads);
  } catch (const sg::sigma_error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("read_rule_paths: several threads read what one thread reads, in path order") {
  scratch_dir dir;
  // 60 files in nested folders, some with two documents: more files than threads.
  for (int i = 0; i < 60; ++i) {
    const std::string n = std::to_string(i);
    std::string text = rule_text(i, "id-" + n);
    if (i % 7 == 0) {
      text += "---\n";
      text += rule_text(1000 + i, "id-b-" + n);
    }
    std::string name = "d";
    name += std::to_string(i % 3);
    name += "/r";
    name += n;
    name += ".yml";
    dir.write(name, text);
  }
  const std::vector<std::filesystem::path> paths{dir.path};
  const auto one = sg::read_rule_paths(paths, {}, 1);
  REQUIRE(one.size() == 69);
  CHECK(one.front().where.file == (dir.path / "d0" / "r0.yml").string());
  const auto expected = fingerprint(one);
  for (const unsigned threads : {0U, 2U, 3U, 8U, 64U}) {
    CAPTURE(threads);
    CHECK(fingerprint(sg::read_rule_paths(paths, {}, threads)) == expected);
  }
}

TEST_CASE("read_rule_paths: the first failing file in path order names the error") {
  scratch_dir dir;
  for (int i = 0; i < 40; ++i)
    dir.write("r" + std::to_string(10 + i) + ".yml", rule_text(i, "id-" + std::to_string(i)));
  // A syntax error late in the order: every thread count reports it.
  dir.write("r45.yml", "title: [unclosed\n");
  const std::string syntax = error_with(dir.path, 1);
  CHECK(syntax.rfind((dir.path / "r45.yml").string() + ":", 0) == 0);
  CHECK(syntax.find("YAML syntax error") != std::string::npos);
  for (const unsigned threads : {2U, 4U, 16U}) CHECK(error_with(dir.path, threads) == syntax);

  // An identity repeated in an earlier file wins over the later syntax error: the files
  // are taken in order, each one's rules registered before the next file is looked at.
  dir.write("r20.yml", rule_text(99, "id-3"));
  const std::string duplicate = error_with(dir.path, 1);
  CHECK(duplicate.rfind((dir.path / "r20.yml").string() + ":1:1: rule 'id-3': duplicate", 0) == 0);
  for (const unsigned threads : {2U, 4U, 16U}) CHECK(error_with(dir.path, threads) == duplicate);

  // A malformed rule earlier still wins over both.
  dir.write("r12.yml", "title: t\nlogsource: {}\n");
  const std::string malformed = error_with(dir.path, 1);
  CHECK(malformed ==
        (dir.path / "r12.yml").string() + ":1:1: rule 't': a rule needs a 'detection'");
  for (const unsigned threads : {2U, 4U, 16U}) CHECK(error_with(dir.path, threads) == malformed);
}

TEST_CASE("read_rule_paths: realdata reads alike on one and several threads") {
  const auto root = sigma_test::realdata();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  const std::vector<std::filesystem::path> dirs{root / "sigma/rules",
                                                root / "sigma-regression-extra/rules"};
  const auto one = fingerprint(sg::read_rule_paths(dirs, {}, 1));
  CHECK(fingerprint(sg::read_rule_paths(dirs, {}, 2)) == one);
  CHECK(fingerprint(sg::read_rule_paths(dirs, {}, 5)) == one);
}
