// The files behind `fluxcap run --state FILE` (docs/cli.md, "State files"): a full
// snapshot in FILE and, with --incremental, one file for each checkpoint taken since,
// `FILE.delta-<snapshot checksum, 16 hex digits>-<number, from 000001>`, which holds
// only the groups, and of each only the generations, that changed (save_store_delta).
//
// Every file is written whole to a temporary file and renamed into place, so a run
// commits at one rename: a delta file appearing, or FILE being replaced. Deltas name
// the snapshot they follow: once a new snapshot is renamed into place, older deltas
// are stale (they are skipped, then removed), whatever moment a crash hits.
//
// Only names fluxcap writes are ever removed: a file whose name starts with
// `FILE.delta-` but is not exactly a checkpoint name (a `.bak` copy, notes) is left
// alone. A missing FILE with checkpoint files present is refused (they cannot be loaded
// without it). A run holds an exclusive lock on the state (`FILE.lock`, file_lock) from
// before loading to after saving: one writer at a time. A symbolic link FILE is
// resolved at start: the files are read, written and locked beside its target.
#pragma once

#include "io.hpp"

#include <fluxcap/error.hpp>
#include <fluxcap/serialize.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fluxcap_cli {

class state_files {
 public:
  /// Checkpoints kept as deltas before the next save writes a full snapshot again (also
  /// when the deltas together would outgrow the snapshot).
  static constexpr std::size_t max_deltas = 32;

  /// Resolves `path` (a symbolic link: its target) and locks it, waiting at most
  /// `wait_lock_seconds` for another run to release it. Throws io_error or usage_error.
  state_files(const std::string& path, double wait_lock_seconds)
      : path_(resolve_state_path(path)), lock_(path_ + ".lock", path_, wait_lock_seconds) {}

  /// The hash key to run with: the one FILE was written with, or a fresh random key
  /// when there is no FILE yet (fluxcap/hash.hpp: the key keeps hostile values from
  /// colliding; it lives in the state file). Reads FILE once; load() uses those bytes.
  /// Throws fluxcap::decode_error (loading() names the file) or io_error.
  fluxcap::hash_key hash_key() {
    loading_ = path_;
    snapshot_ = read_file_if_exists(path_);
    if (!snapshot_) return fluxcap::hash_key::random();
    const auto key = fluxcap::stored_hash_key(std::span<const std::uint8_t>(*snapshot_));
    if (!key)
      throw fluxcap::decode_error(
          fluxcap::decode_errc::bad_parameters, 8,
          "written by fluxcap 0.1 with an unkeyed hash, which hostile input can defeat: this "
          "version continues only keyed states (move the file away to start a new state)");
    return *key;
  }

  /// Loads FILE, then every delta that follows it, in order, into `store` (which needs
  /// `assign` and `find`); returns the attachments, each as the newest file holding its
  /// name wrote it (a checkpoint carries its attachments whole). Throws
  /// fluxcap::decode_error (loading() names the file) or io_error.
  template <class Capacitor, class Store>
  std::vector<fluxcap::store_attachment> load(const Capacitor& cap, Store& store) {
    std::vector<fluxcap::store_attachment> attachments;
    const auto take = [&attachments](std::vector<fluxcap::store_attachment> newer) {
      for (auto& a : newer) {
        auto it = std::find_if(attachments.begin(), attachments.end(),
                               [&](const auto& held) { return held.name == a.name; });
        if (it != attachments.end())
          *it = std::move(a);
        else
          attachments.push_back(std::move(a));
      }
    };
    loading_ = path_;
    const auto snapshot = snapshot_ ? std::move(snapshot_) : read_file_if_exists(path_);
    snapshot_.reset();
    if (snapshot) {
      take(fluxcap::load_store(cap, std::span<const std::uint8_t>(*snapshot), store));
      snapshot_bytes_ = snapshot->size();
      char hex[17];  // the snapshot's own checksum names its checkpoints
      std::snprintf(hex, sizeof hex, "%016" PRIx64,
                    fluxcap::store_checksum(std::span<const std::uint8_t>(*snapshot)));
      tag_ = hex;
    }
    const std::string prefix = path_ + ".delta-";
    std::vector<std::pair<std::uint64_t, std::string>> mine;
    for (auto& file : files_starting_with(prefix)) {
      const std::string_view rest = std::string_view(file).substr(prefix.size());
      // Not a checkpoint name (an unfinished write, a copy, notes...): not ours, left alone.
      const std::uint64_t seq = sequence_of(rest);
      if (seq == 0) continue;
      if (snapshot && rest.substr(0, 16) == tag_)
        mine.emplace_back(seq, std::move(file));
      else
        stale_.push_back(std::move(file));
    }
    if (!snapshot && !stale_.empty())
      throw io_error("state file '" + path_ + "' is missing, but " + std::to_string(stale_.size()) +
                     " checkpoint file" + (stale_.size() == 1 ? "" : "s") +
                     " of a state are beside it ('" + stale_.front() + "'" +
                     (stale_.size() == 1 ? "" : ", ...") +
                     "), which cannot be loaded without it; nothing was changed. Restore '" +
                     path_ + "' from a backup (its checkpoints then load after it), or, to " +
                     "start from an empty state, remove them ('" + prefix + "*')");
    std::sort(mine.begin(), mine.end());
    for (std::size_t i = 0; i < mine.size(); ++i) {
      loading_ = mine[i].second;
      if (mine[i].first != i + 1)
        throw fluxcap::decode_error(
            fluxcap::decode_errc::inconsistent, 0,
            "checkpoint " + std::to_string(i + 1) + " after the snapshot is missing");
      const auto bytes = read_file_if_exists(mine[i].second);
      if (!bytes) throw io_error("'" + mine[i].second + "' vanished while the state was loaded");
      take(fluxcap::apply_store_delta(cap, std::span<const std::uint8_t>(*bytes), store));
      delta_bytes_ += bytes->size();
      deltas_.push_back(std::move(mine[i].second));
    }
    crash_point("loaded");
    return attachments;
  }

  /// What a save wrote.
  struct saved {
    bool checkpoint = false;  ///< a delta file (else a full snapshot)
    std::size_t bytes = 0;
  };

  /// Saves `store` and `attachments` (written whole in either case): with `incremental`,
  /// as one more delta when there is a snapshot and the deltas stay smaller than it;
  /// otherwise as a full snapshot, after which the older files are removed. Throws
  /// io_error.
  template <class Capacitor, class Store>
  saved save(const Capacitor& cap, const Store& store, bool incremental,
             std::span<const fluxcap::store_attachment> attachments = {}) {
    if (incremental && !tag_.empty() && deltas_.size() < max_deltas) {
      auto delta = fluxcap::save_store_delta(cap, store, attachments);
      if (delta_bytes_ + delta.size() <= snapshot_bytes_) {
        char name[32];
        std::snprintf(name, sizeof name, "-%06zu", deltas_.size() + 1);
        write_file_atomically(path_ + ".delta-" + tag_ + name, delta, owner_of(path_));
        for (const auto& f : stale_) remove_file(f);
        return {true, delta.size()};
      }
    }
    const auto bytes = fluxcap::save_store(cap, store, attachments);
    write_file_atomically(path_, bytes, owner_of(path_));
    for (const auto& f : deltas_) remove_file(f);
    for (const auto& f : stale_) remove_file(f);
    return {false, bytes.size()};
  }

  /// The file being loaded when load() threw.
  [[nodiscard]] const std::string& loading() const noexcept { return loading_; }

 private:
  /// The number of a delta file from its name after ".delta-": exactly the names save()
  /// writes, "<16 lowercase hex>-<6 digits, from 000001>"; 0 for any other name.
  static std::uint64_t sequence_of(std::string_view rest) {
    if (rest.size() != 23 || rest[16] != '-') return 0;
    for (const char c : rest.substr(0, 16))
      if ((c < '0' || c > '9') && (c < 'a' || c > 'f')) return 0;
    std::uint64_t seq = 0;
    for (const char c : rest.substr(17)) {
      if (c < '0' || c > '9') return 0;
      seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return seq;
  }

  std::string path_;                                   ///< resolved: a symbolic link's target
  file_lock lock_;                                     ///< held while the object lives
  std::optional<std::vector<std::uint8_t>> snapshot_;  ///< FILE as hash_key() read it
  std::string tag_;  ///< the snapshot's checksum in hex; empty: no snapshot
  std::size_t snapshot_bytes_ = 0;
  std::vector<std::string> deltas_;  ///< the snapshot's deltas, in order
  std::size_t delta_bytes_ = 0;
  std::vector<std::string> stale_;  ///< delta files of another (older) snapshot
  std::string loading_;
};

}  // namespace fluxcap_cli
