// File input and output for the fluxcap tool: buffered line reading (with the
// padding simdjson needs), buffered standard output, and state files written
// atomically.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fluxcap_cli {

/// An I/O failure (reading input, writing output or the state file). Exit status 1.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `message: strerror(errno)`.
[[nodiscard]] std::string errno_message(const std::string& message);

/// Reads one file descriptor line by line. Each line stays valid, with at least
/// `padding` readable bytes after it, until the next call to `next`. Memory stays
/// bounded by about twice `max_line` plus `block`, whatever the input.
class line_reader {
 public:
  /// `path` "-": standard input. Throws io_error if the file cannot be opened.
  /// Lines longer than `max_line` bytes are reported as too long (see `next`);
  /// `block`: bytes read at a time (the buffer grows for a longer line). 64 KiB keeps the
  /// buffer, the output buffer and the engine's tables in a core's L2 cache: `fluxcap run
  /// --rules` ran ~4% faster than with 1 MiB (bench/README.md, "December 2026 (6)").
  line_reader(const std::string& path, std::size_t padding,
              std::size_t max_line = static_cast<std::size_t>(-1),
              std::size_t block = default_block);
  /// Reads `fd` (not closed by the reader); `name` is used in messages.
  line_reader(int fd, std::string name, std::size_t padding,
              std::size_t max_line = static_cast<std::size_t>(-1),
              std::size_t block = default_block);
  static constexpr std::size_t default_block = std::size_t{64} << 10;
  ~line_reader();
  line_reader(const line_reader&) = delete;
  line_reader& operator=(const line_reader&) = delete;

  /// The next line without its '\n' (a final line without '\n' counts too); false
  /// at end of input. A UTF-8 byte order mark at the start of the input is skipped
  /// (counted in `bytes`, not part of the first line). Throws io_error on a read error. A line
  /// longer than `max_line` bytes sets `too_long()`: `line` is then its first `max_line` bytes
  /// (without the padding guarantee), and the rest is consumed by `skip_rest` (or the next `next`).
  bool next(std::string_view& line);
  /// Called before the buffer's bytes move or are overwritten (before each refill): until
  /// then every line handed out stays valid, not only the last. For output that refers
  /// to the lines instead of copying them (output_buffer::write_through).
  void set_before_refill(std::function<void()> hook) { before_refill_ = std::move(hook); }
  /// Whether the line `next` returned is longer than `max_line`.
  [[nodiscard]] bool too_long() const noexcept { return too_long_; }
  /// After a too-long line: consumes the rest of it and its '\n', calling
  /// `sink(std::string_view)` on its bytes piece by piece (never buffering it whole).
  template <class Sink>
  void skip_rest(Sink&& sink) {
    while (too_long_) {
      if (begin_ < end_) {
        const void* nl = std::memchr(buf_.data() + begin_, '\n', end_ - begin_);
        const std::size_t stop =
            nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data())
                          : end_;
        sink(std::string_view(buf_.data() + begin_, stop - begin_));
        bytes_ += stop - begin_;
        begin_ = scanned_ = stop;
        if (nl != nullptr) {
          ++bytes_;
          begin_ = scanned_ = stop + 1;
          too_long_ = false;
          return;
        }
      }
      if (eof_ || !fill()) {
        too_long_ = false;
        return;
      }
    }
  }
  /// Bytes readable from the start of the current line.
  [[nodiscard]] std::size_t readable() const noexcept { return readable_; }
  /// The name used in messages: the path, or "<stdin>".
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// Bytes consumed so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  bool fill();

  int fd_ = -1;
  bool owns_fd_ = false;
  bool eof_ = false;
  bool too_long_ = false;
  bool at_start_ = true;  ///< nothing returned yet: a UTF-8 BOM is still to be skipped
  std::string name_;
  std::size_t padding_;
  std::size_t max_line_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;    ///< start of unconsumed data
  std::size_t end_ = 0;      ///< end of data read
  std::size_t scanned_ = 0;  ///< [begin_, scanned_) has no '\n'
  std::size_t readable_ = 0;
  std::uint64_t bytes_ = 0;
  std::function<void()> before_refill_;
};

/// Buffered writes to a file descriptor (standard output).
class output_buffer {
 public:
  /// Flushes once `flush_at` bytes are buffered: 64 KiB (a pipe's default capacity) stays
  /// in cache, as line_reader's block does.
  explicit output_buffer(int fd, std::size_t flush_at = std::size_t{64} << 10);
  /// The buffer to append to; call `maybe_flush` after appending.
  std::string& buffer() noexcept { return buf_; }
  void maybe_flush() {
    if (buf_.size() + through_bytes_ >= flush_at_) flush();
  }
  /// Queues `n` bytes at `p` after what is buffered, to be written without being copied:
  /// they must stay unchanged until the next flush.
  void write_through(const char* p, std::size_t n) {
    through_.push_back(through_span{buf_.size(), p, n});
    through_bytes_ += n;
  }
  /// Writes everything buffered. Throws io_error.
  void flush();
  /// Writes what is buffered, then `n` bytes from `p` (without copying them). Throws io_error.
  void write(const char* p, std::size_t n);

 private:
  /// Bytes written through: `n` bytes at `p`, before buf_[at].
  struct through_span {
    std::size_t at;
    const char* p;
    std::size_t n;
  };
  int fd_;
  std::size_t flush_at_;
  std::string buf_;
  std::vector<through_span> through_;
  std::size_t through_bytes_ = 0;
  std::vector<iovec> iov_;
};

/// The whole file, or nothing when it does not exist. Throws io_error otherwise, also
/// when it is not a regular file (a FIFO or a device is never read: no hang, no
/// endless read).
[[nodiscard]] std::optional<std::vector<std::uint8_t>> read_file_if_exists(const std::string& path);

/// The mode, owner and group a file written in place of another keeps.
struct file_owner {
  mode_t mode = 0;  ///< permission bits (07777)
  uid_t uid = 0;
  gid_t gid = 0;
};

/// `path`'s mode, owner and group, or nothing when it does not exist.
[[nodiscard]] std::optional<file_owner> owner_of(const std::string& path);

/// Replaces `path` with `bytes` atomically: writes a temporary file in the same
/// directory, fsyncs it, renames it over `path` and fsyncs the directory. A crash at
/// any point leaves either the old file or the new one. The new file gets the mode,
/// owner and group of `like` (those of the file it replaces, or of the snapshot a
/// checkpoint follows), else those a new file gets. Throws io_error.
void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes,
                           const std::optional<file_owner>& like = std::nullopt);

/// The directory part of `path` ("." when it has none).
[[nodiscard]] std::string directory_of(const std::string& path);

/// Paths of the files whose path starts with `path_prefix` (in its directory), sorted.
/// Throws io_error.
[[nodiscard]] std::vector<std::string> files_starting_with(const std::string& path_prefix);

/// Removes a file (one already gone is fine). Throws io_error.
void remove_file(const std::string& path);

/// The file `--state path` stands for: `path` itself, or the file a symbolic link
/// points to (the state is written through the link: the link stays). Throws
/// usage_error for a link to a missing file.
[[nodiscard]] std::string resolve_state_path(const std::string& path);

/// Throws usage_error unless `path` (`--state`) can be loaded and written atomically
/// later: its directory exists and is writable; it is missing or a regular file (not a
/// FIFO, a device or a directory), owned by this user (unless root: a save keeps the
/// owner); and the names written beside it (`FILE.tmp-XXXXXX`, `FILE.lock` and, with
/// `incremental`, `FILE.delta-<16 hex>-<6 digits>.tmp-XXXXXX`) fit the file system's
/// name limit.
void check_writable_location(const std::string& path, bool incremental);

/// An exclusive lock on a state (`FILE.lock` beside it, flock), held while the object
/// lives, which holds the holder's pid. The lock file is never removed (removing it
/// would race with a run that has just opened it); it is emptied when released.
class file_lock {
 public:
  /// Takes the lock on `lock_path`, the lock of state `state` (a `kind`: "state file",
  /// "state database", as messages name it); waits at most `wait_seconds` for another
  /// run to release it. Throws io_error when it cannot be taken (naming the holder's pid).
  file_lock(const std::string& lock_path, const std::string& state, double wait_seconds,
            const char* kind = "state file");
  ~file_lock();
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

 private:
  int fd_ = -1;
};

/// Test-only: when the environment variable FLUXCAP_TEST_CRASH_AT equals `point`, the
/// process kills itself (SIGKILL) there, so crash tests can hit exact moments:
/// "locked", "loaded", "synced" (a state file's temporary copy written and synced,
/// before its rename) and "renamed" (right after the rename).
void crash_point(const char* point);

/// Prints "fluxcap: MESSAGE" on standard error; returns `status`.
int fail(int status, const std::string& message);

/// Inside a catch block: reports the exception being handled and returns the exit status
/// it means (docs/cli.md, "Exit status"): a bad spec, rule or command line 2; bad data,
/// I/O or anything else 1.
int fail_for_current_exception();

}  // namespace fluxcap_cli
