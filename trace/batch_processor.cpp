#include "trace/batch_processor.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/fork.hpp"
#include "base/internal_error.hpp"
#include "base/prefetch.hpp"
#include "base/sys.hpp"
#include "context/span_state.hpp"
#include "o11y/export.hpp"
#include "o11y/metrics.hpp"

namespace o11y {
namespace {

Counter dropped_counter() {
  static const Counter c =
      counter("o11y_spans_dropped_total", "Finished spans that were never exported, by reason.",
              {"reason"});
  return c;
}

Counter exported_counter() {
  static const Counter c =
      counter("o11y_spans_exported_total", "Finished spans the exporter accepted.");
  return c;
}

// A producer fetches the memory of the spans it will release next for writing, in two stages:
// a span's block 16 releases ahead, then its attribute array 8 ahead. The array is found
// through the block, and reading that pointer before the block's line is here would wait for
// it. At the rate a producer makes spans, the lines have microseconds to arrive (figures:
// docs/performance.md, "Span recycling").
constexpr std::size_t kFetchBlockAhead = 16;
constexpr std::size_t kFetchAttributesAhead = 8;

// `spent` is popped from the back.
void prefetch_for_reuse(const std::vector<std::shared_ptr<const SpanData>>& spent) noexcept {
  const std::size_t n = spent.size();
  if (n > kFetchBlockAhead) {
    const auto& entry = spent[n - 1 - kFetchBlockAhead];
    detail::prefetch_for_write(&entry, sizeof entry);  // emptied when the span is taken
    detail::prefetch_block_for_write(*entry);
  }
  if (n > kFetchAttributesAhead) {
    const auto& attributes = spent[n - 1 - kFetchAttributesAhead]->attributes;
    detail::prefetch_for_write(attributes.data(), attributes.size() * sizeof(Attribute));
  }
}

}  // namespace

namespace detail {

/// What the fork handlers need of a live processor.
class ForkParticipant {
 public:
  /// Prepare: holds the queue's lock across fork(), so the child finds it free.
  virtual void lock_for_fork() noexcept = 0;
  virtual void unlock_after_fork() noexcept = 0;
  /// In a fork()ed child, with only the forking thread alive.
  virtual void reset_in_child() noexcept = 0;

 protected:
  ForkParticipant() = default;
  ~ForkParticipant() = default;
  ForkParticipant(const ForkParticipant&) = default;
  ForkParticipant& operator=(const ForkParticipant&) = default;
  ForkParticipant(ForkParticipant&&) = default;
  ForkParticipant& operator=(ForkParticipant&&) = default;
};

}  // namespace detail

/// The queue and its thread live in `Queue`, apart from the processor, because a fork()ed child
/// must abandon them whole: the parent's mutex and condition variable may hold the state of
/// threads that do not exist in the child, and its thread cannot be joined there.
struct BatchSpanProcessor::Impl final : std::enable_shared_from_this<BatchSpanProcessor::Impl>,
                                        detail::ForkParticipant {
  struct Queue {
    std::mutex mu;
    std::condition_variable wake;     // the export thread waits here
    std::condition_variable flushed;  // force_flush() waits here
    /// Taken by the export thread whole, by swapping vectors: the lock is held for O(1), so a
    /// caller almost never finds it taken (a contended mutex is a futex sleep).
    std::vector<std::shared_ptr<const SpanData>> spans;
    /// spans.size(), written under mu, read without it: a full queue drops a span without
    /// taking the lock (half the cost of a drop), and a stale read only errs for a moment.
    std::atomic<std::size_t> length{0};
    /// Exported spans handed back for the producers to free, one per on_end() under the
    /// lock they take anyway. Freed on the export thread, every span's memory crossed threads
    /// and glibc's arena lock bounced between the two. Released on a producer, the span's block
    /// goes back to that thread's pool for its next span (trace/span.cpp, "Recycling"). One per
    /// span, not two: a producer that frees more than it allocates overflows its per-thread
    /// cache into another thread's arena, under that arena's lock, and the other producer then
    /// misses its cache.
    /// At most max_queue_size.
    std::vector<std::shared_ptr<const SpanData>> spent;
    bool stopping = false;
    bool thread_started = false;
    bool finished = false;              // the thread drained the queue after stopping
    std::uint64_t flush_requested = 0;  // generations: a flush waits until done >= its number
    std::uint64_t flush_done = 0;
    bool flush_ok = true;
    std::thread thread;
  };

  Impl(std::unique_ptr<SpanExporter> e, BatchOptions o)
      : exporter(std::move(e)), options(o), queue(new Queue()), pid(::getpid()) {
    queue->spans.reserve(options.max_queue_size);  // no allocation on a caller's push
  }
  ~Impl() {
    if (pid == ::getpid())
      delete queue;  // NOLINT(cppcoreguidelines-owning-memory)
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;

  std::unique_ptr<SpanExporter> exporter;
  BatchOptions options;
  Queue* queue;  // owned; abandoned (never freed) in a fork()ed child
  pid_t pid;     // the process queue and thread belong to
  std::atomic<bool> shut_down{false};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> exported{0};
  Counter::Child dropped_full = dropped_counter().labels({"queue_full"});
  Counter::Child dropped_failed = dropped_counter().labels({"export_failed"});
  Counter exported_total = exported_counter();

  void start_thread_locked(Queue& q) {
    // The thread shares ownership: a processor destroyed without shutdown() leaves it to
    // finish exporting what was queued (see ~BatchSpanProcessor).
    // The batch buffer is allocated here: the thread must not allocate before it blocks (see
    // start_thread), and it blocks on q.mu, which this thread holds.
    std::vector<std::shared_ptr<const SpanData>> batch;
    batch.reserve(options.max_queue_size);
    q.thread = detail::start_thread(
        "o11y-export", [self = shared_from_this(), &q, b = std::move(batch)]() mutable {
          self->run(q, std::move(b));
        });
    q.thread_started = true;
  }

  // Exports what was taken in batches of at most max_export_batch_size, then hands the spans
  // back for the producers to free.
  void export_taken(std::vector<std::shared_ptr<const SpanData>>& batch, Queue& q) {
    for (std::size_t at = 0; at < batch.size(); at += options.max_export_batch_size) {
      const auto n = std::min(options.max_export_batch_size, batch.size() - at);
      const auto deadline = std::chrono::steady_clock::now() + options.export_timeout;
      const auto result = exporter->export_spans(SpanBatch(batch).subspan(at, n), deadline);
      if (result == ExportResult::Success) {
        exported.fetch_add(n, std::memory_order_relaxed);
        exported_total.add(static_cast<double>(n));
      } else {
        failed.fetch_add(n, std::memory_order_relaxed);
        dropped_failed.add(static_cast<double>(n));
        std::lock_guard lock(q.mu);
        q.flush_ok = false;
      }
    }
    {
      std::lock_guard lock(q.mu);
      if (q.spent.empty()) {
        q.spent.swap(batch);
      } else if (q.spent.size() + batch.size() <= options.max_queue_size) {
        std::move(batch.begin(), batch.end(), std::back_inserter(q.spent));
      }
    }
    batch.clear();  // what was not handed back is freed here
  }

  void run(Queue& q, std::vector<std::shared_ptr<const SpanData>> batch) {
    std::unique_lock lock(q.mu);
    for (;;) {
      q.wake.wait_for(lock, options.schedule_delay, [&] {
        return q.stopping || q.spans.size() >= options.max_export_batch_size ||
               q.flush_requested > q.flush_done;
      });
      if (q.spans.empty() && !q.spent.empty()) {
        // No producer came by for a whole schedule delay: free what they did not.
        auto idle = std::move(q.spent);
        q.spent.clear();
        lock.unlock();
        idle.clear();
        lock.lock();
      }
      // The queue is taken whole and exported in batches; a flush (and stopping) also takes
      // what arrived meanwhile, until the queue is empty.
      const std::uint64_t flush_target = q.flush_requested;
      const bool drain = q.stopping || flush_target > q.flush_done;
      do {
        if (q.spans.empty())
          break;
        batch.swap(q.spans);  // batch is empty here; the queue keeps its capacity
        q.length.store(0, std::memory_order_relaxed);
        lock.unlock();
        export_taken(batch, q);
        lock.lock();
      } while (drain && !q.spans.empty());
      if (drain) {
        q.flush_done = std::max(q.flush_done, flush_target);
        q.flushed.notify_all();
      }
      if (q.stopping && q.spans.empty()) {
        q.finished = true;
        q.flushed.notify_all();
        return;
      }
    }
  }

  void lock_for_fork() noexcept override {
    if (pid == ::getpid())
      queue->mu.lock();
  }
  void unlock_after_fork() noexcept override {
    if (pid == ::getpid())
      queue->mu.unlock();
  }

  // In a fork()ed child, with only the forking thread alive.
  void reset_in_child() noexcept override {
    if (pid == ::getpid())
      return;
    pid = ::getpid();
    // The parent's queue, locks and thread handle are left as they are: freeing the spans
    // would be safe, but its mutex and thread are not, and a few KiB copied on write is cheap.
    queue = new (std::nothrow) Queue();  // NOLINT(cppcoreguidelines-owning-memory)
    if (queue == nullptr) {
      shut_down.store(true, std::memory_order_relaxed);
      return;
    }
    exporter->after_fork_child();
  }
};

namespace {

// Every live processor, so one set of fork handlers can hold their locks across fork().
struct Live {
  std::mutex mu;
  std::vector<detail::ForkParticipant*> impls;
};

Live& live() {
  static auto* l = new Live();  // NOLINT: fork handlers may run during static destruction
  return *l;
}

void fork_prepare() {
  auto& l = live();
  l.mu.lock();
  for (auto* impl : l.impls)
    impl->lock_for_fork();
}

void fork_parent() {
  auto& l = live();
  for (auto* impl : l.impls)
    impl->unlock_after_fork();
  l.mu.unlock();
}

void fork_child() {
  auto& l = live();
  for (auto* impl : l.impls)
    impl->reset_in_child();
  l.mu.unlock();
}

void register_live(detail::ForkParticipant* impl) {
  detail::register_fork_steps(detail::ForkStage::Spans, {fork_prepare, fork_parent, fork_child});
  auto& l = live();
  std::lock_guard lock(l.mu);
  l.impls.push_back(impl);
}

void unregister_live(detail::ForkParticipant* impl) {
  auto& l = live();
  std::lock_guard lock(l.mu);
  std::erase(l.impls, impl);
}

}  // namespace

namespace detail {
void batch_processors_after_fork() noexcept {
  auto& l = live();
  // An explicit after_fork() in a child whose fork handlers did run finds every queue already
  // reset (pid matches), so this is idempotent. Without handlers, the locks may be held by
  // threads that no longer exist; try_lock keeps us from hanging on them.
  std::unique_lock lock(l.mu, std::try_to_lock);
  for (auto* impl : l.impls)
    impl->reset_in_child();
}
}  // namespace detail

BatchSpanProcessor::BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter,
                                       BatchOptions options) {
  if (!exporter)
    throw std::invalid_argument("BatchSpanProcessor: the exporter is null");
  if (options.max_queue_size == 0 || options.max_export_batch_size == 0)
    throw std::invalid_argument("BatchSpanProcessor: queue and batch sizes must be positive");
  options.max_export_batch_size = std::min(options.max_export_batch_size, options.max_queue_size);
  impl_ = std::make_shared<Impl>(std::move(exporter), options);
  register_live(impl_.get());
}

// Never waits: the last reference to a processor may be dropped on any thread, even inside
// start_span() when a thread refreshes its cached tracer state after remove_span_processor().
// A shutdown() that drains a queue against a dead collector there would stall that caller
// for an export timeout. So the thread is
// told to stop and left to deliver what is queued; it owns the state it needs.
BatchSpanProcessor::~BatchSpanProcessor() {
  auto& impl = *impl_;
  unregister_live(impl_.get());
  if (impl.shut_down.exchange(true) || impl.pid != ::getpid())
    return;
  auto& q = *impl.queue;
  try {
    std::lock_guard lock(q.mu);
    q.stopping = true;
    q.wake.notify_one();
    if (q.thread.joinable())
      q.thread.detach();
  } catch (...) {
    detail::report_internal_error("trace", "batch span processor could not stop its thread");
  }
}

void BatchSpanProcessor::on_end(std::shared_ptr<const SpanData> span) noexcept {
  auto& impl = *impl_;
  // A null span (a processor fed by hand) would crash the export thread, or this thread when
  // its memory is fetched for reuse.
  if (span == nullptr || impl.shut_down.load(std::memory_order_relaxed))
    return;
  auto& q = *impl.queue;
  const auto drop = [&impl] {
    impl.dropped.fetch_add(1, std::memory_order_relaxed);
    impl.dropped_full.add();
  };
  if (q.length.load(std::memory_order_relaxed) >= impl.options.max_queue_size) {
    drop();
    return;
  }
  try {
    // Declared before the lock, so it is freed after the lock is released.
    std::shared_ptr<const SpanData> spent;
    std::unique_lock lock(q.mu);
    if (q.spans.size() >= impl.options.max_queue_size) {
      lock.unlock();
      drop();
      return;
    }
    if (!q.thread_started)
      impl.start_thread_locked(q);
    q.spans.push_back(std::move(span));
    q.length.store(q.spans.size(), std::memory_order_relaxed);
    // One for one: every queued span is handed back once exported, so this keeps pace.
    if (!q.spent.empty()) {
      spent = std::move(q.spent.back());
      q.spent.pop_back();
      prefetch_for_reuse(q.spent);
    }
    // Wake the thread only for a full batch; otherwise it wakes on its schedule, so a steady
    // trickle of spans costs no system call per span.
    if (q.spans.size() == impl.options.max_export_batch_size)
      q.wake.notify_one();
  } catch (...) {
    impl.dropped.fetch_add(1, std::memory_order_relaxed);
    detail::report_internal_error("trace", "batch span processor could not queue a span");
  }
}

bool BatchSpanProcessor::force_flush(std::chrono::milliseconds timeout) noexcept {
  auto& q = *impl_->queue;
  try {
    std::unique_lock lock(q.mu);
    if (!q.thread_started)
      return q.spans.empty();
    q.flush_ok = true;
    const auto target = ++q.flush_requested;
    q.wake.notify_one();
    const bool done = q.flushed.wait_for(lock, timeout, [&] { return q.flush_done >= target; });
    return done && q.flush_ok;
  } catch (...) {
    return false;
  }
}

void BatchSpanProcessor::shutdown() noexcept {
  auto& impl = *impl_;
  if (impl.shut_down.exchange(true))
    return;
  auto& q = *impl.queue;
  std::thread thread;
  try {
    std::unique_lock lock(q.mu);
    q.stopping = true;
    q.wake.notify_one();
    thread = std::move(q.thread);
    // Deliver what is queued, but a dead collector must not hold the process at exit for
    // longer than one export timeout: after that the exporter is told to stop retrying.
    if (thread.joinable())
      q.flushed.wait_for(lock, impl.options.export_timeout, [&] { return q.finished; });
  } catch (...) {
    detail::report_internal_error("trace", "batch span processor shutdown failed");
  }
  impl.exporter->shutdown();
  if (thread.joinable())
    thread.join();
}

std::uint64_t BatchSpanProcessor::dropped() const noexcept {
  return impl_->dropped.load(std::memory_order_relaxed) +
         impl_->failed.load(std::memory_order_relaxed);
}

std::uint64_t BatchSpanProcessor::export_failures() const noexcept {
  return impl_->failed.load(std::memory_order_relaxed);
}

std::uint64_t BatchSpanProcessor::exported() const noexcept {
  return impl_->exported.load(std::memory_order_relaxed);
}

}  // namespace o11y
