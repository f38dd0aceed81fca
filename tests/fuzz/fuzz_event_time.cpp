// Fuzz target: event-time parsing and the timespan path of flux_capacitor (semantics
// section 6) on arbitrary bytes. Each line of the input is one event's timestamp text;
// the line's last byte picks which of two tags it carries.
//
// Invariants: nothing crashes (UBSan: no signed overflow in the time arithmetic); a
// parsed time, printed as epoch seconds with milliseconds, parses back to itself;
// exact memory answers as a reference model of the buckets does (recalled iff some
// earlier store's bucket lies between the buckets of time - timespan and time); bloom
// and cuckoo memory answer at least that (no false negative).
#include "../harness.hpp"

#include <fluxcap/fluxcap.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

// 10 s spans: buckets of 2.5 s.
constexpr std::int64_t span_ms = 10'000;
constexpr std::int64_t bucket_ms = span_ms / fluxcap::timespan_buckets;

std::string epoch_text(std::int64_t ms) {
  const bool negative = ms < 0;
  const std::uint64_t abs =
      negative ? 0 - static_cast<std::uint64_t>(ms) : static_cast<std::uint64_t>(ms);
  std::string frac = std::to_string(1000 + abs % 1000).substr(1);
  return (negative ? "-" : "") + std::to_string(abs / 1000) + "." + frac;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size > 4096) return 0;
  (void)fluxcap::parse_timespan(input);

  // Fresh copies of prototypes (sizing a memory costs far more than a short input). A
  // copy's accessor reads the prototype's schema, equal to its own: only spec'd tags run.
  static const auto prototypes = [] {
    fluxcap::spec s{
        fluxcap::temporal_rule("r", {"a", "b"}).with_timespan(std::chrono::milliseconds(span_ms))};
    s.with_timestamp("ts");
    fluxcap::memory_config config;
    config.capacity = 8192;  // more than an input's lines: nothing is forgotten by capacity
    return std::tuple{fluxcap_test::harness<fluxcap::exact_memory>(s, config),
                      fluxcap_test::harness<fluxcap::bloom_memory>(s, config),
                      fluxcap_test::harness<fluxcap::cuckoo_memory>(s, config)};
  }();
  auto [exact, bloom, cuckoo] = prototypes;
  std::vector<std::int64_t> stored_a, stored_b;  // buckets of the stores

  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    start = end + 1;

    const std::optional<std::int64_t> t = fluxcap::parse_event_time(line);
    if (t && fluxcap::parse_event_time(epoch_text(*t)) != t) std::abort();

    const bool tag_a = line.empty() || (static_cast<unsigned char>(line.back()) & 1U) != 0;
    const std::string tag = tag_a ? "r.a" : "r.b";
    fluxcap_test::columns cols{{"ts", std::string(line)}};
    const fluxcap_test::tag_set want_in{tag};
    const auto got = exact.run(want_in, cols);
    const auto got_bloom = bloom.run(want_in, cols);
    const auto got_cuckoo = cuckoo.run(want_in, cols);

    // The model: the other tag is recalled iff a store's bucket is in [oldest, newest].
    bool other = false;
    if (t) {
      const std::int64_t newest = floor_div(*t, bucket_ms);
      const std::int64_t oldest = floor_div(*t - span_ms, bucket_ms);
      for (const std::int64_t b : tag_a ? stored_b : stored_a)
        other = other || (b >= oldest && b <= newest);
      (tag_a ? stored_a : stored_b).push_back(newest);
    }
    fluxcap_test::tag_set want{tag};
    if (other) want.insert(tag_a ? "r.b" : "r.a");
    if (got != want) std::abort();
    for (const auto* approx : {&got_bloom, &got_cuckoo})
      for (const auto& x : want)
        if (approx->count(x) == 0) std::abort();
  }
  return 0;
}
