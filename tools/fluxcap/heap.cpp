#include "heap.hpp"

#if __has_include(<features.h>)
#include <features.h>  // __GLIBC__, whatever C++ library includes or not
#endif

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
#define FLUXCAP_HEAP_RESERVES 1
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14's value, for older headers
#endif
#endif

namespace fluxcap_cli {

#ifdef FLUXCAP_HEAP_RESERVES

namespace {

// glibc's largest mmap threshold: blocks below it come from the heap (else the memo,
// 2 MiB, would be mapped apart and fault page by page).
constexpr int heap_block_limit = 32 << 20;
// glibc's default values, set again when start-up ends (fixed then: glibc no longer
// raises its mmap threshold by itself, as it does before any mallopt).
constexpr int default_mmap_threshold = 128 << 10;
constexpr int default_trim_threshold = 128 << 10;

std::atomic<bool> thresholds_changed{false};

/// Makes the pages holding [begin, end) present; false when the kernel cannot.
bool populate(char* begin, char* end) noexcept {
  const auto page = static_cast<std::uintptr_t>(::getpagesize());
  // Rounding down is harmless: populating never changes what a page holds.
  char* const start = begin - reinterpret_cast<std::uintptr_t>(begin) % page;
  return start < end &&
         ::madvise(start, static_cast<std::size_t>(end - start), MADV_POPULATE_WRITE) == 0;
}

/// Whether this kernel populates (Linux 5.14+): tried on a page of our own.
bool kernel_populates() noexcept {
  alignas(4096) static char probe[4096];
  return populate(probe, probe + sizeof probe);
}

}  // namespace

bool reserve_heap(std::size_t bytes, std::size_t thread_bytes) noexcept {
  if (bytes == 0 || bytes >= static_cast<std::size_t>(heap_block_limit)) return false;
  if (!kernel_populates()) return false;
  if (::mallopt(M_MMAP_THRESHOLD, heap_block_limit) == 0) return false;
  // Memory freed at the top stays until start-up ends: it frees most of what it made.
  (void)::mallopt(M_TRIM_THRESHOLD, 2 * heap_block_limit);
  thresholds_changed = true;
  char* const before = static_cast<char*>(::sbrk(0));
  auto* const block = static_cast<char*>(std::malloc(bytes));
  char* const after = static_cast<char*>(::sbrk(0));
  // From the block, not `before`: it starts in the free space the heap's top had.
  const bool populated = block != nullptr && after > before && populate(block, after);
  std::free(block);
  if (!populated) return false;
  if (thread_bytes == 0) return true;
  // A thread's first allocation takes an arena of its own, and glibc hands a new thread
  // the arena a finished thread left: this one's, populated, goes to the next thread
  // started (the first of the rule reader's helpers).
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

void end_startup_heap() noexcept {
  if (!thresholds_changed.exchange(false)) return;
  (void)::mallopt(M_MMAP_THRESHOLD, default_mmap_threshold);
  (void)::mallopt(M_TRIM_THRESHOLD, default_trim_threshold);
}

#else

bool reserve_heap(std::size_t, std::size_t) noexcept {
  return false;
}
void end_startup_heap() noexcept {}

#endif

}  // namespace fluxcap_cli
