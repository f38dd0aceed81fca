// Bounded correlation windows (issue 13, memory mode "bounded"; docs/memory.md,
// "Correlation windows (bounded)"): per-group sliding windows over event time whose
// memory is fixed when they are made, with stated and tested errors.
//
//   bounded_count_window     event_count:  count(now)
//   bounded_distinct_window  value_count:  distinct(now)      (HyperLogLog, m = 64)
//   bounded_value_window     value_sum / value_avg / value_percentile:
//                            count(now), sum(now), percentile(now, p)
//
// Each is a ring of `params.buckets` time buckets of width w = ceil(span / (buckets - 1)),
// aligned to absolute time, so a window never needs more than the ring. A query at `now`
// reads the buckets that overlap (now - span, now]; the oldest of them starts up to w - 1
// ms before the window, and its events are included: on an in-order stream a count or a
// sum covers every event of the window plus those of less than one bucket width before it
// (never fewer). Percentiles use a coarser ring of min(buckets, 8) generations, each a
// bounded log-bucket sketch (relative error 1 % while it holds 60 bins).
//
// Time: events inside the ring but out of order go to their own bucket; events older than
// the ring (by less than another ring) are dropped and counted (dropped_late()); a jump
// back by more than two rings empties the window (resets()), and so does, naturally, a
// jump forward by a ring or more. Times are clamped to +-2^62 ms.
//
// Memory: no allocation after construction; memory_bytes() == memory_bound(params) for
// the life of a window. Queries are const and allocate nothing.
//
// Save/load: a little-endian blob (kind tag, version 1, geometry, position, buckets).
// load() checks everything against the params it is given and returns nullopt on any
// malformed or mismatched input; it never reads past `in`, and consumes what it read.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/detail/hyperloglog.hpp>
#include <fluxcap/sigma/detail/log_bucket_sketch.hpp>
#include <fluxcap/sigma/detail/time_ring.hpp>
#include <fluxcap/sigma/window_params.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// event_count in bounded memory: one 32-bit counter a bucket (saturating at 2^32 - 1).
/// memory_bytes() = sizeof(bounded_count_window) + 4 * slots, slots = clamp(buckets, 2, 4096).
class bounded_count_window {
 public:
  explicit bounded_count_window(const window_params& params)
      : ring_(params.span_ms, params.buckets), counts_(ring_.slots(), 0) {}

  [[nodiscard]] static std::size_t memory_bound(const window_params& params) noexcept {
    return sizeof(bounded_count_window) +
           sizeof(std::uint32_t) * detail::time_ring(params.span_ms, params.buckets).slots();
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + sizeof(std::uint32_t) * counts_.size();
  }

  void add(event_time t) {
    const std::size_t slot = ring_.place(ring_.bucket_of(t), [this](std::size_t s) {
      total_ -= counts_[s];
      counts_[s] = 0;
    });
    if (slot == counts_.size() || counts_[slot] == std::numeric_limits<std::uint32_t>::max())
      return;
    ++counts_[slot];
    ++total_;
  }

  /// Events in the buckets overlapping (now - span, now] (see the file comment).
  [[nodiscard]] std::uint64_t count(event_time now) const noexcept {
    const detail::bucket_range r = ring_.covered(now);
    if (r.empty()) return 0;
    const auto inside = static_cast<std::size_t>(r.last - r.first + 1);
    std::uint64_t n = 0;
    if (2 * inside <= counts_.size()) {
      ring_.for_each_slot(r, [&](std::size_t s) { n += counts_[s]; });
      return n;
    }
    // Most of the ring: the running total less the few buckets outside the query.
    const auto n_slots = static_cast<event_time>(counts_.size());
    ring_.for_each_slot({ring_.head() - n_slots + 1, r.first - 1},
                        [&](std::size_t s) { n += counts_[s]; });
    ring_.for_each_slot({r.last + 1, ring_.head()}, [&](std::size_t s) { n += counts_[s]; });
    return total_ - n;
  }

  [[nodiscard]] const detail::time_ring& ring() const noexcept { return ring_; }
  [[nodiscard]] std::uint64_t dropped_late() const noexcept { return ring_.dropped_late(); }
  [[nodiscard]] std::uint64_t resets() const noexcept { return ring_.resets(); }

  void save(std::string& out) const {
    detail::blob_writer w(out);
    detail::save_ring(w, 'C', ring_);
    if (ring_.empty()) return;
    for (const std::uint32_t c : counts_) w.le(c);
  }

  [[nodiscard]] static std::optional<bounded_count_window> load(std::string_view& in,
                                                                const window_params& params) {
    bounded_count_window w(params);
    detail::blob_reader r(in);
    if (!detail::load_ring(r, 'C', w.ring_)) return std::nullopt;
    if (!w.ring_.empty()) {
      for (auto& c : w.counts_) {
        c = r.le<std::uint32_t>();
        w.total_ += c;
      }
    }
    if (!r.ok()) return std::nullopt;
    return w;
  }

 private:
  detail::time_ring ring_;
  std::vector<std::uint32_t> counts_;
  std::uint64_t total_ = 0;  // sum of counts_
};

/// value_count in bounded memory: a HyperLogLog sketch of 2^Precision 4-bit registers a
/// bucket; a query merges the covered buckets' registers (the union's sketch) and
/// estimates with Ertl's improved estimator. Relative standard error 1.04 / sqrt(m); the
/// tests hold it within 3 standard errors in >= 99 % of queries (docs/memory.md).
/// `value_hash` must be a keyed hash of the value (fluxcap::default_hash): whoever can
/// compute hashes can hide values (register 0 values) or inflate the estimate. It is mixed
/// once more (a bijection) against honest but weak hashes.
/// memory_bytes() = sizeof(basic_bounded_distinct_window) + slots * 2^Precision / 2.
template <unsigned Precision = 6>
class basic_bounded_distinct_window {
  static_assert(Precision >= 4 && Precision <= 11);

 public:
  static constexpr std::size_t registers = std::size_t{1} << Precision;
  static constexpr std::size_t bucket_bytes = registers / 2;
  /// The relative standard error of distinct(): 1.04 / sqrt(m) (13 % for m = 64).
  [[nodiscard]] static double standard_error() noexcept {
    return 1.04 / std::sqrt(static_cast<double>(registers));
  }

  explicit basic_bounded_distinct_window(const window_params& params)
      : ring_(params.span_ms, params.buckets), registers_(ring_.slots() * bucket_bytes, 0) {}

  [[nodiscard]] static std::size_t memory_bound(const window_params& params) noexcept {
    return sizeof(basic_bounded_distinct_window) +
           bucket_bytes * detail::time_ring(params.span_ms, params.buckets).slots();
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + registers_.size();
  }

  void add(event_time t, std::uint64_t value_hash) {
    const std::size_t slot = ring_.place(ring_.bucket_of(t), [this](std::size_t s) {
      std::fill_n(registers_.begin() + static_cast<std::ptrdiff_t>(s * bucket_bytes), bucket_bytes,
                  std::uint8_t{0});
    });
    if (slot == ring_.slots()) return;
    const detail::hll_entry e =
        detail::hll_split<Precision>(fluxcap::detail::mix64(value_hash ^ fluxcap::detail::hk3));
    detail::hll_raise(registers_.data() + slot * bucket_bytes, e.index, e.value);
  }

  /// The estimated number of distinct value hashes in the buckets overlapping
  /// (now - span, now].
  [[nodiscard]] std::uint64_t distinct(event_time now) const noexcept {
    const detail::bucket_range r = ring_.covered(now);
    if (r.empty()) return 0;
    detail::hll_merger<bucket_bytes> merger;
    ring_.for_each_slot(r,
                        [&](std::size_t s) { merger.add(registers_.data() + s * bucket_bytes); });
    const std::array<std::uint8_t, bucket_bytes> merged = merger.result();
    return static_cast<std::uint64_t>(std::llround(detail::hll_estimate<Precision>(merged.data())));
  }

  [[nodiscard]] const detail::time_ring& ring() const noexcept { return ring_; }
  [[nodiscard]] std::uint64_t dropped_late() const noexcept { return ring_.dropped_late(); }
  [[nodiscard]] std::uint64_t resets() const noexcept { return ring_.resets(); }

  void save(std::string& out) const {
    detail::blob_writer w(out);
    detail::save_ring(w, 'D', ring_);
    w.le(static_cast<std::uint8_t>(Precision));
    if (ring_.empty()) return;
    out.append(reinterpret_cast<const char*>(registers_.data()), registers_.size());
  }

  [[nodiscard]] static std::optional<basic_bounded_distinct_window> load(
      std::string_view& in, const window_params& params) {
    basic_bounded_distinct_window w(params);
    detail::blob_reader r(in);
    if (!detail::load_ring(r, 'D', w.ring_)) return std::nullopt;
    if (r.le<std::uint8_t>() != Precision || !r.ok()) return std::nullopt;
    if (!w.ring_.empty()) {
      if (in.size() < w.registers_.size()) {
        in.remove_prefix(in.size());
        return std::nullopt;
      }
      // Every nibble value (0..15) is a valid register.
      std::copy_n(in.data(), w.registers_.size(), reinterpret_cast<char*>(w.registers_.data()));
      in.remove_prefix(w.registers_.size());
    }
    return w;
  }

 private:
  detail::time_ring ring_;
  std::vector<std::uint8_t> registers_;  // slots x bucket_bytes
};

using bounded_distinct_window = basic_bounded_distinct_window<6>;

/// value_sum, value_avg and value_percentile in bounded memory: a count and a sum a bucket,
/// and for percentiles a ring of min(buckets, 8) generations (width ceil(span / (g - 1))),
/// each a log-bucket sketch of at most 60 bins. Non-finite values are rejected (counted in
/// rejected_values()). memory_bytes() = sizeof(bounded_value_window) + 12 * slots
/// + g * sizeof(log_bucket_sketch<60>) (= 364 bytes on x86-64).
class bounded_value_window {
 public:
  using sketch = detail::log_bucket_sketch<60>;
  static constexpr std::uint32_t max_generations = 8;

  explicit bounded_value_window(const window_params& params)
      : ring_(params.span_ms, params.buckets),
        generation_ring_(params.span_ms, std::min(ring_.slots(), max_generations)),
        counts_(ring_.slots(), 0),
        sums_(ring_.slots(), 0.0),
        generations_(generation_ring_.slots()) {}

  [[nodiscard]] static std::size_t memory_bound(const window_params& params) noexcept {
    const std::uint32_t slots = detail::time_ring(params.span_ms, params.buckets).slots();
    const std::uint32_t g = std::min(slots, max_generations);
    return sizeof(bounded_value_window) + (sizeof(std::uint32_t) + sizeof(double)) * slots +
           sizeof(sketch) * g;
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + (sizeof(std::uint32_t) + sizeof(double)) * counts_.size() +
           sizeof(sketch) * generations_.size();
  }

  void add(event_time t, double v) {
    if (!std::isfinite(v)) {
      ++rejected_values_;
      return;
    }
    const std::size_t slot = ring_.place(ring_.bucket_of(t), [this](std::size_t s) {
      counts_[s] = 0;
      sums_[s] = 0.0;
    });
    if (slot != counts_.size() && counts_[slot] != std::numeric_limits<std::uint32_t>::max()) {
      ++counts_[slot];
      sums_[slot] += v;
    }
    const std::size_t g = generation_ring_.place(
        generation_ring_.bucket_of(t), [this](std::size_t s) { generations_[s].clear(); });
    if (g != generations_.size()) generations_[g].add_key(detail::log_sketch_key(v));
  }

  /// Values in the buckets overlapping (now - span, now].
  [[nodiscard]] std::uint64_t count(event_time now) const noexcept {
    std::uint64_t n = 0;
    ring_.for_each_slot(ring_.covered(now), [&](std::size_t s) { n += counts_[s]; });
    return n;
  }

  /// Their sum (floating-point, added bucket by bucket).
  [[nodiscard]] double sum(event_time now) const noexcept {
    // Four partial sums (independent additions: four times the throughput of one chain).
    std::array<double, 4> partial{};
    std::size_t k = 0;
    ring_.for_each_slot(ring_.covered(now), [&](std::size_t s) { partial[k++ & 3] += sums_[s]; });
    return (partial[0] + partial[1]) + (partial[2] + partial[3]);
  }

  /// The nearest-rank p-th percentile (rank max(1, ceil(p / 100 * n))) of the values in
  /// the generations overlapping (now - span, now], within percentile_error(now) of the
  /// true value of that rank (relative). NaN when there is none (or p is NaN); p is
  /// clamped to [0, 100].
  [[nodiscard]] double percentile(event_time now, double p) const noexcept {
    const detail::bucket_range r = generation_ring_.covered(now);
    unsigned level = 0;
    std::uint64_t n = 0;
    generation_ring_.for_each_slot(r, [&](std::size_t s) {
      level = std::max<unsigned>(level, generations_[s].level());
      n += generations_[s].total();
    });
    if (n == 0 || std::isnan(p)) return std::numeric_limits<double>::quiet_NaN();
    const double q = std::clamp(p, 0.0, 100.0) / 100.0;
    const auto wanted = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n))), 1, n);
    // A k-way walk over the generations' sorted bins (mapped to `level`), from the end
    // nearer to the wanted rank, until the count reaches it.
    const bool from_top = wanted > n / 2;
    const std::uint64_t target = from_top ? n - wanted + 1 : wanted;
    std::array<const sketch*, max_generations> sketches{};
    std::array<std::size_t, max_generations> next{};  // bins consumed from the walk's end
    std::size_t used = 0;
    generation_ring_.for_each_slot(r, [&](std::size_t s) {
      if (generations_[s].size() > 0) sketches[used++] = &generations_[s];
    });
    auto key_at = [&](std::size_t g) {
      const sketch& k = *sketches[g];
      const std::size_t i = from_top ? k.size() - 1 - next[g] : next[g];
      return detail::collapse_key(k.key(i), k.level(), level);
    };
    std::uint64_t seen = 0;
    for (;;) {
      // The next key in walk order among the generations not yet exhausted.
      bool any = false;
      std::int32_t key = 0;
      for (std::size_t g = 0; g < used; ++g) {
        if (next[g] == sketches[g]->size()) continue;
        const std::int32_t k = key_at(g);
        if (!any || (from_top ? k > key : k < key)) key = k;
        any = true;
      }
      if (!any) return detail::log_sketch_value(key, level);  // unreachable: counts sum to n
      for (std::size_t g = 0; g < used; ++g) {
        const sketch& k = *sketches[g];
        while (next[g] < k.size() && key_at(g) == key) {
          seen += k.count(from_top ? k.size() - 1 - next[g] : next[g]);
          ++next[g];
        }
      }
      if (seen >= target) return detail::log_sketch_value(key, level);
    }
  }

  /// The relative error bound of percentile(now, p): 1 % at level 0, about doubling with
  /// each collapse of the coarsest generation the query reads.
  [[nodiscard]] double percentile_error(event_time now) const noexcept {
    unsigned level = 0;
    generation_ring_.for_each_slot(generation_ring_.covered(now), [&](std::size_t s) {
      level = std::max<unsigned>(level, generations_[s].level());
    });
    return detail::log_sketch_alpha(level);
  }

  /// The values percentile(now, p) ranks (its window edge is one generation wide).
  [[nodiscard]] std::uint64_t percentile_count(event_time now) const noexcept {
    std::uint64_t n = 0;
    generation_ring_.for_each_slot(generation_ring_.covered(now),
                                   [&](std::size_t s) { n += generations_[s].total(); });
    return n;
  }

  [[nodiscard]] const detail::time_ring& ring() const noexcept { return ring_; }
  [[nodiscard]] const detail::time_ring& generation_ring() const noexcept {
    return generation_ring_;
  }
  [[nodiscard]] std::uint64_t dropped_late() const noexcept { return ring_.dropped_late(); }
  [[nodiscard]] std::uint64_t resets() const noexcept { return ring_.resets(); }
  [[nodiscard]] std::uint64_t rejected_values() const noexcept { return rejected_values_; }

  void save(std::string& out) const {
    detail::blob_writer w(out);
    detail::save_ring(w, 'V', ring_);
    w.le(rejected_values_);
    if (!ring_.empty()) {
      for (std::size_t s = 0; s < counts_.size(); ++s) {
        w.le(counts_[s]);
        w.le(sums_[s]);
      }
    }
    detail::save_ring(w, 'G', generation_ring_);
    if (generation_ring_.empty()) return;
    for (const sketch& g : generations_) {
      w.le(g.level());
      w.le(static_cast<std::uint8_t>(g.size()));
      for (std::size_t i = 0; i < g.size(); ++i) {
        w.le(static_cast<std::uint16_t>(g.key(i)));
        w.le(g.count(i));
      }
    }
  }

  [[nodiscard]] static std::optional<bounded_value_window> load(std::string_view& in,
                                                                const window_params& params) {
    bounded_value_window w(params);
    detail::blob_reader r(in);
    if (!detail::load_ring(r, 'V', w.ring_)) return std::nullopt;
    w.rejected_values_ = r.le<std::uint64_t>();
    if (!w.ring_.empty()) {
      for (std::size_t s = 0; s < w.counts_.size(); ++s) {
        w.counts_[s] = r.le<std::uint32_t>();
        w.sums_[s] = r.le<double>();  // any double: a sum of finite values may overflow
      }
    }
    if (!r.ok() || !detail::load_ring(r, 'G', w.generation_ring_)) return std::nullopt;
    if (!w.generation_ring_.empty()) {
      std::array<std::int16_t, sketch::capacity> keys{};
      std::array<std::uint32_t, sketch::capacity> counts{};
      for (sketch& g : w.generations_) {
        const auto level = r.le<std::uint8_t>();
        const auto size = r.le<std::uint8_t>();
        if (!r.ok() || size > sketch::capacity) return std::nullopt;
        for (std::size_t i = 0; i < size; ++i) {
          keys[i] = static_cast<std::int16_t>(r.le<std::uint16_t>());
          counts[i] = r.le<std::uint32_t>();
        }
        if (!r.ok() || !g.restore(level, size, keys.data(), counts.data())) return std::nullopt;
      }
    }
    return w;
  }

 private:
  detail::time_ring ring_;
  detail::time_ring generation_ring_;
  std::vector<std::uint32_t> counts_;
  std::vector<double> sums_;
  std::vector<sketch> generations_;
  std::uint64_t rejected_values_ = 0;
};

/// The window types of the bounded memory mode, for correlation_engine's `Windows`
/// parameter (correlation_engine.hpp; exact_windows is the exact mode's).
struct bounded_windows {
  using count = bounded_count_window;
  using distinct = bounded_distinct_window;
  using value = bounded_value_window;
};

}  // namespace sigma

FLUXCAP_END_NAMESPACE
