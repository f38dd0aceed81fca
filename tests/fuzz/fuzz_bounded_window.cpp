// Fuzz target: the bounded correlation windows (fluxcap/sigma/bounded_window.hpp).
//
// Input: byte 0 picks the window (count, distinct, value), byte 1 the buckets, bytes 2-5
// the span (ms, little-endian), bytes 6-7 the length L of a saved blob, then L bytes given
// to load() (hostile bytes: a window that loads must behave like any other), then
// operations of 11 bytes: kind, a signed 16-bit time step, 8 bytes of value (any double,
// NaN and infinities too).
//
// Invariants: load() never reads past its input and consumes at most it; memory_bytes()
// equals memory_bound() throughout; a save/load round trip gives back the same bytes and
// the same answers; count() and distinct() never exceed the events added plus what the
// loaded blob held (counts); percentile() is NaN exactly when percentile_count() is 0,
// and lies between percentile(0) and percentile(100).
#include <fluxcap/sigma/bounded_window.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace {

namespace sigma = fluxcap::sigma;
using sigma::event_time;

std::uint64_t le(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

template <class W>
void check_round_trip(const W& w, const sigma::window_params& params, event_time now) {
  std::string blob;
  w.save(blob);
  std::string_view in = blob;
  const std::optional<W> back = W::load(in, params);
  if (!back || !in.empty()) std::abort();
  std::string again;
  back->save(again);
  if (again != blob) std::abort();
  if constexpr (std::is_same_v<W, sigma::bounded_count_window>) {
    if (back->count(now) != w.count(now)) std::abort();
  } else if constexpr (std::is_same_v<W, sigma::bounded_distinct_window>) {
    if (back->distinct(now) != w.distinct(now)) std::abort();
  } else {
    const double a = back->percentile(now, 50), b = w.percentile(now, 50);
    if (back->count(now) != w.count(now) || !(a == b || (std::isnan(a) && std::isnan(b))))
      std::abort();
  }
}

template <class W>
void run(const sigma::window_params& params, std::string_view blob, const std::uint8_t* ops,
         std::size_t n_ops) {
  std::string_view in = blob;
  std::optional<W> loaded = W::load(in, params);
  if (in.size() > blob.size() || in.data() < blob.data() ||
      in.data() + in.size() != blob.data() + blob.size())
    std::abort();
  W w = loaded ? *loaded : W(params);
  const std::size_t memory = W::memory_bound(params);
  if (w.memory_bytes() != memory) std::abort();
  event_time now = loaded && !w.ring().empty() ? w.ring().head() * w.ring().width() : 0;
  std::uint64_t added = 0;
  for (std::size_t i = 0; i + 11 <= n_ops; i += 11) {
    const std::uint8_t kind = ops[i];
    const auto step = static_cast<event_time>(static_cast<std::int16_t>(le(ops + i + 1, 2)));
    const std::uint64_t bits = le(ops + i + 3, 8);
    double value;
    std::memcpy(&value, &bits, sizeof value);
    switch (kind % 5) {
      case 0:
        now += step;
        [[fallthrough]];
      case 1:
        ++added;
        if constexpr (std::is_same_v<W, sigma::bounded_count_window>) {
          w.add(now + (kind % 5 == 1 ? step : 0));
        } else if constexpr (std::is_same_v<W, sigma::bounded_distinct_window>) {
          w.add(now + (kind % 5 == 1 ? step : 0), bits);
        } else {
          w.add(now + (kind % 5 == 1 ? step : 0), value);
        }
        break;
      case 2:
        now += step * 1000 * static_cast<event_time>(kind >> 4);  // big jumps too
        break;
      case 3: {
        const event_time at = now + step;
        if constexpr (std::is_same_v<W, sigma::bounded_count_window>) {
          (void)w.count(at);
        } else if constexpr (std::is_same_v<W, sigma::bounded_distinct_window>) {
          (void)w.distinct(at);
        } else {
          (void)w.count(at);
          (void)w.sum(at);
          const double p = std::isnan(value) ? 50.0 : value;
          const double q = w.percentile(at, p);
          const bool none = w.percentile_count(at) == 0;
          if (std::isnan(q) != none) std::abort();
          if (!none) {
            const double lo = w.percentile(at, 0), hi = w.percentile(at, 100);
            if (q < lo || q > hi) std::abort();
            const double e = w.percentile_error(at);
            if (!(e > 0 && e < 1)) std::abort();
          }
        }
        break;
      }
      default:
        check_round_trip(w, params, now);
        break;
    }
    if (w.memory_bytes() != memory) std::abort();
  }
  if constexpr (std::is_same_v<W, sigma::bounded_count_window>) {
    // Without a loaded blob, no query counts more events than were added.
    if (!loaded && w.count(now) > added) std::abort();
  }
  check_round_trip(w, params, now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  sigma::window_params params{static_cast<event_time>(le(data + 2, 4)), data[1]};
  const std::size_t blob_size = std::min<std::size_t>(le(data + 6, 2), size - 8);
  const std::string_view blob(reinterpret_cast<const char*>(data + 8), blob_size);
  const std::uint8_t* ops = data + 8 + blob_size;
  const std::size_t n_ops = std::min<std::size_t>(size - 8 - blob_size, 11 * 4096);
  switch (data[0] % 3) {
    case 0:
      run<sigma::bounded_count_window>(params, blob, ops, n_ops);
      break;
    case 1:
      run<sigma::bounded_distinct_window>(params, blob, ops, n_ops);
      break;
    default:
      run<sigma::bounded_value_window>(params, blob, ops, n_ops);
      break;
  }
  return 0;
}
