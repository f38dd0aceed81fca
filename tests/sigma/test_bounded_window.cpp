// Bounded correlation windows (fluxcap/sigma/bounded_window.hpp, docs/memory.md
// "Correlation windows (bounded)"): the time ring's policy, each sketch alone, save/load
// (round trips, truncated and corrupt blobs), and a differential test against an exact
// reference (a deque of accepted (time, value)) on long random streams: counts and sums
// exact over the covered buckets and off the true window by less than one bucket width of
// events, distinct counts within the stated HyperLogLog error, percentiles within the
// sketch's stated relative error of the true value of the same rank.
#include <doctest/doctest.h>
#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/bounded_window.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace sigma = fluxcap::sigma;
namespace sd = fluxcap::sigma::detail;
using sigma::event_time;
using sigma::window_params;

namespace {

event_time floor_div(event_time a, event_time b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The ring's acceptance policy, written out independently of time_ring::place.
struct reference_ring {
  event_time width;
  event_time slots;
  bool empty = true;
  event_time head = 0;
  std::uint64_t dropped = 0;
  std::uint64_t resets = 0;

  enum outcome { accepted, dropped_late, reset };
  outcome place(event_time t) {
    const event_time b = floor_div(t, width);
    if (empty) {
      empty = false;
      head = b;
      return accepted;
    }
    if (b > head - slots) {
      head = std::max(head, b);
      return accepted;
    }
    if (b > head - 2 * slots) {
      ++dropped;
      return dropped_late;
    }
    ++resets;
    head = b;
    return reset;
  }
  // [first, end) in ms of the buckets a query at `now` reads.
  std::pair<event_time, event_time> covered(event_time now, event_time span) const {
    if (empty) return {0, 0};
    event_time lo = floor_div(now - span + 1, width);
    event_time hi = floor_div(now, width);
    lo = std::max(lo, head - slots + 1);
    hi = std::min(hi, head);
    if (lo > hi) return {0, 0};
    return {lo * width, (hi + 1) * width};
  }
};

struct timed_value {
  event_time t;
  double v;
  std::uint64_t hash;
};

std::uint64_t nearest_rank_index(double p, std::size_t n) {
  const auto r = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  return std::clamp<std::uint64_t>(r, 1, n) - 1;
}

}  // namespace

TEST_CASE("time_ring: geometry, bucket alignment and clamping") {
  const sd::time_ring r(300000, 64);
  CHECK(r.slots() == 64);
  CHECK(r.width() == 4762);  // ceil(300000 / 63)
  CHECK(r.width() * (r.slots() - 1) >= r.span());
  CHECK(r.bucket_of(0) == 0);
  CHECK(r.bucket_of(4761) == 0);
  CHECK(r.bucket_of(4762) == 1);
  CHECK(r.bucket_of(-1) == -1);
  CHECK(r.bucket_of(-4762) == -1);
  CHECK(r.bucket_of(-4763) == -2);
  CHECK(r.slot_of(-1) == 63);
  CHECK(r.slot_of(64) == 0);
  // Degenerate parameters are clamped, never divided by.
  const sd::time_ring tiny(0, 0);
  CHECK(tiny.span() == 1);
  CHECK(tiny.slots() == 2);
  CHECK(tiny.width() == 1);
  const sd::time_ring huge(std::numeric_limits<event_time>::max(), 1u << 31);
  CHECK(huge.span() == sd::window_time_limit);
  CHECK(huge.slots() == sd::max_window_slots);
  CHECK(huge.bucket_of(std::numeric_limits<event_time>::min()) ==
        huge.bucket_of(-sd::window_time_limit));
  // A span smaller than the ring: 1 ms buckets.
  const sd::time_ring small(10, 64);
  CHECK(small.width() == 1);
}

TEST_CASE("time_ring: in order, out of order, late, clock reset, far forward") {
  sd::time_ring r(100, 11);  // width 10, ring covers 110 ms
  REQUIRE(r.width() == 10);
  std::vector<std::size_t> cleared;
  auto clear = [&](std::size_t s) { cleared.push_back(s); };
  CHECK(r.place(r.bucket_of(1000), clear) == r.slot_of(100));
  CHECK(cleared.empty());
  CHECK(r.place(r.bucket_of(1025), clear) == r.slot_of(102));  // advance by two buckets
  CHECK(cleared.size() == 2);
  cleared.clear();
  CHECK(r.place(r.bucket_of(1003), clear) == r.slot_of(100));  // out of order, in the ring
  CHECK(r.place(r.bucket_of(925), clear) == r.slot_of(92));    // oldest bucket of the ring
  CHECK(cleared.empty());
  CHECK(r.dropped_late() == 0);
  CHECK(r.place(r.bucket_of(915), clear) == r.slots());  // older than the ring: dropped
  CHECK(r.place(r.bucket_of(815), clear) == r.slots());  // still within two rings
  CHECK(r.dropped_late() == 2);
  CHECK(r.resets() == 0);
  CHECK(r.place(r.bucket_of(700), clear) == r.slot_of(70));  // two rings back: a reset
  CHECK(r.resets() == 1);
  CHECK(cleared.size() == 11);
  CHECK(r.head() == 70);
  cleared.clear();
  CHECK(r.place(r.bucket_of(1'000'000'000), clear) == r.slot_of(100'000'000));
  CHECK(cleared.size() == 11);  // far forward: everything expires
  CHECK(r.head() == 100'000'000);

  // covered(): the buckets overlapping (now - 100, now], limited to the ring.
  const auto c = r.covered(1'000'000'005);
  CHECK(c.first == 99'999'990);  // (now - 99) / 10 = 99'999'990.6
  CHECK(c.last == 100'000'000);
  CHECK(r.covered(1'000'000'095).first == 99'999'999);  // floor(999'999'996 / 10)
  CHECK(r.covered(2'000'000'000).empty());
  CHECK(r.covered(10).empty());
}

TEST_CASE("bounded_count_window: counts, window edge, memory") {
  const window_params p{1000, 11};  // width 100 ms
  sigma::bounded_count_window w(p);
  const std::size_t memory = w.memory_bytes();
  CHECK(memory == sigma::bounded_count_window::memory_bound(p));
  CHECK(memory == sizeof(sigma::bounded_count_window) + 11 * 4);
  CHECK(w.count(0) == 0);
  for (event_time t = 0; t < 2000; t += 10) w.add(t);  // 200 events, 10 a bucket
  // (990, 1990]: exactly 100 events (1000..1990); the oldest bucket [900, 1000) starts
  // before the window: its 10 events are included (edge error < one bucket width).
  CHECK(w.count(1990) == 110);
  CHECK(w.count(1999) == 100);  // (999, 1999]: buckets [1000, 2000), no partial bucket
  CHECK(w.count(5000) == 0);
  CHECK(w.count(-5) == 0);
  w.add(1995);
  w.add(1995);
  CHECK(w.count(1999) == 102);
  CHECK(w.memory_bytes() == memory);
  CHECK(w.dropped_late() == 0);
  w.add(500);  // older than the ring (ring holds buckets 9..19)
  CHECK(w.dropped_late() == 1);
  CHECK(w.count(1999) == 102);
}

TEST_CASE("hyperloglog: register split, merge, estimates") {
  const auto e = sd::hll_split<6>(0xfc00000000000000ULL);  // index 63, rest all zero
  CHECK(e.index == 63);
  CHECK(e.value == sd::hll_q + 1);
  const auto f = sd::hll_split<6>(0x0220000000000000ULL);  // index 0, rest 1000...
  CHECK(f.index == 0);
  CHECK(f.value == 1);
  std::array<std::uint8_t, 32> a{}, b{};
  CHECK(sd::hll_estimate<6>(a.data()) == 0.0);
  sd::hll_raise(a.data(), 3, 5);
  sd::hll_raise(a.data(), 3, 2);  // lower: ignored
  sd::hll_raise(b.data(), 2, 7);
  sd::hll_raise(b.data(), 3, 9);
  CHECK(sd::hll_get(a.data(), 3) == 5);
  sd::hll_merge(a.data(), b.data(), a.size());
  CHECK(sd::hll_get(a.data(), 2) == 7);
  CHECK(sd::hll_get(a.data(), 3) == 9);
  // One value is estimated as about one.
  std::array<std::uint8_t, 32> one{};
  sd::hll_raise(one.data(), 10, 1);
  CHECK(std::llround(sd::hll_estimate<6>(one.data())) == 1);
  // Saturated registers do not give infinity.
  std::array<std::uint8_t, 32> full;
  full.fill(0xff);
  CHECK(std::isfinite(sd::hll_estimate<6>(full.data())));
  CHECK(sd::hll_estimate<6>(full.data()) > 1e5);
}

TEST_CASE("log_bucket_sketch: keys, representatives within alpha, collapse keeps counts") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-60.0, 60.0);
  for (int i = 0; i < 20000; ++i) {
    const double v = std::pow(10.0, exponent(rng)) * ((i & 1) != 0 ? -1.0 : 1.0);
    const std::int32_t key = sd::log_sketch_key(v);
    for (unsigned level = 0; level <= sd::log_sketch_max_level; level += 3) {
      const double rep = sd::log_sketch_value(sd::collapse_key(key, 0, level), level);
      REQUIRE(std::fabs(rep - v) <= sd::log_sketch_alpha(level) * std::fabs(v) * (1 + 1e-9));
    }
  }
  CHECK(sd::log_sketch_key(0.0) == 0);
  CHECK(sd::log_sketch_key(1e-300) == 0);
  CHECK(sd::log_sketch_key(1e300) == sd::log_sketch_max_magnitude);
  CHECK(sd::log_sketch_key(-1e300) == -sd::log_sketch_max_magnitude);
  CHECK(sd::log_sketch_alpha(0) == doctest::Approx(0.01));

  sd::log_bucket_sketch<8> s;
  for (int i = 1; i <= 1000; ++i) s.add_key(sd::log_sketch_key(static_cast<double>(i)));
  CHECK(s.total() == 1000);
  CHECK(s.size() <= 8);
  CHECK(s.level() > 0);
  CHECK(s.count_at_most(sd::log_sketch_top(s.level()), s.level()) == 1000);
  // Worst case: the last level holds every key; the level never passes 13.
  sd::log_bucket_sketch<5> t;
  for (int i = -300; i <= 300; i += 7) t.add_key(sd::log_sketch_key(std::pow(10.0, i / 5.0)));
  t.add_key(0);
  for (int i = -300; i <= 300; i += 7) t.add_key(sd::log_sketch_key(-std::pow(10.0, i / 5.0)));
  CHECK(t.level() <= sd::log_sketch_max_level);
  CHECK(t.total() == 2 * 86 + 1);
}

TEST_CASE("bounded_value_window: sum, count, NaN and infinities, percentiles") {
  const window_params p{60000, 64};
  sigma::bounded_value_window w(p);
  CHECK(w.memory_bytes() == sigma::bounded_value_window::memory_bound(p));
  CHECK(std::isnan(w.percentile(0, 50)));
  for (int i = 1; i <= 100; ++i) w.add(1000 + i, static_cast<double>(i));
  w.add(1200, std::numeric_limits<double>::quiet_NaN());
  w.add(1200, std::numeric_limits<double>::infinity());
  w.add(1200, -std::numeric_limits<double>::infinity());
  CHECK(w.rejected_values() == 3);
  CHECK(w.count(2000) == 100);
  CHECK(w.sum(2000) == 5050.0);
  const double alpha = w.percentile_error(2000);
  // 100 values 1..100 take more than 60 bins at 1 %: one collapse, 2 %.
  CHECK(alpha == doctest::Approx(sd::log_sketch_alpha(1)));
  CHECK(std::fabs(w.percentile(2000, 50) - 50.0) <= 50.0 * alpha * (1 + 1e-9));
  CHECK(std::fabs(w.percentile(2000, 0) - 1.0) <= alpha * (1 + 1e-9));
  CHECK(std::fabs(w.percentile(2000, 100) - 100.0) <= 100.0 * alpha * (1 + 1e-9));
  CHECK(std::fabs(w.percentile(2000, 99) - 99.0) <= 99.0 * alpha * (1 + 1e-9));
  CHECK(std::fabs(w.percentile(2000, 1e9) - 100.0) <= 100.0 * alpha * (1 + 1e-9));  // clamped
  CHECK(std::isnan(w.percentile(2000, std::numeric_limits<double>::quiet_NaN())));
  w.add(1300, -5.0);
  w.add(1300, 0.0);
  const double alpha2 = w.percentile_error(2000);  // -5 and 0 may have needed a collapse
  CHECK(std::fabs(w.percentile(2000, 0) + 5.0) <= 5.0 * alpha2 * (1 + 1e-9));
  CHECK(w.percentile(2000, 1.5) == 0.0);  // rank 2 of 102
  CHECK(w.memory_bytes() == sigma::bounded_value_window::memory_bound(p));
  CHECK(w.count(1000000) == 0);
  CHECK(std::isnan(w.percentile(1000000, 50)));
}

TEST_CASE("bounded windows: memory at the defaults (docs/memory.md)") {
  const window_params p{300000};
  MESSAGE("count " << sigma::bounded_count_window::memory_bound(p) << " B, distinct "
                   << sigma::bounded_distinct_window::memory_bound(p) << " B, value "
                   << sigma::bounded_value_window::memory_bound(p) << " B");
  CHECK(sigma::bounded_count_window::memory_bound(p) <= 512);
  CHECK(sigma::bounded_distinct_window::memory_bound(p) <= 2200);
  CHECK(sigma::bounded_value_window::memory_bound(p) <= 3900);
  // Independent of the span.
  CHECK(sigma::bounded_value_window::memory_bound({1}) ==
        sigma::bounded_value_window::memory_bound({86400000}));
}

namespace {

// A window with some history: in order, out of order, a late drop.
template <class W, class Add>
W filled(const window_params& p, std::uint64_t seed, Add add) {
  W w(p);
  std::mt19937_64 rng(seed);
  event_time t = 1'700'000'000'000;
  for (int i = 0; i < 3000; ++i) {
    t += static_cast<event_time>(rng() % 200);
    add(w, (rng() % 10 == 0) ? t - static_cast<event_time>(rng() % 200000) : t, rng);
  }
  return w;
}

template <class W, class Query>
void check_round_trip(const W& w, const window_params& p, Query query) {
  std::string blob;
  w.save(blob);
  std::string two = blob + blob + "tail";
  std::string_view in = two;
  auto a = W::load(in, p);
  REQUIRE(a.has_value());
  auto b = W::load(in, p);
  REQUIRE(b.has_value());
  CHECK(in == "tail");  // each load consumed exactly its blob
  std::string again;
  a->save(again);
  CHECK(again == blob);
  CHECK(a->memory_bytes() == w.memory_bytes());
  query(w, *a);
  // Every truncation is rejected.
  for (std::size_t n = 0; n < blob.size(); ++n) {
    std::string_view cut(blob.data(), n);
    REQUIRE_FALSE(W::load(cut, p).has_value());
  }
  // Other parameters: rejected.
  window_params other = p;
  other.span_ms += 1;
  std::string_view in2 = blob;
  CHECK_FALSE(W::load(in2, other).has_value());
  other = p;
  other.buckets += 1;
  in2 = blob;
  CHECK_FALSE(W::load(in2, other).has_value());
  // Corrupt header bytes: rejected (tag, version, span, slots, empty flag).
  for (const std::size_t at : {0, 1, 2, 10, 14}) {
    std::string bad = blob;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    std::string_view in3 = bad;
    CHECK_FALSE(W::load(in3, p).has_value());
  }
  // Any other single-byte corruption: never UB (ASan/UBSan), and a window that loads
  // answers queries.
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300; ++i) {
    std::string bad = blob;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    std::string_view in3 = bad;
    auto c = W::load(in3, p);
    if (c) query(*c, *c);
  }
}

}  // namespace

TEST_CASE("bounded windows: save/load round trips, truncated and corrupt blobs") {
  const window_params p{60000, 32};
  {
    const auto w =
        filled<sigma::bounded_count_window>(p, 1, [](auto& x, event_time t, auto&) { x.add(t); });
    CHECK(w.dropped_late() + w.resets() > 0);
    check_round_trip(w, p, [](const auto& x, const auto& y) {
      const event_time now = x.ring().head() * x.ring().width();
      for (event_time d = -70000; d <= 70000; d += 997) CHECK(x.count(now + d) == y.count(now + d));
    });
    check_round_trip(sigma::bounded_count_window(p), p,
                     [](const auto& x, const auto& y) { CHECK(x.count(0) == y.count(0)); });
  }
  {
    const auto w = filled<sigma::bounded_distinct_window>(
        p, 2, [](auto& x, event_time t, auto& rng) { x.add(t, rng() % 500); });
    check_round_trip(w, p, [](const auto& x, const auto& y) {
      const event_time now = x.ring().head() * x.ring().width();
      for (event_time d = -70000; d <= 70000; d += 997)
        CHECK(x.distinct(now + d) == y.distinct(now + d));
    });
  }
  {
    const auto w = filled<sigma::bounded_value_window>(p, 3, [](auto& x, event_time t, auto& rng) {
      x.add(t, static_cast<double>(rng() % 100000) / 7.0 - 1000.0);
    });
    check_round_trip(w, p, [](const auto& x, const auto& y) {
      const event_time now = x.ring().head() * x.ring().width();
      for (event_time d = -70000; d <= 70000; d += 997) {
        CHECK(x.count(now + d) == y.count(now + d));
        CHECK(x.sum(now + d) == y.sum(now + d));
        const double a = x.percentile(now + d, 90), b = y.percentile(now + d, 90);
        CHECK(((std::isnan(a) && std::isnan(b)) || a == b));
      }
    });
  }
  // A sketch with keys out of order is rejected.
  {
    sigma::bounded_value_window w(p);
    w.add(1000, 1.0);
    w.add(1000, 2.0);
    std::string blob;
    w.save(blob);
    // Layout: value ring header (39 bytes), rejected count (8), 32 x (count, sum), the
    // generation ring's header (39), then per generation level, size, size x (key, count):
    // empty generations are "\0\0", so the first "\0\2" is the sketch with the two bins.
    std::string bad = blob;
    const auto at = bad.find(std::string("\0\2", 2), 39 + 8 + 32 * 12 + 39);
    REQUIRE(at != std::string::npos);
    REQUIRE(bad.size() >= at + 14);
    std::swap_ranges(bad.begin() + static_cast<std::ptrdiff_t>(at + 2),
                     bad.begin() + static_cast<std::ptrdiff_t>(at + 8),
                     bad.begin() + static_cast<std::ptrdiff_t>(at + 8));
    std::string_view in = bad;
    CHECK_FALSE(sigma::bounded_value_window::load(in, p).has_value());
    std::string_view good = blob;
    CHECK(sigma::bounded_value_window::load(good, p).has_value());
  }
}

namespace {

struct stream_stats {
  std::uint64_t queries = 0;
  std::uint64_t old_queries = 0;  // at a time so old that the ring no longer holds all its window
  std::uint64_t count_edge_disagreements = 0;  // bounded != exact window (edge bucket)
  std::uint64_t distinct_queries = 0;
  std::uint64_t distinct_within_2sigma = 0;
  std::uint64_t distinct_within_3sigma = 0;
  double distinct_worst_sigmas = 0;
  std::uint64_t percentile_queries = 0;
  double percentile_worst_relative = 0;
  double percentile_worst_alpha = 0;
};

// One long random stream on one window of each kind, checked against exact references.
// Event gaps are exponential with a mean of span / `per_window` (about that many events a
// window); 5 % of events come up to 100 ms late, 0.1 % more than a ring late (dropped),
// 0.02 % jump back by many spans (reset) or forward by many spans. Values: a universe of
// distinct values that changes size by phase (distinct counts from 1 to ~2,000), and
// log-normal magnitudes with some negatives and zeros.
void run_stream(std::uint64_t seed, const window_params& p, int events, double per_window,
                stream_stats& stats) {
  std::mt19937_64 rng(seed);
  sigma::bounded_count_window counts(p);
  sigma::bounded_distinct_window distinct(p);
  sigma::bounded_value_window values(p);
  const std::size_t memory[3] = {counts.memory_bytes(), distinct.memory_bytes(),
                                 values.memory_bytes()};
  const fluxcap::default_hash hash(fluxcap::hash_key{seed, 0x1234});

  const sd::time_ring geometry(p.span_ms, p.buckets);
  const sd::time_ring generations(
      p.span_ms, std::min(geometry.slots(), sigma::bounded_value_window::max_generations));
  const event_time span = geometry.span();
  reference_ring ref{geometry.width(), geometry.slots()};
  reference_ring gen_ref{generations.width(), generations.slots()};
  std::deque<timed_value> accepted;      // since the last reset of the bucket ring
  std::deque<timed_value> gen_accepted;  // since the last reset of the generation ring
  std::exponential_distribution<double> gap(per_window / static_cast<double>(span));
  std::lognormal_distribution<double> magnitude(3.0, 2.5);
  event_time newest = 1'700'000'000'000;
  std::uint64_t universe = 10;
  std::vector<double> scratch;
  std::unordered_set<std::uint64_t> seen;

  for (int i = 0; i < events; ++i) {
    if (i % 2000 == 0) universe = std::uint64_t{1} << (rng() % 12);  // 1 .. 2048
    newest += static_cast<event_time>(gap(rng));
    event_time t = newest;
    const auto dice = rng() % 10000;
    if (dice < 500)
      t -= static_cast<event_time>(rng() % 100);
    else if (dice < 510)
      t -= span + geometry.width() * 2 + static_cast<event_time>(rng() % span);
    else if (dice < 512)
      t = newest -= span * 10;  // clock back by ten spans
    else if (dice < 514)
      t = newest += span * 10;  // far forward
    const std::uint64_t value_id = rng() % universe;
    const std::uint64_t h = hash(std::string_view(reinterpret_cast<const char*>(&value_id), 8));
    double v = magnitude(rng);
    if (rng() % 10 == 0) v = -v;
    if (rng() % 50 == 0) v = 0.0;

    counts.add(t);
    distinct.add(t, h);
    values.add(t, v);
    switch (ref.place(t)) {
      case reference_ring::reset:
        accepted.clear();
        [[fallthrough]];
      case reference_ring::accepted:
        accepted.push_back({t, v, h});
        break;
      case reference_ring::dropped_late:
        break;
    }
    switch (gen_ref.place(t)) {
      case reference_ring::reset:
        gen_accepted.clear();
        [[fallthrough]];
      case reference_ring::accepted:
        gen_accepted.push_back({t, v, h});
        break;
      case reference_ring::dropped_late:
        break;
    }
    REQUIRE(counts.dropped_late() == ref.dropped);
    REQUIRE(counts.resets() == ref.resets);
    REQUIRE(values.generation_ring().dropped_late() == gen_ref.dropped);
    REQUIRE(values.generation_ring().resets() == gen_ref.resets);
    // Forget what no ring holds any more (and keep the references small).
    const event_time keep = (ref.head - ref.slots) * ref.width;
    while (!accepted.empty() && accepted.front().t < keep) accepted.pop_front();
    const event_time gen_keep = (gen_ref.head - gen_ref.slots) * gen_ref.width;
    while (!gen_accepted.empty() && gen_accepted.front().t < gen_keep) gen_accepted.pop_front();

    if (i % 7 != 0) continue;
    // Query at the newest time mostly, sometimes at this (possibly late) event's time or
    // a little ahead.
    const auto q = rng() % 8;
    const event_time now = q == 0   ? t
                           : q == 1 ? newest + static_cast<event_time>(rng() % span)
                                    : newest;
    ++stats.queries;

    // Counts and sums: exact over the covered buckets.
    const auto [from, to] = ref.covered(now, span);
    std::uint64_t n_covered = 0, n_window = 0, n_after_now = 0;
    double sum_covered = 0, abs_covered = 0;
    seen.clear();
    for (const auto& e : accepted) {
      if (e.t >= from && e.t < to) {
        ++n_covered;
        sum_covered += e.v;
        abs_covered += std::fabs(e.v);
        seen.insert(e.hash);
        if (e.t > now) ++n_after_now;
        if (e.t > now - span && e.t <= now) ++n_window;
      }
    }
    REQUIRE(counts.count(now) == n_covered);
    REQUIRE(values.count(now) == n_covered);
    REQUIRE(std::fabs(values.sum(now) - sum_covered) <= 1e-12 * abs_covered + 1e-300);
    // Against the true window (now - span, now]: the covered buckets start less than one
    // bucket width before it, so the difference is the events of that part of the oldest
    // bucket (and, for a query older than the newest event, the events of now's bucket
    // after now). Without a reset inside the window, no event of the window is missed.
    const bool ring_cuts_window = floor_div(now - span + 1, ref.width) < ref.head - ref.slots + 1;
    if (ring_cuts_window) ++stats.old_queries;  // older than the ring: its evicted part is missed
    if (from < to && !ring_cuts_window) {
      REQUIRE(from > now - span + 1 - geometry.width());
      REQUIRE(from <= now - span + 1);
      std::uint64_t n_edge = 0;
      for (const auto& e : accepted)
        if (e.t >= from && e.t <= now - span) ++n_edge;
      REQUIRE(n_covered == n_window + n_edge + n_after_now);
      if (n_covered != n_window) ++stats.count_edge_disagreements;
    }

    // Distinct: HyperLogLog error relative to the exact distinct count of the same buckets.
    const double exact_distinct = static_cast<double>(seen.size());
    const double estimate = static_cast<double>(distinct.distinct(now));
    if (seen.empty()) {
      REQUIRE(estimate == 0);
    } else {
      const double sigma_abs = sigma::bounded_distinct_window::standard_error() * exact_distinct;
      const double off = std::fabs(estimate - exact_distinct);
      ++stats.distinct_queries;
      // Rounding to an integer adds up to 0.5.
      if (off <= 2 * sigma_abs + 0.5) ++stats.distinct_within_2sigma;
      if (off <= 3 * sigma_abs + 0.5) ++stats.distinct_within_3sigma;
      stats.distinct_worst_sigmas = std::max(stats.distinct_worst_sigmas, off / sigma_abs);
    }

    // Percentiles: the bin of the true value of the same rank, over the covered generations.
    if (i % 21 != 0) continue;
    const auto [gfrom, gto] = gen_ref.covered(now, span);
    scratch.clear();
    for (const auto& e : gen_accepted)
      if (e.t >= gfrom && e.t < gto) scratch.push_back(e.v);
    REQUIRE(values.percentile_count(now) == scratch.size());
    for (const double pct :
         {0.0, 50.0, 90.0, 95.0, 99.0, 100.0, static_cast<double>(rng() % 10001) / 100.0}) {
      const double got = values.percentile(now, pct);
      if (scratch.empty()) {
        REQUIRE(std::isnan(got));
        continue;
      }
      const auto k = nearest_rank_index(pct, scratch.size());
      std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(k),
                       scratch.end());
      const double want = scratch[k];
      const double alpha = values.percentile_error(now);
      const double off = std::fabs(got - want);
      INFO("p=" << pct << " want=" << want << " got=" << got << " alpha=" << alpha);
      REQUIRE(off <= alpha * std::fabs(want) * (1 + 1e-9));
      ++stats.percentile_queries;
      if (want != 0)
        stats.percentile_worst_relative =
            std::max(stats.percentile_worst_relative, off / std::fabs(want));
      stats.percentile_worst_alpha = std::max(stats.percentile_worst_alpha, alpha);
    }
  }
  CHECK(counts.memory_bytes() == memory[0]);
  CHECK(distinct.memory_bytes() == memory[1]);
  CHECK(values.memory_bytes() == memory[2]);
}

}  // namespace

TEST_CASE("bounded windows: differential against an exact reference on random streams") {
  stream_stats stats;
  struct setup {
    window_params params;
    double per_window;
  };
  const setup setups[] = {
      {{300000, 64}, 1000},                     // the defaults, 1,000 events a window
      {{5000, 16}, 200},     {{60000, 2}, 50},  // the smallest ring
      {{37, 64}, 20},                           // a span shorter than the ring: 1 ms buckets
      {{3600000, 256}, 400},
  };
  std::uint64_t seed = 42;
  for (const auto& s : setups) {
    CAPTURE(s.params.span_ms);
    CAPTURE(s.params.buckets);
    run_stream(seed++, s.params, 40000, s.per_window, stats);
  }
  const double within3 = static_cast<double>(stats.distinct_within_3sigma) /
                         static_cast<double>(stats.distinct_queries);
  const double within2 = static_cast<double>(stats.distinct_within_2sigma) /
                         static_cast<double>(stats.distinct_queries);
  MESSAGE("queries " << stats.queries << " (" << stats.old_queries
                     << " older than the ring), count off the true window (edge bucket) in "
                     << stats.count_edge_disagreements << "; distinct (" << stats.distinct_queries
                     << " non-empty) within 2 sigma " << within2 << ", within 3 sigma " << within3
                     << ", worst " << stats.distinct_worst_sigmas << " sigma; percentiles "
                     << stats.percentile_queries << ", worst relative error "
                     << stats.percentile_worst_relative << " (largest stated bound "
                     << stats.percentile_worst_alpha << ")");
  CHECK(stats.count_edge_disagreements > 0);  // the edge error does occur, and was accounted for
  CHECK(stats.distinct_queries > 20000);
  CHECK(within2 >= 0.95);
  CHECK(within3 >= 0.99);
  CHECK(stats.percentile_queries > 5000);
}
