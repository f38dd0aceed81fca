// Start-up memory: the heap grown once and its pages made present in one call, instead
// of a page fault at each first touch.
#pragma once

#include <cstddef>

namespace fluxcap_cli {

/// Heap `run`, `check` and `graph --rules` make present at their start: start-up (YAML
/// trees, rules, compiled rules, the engine and its 2 MiB value memo) peaks at ~11 MiB
/// with the realdata rules (mallinfo2); larger rule sets fault the rest in as before.
inline constexpr std::size_t rules_startup_heap = std::size_t{12} << 20;
/// The same for the first thread started after it (~3 MiB there): the first of the
/// rule reader's helpers.
inline constexpr std::size_t rules_reader_heap = std::size_t{4} << 20;

/// Grows the heap by about `bytes` and makes its pages present at once (Linux
/// MADV_POPULATE_WRITE, ~0.55 µs a page here) instead of a fault at each first touch
/// (~9 µs a fault on the virtual machines measured, ~3,400 of them in a start-up with
/// the realdata rules: bench/README.md, December 2026 (12)). Then does the same with
/// `thread_bytes` in a thread's arena, which glibc hands to the next thread started.
/// Until end_startup_heap, keeps blocks under 32 MiB on the heap and freed memory there
/// (glibc's thresholds), so that the value memo and the compiled rules land on present
/// pages. Only with glibc on Linux 5.14 or later, and not under a sanitizer (its
/// allocator is its own); elsewhere it changes nothing and returns false. Call it before
/// any thread starts. Returns whether the heap's pages were made present.
bool reserve_heap(std::size_t bytes, std::size_t thread_bytes = 0) noexcept;

/// Start-up is over: glibc's default threshold values again (fixed: glibc no longer
/// raises its mmap threshold by itself), so that a long run returns what it frees. Nothing when
/// reserve_heap changed nothing.
void end_startup_heap() noexcept;

}  // namespace fluxcap_cli
