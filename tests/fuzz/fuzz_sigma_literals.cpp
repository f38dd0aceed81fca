// Fuzz target: the Sigma literal matcher (fluxcap/sigma/detail/literal_matcher.hpp) against a
// naive reference. Input: limits byte (dense depth = value % 6, gram-filter bucket budget =
// bits 3-4, tiny filter = bit 5, filters only for large sets = bit 6), dense-budget byte, pattern
// count, then per pattern a header (anchor = bits 0-1, cased = bit 2, id = bits 3-7: ids repeat), a
// length byte and the bytes; the rest is values, each a length byte and its bytes. Property: for
// every value, the set of ids reported by scan and by scan_unique equals the reference's (fold
// both, then
// ==, starts_with, ends_with, find), and scan_unique reports no id twice.
#include <fluxcap/sigma/detail/literal_matcher.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace lit = fluxcap::sigma::detail;

struct reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  [[nodiscard]] bool done() const { return at >= size; }
  std::uint8_t byte() { return at < size ? data[at++] : 0; }
  std::string_view take(std::size_t n) {
    n = std::min(n, size - std::min(at, size));
    const std::string_view s(reinterpret_cast<const char*>(data) + at, n);
    at += n;
    return s;
  }
};

struct pattern {
  std::string text;
  lit::literal_anchor anchor;
  bool cased;
  std::uint32_t id;
};

std::string folded(std::string_view s) {
  std::string f(s);
  for (char& c : f) c = static_cast<char>(lit::fold_ascii(static_cast<unsigned char>(c)));
  return f;
}

bool reference(const pattern& p, std::string_view value) {
  const std::string v = p.cased ? std::string(value) : folded(value);
  const std::string t = p.cased ? p.text : folded(p.text);
  const std::string_view vv(v), tt(t);
  switch (p.anchor) {
    case lit::literal_anchor::exact:
      return vv == tt;
    case lit::literal_anchor::prefix:
      return vv.starts_with(tt);
    case lit::literal_anchor::suffix:
      return vv.ends_with(tt);
    case lit::literal_anchor::contains:
      return vv.find(tt) != std::string_view::npos;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{data, size};
  lit::literal_matcher_limits limits;
  const std::uint8_t shape = r.byte();
  limits.max_dense_depth = shape % 6u;
  // Gram filters: default, off (automaton only), or tiny buckets (the rest in the
  // automaton); a tiny bitmap makes most grams collide.
  constexpr std::size_t bucket_bytes[4] = {1024, 0, 6, 24};
  limits.max_filter_bucket_bytes = bucket_bytes[(shape >> 3) & 3u];
  limits.max_filter_bits = (shape & 0x20u) != 0 ? 6 : 20;
  limits.min_filter_pattern_bytes = (shape & 0x40u) != 0 ? 16384 : 0;
  const std::uint8_t budget = r.byte();
  limits.max_dense_bytes = budget >= 128 ? std::size_t{1} << 20 : std::size_t{budget} * 64;
  std::vector<pattern> patterns(r.byte() % 33u);
  lit::literal_matcher m(limits);
  for (auto& p : patterns) {
    const std::uint8_t h = r.byte();
    p.anchor = static_cast<lit::literal_anchor>(h & 3u);
    p.cased = (h & 4u) != 0;
    p.id = h >> 3u;
    p.text = std::string(r.take(r.byte() % 24u));  // past 8 bytes: the word compares
    m.add(p.text, p.anchor, p.cased, p.id);
  }
  m.build();
  lit::literal_scan_scratch scratch;
  scratch.prepare(m);
  do {
    const std::string_view value = r.take(r.byte());
    std::set<std::uint32_t> expected, got, unique;
    for (const auto& p : patterns)
      if (reference(p, value)) expected.insert(p.id);
    m.scan(value, [&](std::uint32_t id) { got.insert(id); });
    m.scan_unique(value, scratch, [&](std::uint32_t id) {
      if (!unique.insert(id).second) std::abort();  // each id at most once
    });
    if (got != expected || unique != expected) std::abort();
  } while (!r.done());
  return 0;
}
