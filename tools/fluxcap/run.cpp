// `fluxcap run` (run.hpp): the command's flow. Checks the options, builds the schema and
// the memory once, loads the state, streams the inputs (one thread, or parallel_lines),
// saves the state and reports.
#include "run.hpp"

#include "heap.hpp"
#include "io.hpp"
#include "json_schema.hpp"
#include "line_parser.hpp"
#include "parallel.hpp"
#include "parallel_lines.hpp"
#include "process.hpp"
#include "sigma_correlation.hpp"
#include "sigma_process.hpp"
#include "state_files.hpp"

#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/state_store.hpp>
#ifdef FLUXCAP_TOOL_HAS_ROCKSDB
#include <fluxcap/rocksdb_store.hpp>
#endif

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace fluxcap_cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// `--fpp`'s value as given would be best; this is close (shortest round trip).
std::string fpp_text(double fpp) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, fpp);
  return {buf, r.ptr};
}

constexpr std::uint64_t max_reported_bad_lines = 10;

/// The memory of the run, in the library's mode --memory names: built (and its
/// configuration validated) once, then shared by every processor.
using run_memory =
    std::variant<fluxcap::exact_memory, fluxcap::bloom_memory, fluxcap::cuckoo_memory>;

/// Builds the memory of `mode`. Throws std::invalid_argument for a bad configuration.
run_memory make_memory(fluxcap::memory_mode mode, const fluxcap::memory_config& config) {
  switch (mode) {
    case fluxcap::memory_mode::exact:
      return fluxcap::exact_memory(config);
    case fluxcap::memory_mode::cuckoo:
      return fluxcap::cuckoo_memory(config);
    case fluxcap::memory_mode::bloom:
      break;
  }
  return fluxcap::bloom_memory(config);
}

/// What the run needs besides the spec, checked before anything is written.
struct prepared_run {
  field_config fields;
  std::optional<json_schema> schema;  ///< of p.fields
  std::optional<run_memory> memory;
  event_limits limits;
  /// The input paths ("-": standard input), checked to open before anything is written,
  /// then opened and read one at a time (open_input): many inputs cost neither memory
  /// nor file descriptors.
  std::vector<std::string> inputs;
  std::size_t max_line = 0;
};

/// A reader of input `i`, with its own buffer; the previous input's reader must be gone.
std::unique_ptr<line_reader> open_input(const prepared_run& p, std::size_t i) {
  return std::make_unique<line_reader>(p.inputs[i], line_parser::padding(), p.max_line);
}

class progress_meter {
 public:
  explicit progress_meter(bool enabled) : enabled_(enabled), start_(clock_type::now()) {
    last_ = start_;
  }
  /// After each event: looks at the clock every 16384 events.
  void tick(std::uint64_t events) {
    if ((events & 0x3fff) == 0) tick_to(events);
  }
  /// Shows `events` if a second has passed since the last update.
  void tick_to(std::uint64_t events) {
    if (!enabled_) return;
    const auto now = clock_type::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\rfluxcap: %" PRIu64 " events, %.0f events/s", events,
                 static_cast<double>(events) / secs);
    shown_ = true;
  }
  void clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }
  [[nodiscard]] double elapsed() const {
    return std::chrono::duration<double>(clock_type::now() - start_).count();
  }

 private:
  bool enabled_;
  bool shown_ = false;
  clock_type::time_point start_;
  clock_type::time_point last_;
};

/// What the run loops share: the output, the progress line, the counts, and what to do
/// with a bad line.
class run_output {
 public:
  /// `stage`: Sigma correlation rules, run on the good lines in input order (or null).
  explicit run_output(const options& o, correlation_stage* stage = nullptr)
      : o_(o),
        out_(STDOUT_FILENO),
        progress_(o.progress && ::isatty(STDERR_FILENO) != 0),
        stage_(stage) {}

  std::string& buffer() noexcept { return stage_ != nullptr ? line_ : out_.buffer(); }
  /// Whether a line may be written from the input's buffer (output_buffer::write_through):
  /// not when the correlation stage reads each output line.
  [[nodiscard]] bool can_write_through() const noexcept { return stage_ == nullptr; }
  /// A good line written as read, and its '\n': `n` bytes at `p`, valid until flush().
  void write_through(const char* p, std::size_t n) { out_.write_through(p, n); }
  /// Writes everything buffered or queued. Throws io_error.
  void flush() { out_.flush(); }
  /// After a good or blank line has been appended (with its '\n').
  void line_done(bool event) {
    if (stage_ != nullptr) {
      stage_->process(line_, out_.buffer());
      line_.clear();
    }
    out_.maybe_flush();
    if (event) progress_.tick(++events_);
  }
  /// Writes the output lines of a batch (`n` bytes at `p`), `events` of them events.
  void lines_done(const char* p, std::size_t n, std::uint64_t events) {
    if (stage_ == nullptr) {
      out_.write(p, n);
    } else {  // line by line, in input order
      const std::string_view block(p, n);
      for (std::size_t at = 0; at < n;) {
        const std::size_t nl = block.find('\n', at);
        const std::size_t end = nl == std::string_view::npos ? n : nl + 1;
        stage_->process(block.substr(at, end - at), out_.buffer());
        out_.maybe_flush();
        at = end;
      }
    }
    events_ += events;
    progress_.tick_to(events_);
  }
  /// A bad line: reported, then skipped or passed through by --on-error. False under
  /// --on-error fail: the run must stop (the error was printed, the output flushed).
  /// `streaming`: the reader of a too-long line, whose rest it streams through.
  bool bad_line(const std::string& input, std::uint64_t line_no, std::string_view line,
                const std::string& problem, line_reader* streaming) {
    ++bad_lines_;
    if (o_.on_error == error_mode::fail) {
      out_.flush();
      progress_.clear();
      std::fprintf(stderr, "fluxcap: %s:%" PRIu64 ": %s\n", input.c_str(), line_no,
                   problem.c_str());
      return false;
    }
    const bool pass = o_.on_error == error_mode::pass;
    if (bad_lines_ <= max_reported_bad_lines) {
      progress_.clear();
      std::fprintf(stderr, "fluxcap: warning: %s:%" PRIu64 ": %s; line %s\n", input.c_str(),
                   line_no, problem.c_str(), pass ? "passed through unchanged" : "skipped");
      if (bad_lines_ == max_reported_bad_lines)
        std::fputs("fluxcap: warning: further bad lines are not reported one by one\n", stderr);
    }
    if (pass) {
      out_.buffer().append(line);
      if (streaming != nullptr)  // streamed through, never held whole
        streaming->skip_rest([&](std::string_view piece) {
          out_.buffer().append(piece);
          out_.maybe_flush();
        });
      out_.buffer() += '\n';
      out_.maybe_flush();
    }
    return true;
  }
  void finish() {
    out_.flush();
    progress_.clear();
  }
  [[nodiscard]] std::uint64_t events() const noexcept { return events_; }
  [[nodiscard]] std::uint64_t bad_lines() const noexcept { return bad_lines_; }

 private:
  const options& o_;
  output_buffer out_;
  progress_meter progress_;
  correlation_stage* stage_;
  std::string line_;  ///< with a stage: the line being written, before the stage
  std::uint64_t events_ = 0;
  std::uint64_t bad_lines_ = 0;
};

std::string too_long_problem(const options& o) {
  return "line longer than " + std::to_string(o.max_line_bytes) + " bytes (--max-line-bytes)";
}

/// One thread, one processor: each line as it comes.
template <class Processor>
bool run_lines(const options& o, prepared_run& p, Processor& proc, run_output& out,
               std::uint64_t& input_bytes) {
  using outcome = typename Processor::outcome;
  std::string problem;
  // A line the processor would copy unchanged is written from the reader's buffer
  // instead (most lines of a Sigma run: ~2% of its time went to copying them); what
  // refers to the buffer is written before it refills, and before the reader goes.
  bool through = false;
  if constexpr (requires { proc.set_write_through(true); }) {
    through = out.can_write_through();
    proc.set_write_through(through);
  }
  for (std::size_t i = 0; i < p.inputs.size(); ++i) {
    const auto reader = open_input(p, i);
    struct flush_on_unwind {  // an exception leaves nothing that refers to the reader
      run_output* out;
      ~flush_on_unwind() {
        if (out == nullptr) return;
        try {
          out->flush();
        } catch (...) {  // the run is failing already
        }
      }
    } unwind{through ? &out : nullptr};
    if (through) reader->set_before_refill([&out] { out.flush(); });
    std::uint64_t line_no = 0;
    std::string_view line;
    while (reader->next(line)) {
      ++line_no;
      if (reader->too_long()) {
        if (!out.bad_line(reader->name(), line_no, line, too_long_problem(o), reader.get()))
          return false;
        continue;
      }
      const outcome r = proc.process(line, reader->readable(), out.buffer(), problem);
      if (r != outcome::bad) {
        bool unchanged = false;
        if constexpr (requires { proc.unchanged(); }) unchanged = through && proc.unchanged();
        if (unchanged) {  // the reader keeps a '\n' after every line, the last one too
          out.write_through(line.data(), line.size() + 1);
        } else {
          out.buffer() += '\n';
        }
        out.line_done(r == outcome::event);
      } else if (!out.bad_line(reader->name(), line_no, line, problem, nullptr)) {
        return false;
      }
    }
    if (through) {
      unwind.out = nullptr;
      out.flush();  // errors reported: not on unwind
    }
    input_bytes += reader->bytes();
  }
  return true;
}

#ifdef FLUXCAP_TOOL_HAS_ROCKSDB
/// The groups of a --state-db run: partition 0 of the database, behind its cache.
class rocksdb_groups final : public group_backend {
 public:
  explicit rocksdb_groups(fluxcap::rocksdb_state_store& store) : store_(&store) {}
  fluxcap::group_state* find(std::string_view key) override { return store_->find(key); }
  fluxcap::group_state& create(std::string_view key) override {
    return store_->find_or_create(key);
  }
  [[nodiscard]] std::uint64_t size() const override { return store_->size(); }
  void set_event_time(std::int64_t ms) override { store_->set_event_time(ms); }

 private:
  fluxcap::rocksdb_state_store* store_;
};

/// The committed position of a --state-db run: runs committed, events and input bytes
/// read by them, as text (`fluxcap-run <runs> <events> <bytes>`).
struct db_position {
  std::uint64_t runs = 0, events = 0, bytes = 0;
  static db_position parse(const std::string& text) {
    db_position p;
    if (std::sscanf(text.c_str(), "fluxcap-run %" SCNu64 " %" SCNu64 " %" SCNu64, &p.runs,
                    &p.events, &p.bytes) != 3)
      p = {};
    return p;
  }
  [[nodiscard]] std::string text() const {
    return "fluxcap-run " + std::to_string(runs) + " " + std::to_string(events) + " " +
           std::to_string(bytes);
  }
};

/// A run with --state-db DIR: the lock DIR.lock (as a state file's), the database (its
/// hash key), one processor whose groups live in partition 0, a commit at the end.
template <class Processor, class MakeProcessors, class ExtraStats>
int run_db_loop(const options& o, prepared_run& p, const clock_type::time_point started,
                MakeProcessors&& make, ExtraStats&& extra_stats) {
  const std::string& dir = *o.state_db;
  file_lock lock(dir + ".lock", dir, o.wait_lock, "state database");  // held until the run ends
  crash_point("locked");
  auto refused = [&](const fluxcap::rocksdb_store_error& e) {
    std::fprintf(stderr, "fluxcap: cannot use state database '%s': %s (nothing was changed)\n",
                 dir.c_str(), e.what());
    return exit_data;
  };
  std::optional<fluxcap::rocksdb_state_db> db;
  try {
    db.emplace(dir);
  } catch (const fluxcap::rocksdb_store_error& e) {
    return refused(e);
  }
  std::vector<std::unique_ptr<Processor>> procs = make(db->key(), 1);
  fluxcap::rocksdb_store_options so;
  so.cache_bytes = static_cast<std::size_t>(o.state_cache_bytes);
  so.ttl_ms = o.state_ttl_ms;
  // A time committed by an earlier run is bounded as the events are (one run before
  // --max-time-ahead existed may have stored a time far ahead).
  so.max_start_watermark = event_time_ceiling(time_ahead_bound(o));
  std::optional<fluxcap::rocksdb_state_store> store;
  try {
    store.emplace(*db, 0, procs[0]->capacitor(), so);
  } catch (const fluxcap::rocksdb_store_error& e) {
    return refused(e);
  }
  rocksdb_groups groups(*store);
  procs[0]->set_group_backend(&groups);
  db_position position = db_position::parse(store->committed_position());
  crash_point("loaded");

  run_output out(o);
  std::uint64_t input_bytes = 0;
  bool completed = false;
  try {
    completed = run_lines(o, p, *procs[0], out, input_bytes);
  } catch (const fluxcap::rocksdb_store_error& e) {
    out.finish();
    std::fprintf(stderr,
                 "fluxcap: state database '%s': %s (nothing was committed: the database "
                 "holds the state from before the run)\n",
                 dir.c_str(), e.what());
    return exit_data;
  }
  if (!completed) return exit_data;  // not committed: the next open rolls back
  out.finish();
  ++position.runs;
  position.events += out.events();
  position.bytes += input_bytes;
  try {
    store->commit(position.text());
  } catch (const fluxcap::rocksdb_store_error& e) {
    std::fprintf(stderr, "fluxcap: cannot commit to state database '%s': %s\n", dir.c_str(),
                 e.what());
    return exit_data;
  }
  crash_point("committed");

  if (const std::uint64_t bad = out.bad_lines(); bad > 0)
    std::fprintf(stderr, "fluxcap: %s %" PRIu64 " bad line%s%s\n",
                 o.on_error == error_mode::skip ? "skipped" : "passed", bad, bad == 1 ? "" : "s",
                 o.on_error == error_mode::skip ? "" : " through unchanged");
  if (o.stats) {
    const double secs = std::chrono::duration<double>(clock_type::now() - started).count();
    const auto events = out.events();
    const double rate = secs > 0 ? static_cast<double>(events) / secs : 0.0;
    const double mbps = secs > 0 ? static_cast<double>(input_bytes) / secs / 1e6 : 0.0;
    const auto& c = store->stats();
    std::fprintf(
        stderr,
        "fluxcap: %" PRIu64
        " events, %zu groups, %.3f s, %.0f events/s (%.1f MB/s)%s, "
        "state database: %zu groups cached (%zu bytes), %" PRIu64 " hits, %" PRIu64
        " misses, %" PRIu64 " write-backs, %" PRIu64 " expired, committed as run %" PRIu64 "\n",
        events, store->size(), secs, rate, mbps, extra_stats().c_str(), store->cached_groups(),
        store->cache_bytes(), c.hits, c.misses, c.write_backs, c.expired, position.runs);
  }
  return exit_ok;
}
#endif

/// The run with processors of type `Processor` (line_processor: --spec; or
/// sigma_line_processor: --rules): `make(key, partitions)` builds one processor a
/// partition for the run's hash key; `extra_stats()` adds to the --stats line.
template <class Processor, class MakeProcessors, class ExtraStats>
int run_loop(const options& o, prepared_run& p, const clock_type::time_point started,
             MakeProcessors&& make, ExtraStats&& extra_stats, correlation_stage* stage = nullptr) {
  using processor = Processor;
  using store_type = typename processor::store_type;
#ifdef FLUXCAP_TOOL_HAS_ROCKSDB
  if (o.state_db) return run_db_loop<processor>(o, p, started, make, extra_stats);
#endif
  // One partition a thread would leave threads idle whenever a few busy groups share one.
  const unsigned partitions = o.threads == 1 ? 1 : o.threads * 8;

  // The hash key: the state file's, or a fresh one (read before the capacitors are made).
  std::optional<state_files> state;
  auto cannot_load = [&state](const fluxcap::decode_error& e) {
    std::fprintf(stderr, "fluxcap: cannot load state file '%s': %s (the file was left unchanged)\n",
                 state->loading().c_str(), e.what());
    return exit_data;
  };
  fluxcap::hash_key key;
  try {
    if (o.state_path) {
      state.emplace(*o.state_path, o.wait_lock);  // locked from here until the run ends
      key = state->hash_key();
    } else {
      key = fluxcap::hash_key::random();
    }
  } catch (const fluxcap::decode_error& e) {
    return cannot_load(e);
  }

  std::vector<std::unique_ptr<processor>> procs = make(key, partitions);
  std::vector<store_type*> stores;
  stores.reserve(procs.size());
  for (auto& proc : procs) stores.push_back(&proc->store());
  partitioned_stores<store_type> store(stores, key);
  const auto& cap = procs[0]->capacitor();

  if (stage != nullptr) stage->set_hash_key(key);
  if (state) {
    try {
      const auto attachments = state->load(cap, store);
      // The correlation engine's state, beside the groups in the same files.
      const fluxcap::store_attachment* correlations = nullptr;
      for (const auto& a : attachments) {
        if (a.name != correlation_stage::state_attachment)
          throw fluxcap::decode_error(
              fluxcap::decode_errc::bad_parameters, 0,
              "the state holds '" + a.name + "', which this version of fluxcap does not know");
        correlations = &a;
      }
      if (correlations != nullptr) {
        if (stage != nullptr)
          stage->load_state(correlations->bytes);
        else
          throw fluxcap::decode_error(fluxcap::decode_errc::bad_parameters, 0,
                                      "the state holds the state of Sigma correlation rules, "
                                      "and this run has none (give the rules it was saved with)");
      }
    } catch (const fluxcap::decode_error& e) {
      return cannot_load(e);
    }
  }

  run_output out(o, stage);
  std::uint64_t input_bytes = 0;
  bool completed = false;
  if (o.threads == 1) {
    completed = run_lines(o, p, *procs[0], out, input_bytes);
  } else {
    parallel_lines<processor, run_output> lines(procs, o.threads, p.limits.max_groups, out);
    completed = true;
    for (std::size_t i = 0; completed && i < p.inputs.size(); ++i) {
      const auto reader = open_input(p, i);
      completed = lines.run(*reader, too_long_problem(o));
      input_bytes += reader->bytes();
    }
  }
  if (!completed) return exit_data;
  out.finish();

  state_files::saved saved;
  if (state) {
    std::vector<fluxcap::store_attachment> attachments;
    if (stage != nullptr)
      attachments.push_back({correlation_stage::state_attachment, stage->save_state()});
    saved = state->save(cap, store, o.incremental, attachments);
  }

  if (const std::uint64_t bad = out.bad_lines(); bad > 0)
    std::fprintf(stderr, "fluxcap: %s %" PRIu64 " bad line%s%s\n",
                 o.on_error == error_mode::skip ? "skipped" : "passed", bad, bad == 1 ? "" : "s",
                 o.on_error == error_mode::skip ? "" : " through unchanged");
  if (o.stats) {
    std::uint64_t remembered = 0, bytes = 0, key_bytes = 0;
    store.for_each([&](std::string_view group, const fluxcap::group_state& st) {
      remembered += st.stored();
      bytes += st.memory_bytes();
      key_bytes += group.size();
    });
    const double secs = std::chrono::duration<double>(clock_type::now() - started).count();
    const auto events = out.events();
    const double rate = secs > 0 ? static_cast<double>(events) / secs : 0.0;
    const double mbps = secs > 0 ? static_cast<double>(input_bytes) / secs / 1e6 : 0.0;
    std::string extra = extra_stats();
    if (o.threads > 1) extra += ", " + std::to_string(o.threads) + " threads";
    if (state)
      extra += std::string(", state saved ") + (saved.checkpoint ? "as a checkpoint" : "in full") +
               " (" + std::to_string(saved.bytes) + " bytes)";
    std::fprintf(stderr,
                 "fluxcap: %" PRIu64 " events, %zu groups, %" PRIu64 " group key bytes, %" PRIu64
                 " tags remembered, %" PRIu64 " state bytes, %.3f s, %.0f events/s (%.1f MB/s)%s\n",
                 events, store.size(), key_bytes, remembered, bytes, secs, rate, mbps,
                 extra.c_str());
  }
  return exit_ok;
}

/// The checks and settings every run shares (before anything is written). Throws
/// usage_error.
void prepare_common(const options& o, prepared_run& p) {
  p.limits.line.max_tags = static_cast<std::size_t>(o.max_tags_per_event);
  p.limits.max_groups = o.max_groups;
  p.limits.max_key_bytes = o.max_key_bytes;
  p.limits.max_time_ahead_ms = time_ahead_bound(o);
  fluxcap::memory_config config;
  config.capacity = o.capacity;
  config.fpp = o.fpp;
  config.generations = o.generations;
  try {
    p.memory = make_memory(o.memory, config);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.starts_with("fluxcap: ")) what.erase(0, 9);
    // Name the option (and the value) the problem is about.
    if (what.starts_with("capacity"))
      what = "--capacity " + std::to_string(o.capacity) + ": " + what;
    else if (what.starts_with("fpp"))
      what = "--fpp " + cut_for_message(fpp_text(o.fpp)) + ": " + what;
    throw usage_error(what);
  }
  if (o.state_path) check_writable_location(*o.state_path, o.incremental);
#ifndef FLUXCAP_TOOL_HAS_ROCKSDB
  if (o.state_db)
    throw usage_error(
        "--state-db needs RocksDB, which this build of fluxcap lacks (build it "
        "with librocksdb-dev installed)");
#endif
  p.max_line = static_cast<std::size_t>(o.max_line_bytes);
  p.inputs = o.inputs;
  if (p.inputs.empty()) p.inputs.emplace_back("-");
  // Each input must be there now (a usage error, nothing written). It is only opened
  // when its turn comes: opening a FIFO twice would lose its writer.
  for (const auto& path : p.inputs) {
    if (path == "-") continue;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || ::access(path.c_str(), R_OK) != 0)
      throw usage_error(errno_message("cannot open input '" + path + "'"));
    if (S_ISDIR(st.st_mode))
      throw usage_error("cannot read input '" + path + "': it is a directory");
  }
}

/// One Sigma engine (const, shared by the processors) built for the run's hash key.
template <class Memory>
struct sigma_run_engine {
  using processor = sigma_line_processor<Memory>;
  using engine_type = typename processor::engine_type;
  json_fields fields;
  std::optional<engine_type> engine;
};

}  // namespace

int run_command(const options& o, const loaded_spec& s) {
  const auto started = clock_type::now();
  prepared_run p;
  p.fields.tags_field = o.tags_field;
  if (!s.detections.empty()) p.fields.detections_field = o.detections_field;
  p.fields.group_key = o.group_key;
  p.fields.condition_rules = condition_rules(s);
  try {
    p.schema.emplace(s.prog, p.fields);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  prepare_common(o, p);
  if (o.state_ttl_ms > 0 && !s.prog.timestamp_column)
    throw usage_error(
        "--state-ttl drops groups idle in event time: it needs a spec with a "
        "timestamp column (rules with a timespan)");
  return std::visit(
      [&](const auto& memory) {
        using processor = line_processor<std::decay_t<decltype(memory)>>;
        auto make = [&](const fluxcap::hash_key& key, unsigned partitions) {
          std::vector<std::unique_ptr<processor>> procs;
          for (unsigned i = 0; i < partitions; ++i)
            procs.push_back(std::make_unique<processor>(s, *p.schema, memory, p.limits, key));
          return procs;
        };
        return run_loop<processor>(o, p, started, make, [] { return std::string(); });
      },
      *p.memory);
}

int run_sigma_command(const options& o, const sigma_rule_set& rules,
                      const sigma_correlation_set& correlations) {
  const auto started = clock_type::now();
  prepared_run p;
  prepare_common(o, p);
  prepare_correlation_state(o, correlations);
  if (o.state_ttl_ms > 0)
    throw usage_error(
        "--state-ttl needs event times, which --rules runs do not give the state "
        "yet: use it with --spec");
  json_fields_limits field_limits;
  field_limits.max_line_bytes = static_cast<std::size_t>(o.max_line_bytes);
  const auto& c = rules.compiled;
  // One correlation stage for the run, after the lines are back in input order.
  const auto stage = make_correlation_stage(rules, correlations, o, field_limits);
  return std::visit(
      [&](const auto& memory) {
        using memory_type = std::decay_t<decltype(memory)>;
        using processor = sigma_line_processor<memory_type>;
        sigma_run_engine<memory_type> shared{processor::bound_fields(rules, field_limits), {}};
        auto make = [&](const fluxcap::hash_key& key, unsigned partitions) {
          shared.engine.emplace(c, shared.fields, memory, sigma_regex{},
                                fluxcap::default_hash(key));
          std::vector<std::unique_ptr<processor>> procs;
          for (unsigned i = 0; i < partitions; ++i)
            procs.push_back(std::make_unique<processor>(rules, *shared.engine, shared.fields,
                                                        memory, p.limits, key, field_limits));
          end_startup_heap();  // what start-up made is made: glibc's thresholds again
          return procs;
        };
        auto extra = [&] {
          std::size_t matcher_bytes = c.keyword_matcher.memory_bytes();
          for (const auto& m : c.matchers) matcher_bytes += m.memory_bytes();
          return ", " + std::to_string(c.rules.size()) + " rules (" +
                 std::to_string(c.count(fluxcap::sigma::rule_status::skipped_logsource)) +
                 " skipped, " + std::to_string(c.count(fluxcap::sigma::rule_status::unsupported)) +
                 " unsupported), " + std::to_string(c.leaves.size()) + " leaves, " +
                 std::to_string(c.fields.size()) + " fields, " + std::to_string(c.parts.size()) +
                 " context parts, " + std::to_string(matcher_bytes) + " matcher bytes" +
                 (stage ? stage->stats_text() : std::string());
        };
        return run_loop<processor>(o, p, started, make, extra, stage.get());
      },
      *p.memory);
}

}  // namespace fluxcap_cli
