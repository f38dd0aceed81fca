// Sliding windows over event time for Sigma correlations: the three window concepts the
// correlation engine evaluates conditions through, and their exact implementations.
//
// A window holds what one (correlation, group) saw; a query at `now` covers the events
// at times in (now - span, now]. The exact windows keep every event of the last span (up
// to `max_events`: past it the oldest is dropped and counted in `dropped()`, so counts
// can only be too low, never too high). Bounded versions with a stated error implement
// the same concepts in their own header. Times are milliseconds since the Unix epoch.
//
// clang-format off
// | concept                 | adds                  | queries |
// |-------------------------|-----------------------|---------|
// | count_window (event_count)    | `add(t)`              | `count(now)` |
// | distinct_window (value_count) | `add(t, value_hash)`  | `distinct(now)` |
// | value_window (value_sum/avg/percentile) | `add(t, double)` | `count(now)`, `sum(now)`, `percentile(now, p)` |
// clang-format on
// Every window: `explicit W(const window_params&)`, `memory_bytes()`, `save(std::string&)`
// and `static std::optional<W> load(std::string_view& in, const window_params&)`, which
// consumes its bytes from `in` and returns nullopt (never UB) on any malformed input.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/window_params.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

template <class W>
concept correlation_window_common = std::constructible_from<W, const window_params&> &&
    std::copy_constructible<W> &&
    requires(const W& w, std::string& out, std::string_view& in, const window_params& p) {
  { w.memory_bytes() } -> std::convertible_to<std::size_t>;
  w.save(out);
  { W::load(in, p) } -> std::same_as<std::optional<W>>;
};

template <class W>
concept count_window = correlation_window_common<W> && requires(W& w, const W& cw, event_time t) {
  w.add(t);
  { cw.count(t) } -> std::same_as<std::uint64_t>;
};

template <class W>
concept distinct_window = correlation_window_common<W> &&
    requires(W& w, const W& cw, event_time t, std::uint64_t h) {
  w.add(t, h);
  { cw.distinct(t) } -> std::same_as<std::uint64_t>;
};

template <class W>
concept value_window = correlation_window_common<W> &&
    requires(W& w, const W& cw, event_time t, double v) {
  w.add(t, v);
  { cw.count(t) } -> std::same_as<std::uint64_t>;
  { cw.sum(t) } -> std::same_as<double>;
  { cw.percentile(t, v) } -> std::same_as<double>;
};

/// Times beyond +-2^61 ms (73 million years) are no event's: bounds keep `t - span` defined.
inline constexpr event_time max_event_time = event_time{1} << 61;

namespace detail {

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
}

inline bool get_u64(std::string_view& in, std::uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 0; i < 8; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(in[static_cast<std::size_t>(i)])} << (8 * i);
  in.remove_prefix(8);
  return true;
}

/// Events of the last span in time order: a vector with a moving head (compacted when
/// half is dead), so that a steady stream allocates nothing. Out-of-order adds are
/// inserted in place (the engine never makes them; the windows stay exact anyway).
/// The payload of windows that keep times only (event_count): takes no space in an entry.
struct no_payload {};

template <class Payload>
class timed_events {
 public:
  struct entry {
    event_time t;
    [[no_unique_address]] Payload payload;
  };

  explicit timed_events(const window_params& p)
      : span_(std::clamp<event_time>(p.span_ms, 0, max_event_time)),
        max_(std::max<std::size_t>(1, p.max_events)) {}

  /// Adds an event; passes the entries that leave the window (expired, or dropped at the
  /// cap) to `gone`, oldest first. False when `t` is already outside the window.
  template <class Gone>
  bool add(event_time t, Payload payload, Gone&& gone) {
    newest_ = size() == 0 ? t : std::max(newest_, t);
    expire(newest_ - span_, gone);
    if (t <= newest_ - span_) return false;
    if (size() == max_) {
      ++dropped_;
      gone(items_[head_]);
      ++head_;
    }
    if (head_ > 0 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    auto at = items_.end();
    while (at != items_.begin() + static_cast<std::ptrdiff_t>(head_) && std::prev(at)->t > t) --at;
    items_.insert(at, entry{t, std::move(payload)});
    return true;
  }

  /// [first, last) of entries at times in (now - span, now].
  [[nodiscard]] std::pair<std::size_t, std::size_t> range(event_time now) const noexcept {
    // At the newest time (the engine's every query) the window is what add() kept: every
    // entry is in (newest - span, newest], so no search.
    if (now == newest_) return {head_, items_.size()};
    const auto begin = items_.begin() + static_cast<std::ptrdiff_t>(head_);
    const auto lo = std::upper_bound(begin, items_.end(), now - span_,
                                     [](event_time v, const entry& e) { return v < e.t; });
    const auto hi = std::upper_bound(lo, items_.end(), now,
                                     [](event_time v, const entry& e) { return v < e.t; });
    return {static_cast<std::size_t>(lo - items_.begin()),
            static_cast<std::size_t>(hi - items_.begin())};
  }

  [[nodiscard]] const entry& at(std::size_t i) const noexcept { return items_[i]; }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size() - head_; }
  [[nodiscard]] std::size_t begin_index() const noexcept { return head_; }
  [[nodiscard]] std::size_t end_index() const noexcept { return items_.size(); }
  [[nodiscard]] event_time newest() const noexcept { return newest_; }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + items_.capacity() * sizeof(entry);
  }

 private:
  template <class Gone>
  void expire(event_time edge, Gone& gone) {
    while (head_ < items_.size() && items_[head_].t <= edge) gone(items_[head_++]);
  }

  std::vector<entry> items_;
  std::size_t head_ = 0;
  event_time span_;
  std::size_t max_;
  event_time newest_ = 0;
  std::uint64_t dropped_ = 0;
};

/// Common save/load of a timed_events: count, then per entry the time and a payload of
/// 8 bytes. Loading re-adds in order, so every invariant is rebuilt, never trusted.
template <class W, class Encode>
void save_entries(const W& w, std::string& out, Encode&& encode) {
  put_u64(out, w.events().size());
  for (std::size_t i = w.events().begin_index(); i < w.events().end_index(); ++i) {
    put_u64(out, static_cast<std::uint64_t>(w.events().at(i).t));
    put_u64(out, encode(w.events().at(i).payload));
  }
}

template <class W, class Add>
std::optional<W> load_entries(std::string_view& in, const window_params& p, Add&& add) {
  std::uint64_t n = 0;
  if (!get_u64(in, n) || n > p.max_events || n > in.size() / 16) return std::nullopt;
  W w(p);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t t = 0, v = 0;
    if (!get_u64(in, t) || !get_u64(in, v)) return std::nullopt;
    // Times far from any real clock would overflow `t - span`: not a saved window.
    if (static_cast<event_time>(t) > max_event_time || static_cast<event_time>(t) < -max_event_time)
      return std::nullopt;
    add(w, static_cast<event_time>(t), v);
  }
  return w;
}

}  // namespace detail

/// event_count: the times of the last span's events.
class exact_count_window {
 public:
  explicit exact_count_window(const window_params& p) : events_(p) {}

  void add(event_time t) {
    events_.add(t, detail::no_payload{}, [](const auto&) {});
  }
  [[nodiscard]] std::uint64_t count(event_time now) const noexcept {
    const auto [lo, hi] = events_.range(now);
    return hi - lo;
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return events_.dropped(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return events_.memory_bytes(); }
  /// 8 bytes an event (the time only).
  [[nodiscard]] const detail::timed_events<detail::no_payload>& events() const noexcept {
    return events_;
  }

  void save(std::string& out) const {
    detail::save_entries(*this, out, [](detail::no_payload) { return std::uint64_t{0}; });
  }
  static std::optional<exact_count_window> load(std::string_view& in, const window_params& p) {
    return detail::load_entries<exact_count_window>(
        in, p, [](exact_count_window& w, event_time t, std::uint64_t) { w.add(t); });
  }

 private:
  detail::timed_events<detail::no_payload> events_;
};

/// value_count: the last span's (time, value hash) pairs and how often each hash occurs
/// among them, so that the distinct count at the newest time is one lookup.
class exact_distinct_window {
 public:
  explicit exact_distinct_window(const window_params& p) : events_(p) {}

  void add(event_time t, std::uint64_t value_hash) {
    if (events_.add(t, value_hash, [this](const auto& e) { forget(e.payload); }))
      ++occurrences_[value_hash];
  }
  [[nodiscard]] std::uint64_t distinct(event_time now) const {
    const auto [lo, hi] = events_.range(now);
    if (lo == events_.begin_index() && hi == events_.end_index()) return occurrences_.size();
    std::unordered_map<std::uint64_t, char> seen;  // a query off the newest time: rare
    for (std::size_t i = lo; i < hi; ++i) seen.emplace(events_.at(i).payload, 0);
    return seen.size();
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return events_.dropped(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return events_.memory_bytes() + occurrences_.bucket_count() * sizeof(void*) +
           occurrences_.size() * (sizeof(std::uint64_t) * 2 + sizeof(void*) * 2);
  }
  [[nodiscard]] const detail::timed_events<std::uint64_t>& events() const noexcept {
    return events_;
  }

  void save(std::string& out) const {
    detail::save_entries(*this, out, [](std::uint64_t h) { return h; });
  }
  static std::optional<exact_distinct_window> load(std::string_view& in, const window_params& p) {
    return detail::load_entries<exact_distinct_window>(
        in, p, [](exact_distinct_window& w, event_time t, std::uint64_t h) { w.add(t, h); });
  }

 private:
  void forget(std::uint64_t h) {
    const auto it = occurrences_.find(h);
    if (it != occurrences_.end() && --it->second == 0) occurrences_.erase(it);
  }

  detail::timed_events<std::uint64_t> events_;
  std::unordered_map<std::uint64_t, std::uint32_t> occurrences_;
};

/// value_sum, value_avg, value_percentile: the last span's (time, value) pairs. Sums are
/// recomputed over the window (no running sum, so no drift); percentiles interpolate
/// linearly between the closest ranks (rank p/100 * (n - 1), as numpy's default).
class exact_value_window {
 public:
  explicit exact_value_window(const window_params& p) : events_(p) {}

  void add(event_time t, double v) {
    events_.add(t, v, [](const auto&) {});
  }
  [[nodiscard]] std::uint64_t count(event_time now) const noexcept {
    const auto [lo, hi] = events_.range(now);
    return hi - lo;
  }
  [[nodiscard]] double sum(event_time now) const noexcept {
    const auto [lo, hi] = events_.range(now);
    double s = 0, c = 0;  // Neumaier summation: exact enough for any realistic field
    for (std::size_t i = lo; i < hi; ++i) {
      const double x = events_.at(i).payload;
      const double t = s + x;
      c += std::abs(s) >= std::abs(x) ? (s - t) + x : (x - t) + s;
      s = t;
    }
    return s + c;
  }
  /// NaN when the window is empty.
  [[nodiscard]] double percentile(event_time now, double p) const {
    const auto [lo, hi] = events_.range(now);
    if (lo == hi) return std::numeric_limits<double>::quiet_NaN();
    scratch_.clear();
    for (std::size_t i = lo; i < hi; ++i) scratch_.push_back(events_.at(i).payload);
    p = std::clamp(p, 0.0, 100.0);
    const double rank = p / 100.0 * static_cast<double>(scratch_.size() - 1);
    const auto below = static_cast<std::size_t>(rank);
    const double fraction = rank - static_cast<double>(below);
    std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(below),
                     scratch_.end());
    const double a = scratch_[below];
    if (fraction == 0 || below + 1 >= scratch_.size()) return a;
    const double b = *std::min_element(scratch_.begin() + static_cast<std::ptrdiff_t>(below) + 1,
                                       scratch_.end());
    return a + (b - a) * fraction;
  }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return events_.dropped(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return events_.memory_bytes() + scratch_.capacity() * sizeof(double);
  }
  [[nodiscard]] const detail::timed_events<double>& events() const noexcept { return events_; }

  void save(std::string& out) const {
    detail::save_entries(*this, out, [](double v) { return std::bit_cast<std::uint64_t>(v); });
  }
  /// Refuses non-finite values, which add() never sees from the engine and which would
  /// break percentile()'s ordering (nth_element over NaN).
  static std::optional<exact_value_window> load(std::string_view& in, const window_params& p) {
    bool finite = true;
    auto w = detail::load_entries<exact_value_window>(
        in, p, [&finite](exact_value_window& win, event_time t, std::uint64_t bits) {
          const double v = std::bit_cast<double>(bits);
          finite = finite && std::isfinite(v);
          win.add(t, v);
        });
    if (!finite) return std::nullopt;
    return w;
  }

 private:
  detail::timed_events<double> events_;
  mutable std::vector<double> scratch_;  // percentile's working copy, reused
};

static_assert(count_window<exact_count_window>);
static_assert(distinct_window<exact_distinct_window>);
static_assert(value_window<exact_value_window>);

}  // namespace sigma

FLUXCAP_END_NAMESPACE
