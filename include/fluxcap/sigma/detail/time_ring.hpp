// The time axis of the bounded correlation windows (bounded_window.hpp): a ring of
// `slots` time buckets of equal width, aligned to absolute time (bucket i covers
// [i * width, (i + 1) * width) ms), so two groups with the same span agree on every
// bucket edge. time_ring keeps only the bucket arithmetic and the newest bucket; the
// windows keep their per-bucket data in arrays of `slots` entries indexed by slot_of().
// Also the small little-endian codec the windows' save()/load() use.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/window_params.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

/// Times are clamped to [-2^62, 2^62] ms (about 146 million years either side of 1970),
/// so that `now - span + 1` and every bucket product stay far from overflow.
inline constexpr event_time window_time_limit = event_time{1} << 62;
/// The largest ring: the cost of a query is linear in it.
inline constexpr std::uint32_t max_window_slots = 4096;

[[nodiscard]] constexpr event_time clamp_time(event_time t) noexcept {
  return std::clamp(t, -window_time_limit, window_time_limit);
}

/// floor(a / b) for b > 0 (C++ division truncates toward zero).
[[nodiscard]] constexpr event_time floor_div(event_time a, event_time b) noexcept {
  const event_time q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// A closed range of bucket indices [first, last]; empty when first > last.
struct bucket_range {
  event_time first = 0;
  event_time last = -1;
  [[nodiscard]] constexpr bool empty() const noexcept { return first > last; }
};

/// What add() did with an event's time.
enum class placement : std::uint8_t { accepted, dropped_late };

class time_ring {
 public:
  /// `span` is clamped to [1, 2^62] ms and `slots` to [2, max_window_slots]. The width is
  /// ceil(span / (slots - 1)): the window then never needs more than `slots` buckets, the
  /// oldest of them partly outside it.
  constexpr time_ring(event_time span, std::uint32_t slots) noexcept
      : span_(std::clamp<event_time>(span, 1, window_time_limit)),
        slots_(std::clamp<std::uint32_t>(slots, 2, max_window_slots)),
        width_((span_ + (slots_ - 1) - 1) / (slots_ - 1)) {}

  [[nodiscard]] constexpr event_time span() const noexcept { return span_; }
  [[nodiscard]] constexpr std::uint32_t slots() const noexcept { return slots_; }
  [[nodiscard]] constexpr event_time width() const noexcept { return width_; }
  [[nodiscard]] constexpr bool empty() const noexcept { return empty_; }
  [[nodiscard]] constexpr event_time head() const noexcept { return head_; }
  /// Events dropped because they were older than the ring (placement::dropped_late).
  [[nodiscard]] constexpr std::uint64_t dropped_late() const noexcept { return dropped_late_; }
  /// Times the ring was emptied because time went back by more than two rings.
  [[nodiscard]] constexpr std::uint64_t resets() const noexcept { return resets_; }

  [[nodiscard]] constexpr event_time bucket_of(event_time t) const noexcept {
    return floor_div(clamp_time(t), width_);
  }
  [[nodiscard]] constexpr std::size_t slot_of(event_time bucket) const noexcept {
    const event_time m = bucket % static_cast<event_time>(slots_);
    return static_cast<std::size_t>(m < 0 ? m + static_cast<event_time>(slots_) : m);
  }

  /// Moves the ring so that bucket `b` (of an event being added) is in it. `clear(slot)`
  /// is called for every slot whose bucket leaves the ring. Returns the slot to add to,
  /// or `slots()` when the event is dropped as late. Policy (docs/memory.md):
  ///   b newer than the head: the ring advances (a jump of a ring or more clears it all:
  ///   everything it held is older than any window from then on);
  ///   b within the ring: added to its bucket (out-of-order events inside the ring);
  ///   b older than the ring by less than one more ring: dropped, counted in dropped_late()
  ///   (every window at or after the newest event excludes it);
  ///   b older than that: the stream's clock went back; the ring is emptied and restarts
  ///   at b (counted in resets()), otherwise the group would drop every event from now on.
  template <class Clear>
  constexpr std::size_t place(event_time b, Clear&& clear) {
    const auto n = static_cast<event_time>(slots_);
    if (empty_) {
      empty_ = false;
      head_ = b;
      return slot_of(b);
    }
    if (b > head_) {
      if (b >= head_ + n) {  // no b - head_: it may overflow
        for (std::size_t s = 0; s < slots_; ++s) clear(s);
      } else {
        for (event_time i = head_ + 1; i <= b; ++i) clear(slot_of(i));
      }
      head_ = b;
      return slot_of(b);
    }
    if (b > head_ - n) return slot_of(b);
    if (b > head_ - 2 * n) {
      ++dropped_late_;
      return slots_;
    }
    ++resets_;
    for (std::size_t s = 0; s < slots_; ++s) clear(s);
    head_ = b;
    return slot_of(b);
  }

  /// The buckets a query at `now` reads: those overlapping (now - span, now] that are
  /// still in the ring. The oldest is partly before the window (included: a bounded
  /// count is never below the exact one on an in-order stream).
  [[nodiscard]] constexpr bucket_range covered(event_time now) const noexcept {
    if (empty_) return {};
    const event_time t = clamp_time(now);
    const event_time n = static_cast<event_time>(slots_);
    bucket_range r{floor_div(t - span_ + 1, width_), floor_div(t, width_)};
    r.first = std::max(r.first, head_ - n + 1);
    r.last = std::min(r.last, head_);
    return r;
  }

  /// Calls f(slot) for each bucket of `r` (a covered() range), oldest first.
  template <class F>
  constexpr void for_each_slot(bucket_range r, F&& f) const {
    if (r.empty()) return;
    std::size_t s = slot_of(r.first);
    for (event_time b = r.first; b <= r.last; ++b) {
      f(s);
      if (++s == slots_) s = 0;
    }
  }

  /// Restores the ring's position (load()); `head` must be a bucket of a clamped time.
  [[nodiscard]] constexpr bool restore(bool empty, event_time head, std::uint64_t dropped_late,
                                       std::uint64_t resets) noexcept {
    if (!empty && (head < bucket_of(-window_time_limit) || head > bucket_of(window_time_limit)))
      return false;
    empty_ = empty;
    head_ = empty ? 0 : head;
    dropped_late_ = dropped_late;
    resets_ = resets;
    return true;
  }

 private:
  event_time span_;
  std::uint32_t slots_;
  event_time width_;
  event_time head_ = 0;
  bool empty_ = true;
  std::uint64_t dropped_late_ = 0;
  std::uint64_t resets_ = 0;
};

/// Appends little-endian integers and doubles to a blob.
class blob_writer {
 public:
  explicit blob_writer(std::string& out) noexcept : out_(out) {}
  template <class T>
  void le(T v) {
    std::uint64_t bits = 0;
    if constexpr (sizeof(T) == 8) {
      std::memcpy(&bits, &v, 8);
    } else {
      bits = static_cast<std::uint64_t>(v);
    }
    for (std::size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<char>(bits >> (8 * i)));
  }

 private:
  std::string& out_;
};

/// Reads what blob_writer wrote from the front of `in`, consuming it; after the first
/// short read ok() is false and every later read gives 0.
class blob_reader {
 public:
  explicit blob_reader(std::string_view& in) noexcept : in_(in) {}
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  void fail() noexcept { ok_ = false; }
  template <class T>
  [[nodiscard]] T le() noexcept {
    if (!ok_ || in_.size() < sizeof(T)) {
      ok_ = false;
      return T{};
    }
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      bits |= std::uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
    in_.remove_prefix(sizeof(T));
    T v;
    if constexpr (sizeof(T) == 8) {
      std::memcpy(&v, &bits, 8);
    } else {
      v = static_cast<T>(bits);
    }
    return v;
  }

 private:
  std::string_view& in_;
  bool ok_ = true;
};

/// The ring's header in a blob: a tag naming the window kind and the format version, the
/// geometry (checked against the params given to load()), then the position.
inline void save_ring(blob_writer& w, char tag, const time_ring& ring) {
  w.le(static_cast<std::uint8_t>(tag));
  w.le(std::uint8_t{1});  // version of the bounded window blobs
  w.le(static_cast<std::uint64_t>(ring.span()));
  w.le(ring.slots());
  w.le(static_cast<std::uint8_t>(ring.empty() ? 1 : 0));
  w.le(static_cast<std::uint64_t>(ring.head()));
  w.le(ring.dropped_late());
  w.le(ring.resets());
}

[[nodiscard]] inline bool load_ring(blob_reader& r, char tag, time_ring& ring) {
  const auto got_tag = r.le<std::uint8_t>();
  const auto version = r.le<std::uint8_t>();
  const auto span = r.le<std::uint64_t>();
  const auto slots = r.le<std::uint32_t>();
  const auto empty = r.le<std::uint8_t>();
  const auto head = static_cast<event_time>(r.le<std::uint64_t>());
  const auto dropped = r.le<std::uint64_t>();
  const auto resets = r.le<std::uint64_t>();
  if (!r.ok() || got_tag != static_cast<std::uint8_t>(tag) || version != 1 ||
      span != static_cast<std::uint64_t>(ring.span()) || slots != ring.slots() || empty > 1 ||
      !ring.restore(empty == 1, head, dropped, resets)) {
    r.fail();
    return false;
  }
  return true;
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
