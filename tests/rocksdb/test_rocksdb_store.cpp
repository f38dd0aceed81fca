// The RocksDB state store (fluxcap/rocksdb_store.hpp) against the in-memory store: the
// same answers for the same events with a cache far smaller than the groups, the cache
// within its bound, atomic commits (a child killed with SIGKILL between commits resumes
// to the uninterrupted result), one writer, refused foreign and corrupt databases, the
// time to live, commits after many small changes, a bound in groups, and a partition
// emptied (discard_partition). The child processes are this binary run again, not
// bare forks: a fork copies a process whose RocksDB threads may hold locks the child then
// waits on forever, and whose thread pools the child believes it has.
#include <fluxcap/memory.hpp>
#include <fluxcap/rocksdb_store.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/state_store.hpp>

#include "../fresh_process.hpp"

#include <doctest/doctest.h>

#include <rocksdb/db.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

static_assert(fluxcap::state_store<fluxcap::rocksdb_state_store>);

/// What the store needs of a capacitor: the memory (exact, small groups) and the hash.
struct test_capacitor {
  using state_type = fluxcap::group_state;
  using hash_type = fluxcap::default_hash;
  fluxcap::exact_memory mem;
  hash_type h;
  test_capacitor(std::uint64_t capacity, const fluxcap::hash_key& key)
      : mem(make_config(capacity)), h(key) {}
  static fluxcap::memory_config make_config(std::uint64_t capacity) {
    fluxcap::memory_config c;
    c.capacity = capacity;
    c.generations = 4;
    return c;
  }
  [[nodiscard]] const fluxcap::exact_memory& memory() const { return mem; }
  [[nodiscard]] const hash_type& hash() const { return h; }
  [[nodiscard]] fluxcap::group_state make_state() const { return mem.make_state(); }
};

/// A fresh directory under the temporary directory, removed at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "fluxcap-rocks-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  [[nodiscard]] std::string db() const { return (path / "state").string(); }
};

constexpr const char* child_task = "FLUXCAP_ROCKSDB_TEST_CHILD";

/// This binary again, running the test case `name` with `task` (../fresh_process.hpp).
int run_in_fresh_process(const char* name, const std::string& task) {
  return fluxcap_test::run_in_fresh_process(name, child_task, task);
}

std::uint64_t groups_for_large_test() {
  if (const char* v = std::getenv("FLUXCAP_ROCKSDB_TEST_GROUPS")) return std::stoull(v);
  return 1000000;
}

/// Event `i` of a stream over `groups` groups: its group and its tag key. Each group
/// is visited once a pass, in an order that differs from pass to pass.
struct event {
  std::string group;
  std::uint64_t key;
  std::uint64_t recall;  // a key the group stored a pass earlier (hit) or never (miss)
};
event event_at(std::uint64_t i, std::uint64_t groups) {
  const std::uint64_t pass = i / groups;
  const std::uint64_t j = i % groups;
  // A permutation of 0..groups-1 a pass: multiply by an odd number mod a power of two
  // would need groups a power of two; an affine map mod a prime-free size does it too.
  const std::uint64_t g = (j * 7919 + pass * 104729) % groups;
  event e;
  e.group = "host-" + std::to_string(g);
  e.key = fluxcap::detail::mix64(g * 64 + pass + 1);
  e.recall = fluxcap::detail::mix64(g * 64 + (pass % 2 == 0 ? 63 : pass));
  return e;
}

/// Applies event `e` to `store` as a flux capacitor would (a recall, then a store) and
/// returns the recall's answer.
template <class Store>
bool apply(Store& store, const event& e) {
  fluxcap::group_state& s = store.find_or_create(e.group);
  const bool hit = s.contains(e.recall);
  s.insert(e.key);
  return hit;
}

/// Every group's encoded state, in key order.
template <class Store>
std::map<std::string, std::vector<std::uint8_t>> snapshot(Store& store, std::uint64_t fp) {
  std::map<std::string, std::vector<std::uint8_t>> out;
  store.for_each([&](std::string_view k, const fluxcap::group_state& s) {
    std::vector<std::uint8_t> bytes;
    fluxcap::encode_state(s, fp, bytes);
    out.emplace(std::string(k), std::move(bytes));
  });
  return out;
}

std::map<std::string, std::string> directory_bytes(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::ifstream in(f.path(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out.emplace(f.path().string(), s.str());
  }
  return out;
}

}  // namespace

TEST_CASE("a million groups through a cache of 10,000 answer as the in-memory store") {
  const std::uint64_t groups = groups_for_large_test();
  const std::uint64_t events = 2 * groups;
  temp_dir dir;
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, db.key());
  const std::uint64_t fp = fluxcap::detail::hash_fingerprint(cap.hash());

  // The cache's bound: what 10,000 groups of this stream take (a group holds two keys).
  fluxcap::group_state probe = cap.make_state();
  probe.insert(1);
  probe.insert(2);
  const std::size_t per_group = probe.memory_bytes() + 16 + 256;
  fluxcap::rocksdb_store_options o;
  o.cache_bytes = 10000 * per_group;
  fluxcap::rocksdb_state_store store(db, 0, cap, o);
  fluxcap::in_memory_state_store<fluxcap::group_state> memory(cap.make_state());

  std::uint64_t mismatches = 0, hits = 0;
  std::size_t most_cached = 0, most_bytes = 0;
  for (std::uint64_t i = 0; i < events; ++i) {
    const event e = event_at(i, groups);
    const bool a = apply(store, e);
    const bool b = apply(memory, e);
    mismatches += a != b ? 1 : 0;
    hits += a ? 1 : 0;
    most_cached = std::max(most_cached, store.cached_groups());
    most_bytes = std::max(most_bytes, store.cache_bytes());
  }
  store.commit("all");
  CHECK(mismatches == 0);
  CHECK(hits == groups);  // the second pass recalls what the first stored
  CHECK(store.size() == groups);
  // The bound holds, less one group in use that may have grown past it.
  CHECK(most_bytes <= o.cache_bytes + per_group);
  // Bytes bound the cache; a group of one key (the first pass) is smaller than one of
  // two, so somewhat more than 10,000 fit.
  CHECK(most_cached <= 12500);
  CHECK(most_cached >= 9000);
  CHECK(store.stats().misses >= events - 10000);
  MESSAGE("groups " << groups << ", most cached " << most_cached << ", write-backs "
                    << store.stats().write_backs << ", undo records "
                    << store.stats().undo_records);
  // Every group's state, byte for byte (streamed: no copy of a million states).
  std::uint64_t compared = 0, differ = 0;
  std::vector<std::uint8_t> mine, theirs;
  store.for_each([&](std::string_view k, const fluxcap::group_state& s) {
    const fluxcap::group_state* m = memory.find(k);
    mine.clear();
    theirs.clear();
    fluxcap::encode_state(s, fp, mine);
    if (m != nullptr) fluxcap::encode_state(*m, fp, theirs);
    differ += mine != theirs ? 1 : 0;
    ++compared;
  });
  CHECK(compared == groups);
  CHECK(differ == 0);
  CHECK(store.committed_position() == "all");
}

namespace {

constexpr const char* kill_case =
    "a process killed with SIGKILL between commits resumes to the uninterrupted result";
constexpr std::uint64_t kill_groups = 20000;
constexpr std::uint64_t kill_events = 3 * kill_groups;
constexpr std::uint64_t kill_commit_every = 7000;

fluxcap::rocksdb_store_options kill_test_options() {
  fluxcap::rocksdb_store_options o;
  o.cache_bytes = std::size_t{500} * 400;
  o.sync_commit = false;
  return o;
}

/// Runs events from the committed position of the database at `path` on, with the
/// capacitor of hash key `key` (the parent's: every process hashes alike); commits every
/// kill_commit_every events with the position; kills itself with SIGKILL after
/// `kill_after` events of its own.
void run_from_committed(const std::string& path, const fluxcap::hash_key& key,
                        std::uint64_t kill_after) {
  fluxcap::rocksdb_state_db db(path);
  const test_capacitor cap(8, key);
  fluxcap::rocksdb_state_store store(db, 0, cap, kill_test_options());
  std::uint64_t i =
      store.committed_position().empty() ? 0 : std::stoull(store.committed_position());
  for (std::uint64_t n = 0; i < kill_events; ++i, ++n) {
    if (n == kill_after) ::kill(::getpid(), SIGKILL);
    (void)apply(store, event_at(i, kill_groups));
    if ((i + 1) % kill_commit_every == 0) store.commit(std::to_string(i + 1));
  }
  store.commit(std::to_string(kill_events));
}

}  // namespace

TEST_CASE(kill_case) {
  if (const char* task = std::getenv(child_task)) {  // "<kill_after> <k0> <k1> <path>"
    try {
      std::istringstream in(task);
      std::uint64_t kill_after = 0;
      fluxcap::hash_key key;
      std::string path;
      in >> kill_after >> key.k0 >> key.k1;
      std::getline(in >> std::ws, path);
      if (in.fail() || path.empty()) ::_exit(4);
      run_from_committed(path, key, kill_after);
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  const std::uint64_t groups = kill_groups;
  const std::uint64_t events = kill_events;
  const std::uint64_t commit_every = kill_commit_every;
  temp_dir dir;
  fluxcap::hash_key key;
  {
    fluxcap::rocksdb_state_db db(dir.db());
    key = db.key();
  }
  const test_capacitor cap(8, key);
  const std::uint64_t fp = fluxcap::detail::hash_fingerprint(cap.hash());
  const fluxcap::rocksdb_store_options o = kill_test_options();

  int kills = 0;
  for (const std::uint64_t kill_after : {3500ULL, 11000ULL, 16999ULL, 24000ULL}) {
    const int status =
        run_in_fresh_process(kill_case, std::to_string(kill_after) + " " + std::to_string(key.k0) +
                                            " " + std::to_string(key.k1) + " " + dir.db());
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    if (WIFEXITED(status)) MESSAGE("the child exited with status " << WEXITSTATUS(status));
    kills += WIFSIGNALED(status) ? 1 : 0;
    // Reopened: exactly the last commit, whatever the kill interrupted.
    fluxcap::rocksdb_state_db db(dir.db());
    fluxcap::rocksdb_state_store store(db, 0, cap, o);
    const std::uint64_t at =
        store.committed_position().empty() ? 0 : std::stoull(store.committed_position());
    CHECK(at % commit_every == 0);
    fluxcap::in_memory_state_store<fluxcap::group_state> memory(cap.make_state());
    for (std::uint64_t i = 0; i < at; ++i) (void)apply(memory, event_at(i, groups));
    CHECK(snapshot(store, fp) == snapshot(memory, fp));
    CHECK(store.size() == memory.size());
  }
  CHECK(kills == 4);
  run_from_committed(dir.db(), key, events + 1);  // resume to the end

  fluxcap::rocksdb_state_db db(dir.db());
  fluxcap::rocksdb_state_store store(db, 0, cap, o);
  fluxcap::in_memory_state_store<fluxcap::group_state> memory(cap.make_state());
  for (std::uint64_t i = 0; i < events; ++i) (void)apply(memory, event_at(i, groups));
  CHECK(store.committed_position() == std::to_string(events));
  CHECK(snapshot(store, fp) == snapshot(memory, fp));
}

TEST_CASE("an uncommitted run leaves the state as the last commit left it") {
  temp_dir dir;
  fluxcap::hash_key key;
  const std::uint64_t groups = 3000;
  std::map<std::string, std::vector<std::uint8_t>> committed;
  {
    fluxcap::rocksdb_state_db db(dir.db());
    key = db.key();
    const test_capacitor cap(8, key);
    fluxcap::rocksdb_store_options o;
    o.cache_bytes = std::size_t{100} * 400;  // most groups are written back before the commit
    fluxcap::rocksdb_state_store store(db, 0, cap, o);
    for (std::uint64_t i = 0; i < groups; ++i) (void)apply(store, event_at(i, groups));
    store.commit("first");
    committed = snapshot(store, fluxcap::detail::hash_fingerprint(cap.hash()));
    for (std::uint64_t i = groups; i < 2 * groups; ++i) (void)apply(store, event_at(i, groups));
    (void)store.find_or_create("a new group").insert(5);
    CHECK(store.erase("host-1"));
    CHECK(store.size() == groups);
    CHECK(store.stats().undo_records > 0);
    // Destroyed without a commit: what it wrote back stays behind, with its undo records.
  }
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, key);
  fluxcap::rocksdb_state_store store(db, 0, cap);
  CHECK(store.rolled_back());
  CHECK(store.committed_position() == "first");
  CHECK(store.size() == groups);
  CHECK(store.find("a new group") == nullptr);
  CHECK(store.find("host-1") != nullptr);
  CHECK(snapshot(store, fluxcap::detail::hash_fingerprint(cap.hash())) == committed);
}

TEST_CASE("partitions are column families with their own positions") {
  temp_dir dir;
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, db.key());
  fluxcap::rocksdb_state_store p0(db, 0, cap);
  fluxcap::rocksdb_state_store p7(db, 7, cap);
  p0.find_or_create("a").insert(1);
  p7.find_or_create("b").insert(2);
  p0.commit("p0-1");
  p7.commit("p7-1");
  CHECK(p0.find("b") == nullptr);
  CHECK(p7.find("a") == nullptr);
  REQUIRE(p7.find("b") != nullptr);
  CHECK(p7.find("b")->contains(2));
  CHECK(p0.committed_position() == "p0-1");
  CHECK(p7.committed_position() == "p7-1");
}

namespace {
constexpr const char* one_writer_case = "one writer: a second opener of the directory is refused";
}  // namespace

TEST_CASE(one_writer_case) {
  if (const char* path = std::getenv(child_task)) {  // the child: open the directory
    try {
      fluxcap::rocksdb_state_db second(path);
      const test_capacitor cap(8, second.key());
      fluxcap::rocksdb_state_store other(second, 0, cap);
      ::_exit(0);
    } catch (const fluxcap::rocksdb_store_error& e) {
      ::_exit(e.what_kind() == fluxcap::rocksdb_store_error::kind::in_use ? 7 : 8);
    } catch (...) {
      ::_exit(9);
    }
  }
  temp_dir dir;
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, db.key());
  fluxcap::rocksdb_state_store store(db, 0, cap);  // the database is open for writing
  try {  // in this process: refused by RocksDB when the second store opens it
    fluxcap::rocksdb_state_db second(dir.db());
    fluxcap::rocksdb_state_store other(second, 0, cap);
    FAIL("a second opener was allowed");
  } catch (const fluxcap::rocksdb_store_error& e) {
    CHECK(e.what_kind() == fluxcap::rocksdb_store_error::kind::in_use);
    CHECK(std::string(e.what()).find("in use") != std::string::npos);
  }
  // Another process: refused when it opens the directory.
  const int status = run_in_fresh_process(one_writer_case, dir.db());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("foreign, corrupt and mismatched databases are refused and left unchanged") {
  using kind = fluxcap::rocksdb_store_error::kind;
  auto refused = [](const std::string& path, kind expected) {
    const auto before = directory_bytes(path);
    try {
      fluxcap::rocksdb_state_db db(path);
      FAIL("opened");
    } catch (const fluxcap::rocksdb_store_error& e) {
      CHECK(e.what_kind() == expected);
      MESSAGE(std::string(e.what()));
    }
    CHECK(directory_bytes(path) == before);
  };
  SUBCASE("a directory of other files") {
    temp_dir dir;
    fs::create_directories(dir.db());
    std::ofstream(dir.db() + "/notes.txt") << "not a database\n";
    refused(dir.db(), kind::foreign);
  }
  SUBCASE("a RocksDB database that is not fluxcap's") {
    temp_dir dir;
    {
      rocksdb::Options opts;
      opts.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      REQUIRE(rocksdb::DB::Open(opts, dir.db(), &raw).ok());
      REQUIRE(raw->Put(rocksdb::WriteOptions(), "user", "data").ok());
      delete raw;
    }
    refused(dir.db(), kind::foreign);
  }
  SUBCASE("a damaged MANIFEST") {
    temp_dir dir;
    {
      fluxcap::rocksdb_state_db db(dir.db());
      const test_capacitor cap(8, db.key());
      fluxcap::rocksdb_state_store store(db, 0, cap);
      store.find_or_create("a").insert(1);
      store.commit("x");
    }
    for (const auto& f : fs::directory_iterator(dir.db()))
      if (f.path().filename().string().starts_with("MANIFEST-")) {
        std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
        io.seekp(0);
        io << "garbage garbage garbage garbage garbage";
      }
    const auto before = directory_bytes(dir.db());
    CHECK_THROWS_AS(fluxcap::rocksdb_state_db(dir.db()), fluxcap::rocksdb_store_error);
    CHECK(directory_bytes(dir.db()) == before);
  }
  SUBCASE("other memory parameters") {
    temp_dir dir;
    fluxcap::hash_key key;
    {
      fluxcap::rocksdb_state_db db(dir.db());
      key = db.key();
      const test_capacitor cap(8, key);
      fluxcap::rocksdb_state_store store(db, 0, cap);
      store.find_or_create("a").insert(1);
      store.commit("x");
    }
    const auto before = directory_bytes(dir.db());
    {
      fluxcap::rocksdb_state_db db(dir.db());
      const test_capacitor other(16, key);
      try {
        fluxcap::rocksdb_state_store store(db, 0, other);
        FAIL("opened");
      } catch (const fluxcap::rocksdb_store_error& e) {
        CHECK(e.what_kind() == kind::mismatch);
        CHECK(std::string(e.what()).find("capacity 8") != std::string::npos);
      }
    }
    CHECK(directory_bytes(dir.db()) == before);  // refused before anything was written
    fluxcap::rocksdb_state_db db(dir.db());
    const test_capacitor other_key(8, fluxcap::hash_key{1, 2});
    CHECK_THROWS_AS(fluxcap::rocksdb_state_store(db, 0, other_key), fluxcap::rocksdb_store_error);
    fluxcap::rocksdb_store_options spec;
    spec.spec_fingerprint = 42;
    const test_capacitor same(8, key);
    {
      fluxcap::rocksdb_state_store store(db, 0, same, spec);  // recorded at the next commit
      store.commit("y");
    }
    spec.spec_fingerprint = 43;
    CHECK_THROWS_AS(fluxcap::rocksdb_state_store(db, 0, same, spec), fluxcap::rocksdb_store_error);
  }
}

TEST_CASE("groups idle past the time to live start anew and are removed at commit") {
  temp_dir dir;
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, db.key());
  fluxcap::rocksdb_store_options o;
  o.ttl_ms = 1000;
  o.cache_bytes = 2000;  // a few groups: most live in the database
  fluxcap::rocksdb_state_store store(db, 0, cap, o);
  for (int g = 0; g < 50; ++g) {
    store.set_event_time(0);
    store.find_or_create("idle-" + std::to_string(g)).insert(1);
  }
  store.set_event_time(500);
  store.find_or_create("busy").insert(1);
  store.commit("1");
  CHECK(store.size() == 51);
  store.set_event_time(1200);  // idle-* last seen at 0: expired; busy at 500: kept
  store.find_or_create("busy").insert(2);
  REQUIRE(store.find("busy") != nullptr);
  CHECK(store.find("busy")->contains(1));
  fluxcap::group_state& again = store.find_or_create("idle-3");
  CHECK_FALSE(again.contains(1));  // dropped: a new state
  again.insert(9);
  store.commit("2");
  CHECK(store.size() == 2);  // busy and idle-3 (touched again)
  CHECK(store.stats().expired >= 49);
  std::size_t seen = 0;
  store.for_each([&](std::string_view, const fluxcap::group_state&) { ++seen; });
  CHECK(seen == 2);
}

TEST_CASE("max_start_watermark bounds the latest time committed, at open") {
  // A database whose latest time came from an event dated far ahead (1,000,000), then a
  // group seen at 1,100 and again at 1,150: against the committed time it has expired in
  // between; with the bound (1,200) it is kept; later times still raise the bound.
  const auto group_kept = [](std::int64_t bound) {
    temp_dir dir;
    fluxcap::rocksdb_state_db db(dir.db());
    const test_capacitor cap(8, db.key());
    fluxcap::rocksdb_store_options o;
    o.ttl_ms = 1000;
    {
      fluxcap::rocksdb_state_store store(db, 0, cap, o);
      store.set_event_time(1'000'000);
      store.find_or_create("ahead").insert(1);
      store.commit("1");
    }
    o.max_start_watermark = bound;
    fluxcap::rocksdb_state_store store(db, 0, cap, o);
    store.set_event_time(1100);
    store.find_or_create("c").insert(1);
    store.set_event_time(1150);
    const fluxcap::group_state* c = store.find("c");
    const bool kept = c != nullptr && c->contains(1);
    store.set_event_time(2200);  // more than the time to live after 1,150: expired
    const fluxcap::group_state* later = store.find("c");
    CHECK((later == nullptr || !later->contains(1)));
    return kept;
  };
  CHECK_FALSE(group_kept(std::numeric_limits<std::int64_t>::max()));  // the default: none
  CHECK(group_kept(1200));
}

TEST_CASE("commits write what changed since the last one; a bound in groups; a partition emptied") {
  temp_dir dir;
  const std::uint64_t groups = 2000;
  fluxcap::rocksdb_state_db db(dir.db());
  const test_capacitor cap(8, db.key());
  const std::uint64_t fp = fluxcap::detail::hash_fingerprint(cap.hash());
  fluxcap::in_memory_state_store<fluxcap::group_state> mem(cap.make_state());
  std::map<std::string, std::vector<std::uint8_t>> expected;
  {
    fluxcap::rocksdb_state_store store(db, 0, cap);  // every group stays cached
    // Many commits, each after a few groups changed (a commit walks only the groups
    // handed out since the last one).
    for (std::uint64_t i = 0; i < 3 * groups; ++i) {
      const event e = event_at(i, groups);
      CHECK(apply(store, e) == apply(mem, e));
      if (i % 97 == 0) store.commit(std::to_string(i));
    }
    // for_each may change cached states without handing them out: committed all the same.
    store.for_each([](std::string_view, fluxcap::group_state& s) { s.insert(777); });
    mem.for_each([](std::string_view, fluxcap::group_state& s) { s.insert(777); });
    store.commit("all");
    store.set_cache_limits(std::size_t{1} << 20, 100);
    CHECK(store.cached_groups() <= 100);
    for (std::uint64_t i = 3 * groups; i < 4 * groups; ++i) {
      const event e = event_at(i, groups);
      CHECK(apply(store, e) == apply(mem, e));
      CHECK(store.cached_groups() <= 100);
    }
    CHECK(store.stats().evictions > 0);
    store.commit("bounded");
    expected = snapshot(mem, fp);
  }
  {
    fluxcap::rocksdb_state_store store(db, 0, cap);
    CHECK(store.committed_position() == "bounded");
    CHECK(store.size() == groups);
    CHECK(snapshot(store, fp) == expected);
  }
  db.discard_partition(0);
  fluxcap::rocksdb_state_store store(db, 0, cap);
  CHECK(store.committed_position().empty());
  CHECK(store.committed_epoch() == 0);
  CHECK(store.size() == 0);
  CHECK(store.find("host-1") == nullptr);
}
