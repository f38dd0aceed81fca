// `fluxcap run --threads N`: the lines of an input processed in batches by N threads,
// each group by one thread at a time, the output put back in input order (on the pool,
// barriers and partitions of parallel.hpp).
#pragma once

#include "io.hpp"
#include "line_parser.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

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
///
/// `Output` (run.cpp's run_output) takes what the lines give: `buffer()`, the string
/// single lines are appended to, then `line_done(is_event)`; `lines_done(data, size,
/// events)`, a batch's output block; `bad_line(input, line_no, line, problem,
/// streaming_reader_or_null)`, false when the run must stop.
/// `Processor`: line_processor or sigma_line_processor (the same interface).
template <class Processor, class Output>
class parallel_lines {
 public:
  using processor = Processor;
  using outcome = typename processor::outcome;

  /// `procs`: one processor a partition, at least `threads` of them. `out` takes the
  /// output lines and the bad lines.
  parallel_lines(std::vector<std::unique_ptr<processor>>& procs, unsigned threads,
                 std::uint64_t max_groups, Output& out)
      : procs_(procs),
        max_groups_(max_groups),
        out_(&out),
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

  /// Runs the lines of one input (inputs are run one after the other); false when
  /// --on-error fail stopped the run. `too_long_problem`: the message of a line longer
  /// than the reader's bound.
  bool run(line_reader& reader, const std::string& too_long_problem) {
    std::uint64_t line_no = 0;
    bool filled = false;  // the next batch was read during the last one
    for (;;) {
      in_ = other(in_);
      if (!filled) fill(*in_, reader, line_no);
      filled = false;
      const input_batch& b = *in_;
      if (!b.begins.empty()) {
        // The main thread reads the next batch while the workers process this one.
        input_batch* next = b.more && b.too_long.empty() ? other(in_) : nullptr;
        if (!process_batch(reader, next, line_no)) return false;
        filled = next != nullptr;
      }
      if (!b.too_long.empty()) {  // alone, after everything before it: it is streamed
        if (!out_->bad_line(reader.name(), line_no, b.too_long, too_long_problem, &reader))
          return false;
        continue;
      }
      if (!b.more) break;
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
  Output* out_;
  unsigned threads_;
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

}  // namespace fluxcap_cli
