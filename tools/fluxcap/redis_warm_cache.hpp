// A Redis worker's warm cache (`fluxcap worker --state-db DIR`, docs/scale-out.md "The
// warm cache"): the group states of the worker's partitions in a local RocksDB database
// (rocksdb_store.hpp, a column family a partition) behind a bounded cache of hot groups,
// so that a worker's state can exceed its RAM and a partition taken again needs no full
// read of its Redis state hash. Redis stays the source of truth: a partition is used
// from the local store only when the store's committed position is Redis's and it was
// written for the same deployment and spec (warm start); otherwise it is emptied and
// reloaded from Redis (cold start). It is written after each accepted commit only, and
// emptied after a refused one. Needs RocksDB (FLUXCAP_TOOL_HAS_ROCKSDB).
#pragma once

#ifdef FLUXCAP_TOOL_HAS_ROCKSDB

#include "io.hpp"
#include "options.hpp"
#include "process.hpp"
#include "redis_protocol.hpp"

#include <fluxcap/hash.hpp>
#include <fluxcap/rocksdb_store.hpp>
#include <fluxcap/serialize.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fluxcap_cli {

/// The local database of one worker: opened at the worker's start, for one deployment
/// (stream, hash key) and spec, identified by `fingerprint` (nonzero), recorded in each
/// partition's header as its spec fingerprint.
class warm_cache {
 public:
  struct counters {
    std::uint64_t warm_starts = 0, cold_starts = 0, groups_reloaded = 0, discards = 0,
                  evictions = 0;
  };

  /// Opens (or creates) the database in `dir`. Refuses (usage_error, nothing written) a
  /// directory that is not a fluxcap state database and a `fluxcap run` database (its
  /// partitions record no spec: it is a run's only state, not a cache). Partitions
  /// written for another deployment or spec, or beyond `partitions`, are emptied (a cache
  /// of state Redis holds: only a reload is lost), and reported. Takes RocksDB's lock:
  /// a second worker on `dir` is refused here.
  warm_cache(const std::string& dir, std::uint64_t fingerprint, unsigned partitions,
             std::size_t cache_bytes, std::size_t cache_groups)
      : dir_(dir),
        fingerprint_(fingerprint),
        cache_bytes_(cache_bytes),
        cache_groups_(cache_groups) {
    try {
      db_.emplace(dir);
      std::vector<std::uint32_t> foreign;
      for (std::uint32_t p = 0; p < max_partition_scanned; ++p) {
        const std::string* header = db_->stored_header(p);
        if (header == nullptr) continue;
        const auto meta = fluxcap::detail::rocks::decode_meta(*header);
        if (meta && meta->spec_fingerprint == 0)
          throw usage_error("--state-db '" + dir +
                            "' holds the state of a `fluxcap run` (partition " + std::to_string(p) +
                            " records no spec), not a worker's cache: refused (a worker "
                            "empties partitions it cannot use; nothing was changed)");
        if (!meta || meta->spec_fingerprint != fingerprint_ || p >= partitions)
          foreign.push_back(p);
      }
      (void)db_->raw();  // the read-write open: the lock, before any lease is taken
      if (!foreign.empty()) {
        std::fprintf(stderr,
                     "fluxcap: worker: --state-db '%s': emptying %zu partition%s written for "
                     "another deployment, spec or partition count (first: %u); they are "
                     "reloaded from Redis when taken\n",
                     dir.c_str(), foreign.size(), foreign.size() == 1 ? "" : "s", foreign[0]);
        for (const std::uint32_t p : foreign) db_->discard_partition(p);
        counters_.discards += foreign.size();
      }
    } catch (const fluxcap::rocksdb_store_error& e) {
      using kind = fluxcap::rocksdb_store_error::kind;
      const std::string what = "cannot use --state-db '" + dir + "': " + e.what();
      if (e.what_kind() == kind::io || e.what_kind() == kind::corrupt) throw io_error(what);
      throw usage_error(what);
    }
  }

  [[nodiscard]] fluxcap::rocksdb_state_db& db() noexcept { return *db_; }
  [[nodiscard]] std::uint64_t fingerprint() const noexcept { return fingerprint_; }
  [[nodiscard]] const std::string& directory() const noexcept { return dir_; }
  [[nodiscard]] counters& stats() noexcept { return counters_; }
  /// The whole cache's bounds (shared among the partitions open).
  [[nodiscard]] std::size_t cache_bytes() const noexcept { return cache_bytes_; }
  [[nodiscard]] std::size_t cache_groups() const noexcept { return cache_groups_; }

 private:
  /// Partition numbers a worker may use (redis_protocol::max_partitions; a `fluxcap run`
  /// uses partition 0).
  static constexpr std::uint32_t max_partition_scanned = 4096;

  std::string dir_;
  std::uint64_t fingerprint_;
  std::size_t cache_bytes_, cache_groups_;
  std::optional<fluxcap::rocksdb_state_db> db_;
  counters counters_;
};

/// One partition a worker owns, in its warm cache: the processor's group backend, with
/// the groups used since the last commit listed (the commit sends exactly those to Redis).
class warm_partition final : public group_backend {
 public:
  /// Opens partition `p` for capacitor `cap`; warm() tells whether the local store's
  /// committed position is `redis_position` (non-empty), so that it holds exactly the
  /// state Redis committed there. Otherwise the partition is emptied: load() the Redis
  /// states, then commit(redis_position). `ttl_ms` (--state-ttl; 0: none): the local
  /// store drops groups as the worker does (docs/scale-out.md, "Time to live on workers");
  /// `max_start_watermark`: a bound on the latest time the local store committed.
  template <class Capacitor>
  warm_partition(warm_cache& cache, std::uint32_t p, const Capacitor& cap,
                 std::string_view redis_position, std::size_t share, std::int64_t ttl_ms = 0,
                 std::int64_t max_start_watermark = std::numeric_limits<std::int64_t>::max())
      : cache_(&cache), p_(p), ttl_ms_(ttl_ms) {
    fluxcap::rocksdb_store_options so;
    so.cache_bytes = std::max<std::size_t>(cache.cache_bytes() / std::max<std::size_t>(share, 1),
                                           std::size_t{1} << 12);
    so.cache_groups =
        cache.cache_groups() == 0
            ? 0
            : std::max<std::size_t>(cache.cache_groups() / std::max<std::size_t>(share, 1), 1);
    so.spec_fingerprint = cache.fingerprint();
    so.ttl_ms = ttl_ms;
    so.max_start_watermark = max_start_watermark;
    // Not synced: a commit lost to a power loss leaves the store behind Redis (RocksDB
    // recovers a consistent prefix of its batches), which the next take sees (cold).
    so.sync_commit = false;
    auto open = [&] {
      store_ = std::make_unique<fluxcap::rocksdb_state_store>(cache.db(), p, cap, so);
    };
    try {
      open();
    } catch (const fluxcap::rocksdb_store_error& e) {
      using kind = fluxcap::rocksdb_store_error::kind;
      if (e.what_kind() != kind::mismatch && e.what_kind() != kind::corrupt) throw;
      // A cache: what cannot be used is reloaded from Redis.
      std::fprintf(stderr, "fluxcap: worker: --state-db: partition %u emptied: %s\n", p, e.what());
      store_.reset();
      cache.db().discard_partition(p);
      ++cache.stats().discards;
      open();
    }
    warm_ = !redis_position.empty() && store_->committed_position() == redis_position;
    if (warm_) {
      ++cache.stats().warm_starts;
      if (ttl_ms_ > 0) read_times();
      return;
    }
    ++cache.stats().cold_starts;
    if (store_->committed_epoch() != 0 || store_->size() != 0) {  // stale or foreign
      count_evictions();
      store_.reset();
      cache.db().discard_partition(p);
      ++cache.stats().discards;
      open();
    }
  }

  ~warm_partition() override { count_evictions(); }
  warm_partition(const warm_partition&) = delete;
  warm_partition& operator=(const warm_partition&) = delete;

  [[nodiscard]] bool warm() const noexcept { return warm_; }
  [[nodiscard]] fluxcap::rocksdb_state_store& store() noexcept { return *store_; }

  fluxcap::group_state* find(std::string_view key) override {
    fluxcap::group_state* s = store_->find(key);  // (the store drops an expired group)
    if (s != nullptr) note(key);
    return s;
  }
  fluxcap::group_state& create(std::string_view key) override {
    note(key);
    return store_->find_or_create(key);
  }
  [[nodiscard]] std::uint64_t size() const override { return store_->size(); }
  void set_event_time(std::int64_t ms) override {
    if (redis_protocol::lacks_watermark(ttl_ms_, ms, watermark_))
      throw usage_error(redis_protocol::lacks_watermark_message);
    event_time_ = ms;
    store_->set_event_time(ms);
  }

  /// With --state-ttl: the latest event time seen, before an entry's event (its field w),
  /// or as committed in Redis: the store's clock of expiry (its watermark).
  void set_watermark(std::int64_t w) {
    if (w <= watermark_) return;
    watermark_ = w;
    store_->set_event_time(w);
  }
  [[nodiscard]] std::int64_t watermark() const noexcept { return watermark_; }

  /// A state read from Redis (cold start), with its last event time (with --state-ttl).
  void load(std::string_view key, fluxcap::group_state state,
            std::int64_t last = redis_protocol::no_time) {
    if (ttl_ms_ > 0) {  // stamped with its own time (not above the watermark, set first)
      store_->set_event_time(last);
      stamp(key, last);
    }
    store_->assign(key, std::move(state));
    ++cache_->stats().groups_reloaded;
  }

  /// Calls f(key, state, last event time) for each group used since the last commit, but
  /// those expired by now (with --state-ttl: collect_expired lists them).
  template <class F>
  void for_each_touched(F&& f) {
    // The store stamps the groups it hands out with the current event time: none here.
    if (ttl_ms_ > 0) store_->set_event_time(redis_protocol::no_time);
    for (const std::string& key : touched_) {
      std::int64_t last = redis_protocol::no_time;
      if (ttl_ms_ > 0) {
        last = times_.find(key)->second;
        if (redis_protocol::expired(last, watermark_, ttl_ms_)) continue;
      }
      fluxcap::group_state* s = store_->find(key);
      if (s == nullptr) throw std::logic_error("warm cache: a group used in the batch is gone");
      f(std::string_view(key), *s, last);
    }
  }

  /// With --state-ttl: appends the keys of the groups expired at the watermark (the
  /// store removes them at its commit; Redis at the worker's), and forgets them.
  void collect_expired(std::vector<std::string>& out) {
    if (ttl_ms_ <= 0 || !redis_protocol::expired(earliest_, watermark_, ttl_ms_)) return;
    earliest_ = std::numeric_limits<std::int64_t>::max();
    for (auto it = times_.begin(); it != times_.end();) {
      if (redis_protocol::expired(it->second, watermark_, ttl_ms_)) {
        out.push_back(it->first);
        it = times_.erase(it);
      } else {
        earliest_ = std::min(earliest_, it->second);
        ++it;
      }
    }
  }

  /// After Redis accepted a commit at `position` (or after a cold load): the groups and
  /// the position in one RocksDB write batch.
  void commit(std::string_view position) {
    store_->commit(position);
    touched_.clear();
  }

  /// After Redis refused a commit: the local partition is emptied (it must never hold
  /// state Redis did not accept); it is reloaded when taken again.
  void discard() {
    count_evictions();
    store_.reset();
    touched_.clear();
    cache_->db().discard_partition(p_);
    ++cache_->stats().discards;
  }

  /// This partition's share of the worker's cache, when it owns `share` partitions.
  void share_cache(std::size_t share) {
    if (!store_) return;
    share = std::max<std::size_t>(share, 1);
    store_->set_cache_limits(
        std::max<std::size_t>(cache_->cache_bytes() / share, std::size_t{1} << 12),
        cache_->cache_groups() == 0 ? 0 : std::max<std::size_t>(cache_->cache_groups() / share, 1));
  }

 private:
  void count_evictions() noexcept {
    if (store_) cache_->stats().evictions += store_->stats().evictions;
  }
  void note(std::string_view key) {
    if (touched_.find(key) == touched_.end()) touched_.emplace(key);
    if (ttl_ms_ > 0) stamp(key, event_time_);
  }
  void stamp(std::string_view key, std::int64_t t) {
    if (auto it = times_.find(key); it != times_.end())
      it->second = t;
    else
      times_.emplace(std::string(key), t);
    earliest_ = std::min(earliest_, t);
  }
  /// A warm start with --state-ttl: the groups' last event times, from the local store.
  void read_times() {
    namespace rocks = fluxcap::detail::rocks;
    auto& db = cache_->db();
    std::unique_ptr<::rocksdb::Iterator> it(
        db.raw().NewIterator(::rocksdb::ReadOptions(), db.partition_family(p_)));
    const std::string start(1, rocks::group_prefix);
    for (it->Seek(start); it->Valid(); it->Next()) {
      const auto k = it->key();
      if (k.size() < 1 || k[0] != rocks::group_prefix) break;
      const std::string_view v(it->value().data(), it->value().size());
      if (v.size() < rocks::value_header) continue;  // (the store refuses it when read)
      stamp(std::string_view(k.data() + 1, k.size() - 1),
            static_cast<std::int64_t>(rocks::get_u64(v, 8)));
    }
    if (!it->status().ok())
      throw io_error("--state-db: cannot read partition " + std::to_string(p_) +
                     "'s groups: " + it->status().ToString());
  }
  warm_cache* cache_;
  std::uint32_t p_;
  std::unique_ptr<fluxcap::rocksdb_state_store> store_;
  std::unordered_set<std::string, fluxcap::keyed_string_hash, std::equal_to<>>
      touched_;  // keyed: input keys
  bool warm_ = false;
  // With --state-ttl: every group's last event time (the store's, mirrored: it does not
  // list its expired groups), the least of them (a bound), the clock, the current time.
  std::int64_t ttl_ms_ = 0;
  std::unordered_map<std::string, std::int64_t, fluxcap::keyed_string_hash, std::equal_to<>> times_;
  std::int64_t earliest_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t watermark_ = redis_protocol::no_time;
  std::int64_t event_time_ = redis_protocol::no_time;
};

}  // namespace fluxcap_cli

#else  // without RocksDB: --state-db is refused before a worker starts

#include "process.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

class warm_cache {
 public:
  struct counters {
    std::uint64_t warm_starts = 0, cold_starts = 0, groups_reloaded = 0, discards = 0,
                  evictions = 0;
  };
  warm_cache(const std::string&, std::uint64_t, unsigned, std::size_t, std::size_t) {
    throw std::logic_error("--state-db needs RocksDB");
  }
  [[nodiscard]] counters& stats() noexcept { return counters_; }
  [[nodiscard]] const std::string& directory() const noexcept { return dir_; }

 private:
  std::string dir_;
  counters counters_;
};

class warm_partition final : public group_backend {
 public:
  template <class Capacitor>
  warm_partition(warm_cache&, std::uint32_t, const Capacitor&, std::string_view, std::size_t,
                 std::int64_t = 0, std::int64_t = 0) {
    throw std::logic_error("--state-db needs RocksDB");
  }
  [[nodiscard]] bool warm() const noexcept { return false; }
  fluxcap::group_state* find(std::string_view) override { return nullptr; }
  fluxcap::group_state& create(std::string_view) override {
    throw std::logic_error("--state-db needs RocksDB");
  }
  [[nodiscard]] std::uint64_t size() const override { return 0; }
  void set_event_time(std::int64_t) override {}
  void set_watermark(std::int64_t) {}
  [[nodiscard]] std::int64_t watermark() const noexcept { return 0; }
  void load(std::string_view, fluxcap::group_state, std::int64_t = 0) {}
  template <class F>
  void for_each_touched(F&&) {}
  void collect_expired(std::vector<std::string>&) {}
  void commit(std::string_view) {}
  void discard() {}
  void share_cache(std::size_t) {}
};

}  // namespace fluxcap_cli

#endif
