#pragma once

// The async mode's queues and the thread that writes them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "base/thread_instance.hpp"
#include "base/tick_clock.hpp"
#include "logging/log_export.hpp"
#include "logging/outputs.hpp"
#include "logging/record_codec.hpp"

namespace o11y::detail {

/// A single-producer single-consumer byte ring: the producer (one logging thread) appends
/// entries and publishes them with one release store; the consumer (the writer thread) reads
/// them and gives the room back with another. Entries never straddle the end: the producer
/// skips to the start, marking the skipped tail when there is room for a header.
// Padded on purpose: each side's fields on cache lines of their own.
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
class SpscRing {
 public:
  /// What precedes every entry.
  struct Header {
    std::uint64_t ticks;   ///< the clock's reading, for ordering lines across threads
    std::uint32_t length;  ///< bytes of the entry's payload in use
    std::uint32_t size;    ///< bytes the entry takes, header included (a multiple of 8)
    std::uint8_t output;   ///< an output's index, kRecordEntry, or kSkip
    std::uint8_t level;
  };
  static constexpr std::size_t kHeader = (sizeof(Header) + 7) / 8 * 8;
  static constexpr std::uint8_t kSkip = 0xFE;
  static constexpr std::size_t entry_size(std::size_t payload) noexcept {
    return kHeader + (payload + 7) / 8 * 8;
  }

  /// `capacity`: a power of two, at least 64.
  explicit SpscRing(std::size_t capacity)
      : capacity_(capacity),
        // Not value-initialised: pages are touched only as the ring first fills them.
        words_(new std::uint64_t[capacity / 8]) {}  // NOLINT(*-avoid-c-arrays)

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // ---- producer ----
  /// Room for an entry of `size` bytes (entry_size()), or null when the ring has none now.
  /// Nothing is visible to the consumer until publish().
  [[gnu::always_inline]] char* try_reserve(std::size_t size) noexcept {
    const std::size_t offset = write_ & (capacity_ - 1);
    const std::size_t skip = offset + size > capacity_ ? capacity_ - offset : 0;
    const std::uint64_t end = write_ + skip + size;
    if (end - cached_read_ > capacity_) {
      cached_read_ = read_.load(std::memory_order_acquire);
      if (end - cached_read_ > capacity_) {
        // Too big to follow the skip to the start even once the consumer has caught up: the
        // skip goes to the consumer alone, and once it has passed it the whole ring is free.
        // Otherwise an entry over half the ring could wait for room for ever.
        if (skip != 0 && write_ + skip - cached_read_ <= capacity_)
          publish_skip(offset, skip);
        return nullptr;
      }
    }
    if (skip != 0) {
      if (skip >= kHeader)
        header_at(offset)->output = kSkip;
      write_ += skip;
    }
    pending_ = write_;
    write_ += size;
    return bytes() + (pending_ & (capacity_ - 1));
  }
  /// Cuts the entry try_reserve() returned last to `size` bytes (entry_size(), at most what
  /// was reserved); 0 takes the whole reservation back.
  void shrink_last(std::size_t size) noexcept { write_ = pending_ + size; }
  void publish() noexcept { published_.store(write_, std::memory_order_release); }
  /// Set by the producer when it moved on to a larger ring: after its last publish() here.
  std::atomic<SpscRing*> next{nullptr};

  // ---- consumer ----
  /// The entries published and not yet consumed: [consumed(), published).
  [[nodiscard]] std::uint64_t published() const noexcept {
    return published_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t consumed() const noexcept { return consumer_pos_; }
  /// The entry at `pos` (a position below published()), moving `pos` past skipped room; null
  /// when the skip reached `end`.
  const Header* entry(std::uint64_t& pos, std::uint64_t end) const noexcept {
    std::size_t offset = pos & (capacity_ - 1);
    if (capacity_ - offset < kHeader || header_at(offset)->output == kSkip) {
      pos += capacity_ - offset;
      if (pos >= end)
        return nullptr;
      offset = 0;
    }
    return header_at(offset);
  }
  /// Gives the room up to `pos` back to the producer.
  void consume_to(std::uint64_t pos) noexcept {
    consumer_pos_ = pos;
    read_.store(pos, std::memory_order_release);
  }

 private:
  [[nodiscard]] char* bytes() const noexcept {
    return reinterpret_cast<char*>(words_.get());  // NOLINT(*-reinterpret-cast)
  }
  [[gnu::noinline]] void publish_skip(std::size_t offset, std::size_t skip) noexcept {
    if (skip >= kHeader)
      header_at(offset)->output = kSkip;
    write_ += skip;
    publish();
  }
  [[nodiscard]] Header* header_at(std::size_t offset) const noexcept {
    return std::launder(reinterpret_cast<Header*>(bytes() + offset));  // NOLINT(*-cast)
  }

  const std::size_t capacity_;
  std::unique_ptr<std::uint64_t[]> words_;  // NOLINT(*-avoid-c-arrays)
  // Each side's own positions on cache lines of their own, so that publishing does not take
  // the line the other side reads its position from.
  alignas(64) std::uint64_t write_ = 0;  // producer
  std::uint64_t pending_ = 0;            // producer: the entry being filled
  std::uint64_t cached_read_ = 0;        // producer: read_ as last seen
  alignas(64) std::atomic<std::uint64_t> published_{0};
  alignas(64) std::atomic<std::uint64_t> read_{0};
  std::uint64_t consumer_pos_ = 0;  // consumer
};

/// One logging thread's queue: a chain of rings, growing (doubling) while the writer lags,
/// up to the configured budget. Shared by the thread (producer) and the writer (consumer).
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): the counters on lines of their own
struct ThreadQueue {
  explicit ThreadQueue(std::size_t first_capacity)
      : newest(new SpscRing(first_capacity)), oldest(newest) {}
  ~ThreadQueue() {
    for (SpscRing* r = oldest; r != nullptr;) {
      SpscRing* next = r->next.load(std::memory_order_acquire);
      delete r;  // NOLINT(*-owning-memory)
      r = next;
    }
  }
  ThreadQueue(const ThreadQueue&) = delete;
  ThreadQueue& operator=(const ThreadQueue&) = delete;
  ThreadQueue(ThreadQueue&&) = delete;
  ThreadQueue& operator=(ThreadQueue&&) = delete;

  SpscRing* newest;  ///< producer: where it writes
  /// The FrameBlob::generation of the frame bytes this queue keeps (producer only; 0: none):
  /// the last blob a committed record carried.
  std::uint64_t frame_saved = 0;
  SpscRing* oldest;  ///< consumer: where it reads; rings before `newest` are freed when drained
  /// Entries published (producer) and written (consumer), for flush().
  alignas(64) std::atomic<std::uint64_t> pushed{0};
  alignas(64) std::atomic<std::uint64_t> written{0};
  /// The thread exited: the writer drops the queue once it is drained.
  std::atomic<bool> closed{false};
  /// The Unix time the writer last stamped one of this thread's records with (writer only):
  /// a thread's lines never go back in time.
  std::uint64_t last_stamp = 0;
  /// The frame bytes kFrameKept records read (writer only).
  std::string frame_bytes;
};

/// The calling thread's queue for one writer (the newest it logged through).
struct CachedQueue {
  std::uint64_t writer = 0;
  std::shared_ptr<ThreadQueue> queue;
  CachedQueue() = default;
  CachedQueue(const CachedQueue&) = delete;
  CachedQueue& operator=(const CachedQueue&) = delete;
  CachedQueue(CachedQueue&&) = delete;
  CachedQueue& operator=(CachedQueue&&) = delete;
  ~CachedQueue() {
    if (queue)
      queue->closed.store(true, std::memory_order_release);
  }
};

// Lines and records written by one background thread. Each logging thread appends to a queue
// of its own (no lock, no system call on its path while the queue has room), and the writer
// reads every queue, in time order across threads. A thread that can no longer have a queue
// (logging from a thread_local destructor at its exit) shares one behind a lock.
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): callers' fields on a line of their own
class AsyncWriter {
 public:
  /// An entry's room: fill `data`, then commit(). Null `data` when the line was dropped.
  struct Slot {
    char* data = nullptr;
    SpscRing* ring = nullptr;
    ThreadQueue* queue = nullptr;
    bool shared = false;  ///< holds shared_mu_ until commit()
    explicit operator bool() const noexcept { return data != nullptr; }
  };

  /// `budget`: bytes one thread's queue may grow to (at least 64). With `log_export`, the
  /// writer also hands every record to it (log records over OTLP), so the caller does not.
  AsyncWriter(std::vector<Output> outputs, Renderers renderers, std::size_t budget, bool drop,
              std::shared_ptr<LogExport> log_export = nullptr);
  /// In a fork()ed child the writer thread does not exist: the writer must never be used,
  /// flushed or destroyed there (its destructor would join a thread that is not).
  void abandon() noexcept { abandoned_ = true; }
  ~AsyncWriter();
  AsyncWriter(const AsyncWriter&) = delete;
  AsyncWriter& operator=(const AsyncWriter&) = delete;
  AsyncWriter(AsyncWriter&&) = delete;
  AsyncWriter& operator=(AsyncWriter&&) = delete;

  /// Room for `bytes` bytes for this output (kRecordEntry: an encoded record), stamped with
  /// the clock reading `ticks`. When the thread's queue is full and at its budget: waits for room,
  /// or drops the line (counted) in drop mode. Never throws. Inline for the usual case (the
  /// thread's queue exists and has room), which is most of a log call's queueing.
  [[gnu::always_inline]] Slot reserve(std::size_t output, std::size_t bytes, Level level,
                                      std::uint64_t ticks) noexcept {
    const std::size_t size = SpscRing::entry_size(bytes);
    const auto* cached = thread_instance<CachedQueue>();
    if (cached != nullptr && cached->writer == id_ && size <= max_capacity_) [[likely]] {
      ThreadQueue* q = cached->queue.get();
      SpscRing* ring = q->newest;
      if (char* p = size <= ring->capacity() ? ring->try_reserve(size) : nullptr) [[likely]] {
        auto* h = std::launder(reinterpret_cast<SpscRing::Header*>(p));  // NOLINT(*-cast)
        h->ticks = ticks;
        h->output = static_cast<std::uint8_t>(output);
        h->level = static_cast<std::uint8_t>(level);
        return {p + SpscRing::kHeader, ring, q, false};
      }
    }
    return reserve_slow(output, bytes, level, ticks);
  }
  /// Hands a filled slot to the writer: `length` bytes of it (at most what was reserved) are
  /// the entry; the rest of its room goes back to the thread's queue.
  [[gnu::always_inline]] void commit(const Slot& slot, std::size_t length) noexcept {
    auto* h = std::launder(reinterpret_cast<SpscRing::Header*>(  // NOLINT(*-cast)
        slot.data - SpscRing::kHeader));
    h->length = static_cast<std::uint32_t>(length);
    h->size = static_cast<std::uint32_t>(SpscRing::entry_size(length));
    slot.ring->shrink_last(h->size);
    slot.ring->publish();
    ThreadQueue& q = *slot.queue;
    q.pushed.store(q.pushed.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    if (slot.shared) [[unlikely]]
      shared_mu_.unlock();
    wake();
  }
  /// Takes back a slot that was not committed: its room is the thread's next entry's.
  void cancel(const Slot& slot) noexcept;
  /// Queues a line rendered on the caller for one output.
  void push(std::size_t output, std::string_view bytes, Level level, std::uint64_t ticks) noexcept {
    if (const Slot slot = reserve(output, bytes.size(), level, ticks)) {
      std::memcpy(slot.data, bytes.data(), bytes.size());
      commit(slot, bytes.size());
    }
  }
  /// Returns once every line queued before the call is written (and handed to the log
  /// exporter).
  void flush() noexcept;
  /// Whether an entry of `bytes` bytes can ever have room here (the budget allows it).
  [[nodiscard]] bool fits(std::size_t bytes) const noexcept {
    return SpscRing::entry_size(bytes) <= max_capacity_;
  }
  /// Whether records queued here reach the log exporter through the writer.
  [[nodiscard]] bool exports() const noexcept { return log_export_ != nullptr; }
  /// Times the writer went to sleep until a caller woke it (each wake-up is a caller's system
  /// call): for tests and diagnostics.
  [[nodiscard]] std::uint64_t sleeps() const noexcept {
    return sleeps_.load(std::memory_order_relaxed);
  }

 private:
  Slot reserve_slow(std::size_t output, std::size_t bytes, Level level,
                    std::uint64_t ticks) noexcept;
  ThreadQueue* thread_queue() noexcept;
  std::shared_ptr<ThreadQueue> add_queue();
  void wake() noexcept {
    // Not moved before the caller's publishing store by the compiler; the processor's
    // reordering is the writer's process_barrier() to undo.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_relaxed)) [[unlikely]]
      wake_sleeping();
  }
  void wake_sleeping() noexcept;
  void run() noexcept;
  /// Lines written this round.
  std::size_t drain_once(std::vector<std::shared_ptr<ThreadQueue>>& queues) noexcept;
  /// After a round of `lines`: waits a little while the writer keeps up (flush() and stop()
  /// end the wait).
  void pace(std::size_t lines) noexcept;
  void write_entry(const SpscRing::Header& h, ThreadQueue& queue) noexcept;
  void write_record(std::string_view bytes, Level level, ThreadQueue& queue) noexcept;
  void stop() noexcept;

  // Read by every caller on every line and written only at construction or rarely, on a
  // cache line of their own: beside the writer's per-round state (its mutex, its decoder),
  // every line a caller wrote while the writer ran cost the caller a cache miss for them.
  alignas(64) const std::size_t
      max_capacity_;  ///< a thread's largest ring: the budget, rounded down
  const std::size_t first_capacity_;
  const std::uint64_t id_;  ///< tells a thread's cached queue of an older writer from ours
  const std::shared_ptr<LogExport> log_export_;
  const bool drop_;
  /// The writer waits for a caller's wake-up (set by the writer, cleared by the waking caller).
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stop_{false};

  // The writer thread's, and what flush() and new threads write.
  alignas(64) std::vector<Output> outputs_;
  Renderers renderers_;
  RecordReader reader_;  // writer thread only
  /// Stamps the records callers left unstamped (writer thread only).
  tick_clock::WallAnchor anchor_;
  /// One round's entries, in the order they are written (writer thread only).
  struct Item {
    std::uint64_t time;
    const SpscRing::Header* header;
    ThreadQueue* queue;
  };
  /// What one round read of one ring (writer thread only).
  struct Range {
    const std::shared_ptr<ThreadQueue>* queue;
    SpscRing* ring;
    std::uint64_t end;
    std::uint64_t count;
  };
  // Members, not locals or thread_locals of the writer thread: in a fork()ed child, where that
  // thread does not exist, their buffers stay reachable from the (abandoned) writer.
  std::vector<std::shared_ptr<ThreadQueue>> reading_;  ///< queues_ as the writer last copied it
  std::vector<Item> items_;
  std::vector<Range> ranges_;
  /// Lines read from a queue and not yet flushed to the outputs (writer thread only).
  std::vector<std::pair<std::shared_ptr<ThreadQueue>, std::uint64_t>> unpublished_;
  Buffer buffers_[kRendererCount];  // writer thread only

  std::mutex mu_;  // queues_, the condition variables
  std::condition_variable has_data_;
  std::condition_variable drained_;
  std::vector<std::shared_ptr<ThreadQueue>> queues_;
  std::atomic<std::uint64_t> queues_version_{0};
  std::atomic<bool> flush_requested_{false};
  std::atomic<std::uint64_t> sleeps_{0};
  std::mutex shared_mu_;  // producers of shared_
  std::shared_ptr<ThreadQueue> shared_;
  std::unique_ptr<std::thread> thread_;
  bool abandoned_ = false;
};

}  // namespace o11y::detail
