// The Sigma event path allocates nothing per event once warm (issue 12, "hot paths: no
// allocation"): the tool's field reader (json_fields::parse), group_of and
// engine::process with PCRE2, over the realdata Sysmon lines and rules. This binary's
// global operator new counts the calls made while a thread's counting flag is set; the
// second pass over the lines (buffers, scratch and states already grown) must make none.
// Skips with a message without realdata.
#include "../../tools/fluxcap/sigma_fields.hpp"

#include <doctest/doctest.h>
#include <fluxcap/memory.hpp>
#include <fluxcap/sigma/compile.hpp>
#include <fluxcap/sigma/engine.hpp>
#include <fluxcap/sigma/pcre2.hpp>
#include <fluxcap/sigma/yaml.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace {

thread_local bool counting = false;
thread_local std::size_t allocations = 0;

void* counted_allocate(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

}  // namespace

// Replacements of the global allocation functions, plain and nothrow (simdjson uses
// nothrow; a sanitizer reports a new/free pair from different families). The aligned
// forms are not used on this path; they keep the library's.
void* operator new(std::size_t n) {
  return counted_allocate(n);
}
void* operator new[](std::size_t n) {
  return counted_allocate(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

namespace sg = fluxcap::sigma;

std::filesystem::path realdata_root() {
  std::filesystem::path p = FLUXCAP_DEFAULT_REALDATA;
  if (const char* env = std::getenv("FLUXCAP_REALDATA")) p = env;
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) ? p : std::filesystem::path{};
}

}  // namespace

TEST_CASE("sigma event path: no allocation per event once warm (realdata, PCRE2)") {
  const auto root = realdata_root();
  if (root.empty()) {
    MESSAGE("realdata absent: skipped");
    return;
  }
  std::vector<std::filesystem::path> rule_dirs;
  for (const char* top : {"sigma", "sigma-regression-extra"})
    for (const auto& d : std::filesystem::directory_iterator(root / top))
      if (d.is_directory() && d.path().filename().string().rfind("rules", 0) == 0)
        rule_dirs.push_back(d.path());
  std::sort(rule_dirs.begin(), rule_dirs.end());
  const auto rules = sg::read_rule_paths(rule_dirs);
  const sg::pcre2_engine regex;
  auto compiled = sg::compile(rules, *sg::builtin_profile("sysmon"), {}, regex);
  REQUIRE(compiled.rules.size() > 400);
  REQUIRE(!compiled.regexes.empty());

  fluxcap_cli::json_fields fields;
  for (const auto& path : compiled.fields)
    (void)fields.field_handle_for(sg::field_path::parse(path));
  for (const auto* path : {&compiled.group_path, &compiled.id_path, &compiled.parent_id_path})
    (void)fields.field_handle_for(sg::field_path::parse(*path));
  using engine_type = sg::engine<fluxcap_cli::json_fields, fluxcap::bloom_memory, sg::pcre2_engine>;
  const engine_type eng(std::move(compiled), fields, fluxcap::bloom_memory{}, regex);

  std::vector<std::string> lines;
  for (const auto& entry : std::filesystem::directory_iterator(root / "sysmon")) {
    if (entry.path().extension() != ".jsonl") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  REQUIRE(lines.size() > 400);

  // The counter counts (else the check below could not fail).
  counting = true;
  auto* probe = new std::vector<int>(100);
  counting = false;
  delete probe;
  REQUIRE(allocations == 2);
  allocations = 0;

  auto scratch = eng.make_scratch();
  fluxcap_cli::json_field_event event;
  std::string problem;
  std::map<std::string, engine_type::state_type, std::less<>> states;
  // No doctest assertion inside a pass: only the event path may run while counting.
  std::size_t failures = 0;
  const auto pass = [&](bool warm) {
    std::size_t detections = 0;
    for (const auto& line : lines) {
      if (!fields.parse(line, event, problem)) {
        ++failures;
        continue;
      }
      const auto group = eng.group_of(event, scratch).value_or("");
      auto it = states.find(group);
      if (it == states.end()) {
        if (warm) {
          ++failures;
          continue;
        }
        it = states.emplace(std::string(group), eng.make_state()).first;
      }
      detections += eng.process(it->second, event, scratch).size();
    }
    return detections;
  };
  const auto cold = pass(false);
  counting = true;
  const auto warm = pass(true);
  counting = false;
  CHECK(failures == 0);
  CHECK(cold > 0);
  CHECK(warm > 0);
  CHECK(allocations == 0);
  MESSAGE(lines.size() << " lines, " << eng.compiled().rules.size() << " rules: " << cold
                       << " then " << warm << " detections, " << allocations
                       << " allocations in the second pass");
}
