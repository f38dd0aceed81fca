#include "io.hpp"

#include "options.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace fluxcap_cli {

std::string errno_message(const std::string& message) {
  return message + ": " + std::strerror(errno);
}

// ---------------------------------------------------------------------------------------
// line_reader

line_reader::line_reader(const std::string& path, std::size_t padding, std::size_t max_line,
                         std::size_t block)
    : padding_(padding), max_line_(max_line), buf_(block + padding) {
  if (path == "-") {
    fd_ = 0;
    name_ = "<stdin>";
    return;
  }
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw io_error(errno_message("cannot open input '" + path + "'"));
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw io_error("cannot read input '" + path + "': it is a directory");
  }
  owns_fd_ = true;
  name_ = path;
#ifdef POSIX_FADV_SEQUENTIAL
  (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
}

line_reader::line_reader(int fd, std::string name, std::size_t padding, std::size_t max_line,
                         std::size_t block)
    : fd_(fd),
      name_(std::move(name)),
      padding_(padding),
      max_line_(max_line),
      buf_(block + padding) {}

line_reader::~line_reader() {
  if (owns_fd_) ::close(fd_);
}

bool line_reader::fill() {
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    begin_ = 0;
  }
  if (end_ + padding_ == buf_.size()) buf_.resize((buf_.size() - padding_) * 2 + padding_);
  for (;;) {
    const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - padding_ - end_);
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) throw io_error(errno_message("cannot read '" + name_ + "'"));
  }
}

bool line_reader::next(std::string_view& line) {
  skip_rest([](std::string_view) {});  // a too-long line the caller did not consume
  if (at_start_) {  // a UTF-8 byte order mark (EF BB BF) is not part of the first line
    at_start_ = false;
    while (end_ - begin_ < 3 && !eof_ && fill()) {
    }
    if (end_ - begin_ >= 3 && std::memcmp(buf_.data() + begin_, "\xef\xbb\xbf", 3) == 0) {
      begin_ = scanned_ = begin_ + 3;
      bytes_ += 3;
    }
  }
  for (;;) {
    if (scanned_ < end_) {
      const void* nl = std::memchr(buf_.data() + scanned_, '\n', end_ - scanned_);
      const std::size_t stop =
          nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data())
                        : end_;
      if (stop - begin_ > max_line_) {  // too long: hand out its head, skip_rest the tail
        line = std::string_view(buf_.data() + begin_, max_line_);
        readable_ = max_line_;
        bytes_ += max_line_;
        begin_ = scanned_ = begin_ + max_line_;
        too_long_ = true;
        return true;
      }
      if (nl != nullptr) {
        const auto at = stop;
        line = std::string_view(buf_.data() + begin_, at - begin_);
        readable_ = buf_.size() - begin_;
        bytes_ += at + 1 - begin_;
        begin_ = scanned_ = at + 1;
        return true;
      }
      scanned_ = end_;
    }
    if (eof_ || !fill()) {
      if (begin_ == end_) return false;
      line = std::string_view(buf_.data() + begin_, end_ - begin_);
      buf_[end_] = '\n';  // the padding starts like a line end, as for every other line
      readable_ = buf_.size() - begin_;
      bytes_ += end_ - begin_;
      begin_ = scanned_ = end_;
      return true;
    }
  }
}

// ---------------------------------------------------------------------------------------
// output_buffer

output_buffer::output_buffer(int fd, std::size_t flush_at) : fd_(fd), flush_at_(flush_at) {
  buf_.reserve(flush_at + (flush_at >> 2));
}

namespace {
void write_all(int fd, const char* p, std::size_t left) {
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error(errno_message("cannot write standard output"));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}
}  // namespace

void output_buffer::flush() {
  write_all(fd_, buf_.data(), buf_.size());
  buf_.clear();
}

void output_buffer::write(const char* p, std::size_t n) {
  flush();
  write_all(fd_, p, n);
}

// ---------------------------------------------------------------------------------------
// state files

std::optional<std::vector<std::uint8_t>> read_file_if_exists(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw io_error(errno_message("cannot open state file '" + path + "'"));
  }
  std::vector<std::uint8_t> bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string message = errno_message("cannot read state file '" + path + "'");
      ::close(fd);
      throw io_error(message);
    }
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  ::close(fd);
  return bytes;
}

namespace {}  // namespace

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::vector<std::string> files_starting_with(const std::string& path_prefix) {
  const std::string dir = directory_of(path_prefix);
  const auto slash = path_prefix.rfind('/');
  const std::string name_prefix =
      slash == std::string::npos ? path_prefix : path_prefix.substr(slash + 1);
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw io_error(errno_message("cannot list directory '" + dir + "'"));
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.starts_with(name_prefix))
      out.push_back(slash == std::string::npos ? std::string(name) : dir + "/" + std::string(name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw io_error(errno_message("cannot remove '" + path + "'"));
}

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw io_error(errno_message("cannot create a temporary file for '" + path + "'"));
  auto fail = [&](const std::string& what) {
    const std::string message = errno_message(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw io_error(message);
  };
  // mkstemp creates the file 0600; give it the permissions a new file normally gets.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail("cannot set the permissions of '" + tmp + "'");
  const auto* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '" + tmp + "'");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot sync '" + tmp + "'");
  if (::close(fd) != 0) {
    const std::string message = errno_message("cannot close '" + tmp + "'");
    ::unlink(tmp.c_str());
    throw io_error(message);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string message = errno_message("cannot rename '" + tmp + "' to '" + path + "'");
    ::unlink(tmp.c_str());
    throw io_error(message);
  }
  // Make the rename itself durable.
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

void check_writable_location(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw usage_error("--state '" + path + "' is a directory");
  const std::string dir = directory_of(path);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw usage_error("--state '" + path + "': directory '" + dir + "' does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw usage_error("--state '" + path + "': directory '" + dir + "' is not writable");
}

}  // namespace fluxcap_cli
