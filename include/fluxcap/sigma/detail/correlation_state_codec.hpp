// The codec of correlation states (the format is in fluxcap/sigma/correlation_state.hpp):
// correlation_state_codec, the friend of correlation_engine that writes its groups,
// windows and counters, and reads them back checking every invariant the engine
// relies on, into new containers that replace the engine's only when all is read.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>
#include <fluxcap/detail/state_codec.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/sigma/bounded_window.hpp>
#include <fluxcap/sigma/correlation.hpp>
#include <fluxcap/sigma/correlation_engine.hpp>
#include <fluxcap/sigma/correlation_window.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

namespace sigma {

/// Which window types a state holds: the `Windows` parameter of correlation_engine. A
/// state is loaded only into an engine of the same policy. Other policies may
/// specialize this with their own id (2 and up).
template <class Windows>
struct correlation_window_policy;
template <>
struct correlation_window_policy<exact_windows> {
  static constexpr std::uint8_t id = 0;
};
template <>
struct correlation_window_policy<bounded_windows> {
  static constexpr std::uint8_t id = 1;
};

namespace detail {

/// Correlation states are version 3 of the frozen state format (group states are 1 and
/// 2, fluxcap/serialize.hpp).
inline constexpr std::uint16_t correlation_state_format_version = 3;
inline constexpr char correlation_state_magic[8] = {'F', 'L', 'X', 'C', 'C', 'O', 'R', 'R'};
/// Bytes before the groups: magic 8, version 2, policy 1, flags 1, max_groups 8,
/// max_window_events 8, buckets 4, rule set 8, hash 8, correlations 4, next sweep 8,
/// 7 counters 56, group count 8.
inline constexpr std::size_t correlation_state_header_bytes = 124;
/// The fewest bytes a group takes (correlation u32, flags u8).
inline constexpr std::size_t correlation_group_min_bytes = 5;

/// Canonical bytes of everything in a linked correlation rule set that gives a state its
/// meaning, fed to the checksum hash: a state keeps it, and is refused by an engine whose
/// rules differ in any of it (source positions and texts as written excepted).
class rule_set_fingerprinter {
 public:
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xffU));
  }
  void text(std::string_view s) {
    u64(s.size());
    bytes_.append(s);
  }
  void number(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  [[nodiscard]] std::uint64_t value() const noexcept {
    return fluxcap::detail::hash_bytes(bytes_.data(), bytes_.size(), 0x636f7272656c6174ULL);
  }

 private:
  std::string bytes_;
};

struct correlation_state_codec {
  using byte_writer = fluxcap::detail::byte_writer;
  using byte_reader = fluxcap::detail::byte_reader;

  [[noreturn]] static void bad(decode_errc code, std::size_t at, const std::string& what) {
    throw decode_error(code, at, "correlation state: " + what);
  }

  template <class Engine>
  [[nodiscard]] static std::uint64_t rule_set_fingerprint(const Engine& e) {
    rule_set_fingerprinter f;
    f.u64(e.rules_.size());
    for (std::size_t c = 0; c < e.rules_.size(); ++c) {
      const correlation_rule& cr = e.rules_[c];
      f.text(cr.identity);
      f.u64(static_cast<std::uint64_t>(cr.type));
      f.u64(cr.rules.size());
      for (const auto& r : cr.rules) f.text(r);
      f.u64(cr.resolved.size());
      for (const auto& r : cr.resolved) {
        f.u64(static_cast<std::uint64_t>(r.target));
        f.u64(r.index);
      }
      f.u64(cr.group_by.size());
      for (const auto& g : cr.group_by) f.text(g);
      f.u64(cr.aliases.size());
      for (const auto& a : cr.aliases) {
        f.text(a.name);
        f.u64(a.fields.size());
        for (const auto& [rule_name, field] : a.fields) {
          f.text(rule_name);
          f.text(field);
        }
      }
      f.u64(static_cast<std::uint64_t>(cr.timespan_ms));
      f.u64(cr.condition.bounds.size());
      for (const auto& b : cr.condition.bounds) {
        f.u64(static_cast<std::uint64_t>(b.op));
        f.number(b.value);
      }
      f.u64(cr.condition.fields.size());
      for (const auto& x : cr.condition.fields) f.text(x);
      f.number(cr.condition.percentile);
      f.u64(cr.generate ? 1 : 0);
      f.u64(e.runtime_[c].unsupported.empty() ? 0 : 1);
    }
    return f.value();
  }

  template <class Engine>
  [[nodiscard]] static std::uint64_t hash_fingerprint(const Engine& e) {
    return fluxcap::detail::hash_fingerprint(e.hash_);
  }

  // --- encoding -----------------------------------------------------------------------

  template <field_accessor Fields, class Windows, hash_policy Hash>
  static void encode(const correlation_engine<Fields, Windows, Hash>& e,
                     std::vector<std::uint8_t>& out) {
    using engine_type = correlation_engine<Fields, Windows, Hash>;
    using windows = Windows;
    const std::size_t start = out.size();
    byte_writer w(out);
    w.bytes(correlation_state_magic, sizeof correlation_state_magic);
    w.le<std::uint16_t>(correlation_state_format_version);
    w.le<std::uint8_t>(correlation_window_policy<windows>::id);
    w.le<std::uint8_t>(0);  // flags: none yet
    w.le<std::uint64_t>(e.options_.max_groups);
    w.le<std::uint64_t>(e.options_.max_window_events);
    w.le<std::uint32_t>(e.options_.buckets);
    w.le<std::uint64_t>(rule_set_fingerprint(e));
    w.le<std::uint64_t>(hash_fingerprint(e));
    w.le<std::uint32_t>(static_cast<std::uint32_t>(e.rules_.size()));
    w.le<std::uint64_t>(static_cast<std::uint64_t>(e.next_sweep_));
    const correlation_counters& k = e.counters_;
    for (const std::uint64_t v : {k.without_time, k.without_group, k.without_value, k.late,
                                  k.groups_refused, k.groups_expired, k.window_dropped})
      w.le<std::uint64_t>(v);
    w.le<std::uint64_t>(e.live_);
    std::string window;
    for (const auto& g : e.groups_) {
      if (!g.live) continue;
      const correlation_rule& cr = e.rules_[g.correlation];
      w.le<std::uint32_t>(g.correlation);
      const bool timed = g.latest != engine_type::no_time;
      w.le<std::uint8_t>(static_cast<std::uint8_t>((g.active ? 1U : 0U) | (timed ? 2U : 0U)));
      // The key: the correlation's 4 bytes, then one length-prefixed part per group-by
      // field (the engine's append_part); the parts are written, not the key.
      std::string_view key = g.key;
      const auto take_part = [&key] {
        std::uint32_t n = 0;
        for (std::size_t i = 0; i < 4; ++i)
          n |= std::uint32_t{static_cast<unsigned char>(key[i])} << (8 * i);
        const std::string_view part = key.substr(4, n);
        key.remove_prefix(4 + n);
        return part;
      };
      (void)take_part();
      for (std::size_t i = 0; i < cr.group_by.size(); ++i) {
        const std::string_view part = take_part();
        w.le<std::uint32_t>(static_cast<std::uint32_t>(part.size()));
        w.bytes(part.data(), part.size());
      }
      if (!timed) continue;
      w.le<std::uint64_t>(static_cast<std::uint64_t>(g.latest));
      for (const event_time m : g.marks) w.le<std::uint64_t>(static_cast<std::uint64_t>(m));
      std::visit(
          [&](const auto& win) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(win)>, std::monostate>) {
              window.clear();
              win.save(window);
              w.le<std::uint64_t>(window.size());
              w.bytes(window.data(), window.size());
            }
          },
          g.window);
    }
    w.le<std::uint64_t>(fluxcap::detail::checksum(out.data() + start, out.size() - start));
  }

  // --- decoding -----------------------------------------------------------------------

  template <field_accessor Fields, class Windows, hash_policy Hash>
  static void decode(correlation_engine<Fields, Windows, Hash>& e,
                     std::span<const std::uint8_t> in) {
    using engine_type = correlation_engine<Fields, Windows, Hash>;
    using windows = Windows;
    using group_state = typename engine_type::group_state;

    if (in.size() < sizeof correlation_state_magic ||
        std::memcmp(in.data(), correlation_state_magic, sizeof correlation_state_magic) != 0)
      bad(in.size() < sizeof correlation_state_magic ? decode_errc::truncated
                                                     : decode_errc::bad_magic,
          0, "not a fluxcap correlation state (bad magic)");
    byte_reader v(in);
    v.skip(8);
    const auto version = v.le<std::uint16_t>("version");
    if (version != correlation_state_format_version)
      bad(decode_errc::unsupported_version, 8,
          "format version " + std::to_string(version) + " is not supported (this build reads " +
              std::to_string(correlation_state_format_version) + ")");
    if (in.size() < correlation_state_header_bytes + 8)
      bad(decode_errc::truncated, in.size(), "truncated header");
    const std::size_t body = in.size() - 8;
    std::uint64_t stored_sum = 0;
    for (std::size_t i = 0; i < 8; ++i) stored_sum |= std::uint64_t{in[body + i]} << (8 * i);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // lets fuzzers reach the structural checks
    if (stored_sum != fluxcap::detail::checksum(in.data(), body))
      bad(decode_errc::bad_checksum, body, "checksum mismatch: the state is corrupt or truncated");
#else
    (void)stored_sum;
#endif
    byte_reader r(in.first(body));
    r.skip(10);

    const auto policy = r.le<std::uint8_t>("window policy");
    if (policy != correlation_window_policy<windows>::id)
      bad(decode_errc::bad_parameters, 10,
          std::string("the state holds ") + policy_name(policy) + " windows, the engine " +
              policy_name(correlation_window_policy<windows>::id) + " ones");
    if (r.le<std::uint8_t>("flags") != 0) bad(decode_errc::bad_parameters, 11, "unknown flags");
    const auto max_groups = r.le<std::uint64_t>("max_groups");
    const auto max_window_events = r.le<std::uint64_t>("max_window_events");
    const auto buckets = r.le<std::uint32_t>("buckets");
    if (max_groups != e.options_.max_groups || max_window_events != e.options_.max_window_events ||
        buckets != e.options_.buckets)
      bad(decode_errc::bad_parameters, 12,
          "the state was saved with max_groups " + std::to_string(max_groups) +
              ", max_window_events " + std::to_string(max_window_events) + ", buckets " +
              std::to_string(buckets) + "; the engine has " +
              std::to_string(e.options_.max_groups) + ", " +
              std::to_string(e.options_.max_window_events) + ", " +
              std::to_string(e.options_.buckets));
    if (r.le<std::uint64_t>("rule set fingerprint") != rule_set_fingerprint(e))
      bad(decode_errc::bad_parameters, 32, "the state was saved for another correlation rule set");
    if (r.le<std::uint64_t>("hash fingerprint") != hash_fingerprint(e))
      bad(decode_errc::bad_parameters, 40, "the state was built with another hash function");
    if (r.le<std::uint32_t>("correlation count") != e.rules_.size())
      bad(decode_errc::bad_parameters, 48, "the state was saved for another correlation rule set");
    const auto next_sweep = static_cast<event_time>(r.le<std::uint64_t>("next sweep"));
    correlation_counters counters;
    for (std::uint64_t* c :
         {&counters.without_time, &counters.without_group, &counters.without_value, &counters.late,
          &counters.groups_refused, &counters.groups_expired, &counters.window_dropped})
      *c = r.le<std::uint64_t>("counters");
    const std::size_t count_at = r.offset();
    const auto count = r.le<std::uint64_t>("group count");
    if (count > e.options_.max_groups)
      bad(decode_errc::bad_parameters, count_at,
          std::to_string(count) + " groups, more than max_groups " +
              std::to_string(e.options_.max_groups));
    if (count > r.remaining() / correlation_group_min_bytes)
      bad(decode_errc::truncated, count_at,
          std::to_string(count) + " groups cannot fit in the bytes left");

    std::vector<group_state> groups;
    groups.reserve(static_cast<std::size_t>(count));
    std::unordered_set<std::string_view> keys;  // views into `groups`' keys: reserved
    keys.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::size_t group_at = r.offset();
      const auto c = r.le<std::uint32_t>("group correlation");
      if (c >= e.rules_.size())
        bad(decode_errc::inconsistent, group_at, "a group of correlation " + std::to_string(c));
      if (!e.runtime_[c].unsupported.empty())
        bad(decode_errc::inconsistent, group_at, "a group of an unsupported correlation");
      const correlation_rule& cr = e.rules_[c];
      const auto flags = r.le<std::uint8_t>("group flags");
      if (flags > 3) bad(decode_errc::inconsistent, group_at + 4, "unknown group flags");
      const bool active = (flags & 1U) != 0;
      const bool timed = (flags & 2U) != 0;
      if (active && !timed)
        bad(decode_errc::inconsistent, group_at + 4, "an active group that saw no event");
      group_state g;
      g.correlation = c;
      g.live = true;
      e.reset(g);  // the windows and marks of a new group
      engine_type::append_part(g.key,
                               std::string_view(reinterpret_cast<const char*>(&c), sizeof c));
      for (std::size_t k = 0; k < cr.group_by.size(); ++k) {
        const auto n = r.le<std::uint32_t>("group-by value length");
        r.need(n, "group-by value");
        engine_type::append_part(g.key,
                                 std::string_view(reinterpret_cast<const char*>(r.data()), n));
        r.skip(n);
      }
      g.latest = engine_type::no_time;
      g.active = active;
      if (timed) {
        const std::size_t latest_at = r.offset();
        g.latest = static_cast<event_time>(r.le<std::uint64_t>("group time"));
        if (g.latest < -max_event_time || g.latest > max_event_time)
          bad(decode_errc::inconsistent, latest_at, "a group time out of range");
        for (event_time& m : g.marks) {
          const std::size_t mark_at = r.offset();
          m = static_cast<event_time>(r.le<std::uint64_t>("temporal marks"));
          if (m != engine_type::no_time && (m < -max_event_time || m > g.latest))
            bad(decode_errc::inconsistent, mark_at, "a rule's time after its group's latest");
        }
        window_params params = e.runtime_[c].params;
        params.max_events = std::max<std::size_t>(1, params.max_events);
        std::visit(
            [&](auto& win) {
              using W = std::decay_t<decltype(win)>;
              if constexpr (!std::is_same_v<W, std::monostate>)
                win = read_window<W>(r, params, g.latest);
            },
            g.window);
      }
      g.hash = e.hash_(g.key);
      groups.push_back(std::move(g));
      if (!keys.insert(groups.back().key).second)
        bad(decode_errc::inconsistent, group_at, "a group appears twice");
    }
    // The engine's open-addressing index over the groups: a power of two at least twice
    // their number (at least 16; empty without groups), linear probing.
    std::vector<typename engine_type::index_entry> index;
    if (!groups.empty()) {
      std::size_t size = 16;
      while (size < 2 * groups.size()) size *= 2;
      index.resize(size);
      const std::size_t mask = size - 1;
      for (std::uint32_t slot = 0; slot < groups.size(); ++slot) {
        std::size_t i = static_cast<std::size_t>(groups[slot].hash) & mask;
        while (index[i].slot != engine_type::no_slot) i = (i + 1) & mask;
        index[i] = {groups[slot].hash, slot};
      }
    }
    if (r.remaining() != 0)
      bad(decode_errc::trailing_bytes, r.offset(), "bytes after the last group");
    // Nothing below throws: the engine changes only once everything was read and checked.
    e.groups_ = std::move(groups);
    e.free_.clear();
    e.index_ = std::move(index);
    e.live_ = e.groups_.size();
    e.next_sweep_ = next_sweep;
    e.counters_ = counters;
  }

 private:
  static const char* policy_name(std::uint8_t id) noexcept {
    return id == 0 ? "exact" : id == 1 ? "bounded" : "other";
  }

  /// A window of a group whose latest time is `latest`, as saved: it must load, consume
  /// its bytes, save back to the same bytes (no hidden state, e.g. entries the window
  /// would expire) and hold what the engine's updates make (its newest event at `latest`).
  template <class W>
  static W read_window(byte_reader& r, const window_params& params, event_time latest) {
    const std::size_t at = r.offset();
    const auto n = r.le<std::uint64_t>("window length");
    if (n > r.remaining()) r.need(static_cast<std::size_t>(n), "window");
    const std::string_view blob(reinterpret_cast<const char*>(r.data()),
                                static_cast<std::size_t>(n));
    std::string_view rest = blob;
    std::optional<W> w = W::load(rest, params);
    if (!w || !rest.empty()) bad(decode_errc::inconsistent, at, "a malformed window");
    std::string again;
    w->save(again);
    if (again != blob) bad(decode_errc::inconsistent, at, "a window not as the engine saves it");
    if (!window_at(*w, latest))
      bad(decode_errc::inconsistent, at, "a window whose newest event is not its group's");
    r.skip(static_cast<std::size_t>(n));
    return std::move(*w);
  }

  static bool ring_at(const time_ring& ring, event_time latest) noexcept {
    return !ring.empty() && ring.head() == ring.bucket_of(latest) && ring.dropped_late() == 0 &&
           ring.resets() == 0;
  }

  /// Whether `w` is what the engine's adds at times up to `latest` (the last one at it)
  /// leave: it never adds late or non-finite values to a window.
  template <class W>
  static bool window_at(const W& w, event_time latest) noexcept {
    if constexpr (requires { w.events(); }) {
      const auto& ev = w.events();
      if (ev.size() == 0 || ev.at(ev.end_index() - 1).t != latest) return false;
      // Values are finite (the engine adds parsed numbers only): a NaN would also break
      // the ordering percentile() sorts by.
      if constexpr (std::is_floating_point_v<std::decay_t<decltype(ev.at(0).payload)>>)
        for (std::size_t i = ev.begin_index(); i < ev.end_index(); ++i)
          if (!std::isfinite(ev.at(i).payload)) return false;
      return true;
    } else if constexpr (requires { w.generation_ring(); }) {
      return ring_at(w.ring(), latest) && ring_at(w.generation_ring(), latest) &&
             w.rejected_values() == 0;
    } else if constexpr (requires { w.ring(); }) {
      return ring_at(w.ring(), latest);
    } else {
      return true;  // another window type: its load() checked what it can
    }
  }
};

}  // namespace detail

}  // namespace sigma

FLUXCAP_END_NAMESPACE
