#include "run.hpp"

#include "io.hpp"
#include "json_event.hpp"
#include "parallel.hpp"
#include "process.hpp"
#include "state_files.hpp"

#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/state_store.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fluxcap_cli {

namespace {

using clock_type = std::chrono::steady_clock;

/// `--fpp`'s value as given would be best; this is close (shortest round trip).
std::string fpp_text(double fpp) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, fpp);
  return std::string(buf, r.ptr);
}

constexpr std::uint64_t max_reported_bad_lines = 10;

/// What the run needs besides the spec, checked before anything is written.
struct prepared_run {
  field_config fields;
  fluxcap::memory_config memory;
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
  explicit run_output(const options& o)
      : o_(o), out_(STDOUT_FILENO), progress_(o.progress && ::isatty(STDERR_FILENO) != 0) {}

  std::string& buffer() noexcept { return out_.buffer(); }
  /// After a good or blank line has been appended (with its '\n').
  void line_done(bool event) {
    out_.maybe_flush();
    if (event) progress_.tick(++events_);
  }
  /// Writes the output lines of a batch (`n` bytes at `p`), `events` of them events.
  void lines_done(const char* p, std::size_t n, std::uint64_t events) {
    out_.write(p, n);
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
  std::uint64_t events_ = 0;
  std::uint64_t bad_lines_ = 0;
};

std::string too_long_problem(const options& o) {
  return "line longer than " + std::to_string(o.max_line_bytes) + " bytes (--max-line-bytes)";
}

/// One thread, one processor: each line as it comes.
template <class Memory>
bool run_lines(const options& o, prepared_run& p, line_processor<Memory>& proc, run_output& out,
               std::uint64_t& input_bytes) {
  using outcome = typename line_processor<Memory>::outcome;
  std::string problem;
  for (std::size_t i = 0; i < p.inputs.size(); ++i) {
    const auto reader = open_input(p, i);
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
        out.buffer() += '\n';
        out.line_done(r == outcome::event);
      } else if (!out.bad_line(reader->name(), line_no, line, problem, nullptr)) {
        return false;
      }
    }
    input_bytes += reader->bytes();
  }
  return true;
}

/// --threads N: the groups are split into more partitions than threads (a processor and
/// a store each), and lines are read in batches. The N threads (this one and N-1
/// workers) process a batch in three steps, with a barrier between them:
///   1. each takes a slice of the lines and finds each line's group, so its partition;
///   2. each takes the next partition not yet taken (the busiest first) and processes
///      its lines, in input order, into the partition's buffer, until none is left; the
///      main thread first reads the next batch. Then every line's place in the batch's
///      output is computed;
///   3. each copies a slice of the lines' output to their places: the output is in
///      input order.
/// Every group is updated by one thread at a time, in input order, so the output is
/// exactly that of one thread. A batch with a bad line is written line by line instead
/// (the messages, --on-error and line numbers need input order).
template <class Memory>
class parallel_lines {
 public:
  using processor = line_processor<Memory>;
  using outcome = typename processor::outcome;

  /// `procs`: one processor a partition, at least `threads` of them.
  parallel_lines(std::vector<std::unique_ptr<processor>>& procs, unsigned threads,
                 std::uint64_t max_groups)
      : procs_(procs),
        max_groups_(max_groups),
        threads_(threads),
        part_begin_(procs.size() + 1),
        order_(procs.size()),
        outs_(procs.size()),
        problems_(procs.size()),
        counts_(threads, std::vector<std::size_t>(procs.size())),
        keys_(threads),
        errors_(threads),
        grouped_(threads, grouped_step{this}),
        laid_out_(threads, layout_step{this}),
        pool_(threads) {}

  /// Runs every input; false when --on-error fail stopped the run.
  bool run(const options& o, prepared_run& p, run_output& out, std::uint64_t& input_bytes) {
    out_ = &out;
    for (std::size_t i = 0; i < p.inputs.size(); ++i) {
      const auto reader = open_input(p, i);
      std::uint64_t line_no = 0;
      bool filled = false;  // the next batch was read during the last one
      for (;;) {
        in_ = other(in_);
        if (!filled) fill(*in_, *reader, line_no);
        filled = false;
        const input_batch& b = *in_;
        if (!b.begins.empty()) {
          // The main thread reads the next batch while the workers process this one.
          input_batch* next = b.more && b.too_long.empty() ? other(in_) : nullptr;
          if (!process_batch(*reader, next, line_no)) return false;
          filled = next != nullptr;
        }
        if (!b.too_long.empty()) {  // alone, after everything before it: it is streamed
          if (!out.bad_line(reader->name(), line_no, b.too_long, too_long_problem(o), reader.get()))
            return false;
          continue;
        }
        if (!b.more) break;
      }
      input_bytes += reader->bytes();
    }
    return true;
  }

 private:
  static constexpr std::size_t batch_lines = 4096;
  static constexpr std::size_t batch_bytes = std::size_t{4} << 20;

  /// Input lines of a batch.
  struct input_batch {
    std::uint64_t first_line = 1;     ///< input line number of the first line
    std::string text;                 ///< the lines, each with its '\n', then padding
    std::size_t text_end = 0;         ///< end of the lines in text
    std::vector<std::size_t> begins;  ///< where each line starts in text
    bool more = false;                ///< the input goes on after the batch
    std::string_view too_long;        ///< a too-long line after the batch (the reader holds it)

    [[nodiscard]] std::string_view line(std::size_t j) const {
      const std::size_t end = j + 1 < begins.size() ? begins[j + 1] - 1 : text_end - 1;
      return {text.data() + begins[j], end - begins[j]};
    }
    [[nodiscard]] std::size_t readable(std::size_t j) const { return text.size() - begins[j]; }
  };

  struct grouped_step {
    parallel_lines* self;
    void operator()() const noexcept { self->sort_by_partition(); }
  };
  struct layout_step {
    parallel_lines* self;
    void operator()() const noexcept { self->lay_out(); }
  };

  [[nodiscard]] input_batch* other(const input_batch* b) noexcept {
    return b == batches_.data() ? &batches_[1] : batches_.data();
  }

  /// Reads lines into `b` until it is full, the input ends or a line is too long.
  static void fill(input_batch& b, line_reader& reader, std::uint64_t& line_no) {
    b.first_line = line_no + 1;
    b.text.clear();
    b.begins.clear();
    b.more = false;
    b.too_long = {};
    std::string_view line;
    while (reader.next(line)) {
      ++line_no;
      if (reader.too_long()) {
        b.too_long = line;
        b.more = true;
        break;
      }
      b.begins.push_back(b.text.size());
      b.text.append(line);
      b.text += '\n';
      if (b.begins.size() >= batch_lines || b.text.size() >= batch_bytes) {
        b.more = true;
        break;
      }
    }
    b.text_end = b.text.size();
    b.text.append(line_parser::padding(), ' ');  // simdjson reads past a line's end
  }

  [[nodiscard]] std::string_view line(std::size_t j) const { return in_->line(j); }
  [[nodiscard]] std::size_t readable(std::size_t j) const { return in_->readable(j); }

  [[nodiscard]] std::uint64_t groups() const {
    std::uint64_t n = 0;
    for (const auto& proc : procs_) n += proc->store().size();
    return n;
  }

  [[nodiscard]] unsigned partition_of_line(processor& proc, std::size_t j, std::string& key) {
    return proc.group_key_of(line(j), readable(j), key)
               ? partition_of(key, static_cast<unsigned>(procs_.size()),
                              procs_[0]->capacitor().hash().key())
               : 0U;
  }

  /// Step 1's completion: the lines of each partition, in input order, and the order in
  /// which partitions are taken (most lines first). Allocates nothing: a barrier
  /// completion cannot throw.
  void sort_by_partition() noexcept {
    const std::size_t parts = procs_.size();
    std::fill(part_begin_.begin(), part_begin_.end(), 0);
    for (const auto& c : counts_)
      for (std::size_t q = 0; q < parts; ++q) part_begin_[q + 1] += c[q];
    for (std::size_t q = 0; q < parts; ++q) {
      order_[q] = q;
      part_begin_[q + 1] += part_begin_[q];
    }
    std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      const std::size_t na = part_begin_[a + 1] - part_begin_[a];
      const std::size_t nb = part_begin_[b + 1] - part_begin_[b];
      return na != nb ? na > nb : a < b;
    });
    std::copy(part_begin_.begin(), part_begin_.end() - 1, order_cursor_.begin());
    for (std::size_t j = 0; j < in_->begins.size(); ++j) by_part_[order_cursor_[owner_[j]]++] = j;
    next_part_.store(0, std::memory_order_relaxed);
  }

  /// Step 2's completion: where each line's output goes in the batch's output block
  /// (unless a line is bad: then the batch is written line by line, after the steps).
  void lay_out() noexcept {
    in_order_ = false;
    for (const auto& p : problems_) in_order_ = in_order_ || !p.empty();
    for (const auto& e : errors_) in_order_ = in_order_ || e != nullptr;
    if (in_order_) return;
    std::size_t pos = 0;
    for (std::size_t j = 0; j < in_->begins.size(); ++j) {
      out_at_[j] = pos;
      pos += out_end_[j] - out_begin_[j];
    }
    block_size_ = pos;
    if (pos <= block_capacity_) return;
    try {
      block_.reset(new char[pos]);  // not value-initialized: every byte is written
      block_capacity_ = pos;
    } catch (...) {
      errors_[0] = std::current_exception();
      in_order_ = true;
    }
  }

  /// Runs `f` unless an earlier step of this thread failed; keeps its exception.
  template <class F>
  void guarded(unsigned w, F&& f) {
    if (errors_[w]) return;
    try {
      f();
    } catch (...) {
      errors_[w] = std::current_exception();
    }
  }

  /// Processes the current batch and writes its output; false when --on-error fail
  /// stops. `next` (if not null): where the main thread reads the next batch meanwhile.
  bool process_batch(line_reader& reader, input_batch* next, std::uint64_t& line_no) {
    const std::size_t lines = in_->begins.size();
    owner_.resize(lines);
    by_part_.resize(lines);
    outcomes_.resize(lines);
    out_begin_.resize(lines);
    out_end_.resize(lines);
    out_at_.resize(lines);
    order_cursor_.resize(procs_.size());
    if (groups() + lines > max_groups_) {
      if (next != nullptr) fill(*next, reader, line_no);
      return process_in_order(reader);
    }
    for (auto& proc : procs_) proc->set_group_budget(max_groups_);  // this batch cannot exceed it
    std::fill(errors_.begin(), errors_.end(), nullptr);
    std::atomic<std::size_t> events{0};
    pool_.run([&](unsigned w) {
      guarded(w, [&] {  // 1. partitions
        auto& counts = counts_[w];
        std::fill(counts.begin(), counts.end(), 0);
        processor& peeker = *procs_[w];  // only its parser: no store is touched in this step
        for (std::size_t j = lines * w / threads_; j < lines * (w + 1) / threads_; ++j) {
          owner_[j] = partition_of_line(peeker, j, keys_[w]);
          ++counts[owner_[j]];
        }
      });
      grouped_.arrive_and_wait();
      if (w == 0 && next != nullptr) guarded(w, [&] { fill(*next, reader, line_no); });
      guarded(w, [&] {  // 2. processing, a partition at a time, into its buffer
        std::string problem;
        for (;;) {
          const std::size_t k = next_part_.fetch_add(1, std::memory_order_relaxed);
          if (k >= procs_.size()) break;
          const std::size_t q = order_[k];
          std::string& buf = outs_[q];
          buf.clear();
          problems_[q].clear();
          for (std::size_t i = part_begin_[q]; i < part_begin_[q + 1]; ++i) {
            const std::size_t j = by_part_[i];
            out_begin_[j] = buf.size();
            const outcome r = procs_[q]->process(line(j), readable(j), buf, problem);
            outcomes_[j] = r;
            if (r != outcome::bad)
              buf += '\n';
            else
              problems_[q].push_back(problem);
            out_end_[j] = buf.size();
          }
        }
      });
      laid_out_.arrive_and_wait();
      if (in_order_) return;
      // 3. a slice of the lines to their places in the output
      std::size_t mine = 0;
      for (std::size_t j = lines * w / threads_; j < lines * (w + 1) / threads_; ++j) {
        std::memcpy(block_.get() + out_at_[j], outs_[owner_[j]].data() + out_begin_[j],
                    out_end_[j] - out_begin_[j]);
        mine += outcomes_[j] == outcome::event ? 1 : 0;
      }
      events.fetch_add(mine, std::memory_order_relaxed);
    });
    for (const auto& e : errors_)
      if (e) std::rethrow_exception(e);
    if (in_order_) return merge_in_order(reader);
    out_->lines_done(block_.get(), block_size_, events.load());
    return true;
  }

  /// Writes the processed batch line by line; false when --on-error fail stops.
  bool merge_in_order(const line_reader& reader) {
    std::vector<std::size_t> next_problem(procs_.size(), 0);
    for (std::size_t j = 0; j < in_->begins.size(); ++j) {
      const unsigned q = owner_[j];
      if (outcomes_[j] != outcome::bad) {
        out_->buffer().append(outs_[q], out_begin_[j], out_end_[j] - out_begin_[j]);
        out_->line_done(outcomes_[j] == outcome::event);
      } else if (!out_->bad_line(reader.name(), in_->first_line + j, line(j),
                                 problems_[q][next_problem[q]++], nullptr)) {
        return false;
      }
    }
    return true;
  }

  /// Near --max-groups: on this thread, one line at a time, so that exactly the lines
  /// that would open a group beyond the bound in a single-threaded run are refused.
  bool process_in_order(const line_reader& reader) {
    std::string problem;
    for (std::size_t j = 0; j < in_->begins.size(); ++j) {
      processor& proc = *procs_[partition_of_line(*procs_[0], j, keys_[0])];
      const std::uint64_t others = groups() - proc.store().size();
      proc.set_group_budget(max_groups_ > others ? max_groups_ - others : 0);
      const outcome r = proc.process(line(j), readable(j), out_->buffer(), problem);
      if (r != outcome::bad) {
        out_->buffer() += '\n';
        out_->line_done(r == outcome::event);
      } else if (!out_->bad_line(reader.name(), in_->first_line + j, line(j), problem, nullptr)) {
        return false;
      }
    }
    return true;
  }

  std::vector<std::unique_ptr<processor>>& procs_;
  std::uint64_t max_groups_;
  unsigned threads_;
  run_output* out_ = nullptr;
  // The batch being processed (in_) and the next one, read meanwhile.
  std::array<input_batch, 2> batches_;
  input_batch* in_ = nullptr;
  // Per line of the batch being processed.
  std::vector<unsigned> owner_;         ///< its partition
  std::vector<outcome> outcomes_;       ///< what processing it gave
  std::vector<std::size_t> out_begin_;  ///< its output in its partition's buffer
  std::vector<std::size_t> out_end_;
  std::vector<std::size_t> out_at_;   ///< where its output goes in block_
  std::vector<std::size_t> by_part_;  ///< line numbers, by partition, in input order
  bool in_order_ = false;             ///< write the batch line by line
  std::unique_ptr<char[]> block_;     ///< the batch's output, in input order
  std::size_t block_size_ = 0;
  std::size_t block_capacity_ = 0;
  // Per partition.
  std::vector<std::size_t> part_begin_;             ///< its lines: by_part_[part_begin_[q], [q+1])
  std::vector<std::size_t> order_cursor_;           ///< scratch of sort_by_partition
  std::vector<std::size_t> order_;                  ///< partitions, most lines first
  std::atomic<std::size_t> next_part_{0};           ///< next index into order_ to take
  std::vector<std::string> outs_;                   ///< output lines, each with its '\n'
  std::vector<std::vector<std::string>> problems_;  ///< its bad lines' problems
  // Per thread.
  std::vector<std::vector<std::size_t>> counts_;  ///< lines seen in step 1, per partition
  std::vector<std::string> keys_;                 ///< a group key buffer
  std::vector<std::exception_ptr> errors_;        ///< what a step threw
  step_barrier<grouped_step> grouped_;
  step_barrier<layout_step> laid_out_;
  worker_pool pool_;  // last: its threads stop before the rest is destroyed
};

template <class Memory>
int run_loop(const options& o, const loaded_spec& s, prepared_run& p) {
  const auto started = clock_type::now();
  const json_schema schema(s.prog, p.fields);
  using processor = line_processor<Memory>;
  using store_type = typename processor::store_type;
  // One partition a thread would leave threads idle whenever a few busy groups share one.
  const unsigned partitions = o.threads == 1 ? 1 : o.threads * 8;
  const Memory memory(p.memory);

  // The hash key: the state file's, or a fresh one (read before the capacitors are made).
  std::optional<state_files> state;
  fluxcap::hash_key key;
  try {
    if (o.state_path) {
      state.emplace(*o.state_path, o.wait_lock);  // locked from here until the run ends
      key = state->hash_key();
    } else {
      key = fluxcap::hash_key::random();
    }
  } catch (const fluxcap::decode_error& e) {
    std::fprintf(stderr, "fluxcap: cannot load state file '%s': %s (the file was left unchanged)\n",
                 state->loading().c_str(), e.what());
    return exit_data;
  }

  std::vector<std::unique_ptr<processor>> procs;
  std::vector<store_type*> stores;
  for (unsigned i = 0; i < partitions; ++i) {
    procs.push_back(std::make_unique<processor>(s, schema, memory, p.limits, key));
    stores.push_back(&procs.back()->store());
  }
  partitioned_stores<store_type> store(stores, key);
  const auto& cap = procs[0]->capacitor();

  if (state) {
    try {
      state->load(cap, store);
    } catch (const fluxcap::decode_error& e) {
      std::fprintf(stderr,
                   "fluxcap: cannot load state file '%s': %s (the file was left unchanged)\n",
                   state->loading().c_str(), e.what());
      return exit_data;
    }
  }

  run_output out(o);
  std::uint64_t input_bytes = 0;
  bool completed = false;
  if (o.threads == 1) {
    completed = run_lines(o, p, *procs[0], out, input_bytes);
  } else {
    parallel_lines<Memory> lines(procs, o.threads, p.limits.max_groups);
    completed = lines.run(o, p, out, input_bytes);
  }
  if (!completed) return exit_data;
  out.finish();

  state_files::saved saved;
  if (state) saved = state->save(cap, store, o.incremental);

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
    std::string extra;
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

}  // namespace

int run_command(const options& o, const loaded_spec& s) {
  prepared_run p;
  p.fields.tags_field = o.tags_field;
  if (!s.detections.empty()) p.fields.detections_field = o.detections_field;
  p.fields.group_key = o.group_key;
  p.fields.condition_rules = condition_rules(s);
  try {
    (void)json_schema(s.prog, p.fields);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  p.limits.line.max_tags = static_cast<std::size_t>(o.max_tags_per_event);
  p.limits.max_groups = o.max_groups;
  p.limits.max_key_bytes = o.max_key_bytes;
  p.memory.capacity = o.capacity;
  p.memory.fpp = o.fpp;
  p.memory.generations = o.generations;
  try {
    (void)fluxcap::memory_geometry::make(
        p.memory, o.memory == memory_kind::exact   ? fluxcap::memory_mode::exact
                  : o.memory == memory_kind::bloom ? fluxcap::memory_mode::bloom
                                                   : fluxcap::memory_mode::cuckoo);
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
  switch (o.memory) {
    case memory_kind::exact:
      return run_loop<fluxcap::exact_memory>(o, s, p);
    case memory_kind::cuckoo:
      return run_loop<fluxcap::cuckoo_memory>(o, s, p);
    case memory_kind::bloom:
      break;
  }
  return run_loop<fluxcap::bloom_memory>(o, s, p);
}

}  // namespace fluxcap_cli
