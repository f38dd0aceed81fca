// The end-to-end baseline (bench/end_to_end.py): how fast simdjson alone parses a JSON
// Lines file, visiting every key and value of every line (strings unescaped, numbers
// and literals parsed) and doing nothing else. That is the practical limit for any tool
// whose input is JSON: `fluxcap run` parses every line the same way, then updates the
// group state, evaluates the conditions and writes the line back.
//
//   fluxcap_parse_only FILE [lines|many]
//
// `lines` (default): one simdjson On-Demand document per line, as `fluxcap run` does;
// `many`: simdjson's iterate_many over the whole file (its fastest way to read JSON
// Lines). Prints one JSON object: bytes, lines, seconds (file already in memory).
#include "parse_walk.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace od = simdjson::ondemand;

namespace {

std::uint64_t sink = 0;

simdjson::error_code walk(od::value v) {
  return fluxcap_bench::walk_json(v, sink);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fputs("usage: fluxcap_parse_only FILE [lines|many]\n", stderr);
    return 2;
  }
  const std::string mode = argc == 3 ? argv[2] : "lines";
  simdjson::padded_string data;
  if (auto e = simdjson::padded_string::load(argv[1]).get(data)) {
    std::fprintf(stderr, "fluxcap_parse_only: %s: %s\n", argv[1], simdjson::error_message(e));
    return 1;
  }
  od::parser parser;
  std::uint64_t lines = 0;
  const auto start = std::chrono::steady_clock::now();
  if (mode == "many") {
    od::document_stream docs;
    if (auto e = parser.iterate_many(data, std::size_t{1} << 20).get(docs)) {
      std::fprintf(stderr, "fluxcap_parse_only: %s\n", simdjson::error_message(e));
      return 1;
    }
    for (auto doc : docs) {
      od::value v;
      if (auto e = doc.get_value().get(v); e || walk(v)) {
        std::fprintf(stderr, "fluxcap_parse_only: bad document %llu\n",
                     static_cast<unsigned long long>(lines + 1));
        return 1;
      }
      ++lines;
    }
  } else {
    const char* p = data.data();
    const char* const end = p + data.size();
    while (p < end) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) nl = end;
      const auto len = static_cast<std::size_t>(nl - p);
      // The rest of the file (and its padding) is readable after the line, as in the tool.
      od::document doc;
      od::value v;
      if (len > 0) {
        const std::size_t readable = static_cast<std::size_t>(end - p) + simdjson::SIMDJSON_PADDING;
        if (auto e = parser.iterate(simdjson::padded_string_view(p, len, readable)).get(doc);
            e || doc.get_value().get(v) || walk(v)) {
          std::fprintf(stderr, "fluxcap_parse_only: bad line %llu\n",
                       static_cast<unsigned long long>(lines + 1));
          return 1;
        }
        ++lines;
      }
      p = nl + 1;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"mode\":\"%s\",\"bytes\":%zu,\"lines\":%llu,\"seconds\":%.6f,\"sink\":%llu}\n",
              mode.c_str(), data.size(), static_cast<unsigned long long>(lines), secs,
              static_cast<unsigned long long>(sink % 1000));
  return 0;
}
