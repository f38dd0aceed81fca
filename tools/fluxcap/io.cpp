#include "io.hpp"

#include "options.hpp"

#include <fluxcap/error.hpp>
#include <fluxcap/sigma/rule.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <thread>
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
  if (before_refill_) before_refill_();
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

namespace {
#ifdef IOV_MAX
constexpr std::size_t max_iov = IOV_MAX;
#else
constexpr std::size_t max_iov = 16;  // POSIX's least
#endif
}  // namespace

void output_buffer::flush() {
  // A failed write drops what was queued: part of it may be out already, and written
  // again by a later flush (on unwind) it would repeat those bytes.
  struct drop_on_throw {
    output_buffer* self;
    ~drop_on_throw() {
      if (self == nullptr) return;
      self->buf_.clear();
      self->through_.clear();
      self->through_bytes_ = 0;
    }
  } drop{this};
  if (through_.empty()) {
    write_all(fd_, buf_.data(), buf_.size());
    buf_.clear();
    drop.self = nullptr;
    return;
  }
  iov_.clear();
  std::size_t from = 0;
  const auto add = [&](const char* p, std::size_t n) {
    if (n > 0) iov_.push_back(iovec{const_cast<char*>(p), n});
  };
  for (const through_span& t : through_) {
    add(buf_.data() + from, t.at - from);
    add(t.p, t.n);
    from = t.at;
  }
  add(buf_.data() + from, buf_.size() - from);
  std::size_t first = 0;  // writev takes at most IOV_MAX at a time, and may write part
  while (first < iov_.size()) {
    const auto count = static_cast<int>(std::min<std::size_t>(iov_.size() - first, max_iov));
    ssize_t n = ::writev(fd_, iov_.data() + first, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error(errno_message("cannot write standard output"));
    }
    while (first < iov_.size() && static_cast<std::size_t>(n) >= iov_[first].iov_len) {
      n -= static_cast<ssize_t>(iov_[first].iov_len);
      ++first;
    }
    if (n > 0) {
      iov_[first].iov_base = static_cast<char*>(iov_[first].iov_base) + n;
      iov_[first].iov_len -= static_cast<std::size_t>(n);
    }
  }
  buf_.clear();
  through_.clear();
  through_bytes_ = 0;
  drop.self = nullptr;
}

void output_buffer::write(const char* p, std::size_t n) {
  flush();
  write_all(fd_, p, n);
}

// ---------------------------------------------------------------------------------------
// state files

namespace {

/// "a FIFO", "a directory"...: what a file that is not a regular file is.
std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

/// Whether this process may give a file it owns group `gid`.
bool in_my_groups(gid_t gid) {
  if (gid == ::getegid()) return true;
  const int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  const int got = ::getgroups(n, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::optional<std::vector<std::uint8_t>> read_file_if_exists(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore it).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw io_error(errno_message("cannot open state file '" + path + "'"));
  }
  std::vector<std::uint8_t> bytes;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string message = errno_message("cannot read state file '" + path + "'");
    ::close(fd);
    throw io_error(message);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw io_error("state file '" + path + "' is " + kind_of(st.st_mode) +
                   ", not a regular file: it was not read");
  }
  if (st.st_size > 0) bytes.reserve(static_cast<std::size_t>(st.st_size));
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

std::optional<file_owner> owner_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return file_owner{static_cast<mode_t>(st.st_mode & 07777), st.st_uid, st.st_gid};
}

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

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes,
                           const std::optional<file_owner>& like) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw io_error(errno_message("cannot create a temporary file for '" + path + "'"));
  auto fail = [&](const std::string& what) {
    const std::string message = errno_message(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw io_error(message);
  };
  // mkstemp creates the file 0600; give it the mode (and owner) of the file it replaces.
  // A new file stays 0600 (less what the umask removes): a state file holds its secret
  // hash key (docs/memory.md, "Keyed hashing").
  mode_t mode = 0;
  if (like) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("cannot stat '" + tmp + "'");
    if ((st.st_uid != like->uid || st.st_gid != like->gid) &&
        ::fchown(fd, like->uid, like->gid) != 0)
      fail("cannot give '" + tmp + "' the owner and group of '" + path + "' (" +
           std::to_string(like->uid) + ":" + std::to_string(like->gid) + ")");
    mode = like->mode;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0600 & ~mask;
  }
  if (::fchmod(fd, mode) != 0) fail("cannot set the permissions of '" + tmp + "'");
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
  crash_point("synced");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string message = errno_message("cannot rename '" + tmp + "' to '" + path + "'");
    ::unlink(tmp.c_str());
    throw io_error(message);
  }
  crash_point("renamed");
  // Make the rename itself durable.
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

std::string resolve_state_path(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) {
    char target[4096];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    const std::string to = n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    throw usage_error(errno_message("--state '" + path + "' is a symbolic link to '" + to +
                                    "', which cannot be resolved"));
  }
  std::string resolved(real);
  std::free(real);
  return resolved;
}

void check_writable_location(const std::string& given, bool incremental) {
  const std::string path = resolve_state_path(given);
  const std::string shown =
      path == given ? "--state '" + given + "'" : "--state '" + given + "' (-> '" + path + "')";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      throw usage_error(shown + " is " + kind_of(st.st_mode) + ", not a regular file");
    if (st.st_uid != ::geteuid() && ::geteuid() != 0)
      throw usage_error(shown + " belongs to another user (uid " + std::to_string(st.st_uid) +
                        "): a save keeps the owner of the file, which only that user or root "
                        "can do");
    if (::geteuid() != 0 && !in_my_groups(st.st_gid))
      throw usage_error(shown + " belongs to group " + std::to_string(st.st_gid) +
                        ", not one of this user's: a save keeps the group of the file, which "
                        "only root could do");
  }
  const std::string dir = directory_of(path);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw usage_error(shown + ": directory '" + dir + "' does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw usage_error(shown + ": directory '" + dir + "' is not writable");
  // The longest name written beside the state must fit, or every run would fail at the
  // end, unsaved.
  const std::size_t name_size = base_name(path).size();
  const std::size_t longest_size = name_size + (incremental ? 41 : 11);
  errno = 0;
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max > 0 && longest_size > static_cast<std::size_t>(name_max))
    throw usage_error(
        shown + ": the name is too long (" + std::to_string(name_size) +
        " characters): fluxcap writes files named " +
        (incremental ? "FILE.delta-<16 hex>-<6 digits>.tmp-XXXXXX" : "FILE.tmp-XXXXXX") +
        " beside it, " + std::to_string(longest_size) + " characters, more than " +
        std::to_string(name_max) + ", the limit of the file system" +
        (incremental ? " (use a shorter name, or no --incremental)" : ""));
  const std::string lock = path + ".lock";
  if (::lstat(lock.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw usage_error(shown + ": its lock file '" + lock + "' is " + kind_of(st.st_mode) +
                      ", not a regular file");
}

// ---------------------------------------------------------------------------------------
// file_lock

namespace {

/// The pid written in a lock file (empty when none).
std::string holder_of(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  std::string pid(buf, static_cast<std::size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty() || pid.size() > 18 || pid.find_first_not_of("0123456789") != std::string::npos)
    return {};
  // A pid left by a killed holder, read while a new one has just taken the lock: unknown.
  if (::kill(static_cast<pid_t>(std::stoll(pid)), 0) != 0 && errno == ESRCH) return {};
  return pid;
}

}  // namespace

file_lock::file_lock(const std::string& lock_path, const std::string& state, double wait_seconds,
                     const char* kind) {
  const int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_EXCL | flags, 0600);
  if (fd_ >= 0) {  // new: the state's mode and owner (or a new file's mode)
    if (const auto like = owner_of(state)) {
      (void)::fchown(fd_, like->uid, like->gid);
      (void)::fchmod(fd_, like->mode & 0666);
    } else {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      (void)::fchmod(fd_, 0666 & ~mask);
    }
  } else if (errno == EEXIST) {
    fd_ = ::open(lock_path.c_str(), O_RDWR | flags);
    if (fd_ < 0 && errno == EACCES) fd_ = ::open(lock_path.c_str(), O_RDONLY | flags);
  }
  if (fd_ < 0) throw io_error(errno_message("cannot open the lock file '" + lock_path + "'"));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw io_error("the lock file '" + lock_path + "' is not a regular file");
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(wait_seconds);
  int no_pid = 0;
  for (;;) {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) break;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const std::string message = errno_message("cannot lock '" + lock_path + "'");
      ::close(fd_);
      throw io_error(message);
    }
    const std::string pid = holder_of(fd_);
    const auto now = std::chrono::steady_clock::now();
    // An empty lock file: its holder is starting or ending; look again shortly.
    if (now >= deadline && (!pid.empty() || ++no_pid > 100)) {
      ::close(fd_);
      std::string message =
          std::string(kind) + " '" + state + "' is in use by another fluxcap run (";
      message += pid.empty() ? std::string("pid unknown") : "pid " + pid;
      message += ", holding the lock '" + lock_path + "')";
      if (wait_seconds > 0) {
        char waited[64];
        std::snprintf(waited, sizeof waited, "%g", wait_seconds);
        message += ", still after waiting " + std::string(waited) + " s (--wait-lock)";
      } else {
        message += ": try again when it has finished, or wait for it with --wait-lock SECONDS";
      }
      throw io_error(message + "; nothing was changed");
    }
    const auto left = deadline - now;
    auto nap = std::chrono::duration<double>(0.05);
    if (now < deadline && left < nap) nap = left;
    if (now >= deadline) nap = std::chrono::duration<double>(0.01);
    std::this_thread::sleep_for(nap);
  }
  // The holder's pid, for the message of a run refused meanwhile.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
  crash_point("locked");
}

file_lock::~file_lock() {
  (void)!::ftruncate(fd_, 0);  // still locked: no other run reads it meanwhile
  ::close(fd_);                // releases the lock
}

void crash_point(const char* point) {
  static const char* const at = std::getenv("FLUXCAP_TEST_CRASH_AT");
  if (at != nullptr && std::strcmp(at, point) == 0) ::raise(SIGKILL);
}

int fail(int status, const std::string& message) {
  std::fprintf(stderr, "fluxcap: %s\n", message.c_str());
  return status;
}

int fail_for_current_exception() {
  try {
    throw;
  } catch (const fluxcap::spec_error& e) {
    return fail(exit_usage, e.what());
  } catch (const fluxcap::sigma::sigma_error& e) {
    return fail(exit_usage, e.what());
  } catch (const usage_error& e) {
    return fail(exit_usage, e.what());
  } catch (const io_error& e) {
    return fail(exit_data, e.what());
  } catch (const std::bad_alloc&) {
    return fail(exit_data, "out of memory");
  } catch (const std::exception& e) {
    return fail(exit_data, std::string("unexpected error: ") + e.what());
  }
}

}  // namespace fluxcap_cli
