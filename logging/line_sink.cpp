#include "logging/line_sink.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "logging/pipeline.hpp"

namespace o11y::detail {

LineSink::LineSink(std::string path, std::size_t max_bytes, std::size_t max_files,
                   bool background_writes)
    : path_(std::move(path)),
      max_bytes_(max_bytes),
      max_files_(max_files),
      background_(background_writes),
      owns_fd_(true) {
  open();
  start();
}

LineSink::LineSink(int fd, std::string name, bool background_writes)
    : path_(std::move(name)),
      max_bytes_(0),
      max_files_(0),
      background_(background_writes),
      owns_fd_(false),
      fd_(fd) {
  start();
}

void LineSink::start() {
  // Slack past the hand-off size, so the line that fills a buffer never reallocates it.
  current_.bytes.reserve(kBufferBytes + kBufferBytes / 4);
  handed_.bytes.reserve(kBufferBytes + kBufferBytes / 4);
  if (background_) {
    try {
      thread_ = start_thread("o11y-log-write", [this] { run(); });
    } catch (...) {
      if (owns_fd_)
        (void)::close(fd_);
      throw;
    }
  }
}

LineSink::~LineSink() {
  if (abandoned_.load(std::memory_order_relaxed))
    return;
  {
    std::unique_lock lock(mu_);
    write_now(lock);
    stop_ = true;
  }
  has_work_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (owns_fd_ && fd_ >= 0)
    (void)::close(fd_);
}

void LineSink::abandon() noexcept {
  abandoned_.store(true, std::memory_order_relaxed);
  if (owns_fd_ && fd_ >= 0)
    (void)::close(fd_);
  fd_ = -1;
}

void LineSink::open() {
  // 0666 less the umask, as fopen() creates files; never inherited by exec'd programs.
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);  // NOLINT
  if (fd_ < 0)
    spdlog::throw_spdlog_ex("cannot open log file " + path_, errno);
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

std::string LineSink::numbered(std::size_t index) const {
  if (index == 0)
    return path_;
  const std::filesystem::path p(path_);
  const auto ext = p.extension().string();
  return (p.parent_path() / (p.stem().string() + "." + std::to_string(index) + ext)).string();
}

void LineSink::rotate(std::unique_lock<std::mutex>& lock, std::size_t incoming) {
  write_now(lock);  // what is buffered belongs to the file being rotated out
  // write_now() may have waited, without the lock, while another caller rotated: the file is
  // then a new one, and rotating it again would push a generation out early.
  if (fd_ < 0 || size_ == 0 || size_ + incoming <= max_bytes_)
    return;
  (void)::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(numbered(max_files_), ec);
  for (std::size_t i = max_files_; i > 0; --i) {
    if (std::filesystem::exists(numbered(i - 1), ec)) {
      std::filesystem::rename(numbered(i - 1), numbered(i), ec);
    }
  }
  open();
}

void LineSink::wait_idle(std::unique_lock<std::mutex>& lock) {
  idle_.wait(lock, [this] { return !busy_ && handed_.bytes.empty(); });
}

namespace {
constexpr int kStallMs = 5000;

/// Writes all of bytes to fd; returns 0 or the errno of the failure.
int write_all(int fd, const std::vector<char>& bytes) noexcept {
  if (fd < 0)
    return EBADF;  // the file could not be reopened after a rotation
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      // A stdout some parent made non-blocking (a pipe to a busy reader): wait for room
      // rather than lose lines, but not for ever.
      if (errno == EAGAIN) {
        pollfd pfd{fd, POLLOUT, 0};
        if (::poll(&pfd, 1, kStallMs) > 0)
          continue;
        return EAGAIN;
      }
      return errno;
    }
    if (n == 0)
      return EIO;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

// A failed write loses the chunk's lines; each is counted, and the failure reported (the
// report channel folds a flood of identical messages into a count).
void report_lost(const std::string& path, std::size_t lines, int err) noexcept {
  for (std::size_t i = 0; i < lines; ++i)
    count_dropped_line();
  try {
    report_internal_error("logging", "cannot write logs to " + path + ": " + errno_text(err));
  } catch (...) {
    report_internal_error("logging", "cannot write the log file");
  }
}
}  // namespace

void LineSink::write_out(int fd, Chunk& c) const noexcept {
  if (const int err = write_all(fd, c.bytes); err != 0)
    report_lost(path_, c.lines, err);
  c.bytes.clear();
  c.lines = 0;
}

void LineSink::write_now(std::unique_lock<std::mutex>& lock) {
  wait_idle(lock);
  if (!current_.bytes.empty())
    write_out(fd_, current_);
}

void LineSink::log(const spdlog::details::log_msg& msg) {
  write({msg.payload.data(), msg.payload.size()}, msg.level >= spdlog::level::warn);
}

void LineSink::write(std::string_view line, bool at_once) {
  // Tested before the lock: in a fork()ed child the parent's writer thread may have held it.
  if (abandoned_.load(std::memory_order_relaxed))
    return;
  std::unique_lock lock(mu_);
  if (fd_ < 0 && owns_fd_)
    open();  // a failed rotation: try again
  if (owns_fd_ && size_ > 0 && size_ + line.size() > max_bytes_)
    rotate(lock, line.size());
  current_.bytes.insert(current_.bytes.end(), line.begin(), line.end());
  ++current_.lines;
  size_ += line.size();
  if (sleeping_ && current_.lines == 1)
    has_work_.notify_one();  // the first line after a quiet spell: start the kMaxDelay clock
  if (at_once) {
    write_now(lock);
  } else if (current_.bytes.size() >= kBufferBytes) {
    if (!background_) {
      write_now(lock);
    } else {
      wait_idle(lock);  // both buffers full: the caller waits rather than drop
      std::swap(handed_, current_);
      has_work_.notify_one();
    }
  }
}

void LineSink::flush() {
  // Tested before the lock, as in write(): a child rebuilding its logging after fork() flushes
  // the state it replaces, and the parent's writer thread may have held the lock at the fork
  // (it does from waking until it waits again), so locking first hung the child for ever.
  if (abandoned_.load(std::memory_order_relaxed))
    return;
  std::unique_lock lock(mu_);
  write_now(lock);
}

void LineSink::run() noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    if (current_.bytes.empty() && handed_.bytes.empty() && !stop_) {
      // Nothing buffered: sleep until a caller buffers a line, rather than wake every
      // kMaxDelay in a process that logs nothing for hours.
      sleeping_ = true;
      has_work_.wait(lock,
                     [this] { return !current_.bytes.empty() || !handed_.bytes.empty() || stop_; });
      sleeping_ = false;
    }
    has_work_.wait_for(lock, kMaxDelay, [this] { return !handed_.bytes.empty() || stop_; });
    if (handed_.bytes.empty()) {
      if (stop_)
        return;  // the destructor wrote what was left
      if (current_.bytes.empty())
        continue;
      std::swap(handed_, current_);  // lines kMaxDelay old at most: write them now
    }
    busy_ = true;
    const int fd = fd_;
    lock.unlock();
    write_out(fd, handed_);  // callers leave handed_ alone while busy_: no lock needed
    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
}

}  // namespace o11y::detail
