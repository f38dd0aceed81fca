// The hot core of Sigma literal matching: every literal pattern of one field (exact,
// startswith, endswith, contains; ASCII case-insensitive unless cased) found in one
// pass over a value, without copying or allocating (docs/design/sigma-frontend.md 4.1,
// 4.2, 4.6).
//
// Structures, all over ASCII-folded bytes (A-Z read as a-z: folding is free per byte):
// - contains, in large sets (min_filter_pattern_bytes): gram filters. Each distinct folded
//   pattern is anchored at one of its grams (4 bytes; 3 or 2 for 3- and 2-byte patterns;
//   1-byte patterns are emitted from a table by the byte), chosen to be rare (shared by
//   few patterns, made of uncommon bytes) and in a lightly loaded bucket. A scan folds 64
//   positions at a time into a buffer and tests the 4-, 3- and 2-byte grams starting at
//   each position against the tiers' bitmaps (hashed; the 2-byte one indexed by the gram)
//   without a branch or a dependent chain of loads; at the candidates, the bucket's
//   anchors whose gram equals the value's are compared with the value (8 bytes a step). A
//   pattern has one anchor, so an occurrence is found once. Collisions cost time only,
//   and at most max_filter_bucket_bytes pattern bytes are compared at one position
//   (patterns that would overload every bucket of their grams go to the automaton), so a
//   value aimed at collisions stays linear. Memory: per tier at most 2^max_filter_bits
//   bitmap bits (the 2-byte tier: 2^16) and 2^(max_filter_bits - 3) + 1 bucket offsets of
//   4 bytes, 24 bytes per distinct pattern, its folded bytes, 4 per id.
// - contains, small sets (where it is faster: it stays in the caches and skips bytes of no
//   pattern) and what overflows the filters' buckets: an Aho-Corasick automaton (A. V. Aho, M. J.
//   Corasick, "Efficient string matching: an aid to bibliographic search", CACM 18(6), 1975) over
//   byte classes (the bytes occurring in contains patterns; upper-case letters share the lower-case
//   class; every other byte is class 0 and sends the automaton to its root). States are numbered
//   breadth-first; the shallow ones (depth < dense_depth) have full DFA rows, the deeper
//   ones (the long tails of the patterns) sorted sparse transitions plus a failure link.
//   Each state holds a precomputed span of every pattern ending there (its own and its
//   failure chain's): no output links are followed at scan time.
// - prefix and exact: one forward trie walked from byte 0 while it has a transition;
//   exact patterns are the trie nodes reached exactly when the value ends. No hash,
//   nothing to verify, no collisions an attacker could aim at.
// - suffix: a trie of the reversed patterns walked from the last byte backwards.
// - cased patterns live in the same structures (folded); at a hit their original bytes
//   are compared case-sensitively with the value at the hit position. One pass serves
//   both kinds, and `cased` is rare in rules, so separate structures would cost a second
//   pass for little.
// Scanning is linear in the value's length (times at most max_filter_bucket_bytes for the
// verifications at filter candidates) plus the hits reported (a cased hit also compares
// its pattern's bytes); the structures are bounded by literal_matcher_limits (exceeding
// one throws literal_limit_error); memory_bytes() reports their size.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/sigma/detail/glob.hpp>  // fold_ascii

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma::detail {

/// exact = the whole value; prefix = the value starts with it; suffix = ends with it;
/// contains = anywhere.
enum class literal_anchor : std::uint8_t { exact, prefix, suffix, contains };

/// Bounds on what a matcher may build (hostile rule sets stay bounded).
struct literal_matcher_limits {
  /// Sum of the lengths of all added patterns (bounds states, trie nodes, pattern bytes).
  std::size_t max_pattern_bytes = std::size_t{1} << 24;
  /// Total length of the contains automaton's precomputed output spans (4 bytes each).
  /// Adversarial sets (a, aa, aaa, ...) grow these quadratically; realdata needs ~10^4.
  std::size_t max_output_entries = std::size_t{1} << 22;
  /// Budget of the dense DFA rows: the dense depth is the largest <= max_dense_depth
  /// whose rows fit (the root is always dense).
  std::size_t max_dense_bytes = std::size_t{1} << 20;
  unsigned max_dense_depth = 4;
  /// Verification work at one candidate position of a contains gram filter: the summed
  /// length of the distinct patterns anchored in one bucket. A pattern that fits no bucket
  /// of its grams goes to the automaton. 0 sends every contains pattern to the automaton.
  std::size_t max_filter_bucket_bytes = 1024;
  /// Each of the three gram filters (4-, 2-, 1-byte grams) has at most 2^max_filter_bits
  /// bits and 2^(max_filter_bits - 3) buckets (4 bytes each): with 20, 128 KiB + 512 KiB.
  /// Fewer bits only raise the collision rate (clamped to 6..24).
  unsigned max_filter_bits = 20;
  /// The filters test every position of a value, the automaton only follows bytes of its
  /// patterns: a small automaton (few pattern bytes: it stays in L1, and most bytes of a
  /// value are in no pattern) is faster. So the filters are used only from this many
  /// contains pattern bytes (distinct, folded), or from 1/32 of it when no contains pattern
  /// is shorter than 4 bytes (one test a position instead of three). 0: always.
  std::size_t min_filter_pattern_bytes = 16384;
};

/// A matcher would exceed one of its literal_matcher_limits.
class literal_limit_error : public std::length_error {
 public:
  using std::length_error::length_error;
};

class literal_matcher;

/// Per-thread scratch of literal_matcher::scan_unique: one stamp per id (ids are dense).
class literal_scan_scratch {
 public:
  /// Sizes the scratch for `m` (allocates; do it once, outside the hot path).
  void prepare(const literal_matcher& m);

 private:
  friend class literal_matcher;
  std::vector<std::uint32_t> stamps_;
  std::uint32_t generation_ = 0;
};

class literal_matcher {
 public:
  literal_matcher() = default;
  explicit literal_matcher(const literal_matcher_limits& limits) : limits_(limits) {}

  /// `id`: the caller's leaf id (< 2^31). `pattern`: raw bytes, matched ASCII
  /// case-insensitively unless `cased`. The same pattern may be added many times. An empty
  /// pattern: exact matches only the empty value; prefix/suffix/contains match every value.
  /// Throws literal_limit_error past max_pattern_bytes, std::logic_error after build().
  void add(std::string_view pattern, literal_anchor anchor, bool cased, std::uint32_t id) {
    if (built_) throw std::logic_error("literal_matcher::add after build");
    if (id >= (std::uint32_t{1} << 31)) throw std::invalid_argument("literal_matcher: id >= 2^31");
    if (pattern.size() >
            limits_.max_pattern_bytes - std::min(pattern_bytes_, limits_.max_pattern_bytes) ||
        pattern.size() >= has_output - std::min<std::size_t>(pattern_bytes_, has_output) ||
        entries_.size() >= has_output)  // offsets, states and entry indices stay 32-bit
      throw literal_limit_error("literal_matcher: more pattern bytes than max_pattern_bytes");
    pattern_bytes_ += pattern.size();
    id_bound_ = std::max<std::size_t>(id_bound_, std::size_t{id} + 1);
    entries_.push_back(entry{id, static_cast<std::uint32_t>(originals_.size()),
                             static_cast<std::uint32_t>(pattern.size()), anchor, cased});
    originals_.append(pattern);
  }

  /// After all adds; once. Throws literal_limit_error past max_output_entries.
  void build() {
    if (built_) throw std::logic_error("literal_matcher::build called twice");
    build_forward_trie();
    build_reverse_trie();
    std::vector<std::uint8_t> to_automaton(entries_.size(), 0);
    build_filters(to_automaton);
    build_automaton(to_automaton);
    // Originals are needed only for cased verification; keep them (they are small) so
    // offsets stay valid; shrink what build-time growth over-allocated.
    entries_.shrink_to_fit();
    originals_.shrink_to_fit();
    built_ = true;
  }

  /// Calls on_hit(id) for every added (pattern, anchor, cased) that matches `value`.
  /// Guarantee: an exact, prefix, suffix or empty pattern is reported at most once per
  /// add; a contains pattern once per occurrence (end position) in the value, so an id may
  /// repeat (scan_unique reports each id at most once). No allocation, no copy.
  /// Before build(): no hits.
  template <class OnHit>
  void scan(std::string_view value, OnHit&& on_hit) const {
    scan_ids(value, on_hit);
  }

  /// As scan, but each id is reported at most once per call. `scratch` (one stamp per id,
  /// so sized by the largest id) must have been prepared for this matcher (else it is sized
  /// here, allocating once).
  template <class OnHit>
  void scan_unique(std::string_view value, literal_scan_scratch& scratch, OnHit&& on_hit) const {
    if (scratch.stamps_.size() < id_bound_) scratch.stamps_.assign(id_bound_, 0);
    if (++scratch.generation_ == 0) {
      std::fill(scratch.stamps_.begin(), scratch.stamps_.end(), 0);
      scratch.generation_ = 1;
    }
    const std::uint32_t generation = scratch.generation_;
    std::uint32_t* stamps = scratch.stamps_.data();
    scan_ids(value, [&](std::uint32_t id) {
      if (stamps[id] == generation) return;
      stamps[id] = generation;
      on_hit(id);
    });
  }

  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + bytes_of(entries_) + originals_.capacity() + always_.capacity() * 4 +
           forward_.memory_bytes() + reverse_.memory_bytes() + bytes_of(dense_) +
           bytes_of(sparse_begin_) + bytes_of(sparse_class_) + bytes_of(sparse_target_) +
           bytes_of(fail_) + bytes_of(out_begin_) + bytes_of(out_) + folded_.capacity() +
           bytes_of(emit_) + tiers_[0].memory_bytes() + tiers_[1].memory_bytes() +
           tiers_[2].memory_bytes();
  }
  [[nodiscard]] std::size_t pattern_count() const noexcept { return entries_.size(); }
  /// One more than the largest id added (0 when empty): the size of a scan_unique scratch.
  [[nodiscard]] std::size_t id_bound() const noexcept { return id_bound_; }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  /// Diagnostics (benchmarks, tests).
  [[nodiscard]] std::size_t automaton_states() const noexcept { return fail_.size(); }
  [[nodiscard]] std::size_t automaton_dense_states() const noexcept { return dense_count_; }
  [[nodiscard]] std::size_t byte_classes() const noexcept { return class_count_; }
  [[nodiscard]] std::size_t output_entries() const noexcept { return out_.size(); }
  /// Distinct folded contains patterns found through the gram filters (not the automaton).
  [[nodiscard]] std::size_t filtered_patterns() const noexcept { return filtered_count_; }
  [[nodiscard]] const literal_matcher_limits& limits() const noexcept { return limits_; }

 private:
  struct entry {
    std::uint32_t id;
    std::uint32_t offset;  ///< of the original bytes in originals_
    std::uint32_t length;
    literal_anchor anchor;
    bool cased;
  };

  template <class T>
  static std::size_t bytes_of(const std::vector<T>& v) noexcept {
    return v.capacity() * sizeof(T);
  }

  /// Build-time trie node: children as (label, node) pairs, unsorted.
  struct build_node {
    std::vector<std::pair<std::uint8_t, std::uint32_t>> children;
    std::vector<std::uint32_t> outputs;  ///< entry indices
    std::uint32_t depth = 0;
  };

  static std::uint32_t child_of(const std::vector<build_node>& nodes, std::uint32_t n,
                                std::uint8_t label) noexcept {
    for (const auto& [l, c] : nodes[n].children)
      if (l == label) return c;
    return none;
  }

  static std::uint32_t insert_path(std::vector<build_node>& nodes, std::uint32_t n,
                                   std::uint8_t label) {
    const std::uint32_t c = child_of(nodes, n, label);
    if (c != none) return c;
    const auto fresh = static_cast<std::uint32_t>(nodes.size());
    const std::uint32_t depth = nodes[n].depth + 1;
    nodes[n].children.emplace_back(label, fresh);
    nodes.emplace_back();
    nodes.back().depth = depth;
    return fresh;
  }

  /// A trie over folded bytes with sparse sorted edges, walked from one end of a value.
  class flat_trie {
   public:
    void assign(std::vector<build_node>& nodes) {
      // Nodes keep insertion numbering (a walk stops at the first missing edge, so no
      // layout by depth is needed).
      const std::size_t n = nodes.size();
      edge_begin_.assign(n + 1, 0);
      out_begin_.assign(n + 1, 0);
      label_.clear();
      target_.clear();
      out_.clear();
      for (std::size_t i = 0; i < n; ++i) {
        auto& ch = nodes[i].children;
        std::sort(ch.begin(), ch.end());
        edge_begin_[i] = static_cast<std::uint32_t>(label_.size());
        for (const auto& [l, c] : ch) {
          label_.push_back(l);
          target_.push_back(c);
        }
        out_begin_[i] = static_cast<std::uint32_t>(out_.size());
        out_.insert(out_.end(), nodes[i].outputs.begin(), nodes[i].outputs.end());
      }
      edge_begin_[n] = static_cast<std::uint32_t>(label_.size());
      out_begin_[n] = static_cast<std::uint32_t>(out_.size());
      shrink();
    }
    [[nodiscard]] bool empty() const noexcept { return out_.empty(); }
    [[nodiscard]] std::uint32_t step(std::uint32_t node, std::uint8_t label) const noexcept {
      std::uint32_t lo = edge_begin_[node], hi = edge_begin_[node + 1];
      while (lo < hi) {
        const std::uint32_t mid = lo + (hi - lo) / 2;
        if (label_[mid] < label)
          lo = mid + 1;
        else
          hi = mid;
      }
      return (lo < edge_begin_[node + 1] && label_[lo] == label) ? target_[lo] : none;
    }
    [[nodiscard]] const std::uint32_t* outputs_begin(std::uint32_t node) const noexcept {
      return out_.data() + out_begin_[node];
    }
    [[nodiscard]] const std::uint32_t* outputs_end(std::uint32_t node) const noexcept {
      return out_.data() + out_begin_[node + 1];
    }
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
      return bytes_of(edge_begin_) + bytes_of(label_) + bytes_of(target_) + bytes_of(out_begin_) +
             bytes_of(out_);
    }

   private:
    void shrink() {
      edge_begin_.shrink_to_fit();
      label_.shrink_to_fit();
      target_.shrink_to_fit();
      out_begin_.shrink_to_fit();
      out_.shrink_to_fit();
    }
    std::vector<std::uint32_t> edge_begin_;
    std::vector<std::uint8_t> label_;
    std::vector<std::uint32_t> target_;
    std::vector<std::uint32_t> out_begin_;
    std::vector<std::uint32_t> out_;
  };

  void build_forward_trie() {
    std::vector<build_node> nodes(1);
    for (std::uint32_t e = 0; e < entries_.size(); ++e) {
      const entry& en = entries_[e];
      if (en.anchor != literal_anchor::exact && en.anchor != literal_anchor::prefix) continue;
      if (en.length == 0 && en.anchor == literal_anchor::prefix) {
        always_.push_back(e);
        continue;
      }
      std::uint32_t n = 0;
      for (std::uint32_t i = 0; i < en.length; ++i)
        n = insert_path(nodes, n,
                        fold_ascii(static_cast<unsigned char>(originals_[en.offset + i])));
      nodes[n].outputs.push_back(e);
    }
    forward_.assign(nodes);
  }

  void build_reverse_trie() {
    std::vector<build_node> nodes(1);
    for (std::uint32_t e = 0; e < entries_.size(); ++e) {
      const entry& en = entries_[e];
      if (en.anchor != literal_anchor::suffix) continue;
      if (en.length == 0) {
        always_.push_back(e);
        continue;
      }
      std::uint32_t n = 0;
      for (std::uint32_t i = en.length; i-- > 0;)
        n = insert_path(nodes, n,
                        fold_ascii(static_cast<unsigned char>(originals_[en.offset + i])));
      nodes[n].outputs.push_back(e);
    }
    reverse_.assign(nodes);
  }

  /// A gram filter: the grams of `gram` bytes (folded, first byte highest) that anchor
  /// patterns, hashed into a bitmap and into buckets of anchors.
  struct anchor_entry {
    std::uint32_t gram;                  ///< the anchor gram (compared before the pattern)
    std::uint32_t offset;                ///< of the gram in the pattern
    std::uint32_t length;                ///< of the pattern
    std::uint32_t folded_offset;         ///< of the pattern's folded bytes in folded_
    std::uint32_t emit_begin, emit_end;  ///< span in emit_
  };
  struct gram_tier {
    unsigned filter_shift = 26;                        ///< 32 - filter bits
    unsigned bucket_shift = 31;                        ///< 32 - bucket bits
    std::vector<std::uint64_t> filter{0};              ///< never empty: tested at every position
    std::vector<std::uint32_t> bucket_begin{0, 0, 0};  ///< per bucket, + 1: span in anchors
    std::vector<anchor_entry> anchors;
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
      return bytes_of(filter) + bytes_of(bucket_begin) + bytes_of(anchors);
    }
  };
  static constexpr unsigned tier_count = 3;
  /// Gram length of each tier: patterns of 4 bytes or more, of 3, of 2 (the 2-byte tier's
  /// bitmap is indexed by the gram itself, and 1-byte patterns set every gram they start).
  static constexpr unsigned gram_of_tier[tier_count] = {4, 3, 2};

  static constexpr std::uint32_t gram_multiplier = 0x9E3779B1u;  // odd; spreads to top bits

  /// The key of the gram of `gram` folded bytes at p: its bytes as they lie in memory,
  /// read as one 32-bit word (zero bytes after the gram), as the scan reads them.
  static std::uint32_t gram_key(const char* p, unsigned gram) noexcept {
    unsigned char bytes[4] = {};
    std::memcpy(bytes, p, gram);
    std::uint32_t key;
    std::memcpy(&key, bytes, 4);
    return key;
  }
  /// Keeps the first `gram` bytes (in memory order) of a word read from 4 bytes.
  static constexpr std::uint32_t gram_mask(unsigned gram) noexcept {
    if (gram >= 4) return ~std::uint32_t{0};
    return std::endian::native == std::endian::little ? (std::uint32_t{1} << (8 * gram)) - 1
                                                      : ~std::uint32_t{0} << (8 * (4 - gram));
  }
  /// The 2-byte tier's bitmap index of a masked 2-byte key (either half is zero).
  /// The same index from the whole word read at a position (its first 2 bytes).
  static std::uint32_t index16_of_word(std::uint32_t w) noexcept {
    return std::endian::native == std::endian::little ? (w & 0xffffu) : (w >> 16);
  }
  static std::uint32_t index16(std::uint32_t key2) noexcept {
    return (key2 | (key2 >> 16)) & 0xffffu;
  }

  /// How often a byte is expected in command lines, paths and text (rough): a gram of
  /// uncommon bytes is a rarer filter candidate. 0 (never seen) .. 3 (very common).
  static unsigned byte_commonness(unsigned char c) noexcept {
    if (c >= 0x80 || c < 0x20) return 0;
    switch (c) {
      case ' ':
      case 'e':
      case 't':
      case 'a':
      case 'o':
      case 'i':
      case 'n':
      case 's':
      case 'r':
      case 'l':
      case 'c':
      case '\\':
      case '.':
        return 3;
      case 'd':
      case 'h':
      case 'm':
      case 'p':
      case 'u':
      case 'w':
      case 'g':
      case 'f':
      case 'y':
      case 'b':
      case 'x':
      case '/':
      case '-':
      case ':':
      case '"':
        return 2;
      default:
        return c >= '0' && c <= '9' ? 2 : 1;
    }
  }

  static unsigned ceil_log2(std::size_t n) noexcept {
    unsigned b = 0;
    while ((std::size_t{1} << b) < n && b < 63) ++b;
    return b;
  }

  /// Anchors every distinct folded contains pattern in a gram filter, or marks its entries
  /// `to_automaton` when no bucket has room (or max_filter_bucket_bytes is 0).
  void build_filters(std::vector<std::uint8_t>& to_automaton) {
    // Distinct folded patterns, each with the entries it reports.
    std::vector<std::uint32_t> contains;  // entry indices, grouped by folded text below
    for (std::uint32_t e = 0; e < entries_.size(); ++e)
      if (entries_[e].anchor == literal_anchor::contains && entries_[e].length != 0)
        contains.push_back(e);
    const auto folded_less = [&](std::uint32_t a, std::uint32_t b) {
      const entry& x = entries_[a];
      const entry& y = entries_[b];
      for (std::uint32_t i = 0; i < x.length && i < y.length; ++i) {
        const auto cx = fold_ascii(static_cast<unsigned char>(originals_[x.offset + i]));
        const auto cy = fold_ascii(static_cast<unsigned char>(originals_[y.offset + i]));
        if (cx != cy) return cx < cy;
      }
      if (x.length != y.length) return x.length < y.length;
      return a < b;
    };
    const auto folded_equal_entries = [&](std::uint32_t a, std::uint32_t b) {
      const entry& x = entries_[a];
      const entry& y = entries_[b];
      if (x.length != y.length) return false;
      for (std::uint32_t i = 0; i < x.length; ++i)
        if (fold_ascii(static_cast<unsigned char>(originals_[x.offset + i])) !=
            fold_ascii(static_cast<unsigned char>(originals_[y.offset + i])))
          return false;
      return true;
    };
    std::sort(contains.begin(), contains.end(), folded_less);
    struct group {
      std::uint32_t first, last;  // span in `contains`
    };
    std::vector<group> groups;
    for (std::uint32_t k = 0; k < contains.size(); ++k) {
      if (k != 0 && folded_equal_entries(contains[k - 1], contains[k]))
        groups.back().last = k + 1;
      else
        groups.push_back(group{k, k + 1});
    }
    std::size_t distinct_bytes = 0;
    bool has_short = false;
    for (const group& g : groups) {
      distinct_bytes += entries_[contains[g.first]].length;
      has_short = has_short || entries_[contains[g.first]].length < 4;
    }
    if (limits_.max_filter_bucket_bytes == 0 ||
        distinct_bytes < (has_short ? limits_.min_filter_pattern_bytes
                                    : limits_.min_filter_pattern_bytes / 32)) {
      for (const std::uint32_t e : contains) to_automaton[e] = 1;
      return;
    }

    const unsigned max_bits = std::clamp(limits_.max_filter_bits, 6u, 24u);
    const auto folded_of = [&](std::uint32_t g) {
      const entry& en = entries_[contains[groups[g].first]];
      std::string f(originals_, en.offset, en.length);
      for (char& c : f) c = static_cast<char>(fold_ascii(static_cast<unsigned char>(c)));
      return f;
    };
    const auto emit_group = [&](std::uint32_t g) {
      for (std::uint32_t k = groups[g].first; k < groups[g].last; ++k) {
        const std::uint32_t e = contains[k];
        emit_.push_back(entries_[e].cased ? (e | cased_output) : entries_[e].id);
      }
    };
    // 1-byte patterns: emitted straight from a table by the byte (the 2-byte tier's bitmap
    // has every gram they start).
    {
      std::uint32_t by_byte[256];
      std::fill(std::begin(by_byte), std::end(by_byte), none);
      for (std::uint32_t g = 0; g < groups.size(); ++g)
        if (entries_[contains[groups[g].first]].length == 1)
          by_byte[static_cast<unsigned char>(folded_of(g)[0])] = g;
      for (unsigned c = 0; c < 256; ++c) {
        one_byte_begin_[c] = static_cast<std::uint32_t>(emit_.size());
        if (by_byte[c] == none) continue;
        emit_group(by_byte[c]);
        ++filtered_count_;
        has_short_filters_ = true;
      }
      one_byte_begin_[256] = static_cast<std::uint32_t>(emit_.size());
    }
    for (unsigned t = 0; t < tier_count; ++t) {
      const unsigned gram = gram_of_tier[t];
      std::vector<std::uint32_t> members;  // groups of this tier
      std::vector<std::string> member_text;
      for (std::uint32_t g = 0; g < groups.size(); ++g) {
        const std::uint32_t len = entries_[contains[groups[g].first]].length;
        if (std::min(len, 4u) == gram) {
          members.push_back(g);
          member_text.push_back(folded_of(g));
        }
      }
      if (members.empty()) continue;
      gram_tier& tier = tiers_[t];
      const unsigned filter_bits =
          t == 2 ? 16 : std::clamp(ceil_log2(members.size() * 16), 6u, max_bits);
      const unsigned bucket_bits = std::clamp(ceil_log2(members.size() * 2), 1u, max_bits - 3);
      tier.filter_shift = 32 - filter_bits;
      tier.bucket_shift = 32 - bucket_bits;

      // How many patterns of the tier contain each gram (a common gram is a poor anchor):
      // an open-addressing table, each gram with its count and the last member counted
      // (a gram twice in one pattern counts once). Sorting the (gram, member) pairs and
      // searching them instead took most of a realdata compile's CommandLine build.
      struct gram_slot {
        std::uint32_t gram = 0;
        std::uint32_t count = 0;  ///< 0: the slot is free
        std::uint32_t last = none;
      };
      std::size_t gram_total = 0;
      for (const std::string& f : member_text)
        if (f.size() >= gram) gram_total += f.size() - gram + 1;
      const std::size_t slot_mask = std::bit_ceil(std::max<std::size_t>(gram_total * 2, 16)) - 1;
      const unsigned slot_shift = 64 - static_cast<unsigned>(std::countr_zero(slot_mask + 1));
      std::vector<gram_slot> gram_table(slot_mask + 1);
      const auto slot_of = [&](std::uint32_t gram_value) -> gram_slot& {
        std::size_t i = static_cast<std::size_t>(
            (std::uint64_t{gram_value} * 0x9E3779B97F4A7C15ULL) >> slot_shift);
        while (gram_table[i].count != 0 && gram_table[i].gram != gram_value)
          i = (i + 1) & slot_mask;
        return gram_table[i];
      };
      for (std::uint32_t m = 0; m < members.size(); ++m) {
        const std::string& f = member_text[m];
        for (std::uint32_t k = 0; k + gram <= f.size(); ++k) {
          const std::uint32_t gram_value = gram_key(f.data() + k, gram);
          gram_slot& slot = slot_of(gram_value);
          slot.gram = gram_value;
          if (slot.last != m) {
            slot.last = m;
            ++slot.count;
          }
        }
      }
      // Present: every gram of a member was counted.
      const auto count_of = [&](std::uint32_t gram_value) { return slot_of(gram_value).count; };

      // Shortest patterns first: they have the fewest grams to choose from.
      std::vector<std::uint32_t> order(members.size());
      for (std::uint32_t m = 0; m < members.size(); ++m) order[m] = m;
      std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        return member_text[a].size() < member_text[b].size();
      });
      std::vector<std::uint32_t> load(std::size_t{1} << bucket_bits, 0);
      std::vector<std::pair<std::uint32_t, anchor_entry>> placed;  // (bucket, anchor)
      for (const std::uint32_t m : order) {
        const std::string& f = member_text[m];
        const auto length = static_cast<std::uint32_t>(f.size());
        std::uint64_t best_score = std::numeric_limits<std::uint64_t>::max();
        std::uint32_t best_offset = 0;
        for (std::uint32_t k = 0; k + gram <= length; ++k) {
          const std::uint32_t gram_value = gram_key(f.data() + k, gram);
          const std::uint32_t bucket = (gram_value * gram_multiplier) >> tier.bucket_shift;
          if (load[bucket] + std::size_t{length} > limits_.max_filter_bucket_bytes) continue;
          unsigned common = 0;
          for (unsigned b = 0; b < gram; ++b)
            common += byte_commonness(static_cast<unsigned char>(f[k + b]));
          const std::uint64_t score =
              std::uint64_t{count_of(gram_value)} * 64 + common * 4 + load[bucket];
          if (score < best_score) {
            best_score = score;
            best_offset = k;
          }
        }
        if (best_score == std::numeric_limits<std::uint64_t>::max()) {
          for (std::uint32_t k = groups[members[m]].first; k < groups[members[m]].last; ++k)
            to_automaton[contains[k]] = 1;
          continue;
        }
        // The distinct pattern: folded bytes, then what it reports.
        anchor_entry a{};
        a.gram = gram_key(f.data() + best_offset, gram);
        a.offset = best_offset;
        a.length = length;
        a.folded_offset = static_cast<std::uint32_t>(folded_.size());
        folded_ += f;
        a.emit_begin = static_cast<std::uint32_t>(emit_.size());
        emit_group(members[m]);
        a.emit_end = static_cast<std::uint32_t>(emit_.size());
        const std::uint32_t bucket = (a.gram * gram_multiplier) >> tier.bucket_shift;
        load[bucket] += length;
        placed.emplace_back(bucket, a);
        ++filtered_count_;
      }
      if (placed.empty()) {  // every pattern went to the automaton: an empty tier
        tier = gram_tier{};
        continue;
      }
      std::stable_sort(placed.begin(), placed.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      tier.bucket_begin.assign((std::size_t{1} << bucket_bits) + 1, 0);
      tier.anchors.clear();
      if (tier.filter.size() < (std::size_t{1} << filter_bits) / 64)
        tier.filter.assign((std::size_t{1} << filter_bits) / 64, 0);
      for (const auto& [bucket, anchor] : placed) {
        ++tier.bucket_begin[bucket + 1];
        tier.anchors.push_back(anchor);
        const std::uint32_t bit =
            t == 2 ? index16(anchor.gram) : (anchor.gram * gram_multiplier) >> tier.filter_shift;
        tier.filter[bit >> 6] |= std::uint64_t{1} << (bit & 63);
      }
      for (std::size_t b = 1; b < tier.bucket_begin.size(); ++b)
        tier.bucket_begin[b] += tier.bucket_begin[b - 1];
      if (t != 0) has_short_filters_ = true;
      tier.anchors.shrink_to_fit();
    }
    // The 2-byte tier's bitmap is read whenever a short tier is (index16: 2^16 bits); with
    // every 2-byte gram a 1-byte pattern starts.
    if (has_short_filters_ && tiers_[2].filter.size() < (std::size_t{1} << 10))
      tiers_[2].filter.assign(std::size_t{1} << 10, 0);
    for (unsigned c = 0; c < 256; ++c) {
      if (one_byte_begin_[c] == one_byte_begin_[c + 1]) continue;
      for (unsigned x = 0; x < 256; ++x) {
        const char pair[2] = {static_cast<char>(c), static_cast<char>(x)};
        const std::uint32_t bit = index16(gram_key(pair, 2));
        tiers_[2].filter[bit >> 6] |= std::uint64_t{1} << (bit & 63);
      }
    }
    folded_.append(8, '\0');  // 8-byte loads from any pattern start stay inside
    folded_.shrink_to_fit();
    emit_.shrink_to_fit();
  }

  void build_automaton(const std::vector<std::uint8_t>& to_automaton) {
    // Byte classes: folded bytes occurring in contains patterns, numbered from 1 by value.
    bool used[256] = {};
    for (std::uint32_t e = 0; e < entries_.size(); ++e)
      if (to_automaton[e] != 0)
        for (std::uint32_t i = 0; i < entries_[e].length; ++i)
          used[fold_ascii(static_cast<unsigned char>(originals_[entries_[e].offset + i]))] = true;
    std::uint32_t classes = 1;
    for (unsigned b = 0; b < 256; ++b) {
      class_of_[b] = used[b] ? static_cast<std::uint8_t>(classes) : std::uint8_t{0};
      if (used[b]) ++classes;
    }
    for (unsigned b = 'A'; b <= 'Z'; ++b) class_of_[b] = class_of_[b + ('a' - 'A')];
    class_count_ = classes;

    // Goto trie over classes.
    std::vector<build_node> nodes(1);
    for (std::uint32_t e = 0; e < entries_.size(); ++e) {
      const entry& en = entries_[e];
      if (en.anchor == literal_anchor::contains && en.length == 0) always_.push_back(e);
      if (to_automaton[e] == 0) continue;
      std::uint32_t n = 0;
      for (std::uint32_t i = 0; i < en.length; ++i)
        n = insert_path(nodes, n, class_of_[static_cast<unsigned char>(originals_[en.offset + i])]);
      nodes[n].outputs.push_back(e);
    }

    // Breadth-first numbering: depth-ordered, so the dense states are a prefix.
    const std::size_t n = nodes.size();
    if (n >= has_output) throw literal_limit_error("literal_matcher: 2^31 automaton states");
    std::vector<std::uint32_t> order;  // order[new] = old
    order.reserve(n);
    order.push_back(0);
    for (std::size_t head = 0; head < order.size(); ++head) {
      auto& ch = nodes[order[head]].children;
      std::sort(ch.begin(), ch.end());
      for (const auto& [l, c] : ch) order.push_back(c);
    }
    std::vector<std::uint32_t> renumber(n);
    for (std::uint32_t i = 0; i < n; ++i) renumber[order[i]] = i;

    // Dense depth: the largest within the byte budget.
    std::vector<std::size_t> per_depth;
    for (const auto& node : nodes) {
      if (node.depth >= per_depth.size()) per_depth.resize(node.depth + 1, 0);
      ++per_depth[node.depth];
    }
    const std::size_t row_bytes = std::size_t{classes} * sizeof(std::uint32_t);
    std::size_t dense = 1;
    for (std::size_t d = 1; d < per_depth.size() && d < limits_.max_dense_depth; ++d) {
      if ((dense + per_depth[d]) * row_bytes > limits_.max_dense_bytes) break;
      dense += per_depth[d];
    }
    dense_count_ = static_cast<std::uint32_t>(dense);

    fail_.assign(n, 0);
    dense_.assign(dense * classes, 0);
    sparse_begin_.assign(n - dense + 1, 0);
    sparse_class_.clear();
    sparse_target_.clear();
    out_begin_.assign(n + 1, 0);
    out_.clear();

    // Sparse rows of the deep states (new numbering), needed by delta() below.
    for (std::size_t s = dense; s < n; ++s) {
      sparse_begin_[s - dense] = static_cast<std::uint32_t>(sparse_class_.size());
      for (const auto& [l, c] : nodes[order[s]].children) {
        sparse_class_.push_back(l);
        sparse_target_.push_back(renumber[c]);
      }
    }
    sparse_begin_[n - dense] = static_cast<std::uint32_t>(sparse_class_.size());

    for (std::uint32_t s = 0; s < n; ++s) {
      const build_node& node = nodes[order[s]];
      if (s < dense) {
        std::uint32_t* row = dense_.data() + std::size_t{s} * classes;
        if (s != 0) std::copy_n(dense_.data() + std::size_t{fail_[s]} * classes, classes, row);
        for (const auto& [l, c] : node.children) row[l] = renumber[c];
      }
      for (const auto& [l, c] : node.children) fail_[renumber[c]] = s == 0 ? 0 : delta(fail_[s], l);
      // Output span: own patterns, then the failure state's (already complete) span.
      out_begin_[s] = static_cast<std::uint32_t>(out_.size());
      const std::size_t inherited = s == 0 ? 0 : out_begin_[fail_[s] + 1] - out_begin_[fail_[s]];
      if (out_.size() + node.outputs.size() + inherited >
          std::min<std::size_t>(limits_.max_output_entries, none - 1))
        throw literal_limit_error(
            "literal_matcher: more automaton outputs than max_output_entries");
      out_.insert(out_.end(), node.outputs.begin(), node.outputs.end());
      if (inherited != 0) {
        const std::size_t from = out_begin_[fail_[s]];
        for (std::size_t k = 0; k < inherited; ++k) {
          const std::uint32_t e = out_[from + k];  // a copy: push_back may reallocate
          out_.push_back(e);
        }
      }
      out_begin_[s + 1] = static_cast<std::uint32_t>(out_.size());
    }
    // Transitions carry `has_output` in their top bit: the scan loads an output span only
    // where one starts (most bytes end in states without outputs).
    const auto flag = [&](std::uint32_t& t) {
      if (out_begin_[t] != out_begin_[t + 1]) t |= has_output;
    };
    for (auto& t : dense_) flag(t);
    for (auto& t : sparse_target_) flag(t);
    for (auto& v : out_) v = entries_[v].cased ? (v | cased_output) : entries_[v].id;
    fail_.shrink_to_fit();
    sparse_class_.shrink_to_fit();
    sparse_target_.shrink_to_fit();
    out_.shrink_to_fit();
  }

  /// The automaton's transition from state s on class c (build and scan; at scan time the
  /// result carries the has_output bit).
  [[nodiscard]] std::uint32_t delta(std::uint32_t s, std::uint8_t c) const noexcept {
    for (;;) {
      if (s < dense_count_) return dense_[std::size_t{s} * class_count_ + c];
      const std::uint32_t lo = sparse_begin_[s - dense_count_];
      const std::uint32_t hi = sparse_begin_[s - dense_count_ + 1];
      for (std::uint32_t k = lo; k < hi; ++k)
        if (sparse_class_[k] == c) return sparse_target_[k];
      s = fail_[s];
    }
  }

  [[nodiscard]] bool cased_ok(const entry& en, const char* at) const noexcept {
    return !en.cased || std::memcmp(originals_.data() + en.offset, at, en.length) == 0;
  }

  /// 8 bytes with A-Z turned into a-z (the SWAR form of fold_ascii).
  static std::uint64_t fold8(std::uint64_t x) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101u;
    constexpr std::uint64_t high = 0x8080808080808080u;
    const std::uint64_t low7 = x & ~high;
    const std::uint64_t at_least_a = low7 + ones * (0x80 - 'A');   // high bit: >= 'A'
    const std::uint64_t past_z = low7 + ones * (0x80 - 'Z' - 1);   // high bit: > 'Z'
    const std::uint64_t upper = at_least_a & ~past_z & ~x & high;  // ASCII A-Z
    return x | (upper >> 2);                                       // 0x80 >> 2 = 0x20
  }
  static std::uint64_t load8(const void* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }

  /// Whether the value's bytes [start, start + length) (inside it), folded, equal the
  /// folded pattern (followed by at least 8 readable bytes in folded_).
  static bool folded_equal(const unsigned char* data, std::size_t size, std::size_t start,
                           const char* pattern, std::uint32_t length) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      if (length >= 8) {
        std::uint32_t i = 0;
        for (; i + 8 <= length; i += 8)
          if (fold8(load8(data + start + i)) != load8(pattern + i)) return false;
        return i == length ||
               fold8(load8(data + start + length - 8)) == load8(pattern + length - 8);
      }
      if (size >= 8) {  // one word holding the pattern's bytes, compared under a mask
        const std::size_t at = std::min(start, size - 8);
        const std::uint64_t word = fold8(load8(data + at)) >> (8 * (start - at));
        const std::uint64_t mask = (std::uint64_t{1} << (8 * length)) - 1;
        return ((word ^ load8(pattern)) & mask) == 0;
      }
    }
    for (std::uint32_t i = 0; i < length; ++i)
      if (folded_byte_[data[start + i]] != static_cast<unsigned char>(pattern[i])) return false;
    return true;
  }

  /// Every filtered contains pattern occurring in the value. Block by block, the value is
  /// folded into a small buffer; the grams starting at each position (4, 3 and 2 bytes,
  /// read as one word) are tested against the tiers' bitmaps without a branch, and the
  /// candidates found are verified after the block.
  template <bool Short, class Emit>
  void scan_filters(const unsigned char* data, std::size_t size, Emit& emit) const {
    constexpr std::size_t block = 64;
    unsigned char folded[block + 8];  // the block's bytes and the 3 after it, zero padded
    std::uint32_t candidates[tier_count][block];
    const std::uint64_t* const f0 = tiers_[0].filter.data();
    const std::uint64_t* const f1 = tiers_[1].filter.data();
    const std::uint64_t* const f2 = tiers_[2].filter.data();
    const unsigned s0 = tiers_[0].filter_shift, s1 = tiers_[1].filter_shift;
    constexpr std::uint32_t mask3 = gram_mask(3), mask2 = gram_mask(2);
    const auto bit_of = [](const std::uint64_t* filter, std::uint32_t bit) {
      return static_cast<std::size_t>((filter[bit >> 6] >> (bit & 63)) & 1);
    };
    for (std::size_t base = 0; base < size; base += block) {
      const std::size_t count = std::min(block, size - base);
      const std::size_t avail = std::min(block + 3, size - base);
      std::size_t j = 0;
      for (; j + 8 <= avail; j += 8) {
        const std::uint64_t w = fold8(load8(data + base + j));
        std::memcpy(folded + j, &w, 8);
      }
      for (; j < avail; ++j) folded[j] = folded_byte_[data[base + j]];
      std::memset(folded + avail, 0, 4);
      std::size_t n[tier_count] = {};
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t w;
        std::memcpy(&w, folded + i, 4);
        candidates[0][n[0]] = i;
        n[0] += bit_of(f0, (w * gram_multiplier) >> s0);
        if constexpr (Short) {
          candidates[1][n[1]] = i;
          n[1] += bit_of(f1, ((w & mask3) * gram_multiplier) >> s1);
          candidates[2][n[2]] = i;
          n[2] += bit_of(f2, index16_of_word(w));
        }
      }
      for (unsigned t = 0; t < (Short ? tier_count : 1u); ++t) {
        const std::uint32_t mask = t == 0 ? ~std::uint32_t{0} : t == 1 ? mask3 : mask2;
        for (std::size_t k = 0; k < n[t]; ++k) {
          const std::uint32_t i = candidates[t][k];
          std::uint32_t w;
          std::memcpy(&w, folded + i, 4);
          if (t == 2)
            emit_span(one_byte_begin_[folded[i]], one_byte_begin_[folded[i] + 1], data, base + i,
                      emit);
          verify_candidates(tiers_[t], w & mask, data, size, base + i, emit);
        }
      }
    }
  }

  template <class Emit>
  void emit_span(std::uint32_t begin, std::uint32_t end, const unsigned char* data,
                 std::size_t start, Emit& emit) const {
    for (std::uint32_t e = begin; e != end; ++e) {
      const std::uint32_t v = emit_[e];
      if ((v & cased_output) == 0) {
        emit(v);
        continue;
      }
      const entry& en = entries_[v & ~cased_output];
      if (cased_ok(en, reinterpret_cast<const char*>(data) + start)) emit(en.id);
    }
  }

  /// The bucket's patterns anchored by `key` at `gram_start`, compared with the value.
  template <class Emit>
  void verify_candidates(const gram_tier& tier, std::uint32_t key, const unsigned char* data,
                         std::size_t size, std::size_t gram_start, Emit& emit) const {
    const std::uint32_t bucket = (key * gram_multiplier) >> tier.bucket_shift;
    const anchor_entry* const anchors = tier.anchors.data();
    for (std::uint32_t k = tier.bucket_begin[bucket]; k != tier.bucket_begin[bucket + 1]; ++k) {
      const anchor_entry& a = anchors[k];
      if (a.gram != key || a.offset > gram_start) continue;
      const std::size_t start = gram_start - a.offset;
      if (a.length > size - start ||
          !folded_equal(data, size, start, folded_.data() + a.folded_offset, a.length))
        continue;
      emit_span(a.emit_begin, a.emit_end, data, start, emit);
    }
  }

  template <class Emit>
  void scan_ids(std::string_view value, Emit&& emit) const {
    if (!built_) return;
    const char* const data = value.data();
    const std::size_t size = value.size();
    for (const std::uint32_t e : always_) emit(entries_[e].id);

    // Forward trie: prefix patterns on the way, exact ones where the value ends.
    if (!forward_.empty()) {
      std::uint32_t node = 0;
      for (std::size_t i = 0;; ++i) {
        for (const std::uint32_t* p = forward_.outputs_begin(node); p != forward_.outputs_end(node);
             ++p) {
          const entry& en = entries_[*p];
          if ((en.anchor == literal_anchor::prefix || i == size) && cased_ok(en, data)) emit(en.id);
        }
        if (i == size) break;
        node = forward_.step(node, fold_ascii(static_cast<unsigned char>(data[i])));
        if (node == none) break;
      }
    }

    // Reverse trie: suffix patterns, from the last byte backwards.
    if (!reverse_.empty()) {
      std::uint32_t node = 0;
      for (std::size_t i = size; i-- > 0;) {
        node = reverse_.step(node, fold_ascii(static_cast<unsigned char>(data[i])));
        if (node == none) break;
        for (const std::uint32_t* p = reverse_.outputs_begin(node); p != reverse_.outputs_end(node);
             ++p)
          if (cased_ok(entries_[*p], data + i)) emit(entries_[*p].id);
      }
    }

    // Gram filters: contains patterns (normally all of them).
    const auto* const bytes = reinterpret_cast<const unsigned char*>(data);
    if (has_short_filters_)
      scan_filters<true>(bytes, size, emit);
    else if (filtered_count_ != 0)
      scan_filters<false>(bytes, size, emit);

    // Aho-Corasick: the other contains patterns.
    if (out_.empty()) return;
    const std::uint32_t* const dense = dense_.data();
    const std::uint32_t dense_count = dense_count_;
    const std::size_t classes = class_count_;
    const std::uint32_t* const out_begin = out_begin_.data();
    std::uint32_t s = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const std::uint8_t c = class_of_[static_cast<unsigned char>(data[i])];
      if (c == 0) {  // a byte of no pattern: back to the root, which reports nothing
        s = 0;
        continue;
      }
      const std::uint32_t t = s < dense_count ? dense[s * classes + c] : delta(s, c);
      s = t & ~has_output;
      if ((t & has_output) == 0) continue;
      const std::uint32_t ob = out_begin[s], oe = out_begin[s + 1];
      for (std::uint32_t k = ob; k != oe; ++k) {
        const std::uint32_t v = out_[k];
        if ((v & cased_output) == 0) {
          emit(v);  // the id itself
          continue;
        }
        const entry& en = entries_[v & ~cased_output];
        if (cased_ok(en, data + i + 1 - en.length)) emit(en.id);
      }
    }
  }

  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::uint32_t has_output = std::uint32_t{1} << 31;
  /// In the automaton's output spans: the id of an uncased pattern (no lookup at a hit), or
  /// this bit plus the entry index of a cased one (its original bytes are compared).
  static constexpr std::uint32_t cased_output = std::uint32_t{1} << 31;

  literal_matcher_limits limits_{};
  bool built_ = false;
  std::size_t pattern_bytes_ = 0;
  std::size_t id_bound_ = 0;
  std::vector<entry> entries_;
  std::string originals_;
  std::vector<std::uint32_t> always_;  ///< empty prefix/suffix/contains patterns

  flat_trie forward_;  ///< prefix + exact
  flat_trie reverse_;  ///< suffix, reversed

  std::uint8_t class_of_[256] = {};
  std::uint32_t class_count_ = 1;
  std::uint32_t dense_count_ = 0;
  std::vector<std::uint32_t> dense_;         ///< dense_count_ rows of class_count_ targets
  std::vector<std::uint32_t> sparse_begin_;  ///< per deep state (s - dense_count_), + 1
  std::vector<std::uint8_t> sparse_class_;
  std::vector<std::uint32_t> sparse_target_;
  std::vector<std::uint32_t> fail_;
  std::vector<std::uint32_t> out_begin_;  ///< per state, + 1: span in out_
  std::vector<std::uint32_t> out_;        ///< ids, or cased_output | entry index

  gram_tier tiers_[tier_count];     ///< contains patterns by anchor gram: 4, 3, 2 and 1 bytes
  std::size_t filtered_count_ = 0;  ///< distinct folded patterns in the tiers
  bool has_short_filters_ = false;  ///< tiers 1-3 (patterns under 4 bytes) not empty
  std::uint32_t one_byte_begin_[257] = {};  ///< per folded byte, + 1: 1-byte patterns in emit_
  std::string folded_;               ///< the folded bytes of the tiers' patterns, then 8 zero bytes
  std::vector<std::uint32_t> emit_;  ///< per anchor: ids, or cased_output | entry

  static constexpr auto folded_byte_ = [] {
    std::array<std::uint8_t, 256> t{};
    for (unsigned b = 0; b < 256; ++b) t[b] = fold_ascii(static_cast<unsigned char>(b));
    return t;
  }();
};

inline void literal_scan_scratch::prepare(const literal_matcher& m) {
  if (stamps_.size() < m.id_bound()) stamps_.assign(m.id_bound(), 0);
}

}  // namespace sigma::detail

FLUXCAP_END_NAMESPACE
