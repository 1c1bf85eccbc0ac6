#pragma once

// The async mode's queue and the thread that writes it.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
#include <thread>
#include <vector>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "logging/outputs.hpp"
#include "logging/record_codec.hpp"

namespace o11y::detail {

// Lines and records written by one background thread, from a bounded byte queue of entries.
// A caller reserves its entry under the lock and fills it after unlocking, so callers contend
// only for a bump of the queue's size, and a record is encoded once, in place. (Encoded into a
// buffer of its own and then copied into the queue, the copy and the second buffer were a tenth
// of an async call.) The writer swaps the whole queue out under the lock and reads it without,
// waiting at each entry until its caller has committed it.
class AsyncWriter {
 public:
  /// An entry's room in the queue: fill `data`, then commit(). Null when the line was dropped.
  struct Slot {
    char* data = nullptr;
    explicit operator bool() const noexcept { return data != nullptr; }
  };

  AsyncWriter(std::vector<Output> outputs, Renderers renderers, std::size_t capacity, bool drop)
      : outputs_(std::move(outputs)),
        renderers_(std::move(renderers)),
        capacity_(capacity),
        drop_(drop),
        // Not value-initialised: pages are touched only as the queue first fills them.
        queue_(new Word[capacity / sizeof(Word) + 1]),   // NOLINT(*-avoid-c-arrays)
        batch_(new Word[capacity / sizeof(Word) + 1]) {  // NOLINT(*-avoid-c-arrays)
    start();
  }
  /// In a fork()ed child the writer thread does not exist: the writer must never be used,
  /// flushed or destroyed there (its destructor would join a thread that is not).
  void abandon() noexcept { abandoned_ = true; }
  ~AsyncWriter() {
    if (!abandoned_)
      stop();
  }
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;
  AsyncWriter(AsyncWriter&&) = delete;
  AsyncWriter& operator=(AsyncWriter&&) = delete;

  /// Room for `bytes` bytes for this output (kRecordEntry: an encoded record). Waits while the
  /// queue is full, or drops the line (counted) in drop mode. Never throws.
  Slot reserve(std::size_t output, std::size_t bytes, Level level) noexcept {
    const std::size_t need = entry_size(bytes);
    std::unique_lock lock(mu_);
    if (need > capacity_ || (drop_ && size_ + need > capacity_)) {
      lock.unlock();
      count_dropped_line();
      return {};
    }
    has_space_.wait(lock, [&] { return size_ + need <= capacity_ || stop_; });
    if (stop_) {
      lock.unlock();
      count_dropped_line();
      return {};
    }
    char* entry = bytes_of(queue_) + size_;
    new (entry) EntryHeader{0, 0, static_cast<std::uint32_t>(bytes),
                            static_cast<std::uint8_t>(output), static_cast<std::uint8_t>(level)};
    size_ += need;
    ++pushed_;
    // Waking the writer is a futex call, more than the rest of a push: wake it only when it
    // sleeps untimed (idle) or for a burst. Otherwise it finds the lines on its next poll,
    // within kPoll.
    if (sleeping_) {
      sleeping_ = false;  // one wake-up is enough
      has_data_.notify_one();
    } else if (writer_waiting_ && size_ > capacity_ / 8) {
      has_data_.notify_one();
    }
    return {entry + kEntryHeader};
  }

  /// Hands a filled slot to the writer: `length` bytes of it are the entry.
  static void commit(const Slot& slot, std::size_t length) noexcept {
    auto* h = std::launder(reinterpret_cast<EntryHeader*>(  // NOLINT(*-reinterpret-cast)
        slot.data - kEntryHeader));
    h->length = static_cast<std::uint32_t>(length);
    std::atomic_ref<std::uint32_t>(h->committed).store(1, std::memory_order_release);
  }

  /// Queues a line rendered on the caller for one output.
  void push(std::size_t output, std::string_view bytes, Level level) noexcept {
    if (const Slot slot = reserve(output, bytes.size(), level)) {
      std::memcpy(slot.data, bytes.data(), bytes.size());
      commit(slot, bytes.size());
    }
  }

  void flush() noexcept {
    if (abandoned_)
      return;
    std::unique_lock lock(mu_);
    const auto target = pushed_;
    flush_requested_ = true;
    has_data_.notify_one();
    drained_.wait(lock, [&] { return written_ >= target || stop_; });
  }

 private:
  void start() {
    thread_ = std::make_unique<std::thread>(start_thread("o11y-log-async", [this] { run(); }));
  }

  void stop() noexcept {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    has_data_.notify_all();
    has_space_.notify_all();
    if (thread_ && thread_->joinable())
      thread_->join();
    for (const auto& o : outputs_)
      flush_sink(o);
  }

  void run() noexcept {
    const auto has_work = [this] { return size_ != 0 || stop_ || flush_requested_; };
    std::size_t idle_polls = 0;
    for (;;) {
      std::uint64_t upto = 0;
      std::size_t batch_size = 0;
      bool flush_now = false;
      bool stopping = false;
      {
        std::unique_lock lock(mu_);
        if (idle_polls >= kIdlePollsBeforeSleep && !has_work()) {
          // Idle for a while: sleep until a caller queues a line, rather than wake every
          // kPoll (200 times a second) in a process that logs nothing for hours. The caller
          // that finds the writer asleep pays one futex wake-up.
          sleeping_ = true;
          has_data_.wait(lock, has_work);
          sleeping_ = false;
        }
        writer_waiting_ = true;
        has_data_.wait_for(lock, kPoll, has_work);
        writer_waiting_ = false;
        idle_polls = has_work() ? 0 : idle_polls + 1;
        queue_.swap(batch_);
        batch_size = size_;
        size_ = 0;
        upto = pushed_;
        flush_now = flush_requested_;
        flush_requested_ = false;
        stopping = stop_;
      }
      has_space_.notify_all();
      write_batch(bytes_of(batch_), batch_size);
      // Flushing every batch keeps a crash from losing more than one batch; batches grow with
      // load, so the flush cost per line falls as throughput rises.
      for (const auto& o : outputs_)
        flush_sink(o);
      {
        std::lock_guard lock(mu_);
        written_ = upto;
      }
      drained_.notify_all();
      if (stopping && !flush_now) {
        std::lock_guard lock(mu_);
        if (size_ == 0)
          return;
      }
    }
  }

  void write_batch(char* batch, std::size_t size) noexcept {
    for (std::size_t pos = 0; pos < size;) {
      auto* h = std::launder(reinterpret_cast<EntryHeader*>(batch + pos));  // NOLINT(*-cast)
      // Its caller reserved it under the lock and is filling it: a few hundred nanoseconds,
      // unless that thread was preempted.
      while (std::atomic_ref<std::uint32_t>(h->committed).load(std::memory_order_acquire) == 0)
        std::this_thread::yield();
      const std::string_view bytes(batch + pos + kEntryHeader, h->length);
      const std::size_t output = h->output;
      const auto level = static_cast<Level>(h->level);
      if (output == kRecordEntry) {
        if (!bytes.empty())  // empty: its caller could not encode it and rendered it instead
          write_record(bytes, level);
      } else if (output < outputs_.size()) {
        write_to_sink(outputs_[output], bytes, level);
      }
      pos += entry_size(h->reserved);
    }
  }

  // Renders a deferred record once per renderer and writes it to every output.
  void write_record(std::string_view bytes, Level level) noexcept {
    try {
      const Record r = reader_.decode(bytes);
      RenderedLines lines(r, renderers_, buffers_);
      for (const auto& o : outputs_)
        write_to_sink(o, lines.line(o.renderer), level);
    } catch (const std::exception& e) {
      count_dropped_line();
      report_internal_error("logging", e.what());
    } catch (...) {
      count_dropped_line();
      report_internal_error("logging", "unknown exception while rendering a queued line");
    }
  }

  static constexpr auto kPoll = std::chrono::milliseconds(5);
  // 200 ms without a line: a service logging 5 lines a second or more never sleeps, so its
  // callers never pay for waking the writer.
  static constexpr std::size_t kIdlePollsBeforeSleep = 40;

  // An entry: this header, then `reserved` bytes of which the first `length` are the line or
  // record, padded so that the next header is aligned.
  struct EntryHeader {
    std::uint32_t committed;  ///< 0 until the caller has filled the entry (atomic_ref)
    std::uint32_t length;
    std::uint32_t reserved;
    std::uint8_t output;
    std::uint8_t level;
  };
  using Word = std::uint64_t;
  static constexpr std::size_t kEntryHeader = (sizeof(EntryHeader) + 7) / 8 * 8;
  static constexpr std::size_t entry_size(std::size_t bytes) noexcept {
    return kEntryHeader + (bytes + 7) / 8 * 8;
  }
  static char* bytes_of(const std::unique_ptr<Word[]>& words) noexcept {  // NOLINT(*-c-arrays)
    return reinterpret_cast<char*>(words.get());  // NOLINT(*-reinterpret-cast)
  }

  std::vector<Output> outputs_;
  Renderers renderers_;
  RecordReader reader_;             // writer thread only
  Buffer buffers_[kRendererCount];  // writer thread only
  std::size_t capacity_;
  bool drop_;
  std::mutex mu_;
  std::condition_variable has_data_;
  std::condition_variable has_space_;
  std::condition_variable drained_;
  std::unique_ptr<Word[]> queue_;  // NOLINT(*-avoid-c-arrays): capacity_ bytes, size_ used
  std::size_t size_ = 0;
  // Owned by the writer, not a local of its thread: in a fork()ed child, where that thread's
  // stack is gone, the buffer is still reachable from this (abandoned) object.
  std::unique_ptr<Word[]> batch_;  // NOLINT(*-avoid-c-arrays): touched by the writer only
  std::uint64_t pushed_ = 0;
  std::uint64_t written_ = 0;
  bool writer_waiting_ = false;
  bool sleeping_ = false;  ///< the writer waits, untimed, for a first line
  bool flush_requested_ = false;
  bool stop_ = false;
  std::unique_ptr<std::thread> thread_;
  bool abandoned_ = false;
};

}  // namespace o11y::detail
