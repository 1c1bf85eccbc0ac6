#include "logging/async_writer.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <new>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "base/thread_instance.hpp"

namespace o11y::detail {
namespace {

// How often a writer with nothing to do looks again: every kPoll for a while after the last
// line, then never until a caller wakes it. A caller only wakes a writer that said it sleeps,
// so a busy service's callers never make a system call.
constexpr auto kPoll = std::chrono::milliseconds(5);
constexpr auto kIdlePoll = std::chrono::milliseconds(50);  // without membarrier(2) only
constexpr std::size_t kIdlePollsBeforeSleep = 40;          // 200 ms without a line
constexpr std::size_t kRoundsPerFlush = 16;
// A writer that keeps up waits kRoundGap after a round of fewer than kBusyRound lines instead
// of reading each line as it is published: a ring read while its caller writes it moves the
// cache lines between the two cores on every line, and the caller waits for them.
constexpr auto kRoundGap = std::chrono::microseconds(100);
constexpr std::size_t kBusyRound = 256;

// A thread's first ring: big enough for a few hundred lines; it doubles while the writer lags.
constexpr std::size_t kFirstRing = std::size_t{64} * 1024;

// A full memory barrier on every thread of the process (membarrier(2), private expedited),
// so that callers need none; false where the kernel or a seccomp policy refuses it.
bool process_barrier() noexcept {
  static const bool registered =
      ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  return registered && ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

std::atomic<std::uint64_t> g_writer_ids{0};  // NOLINT(*-avoid-non-const-global-*)

}  // namespace

AsyncWriter::AsyncWriter(std::vector<Output> outputs, Renderers renderers, std::size_t budget,
                         bool drop, std::shared_ptr<LogExport> log_export)
    : max_capacity_(std::bit_floor(std::max<std::size_t>(budget, 64))),
      first_capacity_(std::min(max_capacity_, kFirstRing)),
      id_(g_writer_ids.fetch_add(1, std::memory_order_relaxed) + 1),
      log_export_(std::move(log_export)),
      drop_(drop),
      outputs_(std::move(outputs)),
      renderers_(std::move(renderers)),
      shared_(std::make_shared<ThreadQueue>(first_capacity_)) {
  queues_.push_back(shared_);
  queues_version_.store(1, std::memory_order_release);
  thread_ = std::make_unique<std::thread>(start_thread("o11y-log-async", [this] { run(); }));
}

AsyncWriter::~AsyncWriter() {
  if (!abandoned_)
    stop();
}

std::shared_ptr<ThreadQueue> AsyncWriter::add_queue() {
  auto q = std::make_shared<ThreadQueue>(first_capacity_);
  std::lock_guard lock(mu_);
  queues_.push_back(q);
  queues_version_.fetch_add(1, std::memory_order_release);
  return q;
}

ThreadQueue* AsyncWriter::thread_queue() noexcept {
  auto* cached = thread_instance<CachedQueue>();
  if (cached == nullptr) [[unlikely]]
    return nullptr;  // a thread_local destructor at thread exit: the shared queue
  if (cached->writer == id_) [[likely]]
    return cached->queue.get();
  try {
    auto q = add_queue();
    if (cached->queue)  // an older writer's: it drains and drops it
      cached->queue->closed.store(true, std::memory_order_release);
    cached->queue = std::move(q);
    cached->writer = id_;
    return cached->queue.get();
  } catch (...) {
    return nullptr;
  }
}

void AsyncWriter::wake_sleeping() noexcept {
  std::lock_guard lock(mu_);
  sleeping_.store(false, std::memory_order_relaxed);
  has_data_.notify_one();
}

AsyncWriter::Slot AsyncWriter::reserve_slow(std::size_t output, std::size_t bytes, Level level,
                                            std::uint64_t ticks) noexcept {
  const std::size_t size = SpscRing::entry_size(bytes);
  if (size > max_capacity_) [[unlikely]] {
    count_dropped_line();
    return {};
  }
  Slot slot;
  slot.queue = thread_queue();
  if (slot.queue == nullptr) [[unlikely]] {
    shared_mu_.lock();
    slot.queue = shared_.get();
    slot.shared = true;
  }
  ThreadQueue& q = *slot.queue;
  for (;;) {
    SpscRing* ring = q.newest;
    if (char* p = size <= ring->capacity() ? ring->try_reserve(size) : nullptr) [[likely]] {
      auto* h = std::launder(reinterpret_cast<SpscRing::Header*>(p));  // NOLINT(*-cast)
      h->ticks = ticks;
      h->size = static_cast<std::uint32_t>(size);
      h->output = static_cast<std::uint8_t>(output);
      h->level = static_cast<std::uint8_t>(level);
      slot.data = p + SpscRing::kHeader;
      slot.ring = ring;
      return slot;
    }
    // Full: a larger ring while the budget allows (the writer lags: a burst), else the policy.
    if (ring->capacity() < max_capacity_) {
      const std::size_t grown =
          std::min(max_capacity_, std::bit_ceil(std::max(ring->capacity() * 2, size)));
      SpscRing* bigger = nullptr;
      try {
        bigger = new SpscRing(grown);  // NOLINT(*-owning-memory): freed by the writer
      } catch (...) {
        // No memory for a larger ring: the policy decides, as at the budget.
      }
      if (bigger != nullptr) {
        q.newest = bigger;
        ring->next.store(bigger, std::memory_order_release);
        continue;
      }
    }
    if (drop_ || stop_.load(std::memory_order_relaxed)) {
      if (slot.shared)
        shared_mu_.unlock();
      count_dropped_line();
      return {};
    }
    wake();
    std::this_thread::yield();
  }
}

void AsyncWriter::cancel(const Slot& slot) noexcept {
  slot.ring->shrink_last(0);
  if (slot.shared)
    shared_mu_.unlock();
}

void AsyncWriter::flush() noexcept {
  if (abandoned_)
    return;
  std::vector<std::pair<std::shared_ptr<ThreadQueue>, std::uint64_t>> targets;
  std::unique_lock lock(mu_);
  try {
    for (const auto& q : queues_)
      targets.emplace_back(q, q->pushed.load(std::memory_order_acquire));
  } catch (...) {
    return;
  }
  flush_requested_.store(true, std::memory_order_release);
  sleeping_.store(false, std::memory_order_relaxed);
  has_data_.notify_one();
  drained_.wait(lock, [&] {
    if (stop_.load(std::memory_order_relaxed))
      return true;
    return std::all_of(targets.begin(), targets.end(), [](const auto& t) {
      return t.first->written.load(std::memory_order_acquire) >= t.second;
    });
  });
}

void AsyncWriter::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stop_.store(true, std::memory_order_relaxed);
    sleeping_.store(false, std::memory_order_relaxed);
  }
  has_data_.notify_all();
  if (thread_ && thread_->joinable())
    thread_->join();
  for (const auto& o : outputs_)
    flush_sink(o);
}

void AsyncWriter::run() noexcept {
  auto& queues = reading_;
  std::uint64_t version = 0;
  std::size_t idle_polls = 0;
  std::size_t rounds_since_flush = 0;
  for (;;) {
    if (const auto v = queues_version_.load(std::memory_order_acquire); v != version) {
      std::lock_guard lock(mu_);
      try {
        queues = queues_;
      } catch (...) {
        // Keep the list we had; the new queue is read on a later round.
      }
      version = queues_version_.load(std::memory_order_relaxed);
    }
    // Taken at the round's start: flush()'s lines were published before it asked, so this
    // round reads them, and the rounds after it may wait again.
    const bool hurry = flush_requested_.exchange(false, std::memory_order_acquire);
    const std::size_t lines = drain_once(queues);
    const bool wrote = lines != 0;
    // Here, not only where the outputs are flushed: a writer paced between rounds of a few
    // lines reaches that less than once in 16 rounds, so its empty polls added up across the
    // lines, and after 40 it slept between lines a millisecond apart, costing each burst's
    // first caller a system call to wake it.
    if (wrote)
      idle_polls = 0;
    // While lines keep coming, several rounds go into the outputs' buffers before one flush
    // (a write(2) each): flushed every round, the writer made a system call every few lines
    // and fell behind the callers.
    if (wrote && ++rounds_since_flush < kRoundsPerFlush && !hurry &&
        !stop_.load(std::memory_order_relaxed)) {
      pace(lines);
      continue;
    }
    rounds_since_flush = 0;
    if (!unpublished_.empty()) {
      for (const auto& o : outputs_)
        flush_sink(o);
      // Written only now: flush() returns once the lines are in the outputs, not just read.
      for (const auto& [q, count] : unpublished_) {
        q->written.store(q->written.load(std::memory_order_relaxed) + count,
                         std::memory_order_release);
      }
      unpublished_.clear();
    }
    {
      std::lock_guard lock(mu_);
      // Drained and closed (their threads exited): dropped, unless it is the shared one.
      const auto gone = [this](const std::shared_ptr<ThreadQueue>& q) {
        if (q == shared_ || !q->closed.load(std::memory_order_acquire))
          return false;
        const SpscRing* r = q->oldest;
        return r->next.load(std::memory_order_acquire) == nullptr &&
               r->consumed() == r->published();
      };
      if (std::any_of(queues_.begin(), queues_.end(), gone)) {
        queues_.erase(std::remove_if(queues_.begin(), queues_.end(), gone), queues_.end());
        queues_version_.fetch_add(1, std::memory_order_release);
      }
    }
    drained_.notify_all();
    if (wrote) {
      pace(lines);
      continue;  // more may have come while writing
    }
    if (stop_.load(std::memory_order_acquire))
      return;
    std::unique_lock lock(mu_);
    if (flush_requested_.load(std::memory_order_relaxed))
      continue;
    ++idle_polls;
    if (idle_polls < kIdlePollsBeforeSleep) {
      has_data_.wait_for(lock, kPoll, [this] {
        return flush_requested_.load(std::memory_order_relaxed) ||
               stop_.load(std::memory_order_relaxed);
      });
      continue;
    }
    // Idle: sleep until a caller wakes it, the only time a caller makes a system call. The
    // caller publishes its entry, then reads sleeping_; this thread sets sleeping_, then reads
    // every queue. With no fence on the caller's side, a process-wide barrier here
    // (membarrier) makes one of the two see the other. Without it, a lost wake-up costs one
    // kIdlePoll.
    sleeping_.store(true, std::memory_order_relaxed);
    sleeps_.fetch_add(1, std::memory_order_relaxed);
    const bool barrier = process_barrier();
    const bool pending = std::any_of(queues_.begin(), queues_.end(), [](const auto& q) {
      const SpscRing* r = q->oldest;
      return r->next.load(std::memory_order_acquire) != nullptr || r->consumed() != r->published();
    });
    const auto woken = [this] {
      return !sleeping_.load(std::memory_order_relaxed) || stop_.load(std::memory_order_relaxed) ||
             flush_requested_.load(std::memory_order_relaxed);
    };
    if (!pending) {
      if (barrier) {
        has_data_.wait(lock, woken);
      } else {
        has_data_.wait_for(lock, kIdlePoll, woken);
      }
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

void AsyncWriter::pace(std::size_t lines) noexcept {
  if (lines >= kBusyRound)
    return;  // behind: the next round at once
  std::unique_lock lock(mu_);
  has_data_.wait_for(lock, kRoundGap, [this] {
    return flush_requested_.load(std::memory_order_relaxed) ||
           stop_.load(std::memory_order_relaxed);
  });
}

std::size_t AsyncWriter::drain_once(std::vector<std::shared_ptr<ThreadQueue>>& queues) noexcept {
  auto& items = items_;
  auto& ranges = ranges_;
  items.clear();
  ranges.clear();
  try {
    for (const auto& qp : queues) {
      ThreadQueue& q = *qp;
      SpscRing* ring = q.oldest;
      // A drained ring the producer has left for a larger one is freed.
      for (;;) {
        SpscRing* next = ring->next.load(std::memory_order_acquire);
        if (next == nullptr || ring->consumed() != ring->published())
          break;
        q.oldest = next;
        delete ring;  // NOLINT(*-owning-memory)
        ring = next;
      }
      const std::uint64_t end = ring->published();
      std::uint64_t pos = ring->consumed();
      std::uint64_t count = 0;
      // Sorted by a time that never goes back within the queue, so that the sort keeps the
      // queue's order even if the clock's readings did go back: a kFrameKept record needs the
      // record that saved its frame first.
      std::uint64_t time = 0;
      while (pos < end) {
        const SpscRing::Header* h = ring->entry(pos, end);
        if (h == nullptr)
          break;
        time = std::max(time, h->ticks);
        items.push_back({time, h, &q});
        pos += h->size;
        ++count;
      }
      if (pos != ring->consumed())
        ranges.push_back({&qp, ring, pos, count});
    }
  } catch (...) {
    report_internal_error("logging", "out of memory in the async writer");
    return 0;
  }
  if (ranges.empty())
    return 0;
  // In time order across threads; each thread's own lines keep their order.
  if (ranges.size() > 1) {
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.time < b.time; });
  }
  for (const auto& item : items)
    write_entry(*item.header, *item.queue);
  for (const auto& r : ranges) {
    r.ring->consume_to(r.end);
    try {
      unpublished_.emplace_back(*r.queue, r.count);
    } catch (...) {
      // Counted at once instead: a flush may return before this line reaches the output.
      (*r.queue)->written.fetch_add(r.count, std::memory_order_release);
    }
  }
  return items.size();
}

void AsyncWriter::write_entry(const SpscRing::Header& h, ThreadQueue& queue) noexcept {
  const std::string_view bytes(
      reinterpret_cast<const char*>(&h) + SpscRing::kHeader,  // NOLINT(*-reinterpret-cast)
      h.length);
  const auto level = static_cast<Level>(h.level);
  if (h.output == kRecordEntry) {
    if (!bytes.empty())  // empty: its caller could not encode it and rendered it instead
      write_record(bytes, level, queue);
  } else if (h.output < outputs_.size()) {
    write_to_sink(outputs_[h.output], bytes, level);
  }
}

// Renders a deferred record once per renderer and writes it to every output.
void AsyncWriter::write_record(std::string_view bytes, Level level, ThreadQueue& queue) noexcept {
  try {
    Record r = reader_.decode(bytes, &queue.frame_bytes);
    if (r.time_ns == 0) {
      // The writer's one anchor for every thread, held per thread so that no thread's lines
      // go back in time when the anchor is set again, as the caller's own anchor would hold.
      r.time_ns = std::max(anchor_.convert(r.ticks, tick_clock::read_wall), queue.last_stamp);
      queue.last_stamp = r.time_ns;
    }
    RenderedLines lines(r, renderers_, buffers_);
    for (const auto& o : outputs_)
      write_to_sink(o, lines.line(o.renderer), level);
    if (log_export_)
      log_export_->enqueue(r);  // copied on this thread, not the caller's
  } catch (const std::exception& e) {
    count_dropped_line();
    report_internal_error("logging", e.what());
  } catch (...) {
    count_dropped_line();
    report_internal_error("logging", "unknown exception while rendering a queued line");
  }
}

}  // namespace o11y::detail
