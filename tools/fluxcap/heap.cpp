#include "heap.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define FLUXCAP_HEAP_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FLUXCAP_HEAP_SANITIZED 1
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(FLUXCAP_HEAP_SANITIZED)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <thread>
#endif

namespace fluxcap_cli {

#if defined(__linux__) && defined(__GLIBC__) && !defined(FLUXCAP_HEAP_SANITIZED)

namespace {

/// Makes the whole pages of [begin, end) present; false when the kernel cannot.
bool populate(char* begin, char* end) noexcept {
#ifdef MADV_POPULATE_WRITE
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t misalign = reinterpret_cast<std::uintptr_t>(begin) % page;
  char* const start = misalign == 0 ? begin : begin + (page - misalign);
  return start < end &&
         ::madvise(start, static_cast<std::size_t>(end - start), MADV_POPULATE_WRITE) == 0;
#else
  (void)begin;
  (void)end;
  return false;
#endif
}

}  // namespace

bool reserve_heap(std::size_t bytes, std::size_t thread_bytes) noexcept {
  // glibc's largest mmap threshold: blocks below it come from the heap (else the memo,
  // 2 MiB, would be mapped apart and fault page by page).
  constexpr int heap_block_limit = 32 << 20;
  if (bytes == 0 || bytes >= static_cast<std::size_t>(heap_block_limit)) return false;
  if (::mallopt(M_MMAP_THRESHOLD, heap_block_limit) == 0) return false;
  // Memory freed at the top stays: start-up frees most of what it made before the run.
  (void)::mallopt(M_TRIM_THRESHOLD, 2 * heap_block_limit);
  char* const before = static_cast<char*>(::sbrk(0));
  void* const block = std::malloc(bytes);
  char* const after = static_cast<char*>(::sbrk(0));
  std::free(block);
  if (block == nullptr || after <= before || !populate(before, after)) return false;
  if (thread_bytes == 0) return true;
  // A thread's first allocation takes an arena of its own, and glibc hands a new thread
  // the arena a finished thread left: this one's, populated, goes to the next thread
  // started (the rule reader's helper).
  try {
    std::thread([thread_bytes] {
      void* const b = std::malloc(thread_bytes);
      if (b == nullptr) return;
      (void)populate(static_cast<char*>(b), static_cast<char*>(b) + thread_bytes);
      std::free(b);
    }).join();
  } catch (...) {
    // No thread to be had: the reader's helper faults its pages in.
  }
  return true;
}

#else

bool reserve_heap(std::size_t, std::size_t) noexcept {
  return false;
}

#endif

}  // namespace fluxcap_cli
