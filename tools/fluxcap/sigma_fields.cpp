// The Sigma event-field accessor of the tool (sigma_fields.hpp).
#include "sigma_fields.hpp"

#include "line_parser.hpp"  // quote_name

#include "json_text.hpp"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace fluxcap_cli {

using fluxcap::sigma::field_path;
using fluxcap::sigma::field_value;
using fluxcap::sigma::value_kind;

namespace {

using json_text::is_space;
using json_text::valid_number;

/// The code unit of the 4 hex digits at `p`, or -1.
long hex4(const char* p) noexcept {
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    long d = 0;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

/// Writes `cp` as UTF-8 at `o`; returns the end.
char* put_utf8(char* o, unsigned long cp) noexcept {
  if (cp < 0x80) {
    *o++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *o++ = static_cast<char>(0xc0 | (cp >> 6));
    *o++ = static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = static_cast<char>(0xe0 | (cp >> 12));
    *o++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *o++ = static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    *o++ = static_cast<char>(0xf0 | (cp >> 18));
    *o++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    *o++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    *o++ = static_cast<char>(0x80 | (cp & 0x3f));
  }
  return o;
}

/// Bytes an unescaped string may be written past its end (copy_to_stop's whole blocks).
constexpr std::size_t unescape_slack = 16;

/// The first '"' or '\\' at or after `p`. There must be one before the padding ends:
/// the reads go up to 15 bytes past it, within simdjson's padding.
const char* quote_or_backslash(const char* p) noexcept {
#if defined(__SSE2__)
  for (;;) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int stops = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')),
                                                     _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))));
    if (stops != 0) return p + std::countr_zero(static_cast<unsigned>(stops));
    p += 16;
  }
#else
  while (*p != '"' && *p != '\\') ++p;
  return p;
#endif
}

/// Copies from `p` to `o` up to the first '"' or '\\' (returned; there must be one
/// before the padding ends), `o` advanced past the copy. With SSE2 by 16-byte blocks, one
/// load both copied and searched: the reads go up to 15 bytes past the stop (within
/// simdjson's padding), the writes too (within unescape_slack, overwritten by what follows).
const char* copy_to_stop(char*& o, const char* p) noexcept {
#if defined(__SSE2__)
  for (;;) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), chunk);
    const int stops = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(chunk, _mm_set1_epi8('"')),
                                                     _mm_cmpeq_epi8(chunk, _mm_set1_epi8('\\'))));
    if (stops != 0) {
      const int n = std::countr_zero(static_cast<unsigned>(stops));
      o += n;
      return p + n;
    }
    p += 16;
    o += 16;
  }
#else
  while (*p != '"' && *p != '\\') *o++ = *p++;
  return p;
#endif
}

/// A hash of a key or segment: its length and its first and last 8 bytes (collisions
/// only cost a comparison; a table holds a node's children, a few).
std::uint64_t segment_hash(std::string_view s) noexcept {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  const std::size_t n = s.size();
  if (n >= 8) {
    std::memcpy(&a, s.data(), 8);
    std::memcpy(&b, s.data() + n - 8, 8);
  } else if (n > 0) {
    std::memcpy(&a, s.data(), n);
  }
  std::uint64_t h = (n + 1) * 0x9e3779b97f4a7c15ULL;
  h ^= a * 0xff51afd7ed558ccdULL;
  h ^= (b + 0x632be59bd9b4e019ULL) * 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 29);
}

/// The bit of json_fields::trie_node::key_filter that a key or segment sets.
unsigned key_filter_bit(std::string_view s) noexcept {
  const auto first = s.empty() ? 0U : static_cast<unsigned char>(s.front());
  const auto last = s.empty() ? 0U : static_cast<unsigned char>(s.back());
  const auto size = static_cast<std::uint32_t>(std::min<std::size_t>(s.size(), 255));
  return ((size | first << 8 | last << 16) * 0x9e3779b1U) >> 23;  // the top 9 bits
}

}  // namespace

// One walk of a document, over the structural indexes of simdjson's stage 1 (its SIMD
// pass: UTF-8 checked, strings closed, no raw control character in them; the position of
// every structural character and of the start of every other token). The JSON grammar is
// checked here, token by token, in the same walk that matches keys and reads values.
// Alone this walk was no faster than simdjson's On-Demand iterator; it is what lets a
// key remembered from the last line reach its field without a lookup (bench/README.md,
// "December 2026 (11)").
//
// The trie nodes a key may reach are kept on `active`, one run of indices per object
// level being walked (indices, not pointers: it may grow).
struct json_fields::walker {
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1;
  std::size_t stage1_capacity = 0;
  const char* line_text = nullptr;  // the line
  std::size_t line_size = 0;
  const std::uint32_t* index = nullptr;  // the structural indexes
  std::uint32_t count = 0;               // how many
  std::uint32_t at = 0;                  // the next one to read
  std::vector<std::uint32_t> active;
  const json_fields* self = nullptr;
  json_field_event* ev = nullptr;
  std::string* problem = nullptr;

  // The event object's keys in the last lines, by position, with the trie nodes each
  // reached. Events of one source write their keys in the same order, so a key equal to
  // the one remembered at its position reaches the same nodes: one comparison instead of
  // a filter, a hash and a lookup. Only short keys without escapes are remembered.
  struct remembered_key {
    std::array<char, 32> bytes{};  ///< the key as written, zero-padded
    std::uint8_t size = 0;
    std::uint8_t reached = 0;  ///< nodes[0, reached) were appended to `active`
    bool valid = false;
    /// The one node reached is a path's end and nothing below it: its path's handle.
    std::uint32_t only_handle = no_handle;
    std::array<std::uint32_t, 4> nodes{};
  };
  static constexpr std::size_t max_remembered_keys = 256;
  std::vector<remembered_key> remembered;

  /// Whether the key starting at `raw` (after its opening quote; 32 bytes readable) is
  /// `k`: its bytes, then the closing quote (`k` has no backslash, so no escaped quote).
  static bool is_remembered(const char* raw, const remembered_key& k) noexcept {
    if (!k.valid || raw[k.size] != '"') return false;
#if defined(__SSE2__)
    const auto equal_bytes = [&](std::size_t offset) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(raw + offset));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k.bytes.data() + offset));
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(a, b)));
    };
    const unsigned size = k.size;
    const unsigned low = equal_bytes(0) | (size >= 16 ? 0U : 0xffffU << size & 0xffffU);
    if (low != 0xffffU) return false;
    if (size <= 16) return true;
    return (equal_bytes(16) | (0xffffU << (size - 16) & 0xffffU)) == 0xffffU;
#else
    return std::memcmp(raw, k.bytes.data(), k.size) == 0;
#endif
  }

  /// Remembers `key` (found at `raw`) at `position`, with the nodes
  /// active[match_begin, end) it reached.
  void remember(std::size_t position, std::string_view key, const char* raw,
                std::size_t match_begin) {
    if (position >= max_remembered_keys) return;
    if (position >= remembered.size()) remembered.resize(position + 1);
    remembered_key& k = remembered[position];
    const std::size_t reached = active.size() - match_begin;
    k.valid = key.data() == raw && key.size() <= k.bytes.size() && reached <= k.nodes.size();
    if (!k.valid) return;
    k.bytes.fill(0);
    std::memcpy(k.bytes.data(), key.data(), key.size());
    k.size = static_cast<std::uint8_t>(key.size());
    k.reached = static_cast<std::uint8_t>(reached);
    std::copy(active.begin() + static_cast<std::ptrdiff_t>(match_begin), active.end(),
              k.nodes.begin());
    k.only_handle = no_handle;
    if (reached == 1 && self->trie_[k.nodes[0]].children.empty())
      k.only_handle = self->trie_[k.nodes[0]].handle;
  }

  bool bad(std::string message) {
    *problem = std::move(message);
    return false;
  }
  bool bad_json(simdjson::error_code e) {
    return bad(std::string("not valid JSON (") + simdjson::error_message(e) + ")");
  }
  bool bad_json(const std::string& what) {
    return bad("not valid JSON (" + what + ")");
  }
  bool unexpected(std::string_view token) {
    return bad_json("unexpected " + quote_name(token));
  }
  /// The token at structural `k` is out of place.
  [[gnu::cold, gnu::noinline]] bool unexpected_at(std::uint32_t k) {
    if (k >= count) return bad_json("the line ends in the middle of an object or array");
    return bad_json("unexpected " + quote_name(token(k)) + " at byte " +
                    std::to_string(index[k] + 1));
  }
  bool too_deep() {
    return bad("nesting deeper than " + std::to_string(self->limits_.max_depth) +
               " levels of objects and arrays");
  }

  /// The text of the token at structural `k`: up to the next structural, without the
  /// whitespace before it (stage 1 marks the start of every token that follows
  /// whitespace, so nothing else is in between).
  [[nodiscard]] std::string_view token(std::uint32_t k) const noexcept {
    const std::size_t begin = index[k];
    std::size_t end = k + 1 < count ? index[k + 1] : line_size;
    while (end > begin + 1 && is_space(line_text[end - 1])) --end;
    return {line_text + begin, end - begin};
  }
  [[nodiscard]] char next_char() const noexcept {
    return line_text[index[at]];
  }
  static constexpr bool is_operator(char c) noexcept {
    return c == ',' || c == ':' || c == '{' || c == '}' || c == '[' || c == ']';
  }

  /// The child of `node` whose segment is `key`, or no_handle.
  std::uint32_t child(const trie_node& node, std::string_view key) const noexcept {
    const std::size_t mask = node.table.size() - 1;
    for (std::size_t i = segment_hash(key) & mask;; i = (i + 1) & mask) {
      const std::uint32_t c = node.table[i];
      if (c == no_handle || self->trie_[c].segment == key) return c;
    }
  }

  /// Appends the nodes below `n` that `key` reaches: a child whose segment is the key,
  /// or, for a key "s.rest", the nodes "rest" reaches below the child `s`. The dots
  /// looked at are bounded by the longest child segment, so a hostile key of many dots
  /// costs no more than a short one.
  void match(std::uint32_t n, std::string_view key) {
    const trie_node& node = self->trie_[n];
    if (node.children.empty()) return;
    if (key.size() <= node.longest_child) {
      const std::uint32_t c = child(node, key);
      if (c != no_handle) active.push_back(c);
    }
    if (!node.inner_child) return;
    // A prefix longer than every child segment cannot match: stop at that length.
    for (std::size_t dot = key.find('.');
         dot != std::string_view::npos && dot <= node.longest_child; dot = key.find('.', dot + 1)) {
      const std::uint32_t c = child(node, key.substr(0, dot));
      if (c != no_handle && !self->trie_[c].children.empty()) match(c, key.substr(dot + 1));
    }
  }

  /// The string token `t` (trimmed, starting with a quote), unescaped: a view into the
  /// line when it has no escape, else into the event's buffer.
  bool read_string(std::string_view t, std::string_view& out) {
    if (t.size() < 2 || t.back() != '"') return unexpected(t);
    const char* p = t.data() + 1;
    const char* const last = t.data() + t.size() - 1;  // the closing quote
    const auto span = [](const char* a, const char* b) { return static_cast<std::size_t>(b - a); };
    const char* stop = quote_or_backslash(p);
    if (*stop == '"') {
      if (stop != last) return unexpected(t);
      out = std::string_view(p, span(p, last));
      return true;
    }
    // Written through a pointer: the buffer was sized at parse to the line's length plus
    // 16 bytes of slack (unescaping never lengthens a string; a copy may write 15 bytes
    // past its end), so earlier views into it stay valid. A check all the same.
    std::string& buf = ev->unescaped_;
    std::size_t& used = ev->unescaped_used_;
    if (buf.size() - used < span(p, last) + unescape_slack) return bad("internal: unescape buffer");
    char* const start = buf.data() + used;
    char* o = start;
    stop = copy_to_stop(o, p);  // the first stop again, copying up to it
    for (;;) {
      if (*stop == '"') {
        if (stop != last) return unexpected(t);
        break;
      }
      const char* const bs = stop;
      if (span(bs, last) < 2) return unexpected(t);  // the escape takes the closing quote
      p = bs + 2;
      switch (bs[1]) {
        case '"':
          *o++ = '"';
          break;
        case '\\':
          *o++ = '\\';
          break;
        case '/':
          *o++ = '/';
          break;
        case 'b':
          *o++ = '\b';
          break;
        case 'f':
          *o++ = '\f';
          break;
        case 'n':
          *o++ = '\n';
          break;
        case 'r':
          *o++ = '\r';
          break;
        case 't':
          *o++ = '\t';
          break;
        case 'u': {
          if (span(bs, last) < 6) return bad_json("invalid escape in a string");
          const long unit = hex4(bs + 2);
          if (unit < 0 || (unit >= 0xdc00 && unit <= 0xdfff))
            return bad_json("invalid escape in a string");
          auto cp = static_cast<unsigned long>(unit);
          p = bs + 6;
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (span(bs, last) < 12 || bs[6] != '\\' || bs[7] != 'u')
              return bad_json("invalid escape in a string");
            const long low = hex4(bs + 8);
            if (low < 0xdc00 || low > 0xdfff) return bad_json("invalid escape in a string");
            cp = 0x10000 + ((cp - 0xd800) << 10) + static_cast<unsigned long>(low - 0xdc00);
            p = bs + 12;
          }
          o = put_utf8(o, cp);
          break;
        }
        default:
          return bad_json("invalid escape in a string");
      }
      stop = copy_to_stop(o, p);  // p <= last, a quote: the scan stops by it
    }
    used += span(start, o);
    out = std::string_view(start, span(start, o));
    return true;
  }

  /// A scalar token (string, number, true, false, null) as a field_value.
  bool read_scalar(std::string_view t, field_value& out) {
    switch (t.front()) {
      case '"':
        out.kind = value_kind::string;
        return read_string(t, out.text);
      case 't':
      case 'f':
        if (t != "true" && t != "false") return unexpected(t);
        out = field_value{value_kind::boolean, t};
        return true;
      case 'n':
        if (t != "null") return unexpected(t);
        out = field_value{value_kind::null, {}};
        return true;
      default:
        if (!valid_number(t)) return unexpected(t);
        out = field_value{value_kind::number, t};
        return true;
    }
  }

  /// A scalar no path reads: its grammar is checked, strings only as far as stage 1
  /// goes (their escapes are not).
  bool skip_scalar(std::string_view t) {
    if (t.front() != '"') {
      field_value ignored;
      return read_scalar(t, ignored);
    }
    return t.size() >= 2 && t.back() == '"' ? true : unexpected(t);
  }

  // The messages are built out of line: begin_slot and push_value run for every value read.
  [[gnu::cold, gnu::noinline]] bool duplicate(std::uint32_t h) {
    return bad("duplicate field " + quote_name(self->paths_[h].text));
  }
  [[gnu::cold, gnu::noinline]] bool too_many_values(std::uint32_t h) {
    return bad("field " + quote_name(self->paths_[h].text) + " has more than " +
               std::to_string(self->limits_.max_values_per_path) + " values");
  }

  bool begin_slot(std::uint32_t h) {
    auto& s = ev->slots_[h];
    if (s.present) return duplicate(h);
    s.present = true;
    s.first = static_cast<std::uint32_t>(ev->values_.size());
    s.count = 0;
    return true;
  }

  // By parts, constructed in place: a field_value copied whole went through the stack,
  // its 1-byte kind and 8-byte size reloaded as one 16-byte load, a store-forwarding
  // stall on every value read (perf).
  bool push_value(std::uint32_t h, value_kind kind, std::string_view text) {
    auto& s = ev->slots_[h];
    if (s.count >= self->limits_.max_values_per_path) return too_many_values(h);
    ev->values_.push_back(field_value{kind, text});
    ++s.count;
    return true;
  }
  bool push_value(std::uint32_t h, const field_value& v) {
    return push_value(h, v.kind, v.text);
  }

  /// The key at structural `at` (a string token), unescaped.
  bool read_key(std::string_view& key) {
    const std::string_view t = token(at);
    if (t.front() != '"') return unexpected_at(at);
    // The key as written when it has no escape, else unescaped into the event's buffer.
    const char* const raw = t.data() + 1;
    const char* const stop = quote_or_backslash(raw);
    if (*stop == '"' && stop == t.data() + t.size() - 1) {
      key = std::string_view(raw, static_cast<std::size_t>(stop - raw));
      return true;
    }
    return read_string(t, key);
  }

  /// The object whose '{' was the structural before `at`, at nesting `depth`; its keys
  /// are matched below the nodes active[set_begin, set_end). Leaves `at` after its '}'.
  bool walk_object(std::size_t set_begin, std::size_t set_end, std::size_t depth) {
    if (at >= count) return unexpected_at(at);
    if (next_char() == '}') {
      ++at;
      return true;
    }
    // The event object's keys are matched below the root only: remembered by position.
    const bool event_object = depth == 1;
    const bool strings = self->all_strings_;
    for (std::size_t position = 0;; ++position) {
      if (at >= count) return unexpected_at(at);
      const std::size_t match_begin = active.size();
      const char* const raw = line_text + index[at] + 1;
      bool unread = false;  // a remembered key no path reads: its scalar is only checked
      std::uint32_t only_handle = no_handle;  // a remembered key of one path, a leaf
      if (event_object && position < remembered.size() && next_char() == '"' &&
          is_remembered(raw, remembered[position])) {
        const remembered_key& k = remembered[position];
        active.insert(active.end(), k.nodes.begin(), k.nodes.begin() + k.reached);
        unread = k.reached == 0 && !strings;
        only_handle = k.only_handle;
      } else if (set_begin != set_end) {
        std::string_view key;
        if (!read_key(key)) return false;
        const unsigned bit = key_filter_bit(key);
        for (std::size_t i = set_begin; i < set_end; ++i) {
          const trie_node& n = self->trie_[active[i]];
          if (!n.inner_child && (n.key_filter[bit >> 6] >> (bit & 63) & 1) == 0) continue;
          match(active[i], key);
        }
        if (event_object) remember(position, key, raw, match_begin);
      } else if (next_char() != '"') {
        return unexpected_at(at);
      }
      if (++at >= count || next_char() != ':') return unexpected_at(at);
      if (++at >= count) return unexpected_at(at);
      const char first = next_char();
      const bool scalar = first != '{' && first != '[' && !is_operator(first);
      bool ok = false;
      if (scalar && unread) {
        ok = skip_scalar(token(at++));
      } else if (scalar && only_handle != no_handle) {
        field_value value;
        ok = read_scalar(token(at++), value) && begin_slot(only_handle) &&
             push_value(only_handle, value);
        if (ok && strings && value.kind == value_kind::string) ev->strings_.push_back(value.text);
      } else {
        ok = walk_value(match_begin, active.size(), depth + 1);
      }
      active.resize(match_begin);
      if (!ok) return false;
      if (at >= count) return unexpected_at(at);
      const char c = next_char();
      ++at;
      if (c == '}') return true;
      if (c != ',') return unexpected_at(at - 1);
    }
  }

  /// The array whose '[' was the structural before `at`, at nesting `depth`; each
  /// element is a value of handle `h` (or none). Leaves `at` after its ']'.
  bool walk_array(std::uint32_t h, std::size_t depth) {
    const bool strings = self->all_strings_;
    if (at >= count) return unexpected_at(at);
    if (next_char() == ']') {
      ++at;
      return true;
    }
    for (;;) {
      if (at >= count) return unexpected_at(at);
      const char c = next_char();
      if (c == '{' || c == '[') {
        if (h != no_handle && !push_value(h, field_value{value_kind::other, {}})) return false;
        if (depth + 1 > self->limits_.max_depth) return too_deep();
        ++at;
        if (!(c == '{' ? walk_object(active.size(), active.size(), depth + 1)
                       : walk_array(no_handle, depth + 1)))
          return false;
      } else if (is_operator(c)) {
        return unexpected_at(at);
      } else {
        const std::string_view tok = token(at++);
        if (h == no_handle && !(strings && c == '"')) {
          if (!skip_scalar(tok)) return false;
        } else {
          field_value v;
          if (!read_scalar(tok, v)) return false;
          if (strings && v.kind == value_kind::string) ev->strings_.push_back(v.text);
          if (h != no_handle && !push_value(h, v)) return false;
        }
      }
      if (at >= count) return unexpected_at(at);
      const char sep = next_char();
      ++at;
      if (sep == ']') return true;
      if (sep != ',') return unexpected_at(at - 1);
    }
  }

  /// The value at structural `at`, at nesting `depth`, reached by the nodes
  /// active[match_begin, match_end). Leaves `at` after it.
  bool walk_value(std::size_t match_begin, std::size_t match_end, std::size_t depth) {
    const bool strings = self->all_strings_;
    bool terminal = false;
    bool inner = false;
    for (std::size_t i = match_begin; i < match_end; ++i) {
      const trie_node& n = self->trie_[active[i]];
      terminal = terminal || n.handle != no_handle;
      inner = inner || !n.children.empty();
    }
    const char c = next_char();
    if (c == '{') {
      for (std::size_t i = match_begin; i < match_end && terminal; ++i) {
        const std::uint32_t h = self->trie_[active[i]].handle;
        if (h != no_handle &&
            (!begin_slot(h) || !push_value(h, field_value{value_kind::other, {}})))
          return false;
      }
      if (depth > self->limits_.max_depth) return too_deep();
      ++at;
      const std::size_t set_begin = active.size();
      if (inner) {
        for (std::size_t i = match_begin; i < match_end; ++i) {
          const std::uint32_t n = active[i];
          if (!self->trie_[n].children.empty()) active.push_back(n);
        }
      }
      return walk_object(set_begin, active.size(), depth);
    }
    if (c == '[') {
      if (depth > self->limits_.max_depth) return too_deep();
      std::uint32_t first = no_handle;
      for (std::size_t i = match_begin; i < match_end && first == no_handle; ++i)
        first = self->trie_[active[i]].handle;
      if (first != no_handle && !begin_slot(first)) return false;
      ++at;
      if (!walk_array(first, depth)) return false;
      // Another path reaching the same array (two splits bound separately): same values.
      for (std::size_t i = match_begin; i < match_end; ++i) {
        const std::uint32_t h = self->trie_[active[i]].handle;
        if (h == no_handle || h == first) continue;
        if (!begin_slot(h)) return false;
        const auto src = ev->slots_[first];
        for (std::uint32_t k = 0; k < src.count; ++k)
          if (!push_value(h, field_value(ev->values_[src.first + k]))) return false;
      }
      return true;
    }
    if (is_operator(c)) return unexpected_at(at);
    const std::string_view tok = token(at++);
    if (!terminal && !(strings && c == '"')) return skip_scalar(tok);
    field_value value;
    if (!read_scalar(tok, value)) return false;
    if (strings && value.kind == value_kind::string) ev->strings_.push_back(value.text);
    for (std::size_t i = match_begin; i < match_end && terminal; ++i) {
      const std::uint32_t h = self->trie_[active[i]].handle;
      if (h != no_handle && (!begin_slot(h) || !push_value(h, value))) return false;
    }
    return true;
  }

  /// Runs stage 1 over the line; false after setting the problem.
  bool index_line(std::string_view line) {
    if (!stage1 || stage1_capacity < line.size()) {
      // Grows to the longest line (bounded by max_line_bytes), then is reused.
      const std::size_t capacity = std::max<std::size_t>(line.size(), 4096);
      const simdjson::error_code e =
          stage1 ? stage1->set_capacity(capacity)
                 : simdjson::get_active_implementation()->create_dom_parser_implementation(
                       capacity, 1, stage1);
      if (e) {
        stage1.reset();
        stage1_capacity = 0;
        return bad_json(e);
      }
      stage1_capacity = capacity;
    }
    if (const auto e = stage1->stage1(reinterpret_cast<const std::uint8_t*>(line.data()),
                                      line.size(), simdjson::stage1_mode::regular))
      return bad_json(e);
    line_text = line.data();
    line_size = line.size();
    index = stage1->structural_indexes.get();
    count = stage1->n_structural_indexes;
    at = 0;
    return true;
  }

  bool parse(std::string_view line, std::size_t readable, json_field_event& out) {
    ev = &out;
    const json_fields_limits& limits = self->limits_;
    if (line.size() > limits.max_line_bytes)
      return bad("line longer than " + std::to_string(limits.max_line_bytes) + " bytes");
    out.slots_.assign(self->paths_.size(), json_field_event::slot{});
    out.values_.clear();
    out.strings_.clear();
    // Grows to the longest line, then is reused (resize writes only the new bytes).
    if (out.unescaped_.size() < line.size() + unescape_slack)
      out.unescaped_.resize(line.size() + unescape_slack);
    out.unescaped_used_ = 0;
    if (walk_document(line, readable)) return true;
    // JSON has no raw NUL byte anywhere: a line holding one never walks (stage 1 rejects
    // it in a string as a control character; elsewhere it is a token of its own or part
    // of a number or literal). It is named here, once the walk has failed, so that good
    // lines are not searched for it.
    if (const void* nul = std::memchr(line.data(), '\0', line.size()))
      return bad_json("a NUL byte at byte " +
                      std::to_string(static_cast<const char*>(nul) - line.data() + 1));
    return false;
  }

  bool walk_document(std::string_view line, std::size_t readable) {
    // The reads past a token's end (quote_or_backslash, copy_to_stop) stay within the padding.
    if (readable < line.size() + simdjson::SIMDJSON_PADDING)
      return bad_json(simdjson::INSUFFICIENT_PADDING);
    if (!index_line(line)) return false;
    if (count == 0) return bad_json(simdjson::EMPTY);
    const char first = next_char();
    if (first != '{') {
      if (first == '[' || !is_operator(first)) return bad("not a JSON object");
      return unexpected_at(0);
    }
    ++at;
    active.clear();
    active.push_back(0);
    if (!walk_object(0, 1, 1)) return false;
    if (at < count) return bad_json("trailing content after the object");
    return true;
  }
};

json_fields::json_fields(json_fields_limits limits)
    : limits_(limits), walker_(std::make_unique<walker>()) {
  walker_->self = this;
}
json_fields::~json_fields() = default;

json_fields::json_fields(const json_fields& other)
    : limits_(other.limits_),
      all_strings_(other.all_strings_),
      trie_(other.trie_),
      paths_(other.paths_),
      longest_path_(other.longest_path_),
      walker_(std::make_unique<walker>()) {
  walker_->self = this;
  walker_->active.reserve(trie_.size() * (longest_path_ + 2));
}

json_fields& json_fields::operator=(const json_fields& other) {
  if (this != &other) {
    json_fields copy(other);
    *this = std::move(copy);
  }
  return *this;
}

json_fields::json_fields(json_fields&& other) noexcept
    : limits_(other.limits_),
      all_strings_(other.all_strings_),
      trie_(std::move(other.trie_)),
      paths_(std::move(other.paths_)),
      longest_path_(other.longest_path_),
      walker_(std::move(other.walker_)) {
  if (walker_) walker_->self = this;
}

json_fields& json_fields::operator=(json_fields&& other) noexcept {
  limits_ = other.limits_;
  all_strings_ = other.all_strings_;
  trie_ = std::move(other.trie_);
  paths_ = std::move(other.paths_);
  longest_path_ = other.longest_path_;
  walker_ = std::move(other.walker_);
  if (walker_) walker_->self = this;
  return *this;
}

void json_fields::index_children(std::uint32_t node) {
  trie_node& n = trie_[node];
  std::size_t size = 4;
  while (size < 2 * n.children.size()) size *= 2;
  n.table.assign(size, no_handle);
  n.longest_child = 0;
  n.key_filter.fill(0);
  for (const std::uint32_t c : n.children) {
    const unsigned bit = key_filter_bit(trie_[c].segment);
    n.key_filter[bit >> 6] |= std::uint64_t{1} << (bit & 63);
    std::size_t i = segment_hash(trie_[c].segment) & (size - 1);
    while (n.table[i] != no_handle) i = (i + 1) & (size - 1);
    n.table[i] = c;
    n.longest_child = std::max(n.longest_child, trie_[c].segment.size());
  }
}

json_fields::field_handle json_fields::field_handle_for(const field_path& p) {
  if (p.segments.empty()) throw std::invalid_argument("an empty field path");
  std::uint32_t node = 0;
  for (const std::string& seg : p.segments) {
    std::uint32_t next = no_handle;
    for (const std::uint32_t c : trie_[node].children)
      if (trie_[c].segment == seg) next = c;
    if (next == no_handle) {
      next = static_cast<std::uint32_t>(trie_.size());
      trie_.push_back(trie_node{seg, {}, no_handle, {}, 0, false, {}});
      trie_[node].children.push_back(next);
      index_children(node);
    }
    node = next;
  }
  if (trie_[node].handle == no_handle) {
    trie_[node].handle = static_cast<std::uint32_t>(paths_.size());
    paths_.push_back(p);
  }
  if (p.segments.size() > longest_path_) longest_path_ = p.segments.size();
  for (trie_node& n : trie_) {
    n.inner_child = false;
    for (const std::uint32_t c : n.children)
      n.inner_child = n.inner_child || !trie_[c].children.empty();
  }
  if (!walker_) {
    walker_ = std::make_unique<walker>();
    walker_->self = this;
  }
  walker_->active.reserve(trie_.size() * (longest_path_ + 2));
  walker_->remembered.clear();  // what the keys reach has changed
  return trie_[node].handle;
}

std::size_t json_fields::padding() noexcept {
  return simdjson::SIMDJSON_PADDING;
}

bool json_fields::parse(std::string_view line, std::size_t readable, json_field_event& out,
                        std::string& problem) {
  if (!walker_) {  // moved from
    walker_ = std::make_unique<walker>();
    walker_->self = this;
  }
  walker_->problem = &problem;
  return walker_->parse(line, readable, out);
}

bool json_fields::parse(std::string_view line, json_field_event& out, std::string& problem) {
  if (line.size() > limits_.max_line_bytes) {
    problem = "line longer than " + std::to_string(limits_.max_line_bytes) + " bytes";
    return false;
  }
  out.copy_.resize(line.size() + padding());
  if (!line.empty()) std::memcpy(out.copy_.data(), line.data(), line.size());
  return parse(std::string_view(out.copy_.data(), line.size()), out.copy_.size(), out, problem);
}

}  // namespace fluxcap_cli
