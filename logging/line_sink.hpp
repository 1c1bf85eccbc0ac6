#pragma once

#include <spdlog/sinks/sink.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace o11y::detail {

/// Writes finished lines, in large writes, to a log file that it rotates by size (app.log ->
/// app.1.log -> ... -> app.N.log, spdlog's naming, the oldest dropped) or to a descriptor the
/// process already has: stdout when it is not a terminal. Our lines arrive rendered, so unlike
/// spdlog's sinks it copies the payload into its buffer and nothing else. spdlog's stdout sink
/// flushes every line: one write(2) per line, which in a loaded HTTP service (8 handler
/// threads, one line per request) was about a syscall per request under a shared lock.
///
/// Lines collect in a 256 KiB buffer. With `background_writes`, a full buffer is handed to a
/// writer thread and the caller carries on in a second one, since write(2) into the page
/// cache costs more than rendering the line. A caller waits only
/// when both buffers are full, so nothing is dropped and lines keep their order. The writer
/// also takes a partly filled buffer after kMaxDelay, so a quiet service's lines reach the
/// file promptly; with nothing buffered it sleeps until a line comes. Without `background_writes`
/// (async logging, whose writer thread is already off the callers' path) the caller writes a full
/// buffer itself.
///
/// Warnings and worse are written before log() returns, as is everything at flush(), rotation
/// and destruction, so a crash loses at most kMaxDelay's worth of info and debug lines.
///
/// Thread-safe. log() throws spdlog_ex when the file cannot be opened or a synchronous write
/// fails (the pipeline reports and counts it); a failed background write is reported through
/// the internal error channel and its lines counted as dropped. Not usable in a fork()ed child:
/// the pipeline calls abandon() there and builds a new sink.
class LineSink final : public spdlog::sinks::sink {
 public:
  /// Appends to the file at `path` (created 0666 less the umask), rotated past max_bytes.
  LineSink(std::string path, std::size_t max_bytes, std::size_t max_files, bool background_writes);
  /// Writes to `fd`, which it neither rotates nor closes; `name` names it in error reports.
  LineSink(int fd, std::string name, bool background_writes);
  ~LineSink() override;
  LineSink(const LineSink&) = delete;
  LineSink& operator=(const LineSink&) = delete;
  LineSink(LineSink&&) = delete;
  LineSink& operator=(LineSink&&) = delete;

  void log(const spdlog::details::log_msg& msg) override;
  /// What log() does with a message's payload, for callers that have no log_msg: appends the
  /// line, and with `at_once` (warnings and worse) writes everything buffered before returning.
  void write(std::string_view line, bool at_once);
  void flush() override;
  void set_pattern(const std::string& /*pattern*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*formatter*/) override {}

  /// In a fork()ed child: the writer thread does not exist there and the lock may be held by
  /// a thread that does not either. Closes a file it opened; the object must not be used or
  /// destroyed afterwards (the pipeline keeps it reachable for ever).
  void abandon() noexcept;

 private:
  struct Chunk {
    std::vector<char> bytes;
    std::size_t lines = 0;
  };

  void start();
  void open();
  /// Rotates if a line of `incoming` bytes still does not fit once the buffer is written.
  void rotate(std::unique_lock<std::mutex>& lock, std::size_t incoming);
  [[nodiscard]] std::string numbered(std::size_t index) const;
  /// Waits until the writer thread holds nothing (every handed-off chunk is in the file).
  void wait_idle(std::unique_lock<std::mutex>& lock);
  /// Writes the current chunk on this thread, after whatever the writer thread holds.
  void write_now(std::unique_lock<std::mutex>& lock);
  /// Writes c to fd and empties it; a failure is reported and c's lines counted as dropped.
  void write_out(int fd, Chunk& c) const noexcept;
  void run() noexcept;

  // Large: each hand-off that finds the writer asleep costs a futex wake-up, so fewer
  // hand-offs make a cheaper line (docs/performance.md, "Log file buffer").
  static constexpr std::size_t kBufferBytes = std::size_t{256} * 1024;
  static constexpr auto kMaxDelay = std::chrono::milliseconds(250);

  std::string path_;  ///< the file, or the descriptor's name
  std::size_t max_bytes_;
  std::size_t max_files_;
  bool background_;
  bool owns_fd_;  ///< opened (and rotated, closed) here; false for an inherited descriptor

  std::mutex mu_;
  std::condition_variable has_work_;  // the writer thread waits for a chunk or stop_
  std::condition_variable idle_;      // callers wait for the writer thread to finish a chunk
  int fd_ = -1;
  std::size_t size_ = 0;   ///< bytes in the file, counting what is still buffered
  Chunk current_;          ///< being filled by callers
  Chunk handed_;           ///< waiting for, or being written by, the writer thread
  bool busy_ = false;      ///< the writer thread holds handed_
  bool sleeping_ = false;  ///< the writer thread waits, untimed, for a first line
  bool stop_ = false;
  /// Set in a fork()ed child, by its only thread; tested before mu_ is taken.
  std::atomic<bool> abandoned_{false};
  std::thread thread_;
};

}  // namespace o11y::detail
