// Sigma field reading vs parsing alone (bench/README.md, "Sigma field reading"): the
// Sysmon JSON Lines of realdata, replicated in memory to N lines, read three ways on the
// same bytes in the same run:
//
//   parse_only   simdjson On-Demand visiting every key and value (bench/parse_only.cpp's
//                walk: the end-to-end baseline);
//   fields       the tool's json_fields (tools/fluxcap/sigma_fields.hpp) extracting the
//                19 fields the realdata Sigma rules and the sysmon profile use, and
//                reading each through its handle;
//   fields_all   the same plus every string of the line (keyword rules).
//
//   fluxcap_sigma_fields_bench [--lines N] [--repeat R] [--only MODE] FILE.jsonl|DIR...
//
// Prints one JSON object (lines/s per mode, median of R runs, and the ratios). Without
// input files it says so and exits 0 (realdata is not in the repository).
#include "../tools/fluxcap/sigma_fields.hpp"

#include "parse_walk.hpp"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace od = simdjson::ondemand;

namespace {

std::uint64_t sink = 0;

simdjson::error_code walk(od::value v) {
  return fluxcap_bench::walk_json(v, sink);
}

/// Calls `fn(line, readable)` for every line of `data` (padded after its end).
template <class Fn>
bool for_each_line(const std::string& data, Fn&& fn) {
  const char* p = data.data();
  const char* const end = p + (data.size() - simdjson::SIMDJSON_PADDING);
  while (p < end) {
    const char* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (nl == nullptr) nl = end;
    const auto len = static_cast<std::size_t>(nl - p);
    if (len > 0 &&
        !fn(std::string_view(p, len), static_cast<std::size_t>(data.data() + data.size() - p)))
      return false;
    p = nl + 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t want_lines = 200000;
  int repeat = 5;
  std::string only;  // --only MODE: run one mode (for profiling)
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--lines" && i + 1 < argc) {
      want_lines = std::stoul(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::stoi(argv[++i]);
    } else if (std::filesystem::is_directory(a)) {
      for (const auto& e : std::filesystem::directory_iterator(a))
        if (e.path().extension() == ".jsonl") files.push_back(e.path());
    } else if (std::filesystem::exists(a)) {
      files.emplace_back(a);
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> lines;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) lines.push_back(line);
  }
  if (lines.empty()) {
    std::puts("{\"skipped\":\"no input lines (give the realdata sysmon directory)\"}");
    return 0;
  }
  std::string data;
  std::size_t count = 0;
  while (count < want_lines)
    for (const auto& l : lines) {
      data += l;
      data += '\n';
      ++count;
    }
  const std::size_t bytes = data.size();
  data.append(simdjson::SIMDJSON_PADDING, ' ');

  const char* const names[] = {
      "CommandLine",    "Image",       "ParentImage",       "OriginalFileName", "ParentCommandLine",
      "IntegrityLevel", "User",        "Description",       "CurrentDirectory", "Product",
      "Hashes",         "LogonId",     "ParentUser",        "Company",          "Provider_Name",
      "Hostname",       "ProcessGuid", "ParentProcessGuid", "UtcTime"};
  fluxcap_cli::json_fields fields;
  std::vector<fluxcap_cli::json_fields::field_handle> handles;
  for (const char* n : names)
    handles.push_back(fields.field_handle_for(fluxcap::sigma::field_path::parse(n)));
  fluxcap_cli::json_fields fields_all = fields;
  fields_all.enable_all_strings();

  od::parser parser;
  fluxcap_cli::json_field_event event;
  std::string problem;
  std::uint64_t values_read = 0;
  const auto run_parse_only = [&] {
    return for_each_line(data, [&](std::string_view line, std::size_t readable) {
      od::document doc;
      od::value v;
      return !(parser.iterate(simdjson::padded_string_view(line.data(), line.size(), readable))
                   .get(doc) ||
               doc.get_value().get(v) || walk(v));
    });
  };
  const auto run_fields = [&](fluxcap_cli::json_fields& f) {
    return for_each_line(data, [&](std::string_view line, std::size_t readable) {
      if (!f.parse(line, readable, event, problem)) return false;
      for (const auto h : handles)
        f.read(event, h, [&](fluxcap::sigma::field_value v) { values_read += v.text.size(); });
      f.for_each_string(event, [&](std::string_view s) { sink += s.size(); });
      return true;
    });
  };
  struct mode {
    const char* name;
    std::vector<double> seconds;
  };
  mode modes[] = {{"parse_only", {}}, {"fields", {}}, {"fields_all", {}}};
  for (int r = 0; r < repeat; ++r) {
    for (auto& m : modes) {
      if (!only.empty() && only != m.name) {
        m.seconds.push_back(1);
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      bool ok = false;
      if (std::strcmp(m.name, "parse_only") == 0)
        ok = run_parse_only();
      else
        ok = run_fields(std::strcmp(m.name, "fields") == 0 ? fields : fields_all);
      m.seconds.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!ok) {
        std::fprintf(stderr, "fluxcap_sigma_fields_bench: %s: bad line: %s\n", m.name,
                     problem.c_str());
        return 1;
      }
    }
  }
  std::printf("{\"lines\":%zu,\"bytes\":%zu,\"mean_line_bytes\":%.0f,\"fields\":%zu,\"repeat\":%d",
              count, bytes, double(bytes) / double(count), handles.size(), repeat);
  double median[3] = {};
  for (int i = 0; i < 3; ++i) {
    auto s = modes[i].seconds;
    std::sort(s.begin(), s.end());
    median[i] = s[s.size() / 2];
    std::printf(",\"%s_lines_per_s\":%.0f", modes[i].name, double(count) / median[i]);
  }
  std::printf(",\"fields_share_of_parse_only\":%.3f,\"fields_all_share_of_parse_only\":%.3f",
              median[0] / median[1], median[0] / median[2]);
  std::printf(",\"sink\":%llu}\n", static_cast<unsigned long long>((sink + values_read) % 1000));
  return 0;
}
