#include "run.hpp"

#include "io.hpp"
#include "json_event.hpp"

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

bool is_blank(std::string_view line) noexcept {
  for (const char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

/// What the run needs besides the spec, checked before anything is written.
struct prepared_run {
  field_config fields;
  fluxcap::memory_config memory;
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
  const fluxcap::flux_capacitor<json_accessor, Memory> cap(s.prog, json_accessor(schema),
                                                           Memory(p.memory));
  fluxcap::in_memory_state_store<fluxcap::group_state> store(cap.make_state());

  if (o.state_path) {
    const auto bytes = read_file_if_exists(*o.state_path);
    if (bytes) {
      try {
        fluxcap::load_store(cap, std::span<const std::uint8_t>(*bytes), store);
      } catch (const fluxcap::decode_error& e) {
        std::fprintf(stderr,
                     "fluxcap: cannot load state file '%s': %s (the file was left unchanged)\n",
                     o.state_path->c_str(), e.what());
        return exit_data;
      }
    }
  }

  std::vector<std::string> detection_names;
  for (const auto& d : s.detections) detection_names.push_back(d.name);
  line_parser parser(schema);
  line_writer writer(schema, detection_names);
  json_event ev(schema);
  output_buffer out(STDOUT_FILENO);
  progress_meter progress(o.progress && ::isatty(STDERR_FILENO) != 0);

  std::vector<std::uint32_t> fired;
  std::string problem;
  std::string group_key;
  std::string current_key;
  fluxcap::group_state* current = nullptr;
  const std::uint32_t group_column = schema.group_column();
  std::uint64_t events = 0, bad_lines = 0, input_bytes = 0;

  name_resolver names(schema);
  auto lookup = [&](std::string_view rule, std::string_view tag) {
    const std::uint32_t r = names.rule(rule);
    return ev.lookup(rule, tag, r, r == json_schema::none ? r : names.tag(r, tag));
  };
  auto for_each_tag = [&](std::string_view rule, auto&& f) {
    ev.for_each_tag(rule, names.rule(rule), f);
  };

  for (auto& reader : p.inputs) {
    std::uint64_t line_no = 0;
    std::string_view line;
    while (reader->next(line)) {
      ++line_no;
      if (is_blank(line)) {  // not an event: copied as is, like every line
        out.buffer().append(line);
        out.buffer() += '\n';
        continue;
      }
      if (!parser.parse(line, reader->readable(), ev, problem)) {
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
          out.buffer() += '\n';
          out.maybe_flush();
        }
        continue;
      }
      ++events;

      group_key.clear();
      if (group_column != json_schema::none) {
        if (const auto& v = ev.columns[group_column]) {
          group_key += '=';  // a present value, even "", differs from a null or missing one
          group_key.append(*v);
        }
      }
      if (current == nullptr || group_key != current_key) {
        current = &store.find_or_create(group_key);
        current_key = group_key;
      }
      cap.update(*current, ev);

      fired.clear();
      for (std::size_t i = 0; i < s.detections.size(); ++i)
        if (s.detections[i].expr.evaluate(lookup, for_each_tag))
          fired.push_back(static_cast<std::uint32_t>(i));

      writer.write(line, ev, fired, out.buffer());
      out.buffer() += '\n';
      out.maybe_flush();
      progress.tick(events);
    }
    input_bytes += reader->bytes();
  }
  out.flush();
  progress.clear();

  if (o.state_path) write_file_atomically(*o.state_path, fluxcap::save_store(cap, store));

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
    if (o.inputs.empty())
      p.inputs.push_back(std::make_unique<line_reader>("-", line_parser::padding()));
    for (const auto& path : o.inputs)
      p.inputs.push_back(std::make_unique<line_reader>(path, line_parser::padding()));
  } catch (const io_error& e) {
    throw usage_error(e.what());
  }
  return o.exact ? run_loop<fluxcap::exact_memory>(o, s, p)
                 : run_loop<fluxcap::bloom_memory>(o, s, p);
}

}  // namespace fluxcap_cli
