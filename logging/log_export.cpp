#include "logging/log_export.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

#include "base/internal_error.hpp"
#include "base/spin_lock.hpp"
#include "base/sys.hpp"
#include "base/text.hpp"
#include "logging/otlp_log_encoding.hpp"
#include "logging/record_codec.hpp"
#include "o11y/metrics.hpp"
#include "otlp/http_sender.hpp"

namespace o11y::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Queue bytes per record allowed by max_queue_size: records are capped by count and by bytes,
// so a burst of huge records cannot take more memory than this many ordinary ones.
constexpr std::size_t kBytesPerQueuedRecord = 1024;
constexpr std::size_t kMinQueueBytes = std::size_t{64} * 1024;

}  // namespace

LogExportSetup log_export_setup(const LoggingConfig& c) {
  LogExportSetup s;
  s.kind = c.exporter;
  if (s.kind == LogsExporter::Auto)
    s.kind = c.otlp_endpoint.empty() ? LogsExporter::None : LogsExporter::Otlp;
  s.otlp = otlp::signal_options(c, "/v1/logs");
  s.batch = c.batch;
  s.batch.max_queue_size = std::max<std::size_t>(s.batch.max_queue_size, 1);
  s.batch.max_export_batch_size =
      std::clamp<std::size_t>(s.batch.max_export_batch_size, 1, s.batch.max_queue_size);
  return s;
}

struct LogExport::Impl {
  explicit Impl(LogExportSetup s)
      : setup(std::move(s)),
        capacity(std::max(setup.batch.max_queue_size * kBytesPerQueuedRecord, kMinQueueBytes)),
        queue(new char[capacity]),  // NOLINT(*-avoid-c-arrays)
        batch(new char[capacity]),  // NOLINT(*-avoid-c-arrays)
        encoder(setup.kind == LogsExporter::Console ? OtlpEncoding::Json : setup.otlp.encoding,
                setup.limits) {
    if (setup.kind == LogsExporter::Otlp)
      sender.emplace(setup.otlp, "log records");
  }

  void enqueue(const Record& r) noexcept {
    const std::size_t bound = deferred_size_bound(r, /*limited=*/false);
    bool wake = false;
    {
      // A spin lock: held for one record's copy, and a mutex's two library calls were a
      // quarter of the caller's cost.
      std::lock_guard lock(qlock);
      if (count >= setup.batch.max_queue_size || capacity - size < bound + 4 ||
          stop.load(std::memory_order_relaxed)) {
        dropped_full.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      char* at = queue.get() + size;
      const auto n = static_cast<std::uint32_t>(encode_record(r, at + 4, bound));
      if (n == 0) {
        dropped_full.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      std::memcpy(at, &n, 4);
      size += 4 + n;
      ++count;
      ++enqueued;
      // Wake the thread once per full batch; otherwise it finds the records on its schedule.
      wake = count == setup.batch.max_export_batch_size;
    }
    if (wake) {
      { const std::lock_guard sync(mu); }  // the thread is waiting, or will see the count
      has_work.notify_one();
    }
  }

  [[nodiscard]] std::uint64_t enqueued_so_far() noexcept {
    std::lock_guard lock(qlock);
    return enqueued;
  }

  bool flush(std::chrono::milliseconds timeout) noexcept {
    std::unique_lock lock(mu);
    const auto target = enqueued_so_far();
    flush_requested = true;
    has_work.notify_one();
    return done.wait_for(lock, timeout, [&] { return processed >= target || exited; });
  }

  void run() noexcept {
    const auto batch_full = [this] {
      std::lock_guard lock(qlock);
      return count >= setup.batch.max_export_batch_size;
    };
    for (;;) {
      std::size_t bytes = 0;
      std::uint64_t upto = 0;
      bool stopping = false;
      {
        std::unique_lock lock(mu);
        has_work.wait_for(lock, setup.batch.schedule_delay, [&] {
          return flush_requested || stop.load(std::memory_order_relaxed) || batch_full();
        });
        flush_requested = false;
        stopping = stop.load(std::memory_order_relaxed);
        std::lock_guard qlocked(qlock);
        std::swap(queue, batch);
        bytes = size;
        size = 0;
        count = 0;
        upto = enqueued;
      }
      if (!stopping)
        export_queued(bytes);
      else
        dropped_stopped.fetch_add(records_in(bytes), std::memory_order_relaxed);
      publish_counts();
      {
        std::lock_guard lock(mu);
        processed = upto;
        if (stopping)
          exited = true;
      }
      done.notify_all();
      if (stopping)
        return;
    }
  }

  std::uint64_t records_in(std::size_t bytes) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t pos = 0; pos < bytes;) {
      std::uint32_t len = 0;
      std::memcpy(&len, batch.get() + pos, 4);
      pos += 4 + len;
      ++n;
    }
    return n;
  }

  void export_queued(std::size_t bytes) noexcept {
    try {
      for (std::size_t pos = 0; pos < bytes;) {
        std::uint32_t len = 0;
        std::memcpy(&len, batch.get() + pos, 4);
        encoder.add(reader.decode(std::string_view(batch.get() + pos + 4, len)));
        pos += 4 + len;
        if (encoder.size() >= setup.batch.max_export_batch_size)
          send();
      }
      if (encoder.size() > 0)
        send();
    } catch (...) {
      report_internal_error("otlp", "could not encode a batch of log records");
      dropped_failed.fetch_add(encoder.size(), std::memory_order_relaxed);
    }
  }

  void send() {
    const std::size_t n = encoder.size();
    const auto res = o11y::resource();
    encoder.finish(res.get(), body);
    const std::string_view bytes(body.data(), body.size());
    bool ok = false;
    if (sender) {
      ok = sender->send(bytes, Clock::now() + setup.batch.export_timeout);
    } else {
      ok = write_all(setup.console_fd, bytes) && write_all(setup.console_fd, "\n");
    }
    (ok ? exported : dropped_failed).fetch_add(n, std::memory_order_relaxed);
  }

  // The counters are declared on the export thread at its first count, never on a caller's
  // log call, and never before init() can have set the multiprocess directory.
  void publish_counts() noexcept {
    try {
      const auto delta = [](std::atomic<std::uint64_t>& total, std::uint64_t& seen) {
        const auto now = total.load(std::memory_order_relaxed);
        const auto d = now - seen;
        seen = now;
        return static_cast<double>(d);
      };
      const double full = delta(dropped_full, seen_full);
      const double failed = delta(dropped_failed, seen_failed);
      const double stopped = delta(dropped_stopped, seen_stopped);
      const double ok = delta(exported, seen_exported);
      if (full + failed + stopped + ok == 0)
        return;
      static const Counter dropped_total =
          counter("o11y_log_records_dropped_total",
                  "Log records never exported over OTLP, by reason.", {"reason"});
      static const Counter exported_total =
          counter("o11y_log_records_exported_total", "Log records the OTLP exporter accepted.");
      if (full > 0)
        dropped_total.add(full, {{"reason", "queue_full"}});
      if (failed > 0)
        dropped_total.add(failed, {{"reason", "export_failed"}});
      if (stopped > 0)
        dropped_total.add(stopped, {{"reason", "shutdown"}});
      if (ok > 0)
        exported_total.add(ok);
    } catch (...) {
      report_internal_error("otlp", "could not count exported log records");
    }
  }

  void stop_thread() noexcept {
    {
      std::lock_guard lock(mu);
      stop.store(true, std::memory_order_relaxed);
    }
    if (sender)
      sender->shutdown();
    has_work.notify_all();
    if (thread && thread->joinable())
      thread->join();
  }

  LogExportSetup setup;
  std::size_t capacity;
  std::unique_ptr<char[]> queue;  // NOLINT(*-avoid-c-arrays)
  std::unique_ptr<char[]> batch;  // NOLINT(*-avoid-c-arrays)

  // The queue: callers and the thread's swap, under qlock.
  SpinLock qlock;
  std::size_t size = 0;
  std::size_t count = 0;
  std::uint64_t enqueued = 0;
  std::atomic<bool> stop{false};
  // Waiting and flushing, under mu (taken before qlock when both are).
  std::mutex mu;
  std::condition_variable has_work;
  std::condition_variable done;
  std::uint64_t processed = 0;
  bool flush_requested = false;
  bool exited = false;

  // Export thread only.
  RecordReader reader;
  LogRequestEncoder encoder;
  Buffer body;
  std::optional<otlp::HttpSender> sender;
  std::uint64_t seen_full = 0;
  std::uint64_t seen_failed = 0;
  std::uint64_t seen_stopped = 0;
  std::uint64_t seen_exported = 0;

  std::atomic<std::uint64_t> dropped_full{0};
  std::atomic<std::uint64_t> dropped_failed{0};
  std::atomic<std::uint64_t> dropped_stopped{0};
  std::atomic<std::uint64_t> exported{0};
  std::unique_ptr<std::thread> thread;
};

LogExport::LogExport(LogExportSetup setup) : impl_(std::make_shared<Impl>(std::move(setup))) {
  impl_->thread = std::make_unique<std::thread>(
      start_thread("o11y-log-otlp", [impl = impl_.get()] { impl->run(); }));
}

LogExport::~LogExport() {
  if (!abandoned_)
    impl_->stop_thread();
}

void LogExport::enqueue(const Record& r) noexcept {
  impl_->enqueue(r);
}

bool LogExport::flush(std::chrono::milliseconds timeout) noexcept {
  return !abandoned_ && impl_->flush(timeout);
}

void LogExport::abandon() noexcept {
  abandoned_ = true;
  // Kept for ever: its thread, mutex and condition variables belong to the parent's threads.
  (void)new (std::nothrow) std::shared_ptr<Impl>(impl_);  // NOLINT(*-owning-memory)
}

std::chrono::milliseconds LogExport::export_timeout() const noexcept {
  return impl_->setup.batch.export_timeout;
}

}  // namespace o11y::detail
