// reserve_heap (tools/fluxcap/heap.hpp): after it, the small allocations a start-up makes
// land on pages already present, so touching them takes (almost) no page fault, on the
// main thread and on the first thread started after it. Measured in a fresh process
// (this binary again, running only this case): in a forked one, the allocations would
// reuse the parent's freed blocks and fault to copy them.
#include "../../tools/fluxcap/heap.hpp"
#include "../fresh_process.hpp"

#include <doctest/doctest.h>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

constexpr const char* child_mode = "FLUXCAP_HEAP_TEST_CHILD";
constexpr int exit_not_reserved = 251;                 // fault counts are capped at 250
constexpr std::size_t touched = std::size_t{2} << 20;  // 512 pages

/// Page faults of the calling thread so far.
long minor_faults() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

/// Allocates and touches `touched` bytes in 200-byte blocks, as YAML trees and rules are
/// built (never freed: the process ends); the faults taken, capped at 250.
int faults_of_small_allocations() {
  const long before = minor_faults();
  for (std::size_t done = 0; done < touched; done += 200) {
    void* b = std::malloc(200);
    if (b == nullptr) ::_exit(254);
    std::memset(b, 1, 200);
  }
  const long faults = minor_faults() - before;
  return static_cast<int>(faults < 250 ? faults : 250);
}

/// Blocks the compiler may not drop (a malloc freed unused can be).
void* volatile kept_block = nullptr;

/// After reserve_heap (and end_startup_heap when `end`): whether freeing a block next to
/// the heap's free top gives that top back (bit 0 clear), then whether a 1 MiB block,
/// larger than the top left, is mapped apart (bit 1 clear), as with glibc's defaults.
/// Bits set: start-up's thresholds still hold.
int startup_thresholds_left(bool end) {
  if (end) fluxcap_cli::end_startup_heap();
  int left = 0;
  char* const top = static_cast<char*>(::sbrk(0));
  kept_block = std::malloc(std::size_t{64} << 10);  // from the 8 MiB free top
  std::free(kept_block);                            // back into it
  if (static_cast<char*>(::sbrk(0)) >= top) left |= 1;
  const std::size_t mapped = ::mallinfo2().hblks;
  kept_block = std::malloc(std::size_t{1} << 20);
  if (::mallinfo2().hblks == mapped) left |= 2;
  std::free(kept_block);
  return left;
}

/// The child's part, by mode: "plain" or "reserve" (allocations on the main thread),
/// "plain-thread" or "reserve-thread" (on the first thread started after): exits with
/// the faults taken; "reserve-end" or "reserve-no-end": with startup_thresholds_left.
/// Or with exit_not_reserved.
[[noreturn]] void measure(const std::string& mode) {
  const bool reserve = mode.starts_with("reserve");
  if (reserve && !fluxcap_cli::reserve_heap(std::size_t{8} << 20, std::size_t{4} << 20))
    ::_exit(exit_not_reserved);
  if (mode.ends_with("-end")) ::_exit(startup_thresholds_left(mode == "reserve-end"));
  if (!mode.ends_with("-thread")) ::_exit(faults_of_small_allocations());
  int faults = 0;
  std::thread([&faults] { faults = faults_of_small_allocations(); }).join();
  ::_exit(faults);
}

/// This binary again, running only this case in `mode` (../fresh_process.hpp); its exit
/// status.
int faults_in_fresh_process(const std::string& mode) {
  const int status = fluxcap_test::run_in_fresh_process("reserve_heap*", child_mode, mode);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("reserve_heap: a start-up's small allocations take no page fault; end_startup_heap") {
  if (const char* mode = std::getenv(child_mode)) measure(mode);
  // Without it, each new page faults: the measure can tell the two apart.
  CHECK(faults_in_fresh_process("plain") == 250);
  CHECK(faults_in_fresh_process("plain-thread") == 250);
  const int main_thread = faults_in_fresh_process("reserve");
  if (main_thread == exit_not_reserved) {
    MESSAGE("reserve_heap does nothing here (not glibc on Linux 5.14+, or a sanitizer build)");
    return;
  }
  CHECK(main_thread < 20);
  // The next thread started gets the arena reserve_heap's own thread populated.
  CHECK(faults_in_fresh_process("reserve-thread") < 20);
  // Start-up keeps freed memory and mid-sized blocks on the heap; after
  // end_startup_heap, the heap's top is given back and 1 MiB is mapped apart again.
  CHECK(faults_in_fresh_process("reserve-no-end") == 3);
  CHECK(faults_in_fresh_process("reserve-end") == 0);
}
