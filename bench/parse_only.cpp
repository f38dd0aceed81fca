// The end-to-end baseline (bench/end_to_end.py): how fast simdjson alone parses a JSON
// Lines file, visiting every key and value of every line (strings unescaped, numbers
// and literals parsed) and doing nothing else. That is the practical limit for any tool
// whose input is JSON: `fluxcap run` parses every line the same way, then updates the
// group state, evaluates the conditions and writes the line back.
//
//   fluxcap_parse_only FILE [lines|many|stream]
//
// `lines` (default): one simdjson On-Demand document per line, as `fluxcap run` does;
// `many`: simdjson's iterate_many over the whole file (its fastest way to read JSON
// Lines). Both load the whole file into memory first and time the parse only.
// `stream`: what a streaming JSON Lines reader does, and what `fluxcap run` does with
// its input (tools/fluxcap/io.cpp, line_reader): read(2) the file sequentially into one
// reused, padded 64 KiB buffer (posix_fadvise SEQUENTIAL, the partial last line moved to
// the front), each line parsed and walked as in `lines`; its seconds include the reads.
// Prints one JSON object: mode, bytes, lines, seconds.
#include "parse_walk.hpp"

#include <simdjson.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace od = simdjson::ondemand;

namespace {

std::uint64_t sink = 0;

simdjson::error_code walk(od::value v) {
  return fluxcap_bench::walk_json(v, sink);
}

/// Parses and walks one line; `readable` bytes are readable from `p` (>= len + padding).
bool parse_line(od::parser& parser, const char* p, std::size_t len, std::size_t readable) {
  od::document doc;
  od::value v;
  return !(parser.iterate(simdjson::padded_string_view(p, len, readable)).get(doc) ||
           doc.get_value().get(v) || walk(v));
}

/// The `stream` mode: the file read as `fluxcap run` reads it (same block size, same
/// buffer discipline), every line parsed. Returns false after printing a message.
bool stream_file(const char* path, std::uint64_t& bytes, std::uint64_t& lines) {
  constexpr std::size_t block = std::size_t{64} << 10;  // line_reader::default_block
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "fluxcap_parse_only: %s: %s\n", path, std::strerror(errno));
    return false;
  }
#ifdef POSIX_FADV_SEQUENTIAL
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  std::size_t capacity = block;
  std::unique_ptr<char[]> buf(new char[capacity + simdjson::SIMDJSON_PADDING]());
  od::parser parser;
  std::size_t end = 0;  // bytes in buf, all of them the start of an unfinished line
  bool eof = false;
  bool ok = true;
  while (ok && !eof) {
    if (end == capacity) {  // a line longer than the buffer: grow, as line_reader does
      std::unique_ptr<char[]> bigger(new char[capacity * 2 + simdjson::SIMDJSON_PADDING]());
      std::memcpy(bigger.get(), buf.get(), end);
      buf = std::move(bigger);
      capacity *= 2;
    }
    const ssize_t n = ::read(fd, buf.get() + end, capacity - end);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "fluxcap_parse_only: %s: %s\n", path, std::strerror(errno));
      ok = false;
      break;
    }
    if (n == 0) {
      eof = true;
      if (end == 0) break;
      buf[end] = '\n';  // the last line without its newline
    } else {
      end += static_cast<std::size_t>(n);
      bytes += static_cast<std::size_t>(n);
    }
    const char* p = buf.get();
    const char* const stop = buf.get() + end;
    const char* const readable_end = buf.get() + capacity + simdjson::SIMDJSON_PADDING;
    for (;;) {
      const char* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(stop - p)));
      if (nl == nullptr) {
        if (!eof) break;
        nl = stop;
      }
      const auto len = static_cast<std::size_t>(nl - p);
      if (len > 0) {
        if (!parse_line(parser, p, len, static_cast<std::size_t>(readable_end - p))) {
          std::fprintf(stderr, "fluxcap_parse_only: bad line %llu\n",
                       static_cast<unsigned long long>(lines + 1));
          ok = false;
          break;
        }
        ++lines;
      }
      if (nl == stop) {
        p = stop;
        break;
      }
      p = nl + 1;
    }
    const auto rest = static_cast<std::size_t>(stop - p);
    if (rest > 0 && p != buf.get()) std::memmove(buf.get(), p, rest);
    end = rest;
  }
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fputs("usage: fluxcap_parse_only FILE [lines|many|stream]\n", stderr);
    return 2;
  }
  const std::string mode = argc == 3 ? argv[2] : "lines";
  if (mode == "stream") {
    std::uint64_t bytes = 0;
    std::uint64_t lines = 0;
    const auto start = std::chrono::steady_clock::now();
    if (!stream_file(argv[1], bytes, lines)) return 1;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "{\"mode\":\"stream\",\"bytes\":%llu,\"lines\":%llu,\"seconds\":%.6f,"
        "\"sink\":%llu}\n",
        static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(lines), secs,
        static_cast<unsigned long long>(sink % 1000));
    return 0;
  }
  if (mode != "lines" && mode != "many") {
    std::fprintf(stderr, "fluxcap_parse_only: unknown mode '%s'\n", mode.c_str());
    return 2;
  }
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
      if (len > 0) {
        const std::size_t readable = static_cast<std::size_t>(end - p) + simdjson::SIMDJSON_PADDING;
        if (!parse_line(parser, p, len, readable)) {
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
