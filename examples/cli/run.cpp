#include "run.hpp"

#include "io.hpp"
#include "json_event.hpp"
#include "process.hpp"

#include <fluxcap/flux_capacitor.hpp>
#include <fluxcap/memory.hpp>
#include <fluxcap/serialize.hpp>
#include <fluxcap/state_store.hpp>

#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fluxcap_cli {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::uint64_t max_reported_bad_lines = 10;

/// What the run needs besides the spec, checked before anything is written.
struct prepared_run {
  field_config fields;
  fluxcap::memory_config memory;
  event_limits limits;
  std::vector<std::unique_ptr<line_reader>> inputs;
};

class progress_meter {
 public:
  explicit progress_meter(bool enabled) : enabled_(enabled), start_(clock_type::now()) {
    last_ = start_;
  }
  void tick(std::uint64_t events) {
    if (!enabled_ || (events & 0x3fff) != 0) return;
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

template <class Memory>
int run_loop(const options& o, const loaded_spec& s, prepared_run& p) {
  const auto started = clock_type::now();
  const json_schema schema(s.prog, p.fields);
  line_processor<Memory> proc(s, schema, Memory(p.memory), p.limits);
  auto& store = proc.store();

  if (o.state_path) {
    const auto bytes = read_file_if_exists(*o.state_path);
    if (bytes) {
      try {
        fluxcap::load_store(proc.capacitor(), std::span<const std::uint8_t>(*bytes), store);
      } catch (const fluxcap::decode_error& e) {
        std::fprintf(stderr,
                     "fluxcap: cannot load state file '%s': %s (the file was left unchanged)\n",
                     o.state_path->c_str(), e.what());
        return exit_data;
      }
    }
  }

  output_buffer out(STDOUT_FILENO);
  progress_meter progress(o.progress && ::isatty(STDERR_FILENO) != 0);

  std::string problem;
  std::uint64_t events = 0, bad_lines = 0, input_bytes = 0;

  for (auto& reader : p.inputs) {
    std::uint64_t line_no = 0;
    std::string_view line;
    while (reader->next(line)) {
      ++line_no;
      auto outcome = line_processor<Memory>::outcome::bad;
      if (reader->too_long()) {
        problem =
            "line longer than " + std::to_string(o.max_line_bytes) + " bytes (--max-line-bytes)";
      } else {
        outcome = proc.process(line, reader->readable(), out.buffer(), problem);
      }
      if (outcome != line_processor<Memory>::outcome::bad) {
        out.buffer() += '\n';
        out.maybe_flush();
        if (outcome == line_processor<Memory>::outcome::event) progress.tick(++events);
        continue;
      }
      ++bad_lines;
      if (o.on_error == error_mode::fail) {
        out.flush();
        progress.clear();
        std::fprintf(stderr, "fluxcap: %s:%" PRIu64 ": %s\n", reader->name().c_str(), line_no,
                     problem.c_str());
        return exit_data;
      }
      const bool pass = o.on_error == error_mode::pass;
      if (bad_lines <= max_reported_bad_lines) {
        progress.clear();
        std::fprintf(stderr, "fluxcap: warning: %s:%" PRIu64 ": %s; line %s\n",
                     reader->name().c_str(), line_no, problem.c_str(),
                     pass ? "passed through unchanged" : "skipped");
        if (bad_lines == max_reported_bad_lines)
          std::fputs("fluxcap: warning: further bad lines are not reported one by one\n", stderr);
      }
      if (pass) {
        out.buffer().append(line);
        if (reader->too_long())  // streamed through, never held whole
          reader->skip_rest([&](std::string_view piece) {
            out.buffer().append(piece);
            out.maybe_flush();
          });
        out.buffer() += '\n';
        out.maybe_flush();
      }
    }
    input_bytes += reader->bytes();
  }
  out.flush();
  progress.clear();

  if (o.state_path)
    write_file_atomically(*o.state_path, fluxcap::save_store(proc.capacitor(), store));

  if (bad_lines > 0)
    std::fprintf(stderr, "fluxcap: %s %" PRIu64 " bad line%s%s\n",
                 o.on_error == error_mode::skip ? "skipped" : "passed", bad_lines,
                 bad_lines == 1 ? "" : "s",
                 o.on_error == error_mode::skip ? "" : " through unchanged");
  if (o.stats) {
    std::uint64_t remembered = 0, bytes = 0;
    store.for_each([&](std::string_view, const fluxcap::group_state& st) {
      remembered += st.stored();
      bytes += st.memory_bytes();
    });
    const double secs = std::chrono::duration<double>(clock_type::now() - started).count();
    const double rate = secs > 0 ? static_cast<double>(events) / secs : 0.0;
    const double mbps = secs > 0 ? static_cast<double>(input_bytes) / secs / 1e6 : 0.0;
    std::fprintf(stderr,
                 "fluxcap: %" PRIu64 " events, %zu groups, %" PRIu64 " tags remembered, %" PRIu64
                 " state bytes, %.3f s, %.0f events/s (%.1f MB/s)\n",
                 events, store.size(), remembered, bytes, secs, rate, mbps);
  }
  return exit_ok;
}

}  // namespace

int run_command(const options& o, const loaded_spec& s) {
  prepared_run p;
  p.fields.tags_field = o.tags_field;
  if (!s.detections.empty()) p.fields.detections_field = o.detections_field;
  p.fields.group_key = o.group_key;
  try {
    (void)json_schema(s.prog, p.fields);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  p.limits.line.max_tags = static_cast<std::size_t>(o.max_tags_per_event);
  p.limits.max_groups = o.max_groups;
  p.memory.capacity = o.capacity;
  p.memory.fpp = o.fpp;
  try {
    (void)fluxcap::memory_geometry::make(
        p.memory, o.exact ? fluxcap::memory_mode::exact : fluxcap::memory_mode::bloom);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.starts_with("fluxcap: ")) what.erase(0, 9);
    throw usage_error(what);
  }
  if (o.state_path) check_writable_location(*o.state_path);
  try {
    const std::size_t pad = line_parser::padding();
    const auto max_line = static_cast<std::size_t>(o.max_line_bytes);
    if (o.inputs.empty()) p.inputs.push_back(std::make_unique<line_reader>("-", pad, max_line));
    for (const auto& path : o.inputs)
      p.inputs.push_back(std::make_unique<line_reader>(path, pad, max_line));
  } catch (const io_error& e) {
    throw usage_error(e.what());
  }
  return o.exact ? run_loop<fluxcap::exact_memory>(o, s, p)
                 : run_loop<fluxcap::bloom_memory>(o, s, p);
}

}  // namespace fluxcap_cli
