// A state store on RocksDB for states larger than RAM (docs/scale-out.md, "RocksDB
// store"): group states live in a RocksDB database, one column family a partition, with a
// bounded cache of decoded hot groups in front (least recently used out first; a dirty
// group is written back when it leaves the cache, and at commit). Needs RocksDB: the
// optional CMake target fluxcap::rocksdb; the core never includes this header.
//
// Commits are atomic: commit(position) writes the cache's dirty groups, the caller's
// input position and the partition's header (memory geometry, hash fingerprint, spec
// fingerprint, group count) in one write batch. Between commits, a group leaving the
// cache is written back at once, with an undo record of its committed value beside it
// (in the same small batch); a store opened over undo records (a run killed before its
// commit) first restores the committed values, so what a reader sees is always exactly
// the last commit: a failed or killed run leaves the state as it was.
//
// Layout of a partition's column family ("partition-<n>"):
//   "\0meta"       the partition header (magic "FLXCPART", see encode_meta below)
//   "\1" + key     undo record of a group written back since the last commit:
//                  present u8, then the committed value when present
//   "g" + key      a group: epoch u64 (the commit it belongs to), last event time i64
//                  (INT64_MIN: none), then the state blob (serialize.hpp's format)
// The default column family holds the database header ("fluxcap-db": magic "FLXCRDB1",
// version u16, the hash key 2 x u64, checksum u64). A directory without it is refused.
#pragma once

#include <fluxcap/detail/abi_macros.hpp>

#include <fluxcap/detail/state_codec.hpp>
#include <fluxcap/error.hpp>
#include <fluxcap/group_state.hpp>
#include <fluxcap/hash.hpp>
#include <fluxcap/memory_config.hpp>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

FLUXCAP_BEGIN_NAMESPACE

/// A state database that cannot be opened, is not fluxcap's, does not match the run
/// (other memory parameters, another spec), or failed to read or write.
class rocksdb_store_error : public std::runtime_error {
 public:
  enum class kind : std::uint8_t { io, corrupt, foreign, mismatch, in_use };
  rocksdb_store_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  [[nodiscard]] kind what_kind() const noexcept { return kind_; }

 private:
  kind kind_;
};

namespace detail::rocks {

inline constexpr char db_magic[8] = {'F', 'L', 'X', 'C', 'R', 'D', 'B', '1'};
inline constexpr char part_magic[8] = {'F', 'L', 'X', 'C', 'P', 'A', 'R', 'T'};
inline constexpr std::uint16_t format_version = 1;
inline constexpr std::string_view db_header_key = "fluxcap-db";
inline constexpr std::string_view meta_key{"\0meta", 5};
inline constexpr char undo_prefix = '\1';
inline constexpr char group_prefix = 'g';
inline constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();
inline constexpr std::size_t value_header = 16;  // epoch u64, last event time i64

inline void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xffU);
}
inline std::uint64_t get_u64(std::string_view in, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i)
    v |= std::uint64_t{static_cast<std::uint8_t>(in[at + i])} << (8 * i);
  return v;
}
inline std::uint64_t checksum(std::string_view bytes) {
  return detail::hash_bytes(bytes.data(), bytes.size());
}

/// The partition header: everything a commit fixes besides the groups.
struct meta {
  memory_geometry geometry;
  std::uint64_t hash_fingerprint = 0;
  std::uint64_t spec_fingerprint = 0;
  std::uint64_t epoch = 0;           ///< commits so far (the groups' epochs are <= this)
  std::uint64_t groups = 0;          ///< groups held
  std::int64_t watermark = no_time;  ///< latest event time committed
  std::string position;              ///< the caller's input position, opaque bytes
};

inline std::string encode_meta(const meta& m) {
  std::string out(part_magic, 8);
  out += static_cast<char>(format_version & 0xff);
  out += static_cast<char>(format_version >> 8);
  out += static_cast<char>(m.geometry.mode);
  put_u64(out, m.geometry.config.capacity);
  std::uint64_t fpp_bits = 0;
  std::memcpy(&fpp_bits, &m.geometry.config.fpp, 8);
  put_u64(out, fpp_bits);
  put_u64(out, m.geometry.config.generations);
  put_u64(out, m.hash_fingerprint);
  put_u64(out, m.spec_fingerprint);
  put_u64(out, m.epoch);
  put_u64(out, m.groups);
  put_u64(out, static_cast<std::uint64_t>(m.watermark));
  put_u64(out, m.position.size());
  out += m.position;
  put_u64(out, checksum(out));
  return out;
}

/// Decodes a partition header; nullopt when it is not one (corrupt or foreign).
inline std::optional<meta> decode_meta(std::string_view in) {
  constexpr std::size_t fixed = 8 + 2 + 1 + 9 * 8;
  if (in.size() < fixed + 8 || std::memcmp(in.data(), part_magic, 8) != 0) return std::nullopt;
  if (get_u64(in, in.size() - 8) != checksum(in.substr(0, in.size() - 8))) return std::nullopt;
  const auto version = static_cast<std::uint16_t>(static_cast<std::uint8_t>(in[8]) |
                                                  (static_cast<std::uint8_t>(in[9]) << 8));
  if (version != format_version) return std::nullopt;
  meta m;
  const auto mode = static_cast<std::uint8_t>(in[10]);
  if (mode > 2) return std::nullopt;
  memory_config config;
  config.capacity = get_u64(in, 11);
  const std::uint64_t fpp_bits = get_u64(in, 19);
  std::memcpy(&config.fpp, &fpp_bits, 8);
  const std::uint64_t generations = get_u64(in, 27);
  if (generations > 255) return std::nullopt;
  config.generations = static_cast<std::uint32_t>(generations);
  try {
    m.geometry = memory_geometry::make(config, static_cast<memory_mode>(mode));
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  m.hash_fingerprint = get_u64(in, 35);
  m.spec_fingerprint = get_u64(in, 43);
  m.epoch = get_u64(in, 51);
  m.groups = get_u64(in, 59);
  m.watermark = static_cast<std::int64_t>(get_u64(in, 67));
  const std::uint64_t n = get_u64(in, 75);
  if (n != in.size() - fixed - 8) return std::nullopt;
  m.position.assign(in.substr(fixed, n));
  return m;
}

inline std::string geometry_text(const memory_geometry& g) {
  return std::string("mode ") + memory_mode_name(g.mode) + ", capacity " +
         std::to_string(g.config.capacity) + ", fpp " + std::to_string(g.config.fpp) +
         ", generations " + std::to_string(g.config.generations);
}

/// RocksDB's diagnostics go nowhere: no LOG file is created or rotated in the directory
/// (a refused second opener changes nothing there).
class silent_logger : public ::rocksdb::Logger {
 public:
  using ::rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

inline std::string group_db_key(std::string_view key) {
  std::string k(1, group_prefix);
  k.append(key);
  return k;
}
inline std::string undo_db_key(std::string_view key) {
  std::string k(1, undo_prefix);
  k.append(key);
  return k;
}

}  // namespace detail::rocks

/// Settings of a state database (the directory).
struct rocksdb_db_options {
  /// Create the database when the directory is missing or empty.
  bool create_if_missing = true;
  /// RocksDB's block cache (encoded blocks read from disk), besides the group cache.
  std::size_t block_cache_bytes = 8U << 20;
  /// Size of a memtable before it is flushed (RocksDB keeps up to two).
  std::size_t write_buffer_bytes = 16U << 20;
};

/// A RocksDB state database: one directory, one hash key, any number of partitions
/// (column families "partition-<n>"), each a rocksdb_state_store.
///
/// Opening reads an existing directory read-only first (RocksDB's own read-write open
/// writes files): the directory is checked (fluxcap's header, RocksDB's consistency) and
/// each partition's header kept, so that a store can refuse a partition of other
/// parameters before anything is written. The read-write open, which takes RocksDB's
/// lock (DIR/LOCK, an fcntl lock held while this object lives), happens when the first
/// store opens a partition: a second writer is refused there (kind in_use). The lock is
/// not probed before: opening and closing DIR/LOCK in the process that holds it would
/// release it (fcntl locks belong to the process, and any close drops them).
class rocksdb_state_db {
 public:
  /// Opens the database in `dir`, or prepares to create one (with a random hash key)
  /// when `dir` is missing or empty. Throws rocksdb_store_error: kind foreign (a non-empty
  /// directory that is not a fluxcap state database), corrupt (RocksDB or fluxcap's header reports
  /// damage) or io. Writes nothing.
  explicit rocksdb_state_db(const std::string& dir, const rocksdb_db_options& o = {}) : dir_(dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool exists = fs::exists(dir, ec);
    if (exists && !fs::is_directory(dir, ec))
      throw rocksdb_store_error(rocksdb_store_error::kind::foreign,
                                "'" + dir + "' is not a directory");
    empty_ = !exists || fs::is_empty(dir, ec);
    if (!empty_ && !fs::exists(fs::path(dir) / "CURRENT", ec))
      throw rocksdb_store_error(rocksdb_store_error::kind::foreign,
                                "'" + dir +
                                    "' is not a fluxcap state database (a non-empty directory "
                                    "without RocksDB's CURRENT file)");
    if (empty_ && !o.create_if_missing)
      throw rocksdb_store_error(rocksdb_store_error::kind::io,
                                "no state database in '" + dir + "'");

    opts_.create_if_missing = empty_;
    opts_.paranoid_checks = true;
    opts_.info_log = std::make_shared<detail::rocks::silent_logger>();
    opts_.max_open_files = 256;
    opts_.write_buffer_size = o.write_buffer_bytes;
    opts_.max_write_buffer_number = 2;
    // Most lookups are point lookups, many of absent groups: a Bloom filter on the
    // memtables too (a tenth of their size), and LZ4, cheap on the CPU, in the tables.
    opts_.memtable_whole_key_filtering = true;
    opts_.memtable_prefix_bloom_size_ratio = 0.1;
    opts_.compression = ::rocksdb::kLZ4Compression;
    ::rocksdb::BlockBasedTableOptions table;
    table.block_cache = ::rocksdb::NewLRUCache(o.block_cache_bytes);
    table.filter_policy.reset(::rocksdb::NewBloomFilterPolicy(10));
    // Index and filter blocks stay with their table readers, outside the block cache:
    // in it, data blocks evicted them and every lookup read a whole filter block again
    // (measured: 4 times the CPU time at 300,000 groups). They take about 2 bytes a group.
    table.cache_index_and_filter_blocks = false;
    opts_.table_factory.reset(::rocksdb::NewBlockBasedTableFactory(table));

    if (empty_) {
      key_ = hash_key::random();
      return;
    }
    read_only_check();
  }

  rocksdb_state_db(const rocksdb_state_db&) = delete;
  rocksdb_state_db& operator=(const rocksdb_state_db&) = delete;
  ~rocksdb_state_db() { close(); }

  /// The hash key every partition's states were built with: build the capacitors with
  /// `default_hash(db.key())`. Confidential, like a state file.
  [[nodiscard]] const hash_key& key() const noexcept { return key_; }
  [[nodiscard]] const std::string& directory() const noexcept { return dir_; }

  /// Partition `p`'s header as the directory held it when opened (nullptr: none).
  [[nodiscard]] const std::string* stored_header(std::uint32_t p) const {
    const auto it = stored_headers_.find(p);
    return it == stored_headers_.end() ? nullptr : &it->second;
  }

  /// The column family of partition `p` (created when missing); opens the database for
  /// writing first. Throws rocksdb_store_error.
  ::rocksdb::ColumnFamilyHandle* partition_family(std::uint32_t p) {
    open_writable();
    const std::string name = "partition-" + std::to_string(p);
    if (auto it = families_.find(name); it != families_.end()) return it->second;
    ::rocksdb::ColumnFamilyHandle* h = nullptr;
    check(db_->CreateColumnFamily(::rocksdb::ColumnFamilyOptions(opts_), name, &h),
          "cannot create partition");
    handles_.push_back(h);
    families_.emplace(name, h);
    return h;
  }
  /// Empties partition `p` (its groups, undo records and header) in one synced write
  /// batch: a cache whose owner reloads it from elsewhere. No store may have it open.
  void discard_partition(std::uint32_t p) {
    ::rocksdb::ColumnFamilyHandle* family = partition_family(p);
    ::rocksdb::WriteBatch batch;
    // Every key of a partition is below "\xff" ("\0meta", "\1" + key, "g" + key).
    check(batch.DeleteRange(family, ::rocksdb::Slice(), ::rocksdb::Slice("\xff", 1)),
          "cannot discard a partition of");
    ::rocksdb::WriteOptions w;
    w.sync = true;
    check(db_->Write(w, &batch), "cannot discard a partition of");
    stored_headers_.erase(p);
  }
  /// The database, opened for writing.
  [[nodiscard]] ::rocksdb::DB& raw() {
    open_writable();
    return *db_;
  }

  /// Throws rocksdb_store_error for a failed status, naming what was being done.
  void check(const ::rocksdb::Status& s, const std::string& doing) const {
    if (!s.ok()) throw status_error(s, doing);
  }

 private:
  [[nodiscard]] rocksdb_store_error status_error(const ::rocksdb::Status& s,
                                                 const std::string& doing) const {
    using k = rocksdb_store_error::kind;
    const std::string text = s.ToString();
    const bool locked = s.IsIOError() && (text.find("lock") != std::string::npos ||
                                          text.find("LOCK") != std::string::npos);
    const k kind = locked ? k::in_use : s.IsCorruption() ? k::corrupt : k::io;
    std::string msg = doing + " '" + dir_ + "': ";
    if (locked) msg += "it is in use (RocksDB's lock " + dir_ + "/LOCK); ";
    return rocksdb_store_error(kind, msg + text);
  }

  [[nodiscard]] std::vector<::rocksdb::ColumnFamilyDescriptor> descriptors() const {
    std::vector<std::string> names;
    if (!empty_) {
      const auto s = ::rocksdb::DB::ListColumnFamilies(::rocksdb::DBOptions(opts_), dir_, &names);
      if (!s.ok()) throw status_error(s, "cannot open state database");
    }
    if (names.empty()) names.emplace_back(::rocksdb::kDefaultColumnFamilyName);
    std::vector<::rocksdb::ColumnFamilyDescriptor> out;
    for (const auto& n : names) out.emplace_back(n, ::rocksdb::ColumnFamilyOptions(opts_));
    return out;
  }

  /// Opens the directory read-only: checks fluxcap's header (the hash key) and keeps
  /// each partition's header. Throws rocksdb_store_error.
  void read_only_check() {
    const auto descs = descriptors();
    std::vector<::rocksdb::ColumnFamilyHandle*> handles;
    ::rocksdb::DB* raw_db = nullptr;
    const auto s =
        ::rocksdb::DB::OpenForReadOnly(::rocksdb::DBOptions(opts_), dir_, descs, &handles, &raw_db);
    if (!s.ok()) throw status_error(s, "cannot open state database");
    const std::unique_ptr<::rocksdb::DB> ro(raw_db);
    struct release {
      ::rocksdb::DB* db;
      std::vector<::rocksdb::ColumnFamilyHandle*>* h;
      ~release() {
        for (auto* x : *h) (void)db->DestroyColumnFamilyHandle(x);
        (void)db->Close();
      }
    } guard{raw_db, &handles};
    std::string header;
    ::rocksdb::Status g = ::rocksdb::Status::NotFound();
    for (std::size_t i = 0; i < descs.size(); ++i) {
      const std::string& name = descs[i].name;
      if (name == ::rocksdb::kDefaultColumnFamilyName) {
        g = raw_db->Get(::rocksdb::ReadOptions(), handles[i],
                        ::rocksdb::Slice(detail::rocks::db_header_key.data(),
                                         detail::rocks::db_header_key.size()),
                        &header);
      } else if (name.starts_with("partition-") && name.size() <= 20) {
        std::uint64_t p = 0;
        bool digits = name.size() > 10;
        for (std::size_t c = 10; c < name.size() && digits; ++c) {
          digits = name[c] >= '0' && name[c] <= '9';
          p = p * 10 + static_cast<std::uint64_t>(name[c] - '0');
        }
        if (!digits || p > 0xffffffffU) continue;
        std::string meta;
        const auto m = raw_db->Get(
            ::rocksdb::ReadOptions(), handles[i],
            ::rocksdb::Slice(detail::rocks::meta_key.data(), detail::rocks::meta_key.size()),
            &meta);
        if (m.ok())
          stored_headers_.emplace(static_cast<std::uint32_t>(p), std::move(meta));
        else if (!m.IsNotFound())
          throw status_error(m, "cannot read a partition header of");
      }
    }
    if (g.IsNotFound())
      throw rocksdb_store_error(rocksdb_store_error::kind::foreign,
                                "'" + dir_ +
                                    "' is a RocksDB database, but not a fluxcap state database "
                                    "(it has no fluxcap header)");
    if (!g.ok()) throw status_error(g, "cannot read the state database header");
    if (header.size() != 34 || std::memcmp(header.data(), detail::rocks::db_magic, 8) != 0 ||
        detail::rocks::get_u64(header, 26) !=
            detail::rocks::checksum(std::string_view(header).substr(0, 26)))
      throw rocksdb_store_error(
          rocksdb_store_error::kind::corrupt,
          "'" + dir_ + "': the fluxcap header of the state database is corrupt");
    if (header[8] != static_cast<char>(detail::rocks::format_version) || header[9] != 0)
      throw rocksdb_store_error(rocksdb_store_error::kind::mismatch,
                                "'" + dir_ + "': a state database of another format version");
    key_ = hash_key{detail::rocks::get_u64(header, 10), detail::rocks::get_u64(header, 18)};
  }

  /// The read-write open (once); a new database gets its header.
  void open_writable() {
    if (db_) return;
    const auto descs = descriptors();
    std::vector<::rocksdb::ColumnFamilyHandle*> handles;
    ::rocksdb::DB* raw_db = nullptr;
    const auto s = ::rocksdb::DB::Open(::rocksdb::DBOptions(opts_), dir_, descs, &handles, &raw_db);
    if (!s.ok()) throw status_error(s, "cannot open state database");
    db_.reset(raw_db);
    for (std::size_t i = 0; i < descs.size(); ++i) {
      if (descs[i].name == ::rocksdb::kDefaultColumnFamilyName)
        default_cf_ = handles[i];
      else
        families_.emplace(descs[i].name, handles[i]);
      handles_.push_back(handles[i]);
    }
    if (!empty_) return;
    std::string header(detail::rocks::db_magic, 8);
    header += static_cast<char>(detail::rocks::format_version & 0xff);
    header += static_cast<char>(detail::rocks::format_version >> 8);
    detail::rocks::put_u64(header, key_.k0);
    detail::rocks::put_u64(header, key_.k1);
    detail::rocks::put_u64(header, detail::rocks::checksum(header));
    ::rocksdb::WriteOptions w;
    w.sync = true;
    check(db_->Put(w, default_cf_,
                   ::rocksdb::Slice(detail::rocks::db_header_key.data(),
                                    detail::rocks::db_header_key.size()),
                   header),
          "cannot write the state database header");
    empty_ = false;
  }

  void close() {
    if (!db_) return;
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    families_.clear();
    (void)db_->Close();
    db_.reset();
  }

  std::string dir_;
  bool empty_ = true;
  ::rocksdb::Options opts_;
  std::unique_ptr<::rocksdb::DB> db_;
  ::rocksdb::ColumnFamilyHandle* default_cf_ = nullptr;
  std::vector<::rocksdb::ColumnFamilyHandle*> handles_;
  std::unordered_map<std::string, ::rocksdb::ColumnFamilyHandle*> families_;
  std::unordered_map<std::uint32_t, std::string> stored_headers_;
  hash_key key_{};
};

/// Settings of one partition's store.
struct rocksdb_store_options {
  /// The group cache's bound: decoded states, their keys and bookkeeping together. The
  /// group in use is never evicted, so one group larger than this still works.
  std::size_t cache_bytes = std::size_t{256} << 20;
  /// At most this many groups cached besides the bound in bytes (0: no such bound).
  std::size_t cache_groups = 0;
  /// Groups whose last event is older than this (event time, against the latest event
  /// time seen) are dropped: read as new, and removed at commit. 0: kept forever.
  std::int64_t ttl_ms = 0;
  /// The latest event time the store starts from is at most this (ms): a bound on the
  /// time committed by an earlier run, which an event dated far ahead may have raised
  /// (the tool passes its clock plus --max-time-ahead). Default: none.
  std::int64_t max_start_watermark = std::numeric_limits<std::int64_t>::max();
  /// Identifies the spec (0: not checked). A partition committed with another nonzero
  /// fingerprint is refused.
  std::uint64_t spec_fingerprint = 0;
  /// fsync the commit's batch (the write-ahead log): a power loss keeps it.
  bool sync_commit = true;
};

/// One partition of a rocksdb_state_db as a state store (state_store.hpp's concept,
/// plus `assign`). References returned by find/find_or_create/assign stay valid until
/// the next call on the store (which may evict the group).
class rocksdb_state_store {
 public:
  using state_type = group_state;

  /// Counters of the cache and the writes.
  struct counters {
    std::uint64_t hits = 0, misses = 0, evictions = 0, write_backs = 0, undo_records = 0,
                  commits = 0, expired = 0;
  };

  /// Opens partition `partition` of `db` for states of capacitor `cap` (its memory
  /// geometry and hash; build it with `default_hash(db.key())`). A partition left by a
  /// run killed before its commit is first restored to its last commit. Throws
  /// rocksdb_store_error: kind mismatch when the partition was committed with other
  /// memory parameters, another hash or another spec fingerprint; corrupt for a damaged
  /// header.
  template <group_state_capacitor Capacitor>
  rocksdb_state_store(rocksdb_state_db& db, std::uint32_t partition, const Capacitor& cap,
                      const rocksdb_store_options& o = {})
      : db_(&db), options_(o), prototype_(cap.make_state()) {
    meta_.geometry = cap.memory().geometry();
    meta_.hash_fingerprint = detail::hash_fingerprint(cap.hash());
    meta_.spec_fingerprint = o.spec_fingerprint;
    // Checked against the header read at open, before anything is written.
    if (const std::string* stored = db.stored_header(partition)) adopt_header(*stored, partition);
    cf_ = db.partition_family(partition);
    std::string bytes;
    const auto s = db_->raw().Get(read_, cf_, slice(detail::rocks::meta_key), &bytes);
    if (s.IsNotFound()) {
      roll_back();  // a first run killed before its first commit
      if (has_any_group())
        throw rocksdb_store_error(
            rocksdb_store_error::kind::corrupt,
            "partition " + std::to_string(partition) + " holds groups but no header");
    } else {
      db_->check(s, "cannot read the partition header of");
      adopt_header(bytes, partition);
    }
    committed_groups_ = meta_.groups;
    watermark_ = std::min(meta_.watermark, options_.max_start_watermark);
    roll_back();
  }

  rocksdb_state_store(const rocksdb_state_store&) = delete;
  rocksdb_state_store& operator=(const rocksdb_state_store&) = delete;

  /// The state of group `key`, created (from an empty state) when new.
  group_state& find_or_create(std::string_view key) {
    if (group_state* s = find(key)) return *s;
    return insert_new(key, prototype_);
  }

  /// The state of group `key`, or nullptr when there is none (read from the database
  /// into the cache when not cached).
  [[nodiscard]] group_state* find(std::string_view key) {
    settle();
    if (auto it = map_.find(key); it != map_.end()) {
      ++counters_.hits;
      entry& e = it->second;
      if (e.erased) return nullptr;
      if (expired(e.last_time)) {  // idle too long: dropped, the group starts anew
        ++counters_.expired;
        e.state = prototype_;
        e.dirty = true;
      }
      touch(it);
      return &e.state;
    }
    if (absent_known_ && absent_key_ == key) return nullptr;  // just looked up
    ++counters_.misses;
    std::string value;
    const auto s = db_->raw().Get(read_, cf_, slice(group_key(key)), &value);
    if (s.IsNotFound()) {
      absent_known_ = true;
      absent_key_.assign(key);
      return nullptr;
    }
    db_->check(s, "cannot read a group from");
    if (value.size() < detail::rocks::value_header)
      throw rocksdb_store_error(rocksdb_store_error::kind::corrupt, "a group's value is truncated");
    const std::uint64_t epoch = detail::rocks::get_u64(value, 0);
    const auto last = static_cast<std::int64_t>(detail::rocks::get_u64(value, 8));
    if (expired(last)) {
      ++counters_.expired;
      auto& e = insert_entry(key, prototype_, epoch);
      return &e.state;
    }
    group_state state = decode(value);
    state.mark_checkpoint();  // as in the database: changes from here make it dirty
    auto& e = insert_entry(key, std::move(state), epoch);
    e.dirty = false;
    e.last_time = last;
    mark_dirty_current();
    return &e.state;
  }

  /// Removes group `key`; true when there was one.
  bool erase(std::string_view key) {
    group_state* s = find(key);
    if (s == nullptr) return false;
    auto it = map_.find(key);
    // A tombstone until the commit: the entry stays, as an empty state marked erased.
    it->second.erased = true;
    it->second.dirty = true;
    it->second.state = prototype_;
    --groups_delta_;
    current_ = map_.end();
    return true;
  }

  /// Replaces (or adds) group `key`'s state.
  group_state& assign(std::string_view key, group_state state) {
    if (group_state* s = find(key)) {
      *s = std::move(state);
      mark_dirty_current();
      return *s;
    }
    return insert_new(key, std::move(state));
  }

  /// Groups held (committed, plus those created since, minus those erased).
  [[nodiscard]] std::size_t size() const noexcept {
    return static_cast<std::size_t>(static_cast<std::int64_t>(committed_groups_) + groups_delta_);
  }

  /// Calls f(key, state) for every group: the cache's dirty groups are written back
  /// first (uncommitted, as on eviction), then the database is read in key order. Each
  /// state passed is valid during its call only.
  template <class F>
  void for_each(F&& f) {
    walk_all_ = true;  // f may change cached states without touching them
    write_back_all();
    std::unique_ptr<::rocksdb::Iterator> it(db_->raw().NewIterator(read_, cf_));
    const std::string start(1, detail::rocks::group_prefix);
    for (it->Seek(start); it->Valid(); it->Next()) {
      const auto k = it->key();
      if (k.size() < 1 || k[0] != detail::rocks::group_prefix) break;
      const std::string_view key(k.data() + 1, k.size() - 1);
      const std::string_view v(it->value().data(), it->value().size());
      if (expired(static_cast<std::int64_t>(detail::rocks::get_u64(v, 8)))) continue;
      if (auto c = map_.find(key); c != map_.end()) {
        if (!c->second.erased) f(key, c->second.state);
        continue;
      }
      group_state state = decode(v);
      f(key, state);
    }
    db_->check(it->status(), "cannot read the groups of");
  }
  template <class F>
  void for_each(F&& f) const {
    const_cast<rocksdb_state_store*>(this)->for_each(
        [&](std::string_view k, group_state& s) { f(k, static_cast<const group_state&>(s)); });
  }

  /// The event time of the event being processed: the group found next is stamped with
  /// it (for the time to live), and the latest time seen advances. Taken as given: one
  /// time far ahead expires every group, so bound untrusted times before (the tool
  /// counts a time later than its clock plus --max-time-ahead as that).
  void set_event_time(std::int64_t ms) noexcept {
    event_time_ = ms;
    if (ms > watermark_) watermark_ = ms;
  }

  /// Commits atomically: the dirty groups, `position` (opaque, e.g. an input offset or
  /// a stream ID), the group count and the header in one write batch, then forgets the
  /// undo records. With a time to live, groups idle past it are then removed.
  void commit(std::string_view position) {
    settle();
    ::rocksdb::WriteBatch batch;
    const std::uint64_t epoch = meta_.epoch + 1;
    // Only groups handed out since the last commit can be dirty or erased: they lead the
    // LRU list (the cache is not walked whole at each commit, which cost a worker committing
    // every 1,000 events 5 times its CPU at 100,000 cached groups). After for_each, which
    // hands out cached states without touching them, the whole cache is walked.
    used_.clear();
    if (walk_all_) {
      for (auto it = map_.begin(); it != map_.end(); ++it) used_.push_back(it);
    } else {
      for (const std::string_view key : lru_) {
        const auto it = map_.find(key);
        if (it->second.used_epoch != epoch) break;
        used_.push_back(it);
      }
    }
    for (const auto it : used_) {
      entry& e = it->second;
      if (!is_dirty(e)) continue;
      put_group(batch, it->first, e, epoch);
      e.dirty = false;
      e.state.mark_checkpoint();
      e.db_epoch = epoch;
    }
    const std::string undo_start(1, detail::rocks::undo_prefix);
    const std::string undo_end(1, static_cast<char>(detail::rocks::undo_prefix + 1));
    if (undo_pending_)  // (a range tombstone a commit would pile up for nothing)
      db_->check(batch.DeleteRange(cf_, undo_start, undo_end), "cannot commit to");
    detail::rocks::meta next = meta_;
    next.epoch = epoch;
    next.groups =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(committed_groups_) + groups_delta_);
    next.watermark = watermark_;
    next.position.assign(position);
    db_->check(batch.Put(cf_, slice(detail::rocks::meta_key), detail::rocks::encode_meta(next)),
               "cannot commit to");
    ::rocksdb::WriteOptions w;
    w.sync = options_.sync_commit;
    db_->check(db_->raw().Write(w, &batch), "cannot commit to");
    meta_ = std::move(next);
    committed_groups_ = meta_.groups;
    groups_delta_ = 0;
    undo_pending_ = false;
    for (const auto it : used_) {  // erased groups are gone now
      if (!it->second.erased) continue;
      lru_.erase(it->second.lru);
      cache_bytes_ -= it->second.bytes;
      map_.erase(it);
    }
    used_.clear();
    walk_all_ = false;
    current_ = map_.end();
    ++counters_.commits;
    if (options_.ttl_ms > 0) sweep_expired();
  }

  /// The position of the last commit (empty before the first).
  [[nodiscard]] const std::string& committed_position() const noexcept { return meta_.position; }
  /// Commits so far in this partition's life.
  [[nodiscard]] std::uint64_t committed_epoch() const noexcept { return meta_.epoch; }
  /// Bytes the group cache holds now (by its own measure).
  [[nodiscard]] std::size_t cache_bytes() const noexcept { return cache_bytes_; }
  [[nodiscard]] std::size_t cached_groups() const noexcept { return map_.size(); }
  /// Changes the cache's bounds (rocksdb_store_options::cache_bytes, cache_groups),
  /// evicting down to them now: e.g. a worker sharing one bound among its partitions.
  void set_cache_limits(std::size_t bytes, std::size_t groups) {
    settle();
    options_.cache_bytes = bytes;
    options_.cache_groups = groups;
    evict_over_limit();
  }
  [[nodiscard]] const counters& stats() const noexcept { return counters_; }
  [[nodiscard]] const group_state& prototype() const noexcept { return prototype_; }

 private:
  struct entry {
    group_state state;
    std::list<std::string_view>::iterator lru;  // position in lru_ (front: most recent)
    std::size_t bytes = 0;                      // as counted in cache_bytes_
    std::uint64_t db_epoch = 0;  // epoch of the key's value in the database (0: none)
    std::int64_t last_time = detail::rocks::no_time;
    std::uint64_t used_epoch = 0;  // the uncommitted epoch when last handed out
    bool dirty = true;
    bool erased = false;
  };
  using map_type = std::unordered_map<std::string, entry, keyed_string_hash, std::equal_to<>>;

  /// Bookkeeping an entry costs besides its state and key (map node, list node).
  static constexpr std::size_t entry_overhead = sizeof(entry) + 3 * sizeof(void*) + 64;

  static ::rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }
  /// Reads skip RocksDB's block checksums (most of a lookup's CPU time, measured): every
  /// state blob carries its own checksum, verified when decoded, and so do the headers.
  static ::rocksdb::ReadOptions lookup_options() {
    ::rocksdb::ReadOptions r;
    r.verify_checksums = false;
    return r;
  }
  static std::string group_key(std::string_view key) { return detail::rocks::group_db_key(key); }

  /// Takes a partition header as the state, after checking it matches this store.
  void adopt_header(const std::string& bytes, std::uint32_t partition) {
    auto stored = detail::rocks::decode_meta(bytes);
    if (!stored)
      throw rocksdb_store_error(
          rocksdb_store_error::kind::corrupt,
          "the header of partition " + std::to_string(partition) + " is corrupt");
    if (!(stored->geometry.config == meta_.geometry.config) ||
        stored->geometry.mode != meta_.geometry.mode)
      throw rocksdb_store_error(rocksdb_store_error::kind::mismatch,
                                "the state was built with other parameters (" +
                                    detail::rocks::geometry_text(stored->geometry) +
                                    ") than expected (" +
                                    detail::rocks::geometry_text(meta_.geometry) + ")");
    if (stored->hash_fingerprint != meta_.hash_fingerprint)
      throw rocksdb_store_error(rocksdb_store_error::kind::mismatch,
                                "the state was built with another hash (or hash key)");
    if (options_.spec_fingerprint != 0 && stored->spec_fingerprint != 0 &&
        stored->spec_fingerprint != options_.spec_fingerprint)
      throw rocksdb_store_error(rocksdb_store_error::kind::mismatch,
                                "the state was committed with another spec");
    const std::uint64_t spec =
        options_.spec_fingerprint != 0 ? options_.spec_fingerprint : stored->spec_fingerprint;
    meta_ = std::move(*stored);
    meta_.spec_fingerprint = spec;
  }

  [[nodiscard]] bool expired(std::int64_t last) const noexcept {
    return options_.ttl_ms > 0 && last != detail::rocks::no_time &&
           watermark_ != detail::rocks::no_time && last < watermark_ - options_.ttl_ms;
  }

  group_state decode(std::string_view value) const {
    try {
      return detail::state_codec::decode(
          std::span<const std::uint8_t>(
              reinterpret_cast<const std::uint8_t*>(value.data()) + detail::rocks::value_header,
              value.size() - detail::rocks::value_header),
          meta_.geometry, meta_.hash_fingerprint);
    } catch (const decode_error& e) {
      throw rocksdb_store_error(rocksdb_store_error::kind::corrupt,
                                std::string("a group's state does not decode: ") + e.what());
    }
  }

  /// Whether `e` differs from what the database holds.
  [[nodiscard]] static bool is_dirty(const entry& e) noexcept {
    return e.dirty || e.state.changed_since_checkpoint();
  }

  group_state& insert_new(std::string_view key, group_state state) {
    absent_known_ = false;
    ++groups_delta_;
    if (auto it = map_.find(key); it != map_.end()) {  // erased since the last commit
      it->second.erased = false;
      it->second.dirty = true;
      it->second.state = std::move(state);
      touch(it);
      return it->second.state;
    }
    auto& e = insert_entry(key, std::move(state), 0);
    return e.state;
  }

  /// Caches `state` as the current (most recent) group, evicting others to make room.
  entry& insert_entry(std::string_view key, group_state state, std::uint64_t db_epoch) {
    auto [it, added] = map_.try_emplace(std::string(key), entry{std::move(state), {}, 0, db_epoch});
    (void)added;
    entry& e = it->second;
    lru_.push_front(std::string_view(it->first));
    e.lru = lru_.begin();
    e.bytes = entry_bytes(it);
    cache_bytes_ += e.bytes;
    e.last_time = event_time_;
    e.used_epoch = meta_.epoch + 1;
    current_ = it;
    evict_over_limit();
    return e;
  }

  std::size_t entry_bytes(typename map_type::iterator it) const noexcept {
    return it->first.size() + it->second.state.memory_bytes() + entry_overhead;
  }

  void touch(typename map_type::iterator it) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    it->second.used_epoch = meta_.epoch + 1;
    current_ = it;
    mark_dirty_current();
  }

  /// The group returned last may have been changed by its caller: it is dirty, and its
  /// size is measured again, when the store is next called. (A group handed out is
  /// assumed changed: the flux capacitor updates every group it looks up.)
  void mark_dirty_current() {
    if (current_ == map_.end()) return;
    entry& e = current_->second;
    if (event_time_ != detail::rocks::no_time && e.last_time != event_time_) {
      e.last_time = event_time_;
      if (options_.ttl_ms > 0) e.dirty = true;  // the time to live reads it
    }
  }

  void settle() {
    if (current_ == map_.end()) return;
    const std::size_t now = entry_bytes(current_);
    cache_bytes_ = cache_bytes_ - current_->second.bytes + now;
    current_->second.bytes = now;
    current_ = map_.end();
    evict_over_limit();
  }

  /// Evicts least recently used groups (never the current one) until the cache is
  /// under its bound, down to 15/16 of it so that write-backs go in batches.
  void evict_over_limit() {
    const std::size_t max_groups = options_.cache_groups;
    const bool too_many = max_groups > 0 && map_.size() > max_groups;
    if (cache_bytes_ <= options_.cache_bytes && !too_many) return;
    const std::size_t target = options_.cache_bytes - options_.cache_bytes / 16;
    const std::size_t target_groups =
        max_groups > 0 ? max_groups - max_groups / 16 : std::numeric_limits<std::size_t>::max();
    ::rocksdb::WriteBatch batch;
    std::size_t writes = 0;
    while ((cache_bytes_ > target || map_.size() > target_groups) && lru_.size() > 1) {
      const std::string_view victim_key = lru_.back();
      auto it = map_.find(victim_key);
      if (it == current_) break;
      entry& e = it->second;
      if (is_dirty(e)) {  // an erased group: its deletion is written back
        write_back(batch, it->first, e);
        ++writes;
      }
      lru_.pop_back();
      cache_bytes_ -= e.bytes;
      map_.erase(it);
      ++counters_.evictions;
    }
    if (writes > 0) {
      ::rocksdb::WriteOptions w;  // the write-ahead log, not synced: the commit syncs it
      db_->check(db_->raw().Write(w, &batch), "cannot write a group back to");
    }
  }

  /// Adds `e`'s uncommitted value to `batch`, after an undo record of the committed one
  /// when this is the group's first write since the last commit.
  void write_back(::rocksdb::WriteBatch& batch, const std::string& key, entry& e) {
    const std::uint64_t epoch = meta_.epoch + 1;
    if (e.db_epoch != epoch) {  // the database holds the committed value (or nothing)
      std::string undo;
      if (e.db_epoch == 0) {
        undo.assign(1, '\0');
      } else {
        std::string old;
        db_->check(db_->raw().Get(read_, cf_, slice(group_key(key)), &old),
                   "cannot read a group from");
        undo.assign(1, '\1');
        undo += old;
      }
      db_->check(batch.Put(cf_, detail::rocks::undo_db_key(key), undo), "cannot write to");
      ++counters_.undo_records;
      undo_pending_ = true;
    }
    put_group(batch, key, e, epoch);
    e.db_epoch = epoch;
    e.dirty = false;
    e.state.mark_checkpoint();
    ++counters_.write_backs;
  }

  void put_group(::rocksdb::WriteBatch& batch, const std::string& key, const entry& e,
                 std::uint64_t epoch) {
    if (e.erased) {
      db_->check(batch.Delete(cf_, group_key(key)), "cannot write to");
      return;
    }
    scratch_.clear();
    std::string value;
    detail::rocks::put_u64(value, epoch);
    detail::rocks::put_u64(value, static_cast<std::uint64_t>(e.last_time));
    detail::state_codec::encode(e.state, meta_.hash_fingerprint, scratch_);
    value.append(reinterpret_cast<const char*>(scratch_.data()), scratch_.size());
    db_->check(batch.Put(cf_, group_key(key), value), "cannot write to");
  }

  void write_back_all() {
    settle();
    ::rocksdb::WriteBatch batch;
    std::size_t writes = 0;
    for (auto& [key, e] : map_) {
      if (!is_dirty(e)) continue;
      write_back(batch, key, e);
      if (++writes % 1024 == 0) {
        db_->check(db_->raw().Write(::rocksdb::WriteOptions(), &batch), "cannot write to");
        batch.Clear();
      }
    }
    if (batch.Count() > 0)
      db_->check(db_->raw().Write(::rocksdb::WriteOptions(), &batch), "cannot write to");
  }

  [[nodiscard]] bool has_any_group() {
    std::unique_ptr<::rocksdb::Iterator> it(db_->raw().NewIterator(read_, cf_));
    it->SeekToFirst();
    return it->Valid();
  }

  /// Restores the committed values saved in undo records (a run killed before its
  /// commit), in batches; each batch can be repeated, so a crash here is harmless. The
  /// records go last, in one batch.
  void roll_back() {
    std::unique_ptr<::rocksdb::Iterator> it(db_->raw().NewIterator(read_, cf_));
    const std::string start(1, detail::rocks::undo_prefix);
    ::rocksdb::WriteBatch batch;
    bool any = false;
    for (it->Seek(start); it->Valid(); it->Next()) {
      const auto k = it->key();
      if (k.size() < 1 || k[0] != detail::rocks::undo_prefix) break;
      any = true;
      const std::string_view key(k.data() + 1, k.size() - 1);
      const auto v = it->value();
      if (v.size() < 1 || static_cast<std::uint8_t>(v[0]) > 1)
        throw rocksdb_store_error(rocksdb_store_error::kind::corrupt, "an undo record is corrupt");
      if (v[0] == '\0')
        db_->check(batch.Delete(cf_, group_key(key)), "cannot roll back");
      else
        db_->check(batch.Put(cf_, group_key(key), ::rocksdb::Slice(v.data() + 1, v.size() - 1)),
                   "cannot roll back");
      if (batch.Count() >= 1024) {
        db_->check(db_->raw().Write(::rocksdb::WriteOptions(), &batch), "cannot roll back");
        batch.Clear();
      }
    }
    db_->check(it->status(), "cannot roll back");
    if (!any) return;
    const std::string end(1, static_cast<char>(detail::rocks::undo_prefix + 1));
    db_->check(batch.DeleteRange(cf_, start, end), "cannot roll back");
    ::rocksdb::WriteOptions w;
    w.sync = true;
    db_->check(db_->raw().Write(w, &batch), "cannot roll back");
    rolled_back_ = true;
  }

  /// Removes groups idle past the time to live (after a commit; each batch also
  /// records the new group count). Cached groups are left to the cache.
  void sweep_expired() {
    for (auto c = map_.begin(); c != map_.end();) {  // clean after the commit
      if (expired(c->second.last_time)) {
        lru_.erase(c->second.lru);
        cache_bytes_ -= c->second.bytes;
        c = map_.erase(c);
      } else {
        ++c;
      }
    }
    std::unique_ptr<::rocksdb::Iterator> it(db_->raw().NewIterator(read_, cf_));
    const std::string start(1, detail::rocks::group_prefix);
    ::rocksdb::WriteBatch batch;
    auto flush = [&] {
      if (batch.Count() == 0) return;
      meta_.groups = committed_groups_;
      db_->check(batch.Put(cf_, slice(detail::rocks::meta_key), detail::rocks::encode_meta(meta_)),
                 "cannot write to");
      db_->check(db_->raw().Write(::rocksdb::WriteOptions(), &batch), "cannot write to");
      batch.Clear();
    };
    for (it->Seek(start); it->Valid(); it->Next()) {
      const auto k = it->key();
      if (k.size() < 1 || k[0] != detail::rocks::group_prefix) break;
      const std::string_view key(k.data() + 1, k.size() - 1);
      if (map_.find(key) != map_.end()) continue;
      const std::string_view v(it->value().data(), it->value().size());
      if (v.size() < detail::rocks::value_header ||
          !expired(static_cast<std::int64_t>(detail::rocks::get_u64(v, 8))))
        continue;
      db_->check(batch.Delete(cf_, it->key()), "cannot write to");
      --committed_groups_;
      ++counters_.expired;
      if (batch.Count() >= 4096) flush();
    }
    db_->check(it->status(), "cannot read the groups of");
    flush();
  }

 public:
  /// Whether opening restored the last commit over a run killed before committing.
  [[nodiscard]] bool rolled_back() const noexcept { return rolled_back_; }

 private:
  rocksdb_state_db* db_;
  ::rocksdb::ColumnFamilyHandle* cf_ = nullptr;
  rocksdb_store_options options_;
  group_state prototype_;
  detail::rocks::meta meta_;
  ::rocksdb::ReadOptions read_ = lookup_options();
  map_type map_;
  std::list<std::string_view> lru_;
  typename map_type::iterator current_ = map_.end();
  std::size_t cache_bytes_ = 0;
  std::uint64_t committed_groups_ = 0;
  std::int64_t groups_delta_ = 0;
  std::int64_t event_time_ = detail::rocks::no_time;
  std::int64_t watermark_ = detail::rocks::no_time;
  bool absent_known_ = false;
  std::string absent_key_;
  bool undo_pending_ = false;
  bool rolled_back_ = false;
  std::vector<std::uint8_t> scratch_;
  std::vector<typename map_type::iterator> used_;  // commit's scratch
  bool walk_all_ = false;
  counters counters_;
};

FLUXCAP_END_NAMESPACE
