// reserve_heap (tools/fluxcap/heap.hpp): after it, the small allocations a start-up makes
// land on pages already present, so touching them takes (almost) no page fault. Measured
// in a fresh process (this binary again, running only this case): in a forked one, the
// allocations would reuse the parent's freed blocks and fault to copy them.
#include "../../tools/fluxcap/heap.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr const char* child_mode = "FLUXCAP_HEAP_TEST_CHILD";  // "reserve" or "plain"
constexpr int exit_not_reserved = 77;
constexpr std::size_t touched = std::size_t{4} << 20;  // 1,024 pages

long minor_faults() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

/// The child's part: reserves (or not), then allocates and touches `touched` bytes in
/// 200-byte blocks, as YAML trees and rules are built; exits with the faults taken
/// (capped at 250: an exit status is a byte), or exit_not_reserved.
[[noreturn]] void measure(bool reserve) {
  if (reserve && !fluxcap_cli::reserve_heap(std::size_t{8} << 20)) ::_exit(exit_not_reserved);
  std::vector<void*> blocks;
  blocks.reserve(touched / 200 + 1);
  std::memset(blocks.data(), 0, blocks.capacity() * sizeof(void*));
  const long before = minor_faults();
  for (std::size_t done = 0; done < touched; done += 200) {
    void* b = std::malloc(200);
    if (b == nullptr) ::_exit(254);
    std::memset(b, 1, 200);
    blocks.push_back(b);
  }
  const long faults = minor_faults() - before;
  ::_exit(static_cast<int>(faults < 250 ? faults : 250));
}

/// Runs this binary again with only this test case, in `mode`; its exit status.
int faults_in_fresh_process(const char* mode) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv(child_mode, mode, 1);
    char name[] = "fluxcap_cli_unit_tests";
    char filter[] = "--test-case=reserve_heap*";
    char* argv[] = {name, filter, nullptr};
    ::execv("/proc/self/exe", argv);
    ::_exit(255);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("reserve_heap: a start-up's small allocations take no page fault") {
  if (const char* mode = std::getenv(child_mode)) measure(std::string(mode) == "reserve");
  // Without it, each new page faults: the measure can tell the two apart.
  CHECK(faults_in_fresh_process("plain") == 250);
  const int with = faults_in_fresh_process("reserve");
  if (with == exit_not_reserved) {
    MESSAGE("reserve_heap does nothing here (not glibc on Linux 5.14+, or a sanitizer build)");
    return;
  }
  CHECK(with < 20);
}
