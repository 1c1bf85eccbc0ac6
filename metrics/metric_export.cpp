#include "metrics/metric_export.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "base/text.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/mp_reader.hpp"
#include "metrics/otlp_metrics.hpp"
#include "o11y/metrics.hpp"
#include "otlp/http_sender.hpp"

namespace o11y::detail {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

MetricExportSetup metric_export_setup(const MetricsConfig& c) {
  MetricExportSetup s;
  s.kind = c.exporter;
  if (s.kind == MetricsExporter::Auto)
    s.kind = c.otlp_endpoint.empty() ? MetricsExporter::None : MetricsExporter::Otlp;
  s.otlp = otlp::signal_options(c, "/v1/metrics");
  s.interval = std::max(c.export_interval, std::chrono::milliseconds(1));
  s.timeout = c.export_timeout;
  s.delta = c.temporality == MetricsTemporality::Delta;
  return s;
}

struct MetricExport::Impl {
  explicit Impl(MetricExportSetup s)
      : setup(std::move(s)),
        pid(::getpid()),
        encoder(setup.kind == MetricsExporter::Console ? OtlpEncoding::Json : setup.otlp.encoding,
                setup.delta, unix_time_ns()) {
    if (setup.kind == MetricsExporter::Otlp)
      sender.emplace(setup.otlp, "metrics");
  }

  bool export_once() noexcept {
    try {
      // Multiprocess: the directory's aggregate, every worker's series included (workers,
      // forked from this process, export nothing themselves).
      auto points = metrics::multiprocess_enabled() ? directory_points(mp::configured_dir())
                                                    : collect_points(all_families());
      const auto res = o11y::resource();
      encoder.encode(points, res.get(), unix_time_ns(), body);
      const std::string_view bytes(body.data(), body.size());
      if (sender)
        return sender->send(bytes, Clock::now() + setup.timeout);
      return write_all(setup.console_fd, bytes) && write_all(setup.console_fd, "\n");
    } catch (...) {
      report_internal_error("otlp", "could not encode the metrics");
      return false;
    }
  }

  // An operator sees a failing collector in the metrics the next scrape or export carries.
  static void count_export(bool ok) noexcept {
    try {
      static const Counter exports = counter(
          "o11y_metric_exports_total", "Exports of metrics over OTLP, by outcome.", {"outcome"});
      exports.add(1, {{"outcome", ok ? "ok" : "failed"}});
    } catch (...) {
      report_internal_error("otlp", "could not count a metrics export");
    }
  }

  void run() noexcept {
    for (;;) {
      bool stopping = false;
      std::uint64_t ticket = 0;
      {
        std::unique_lock lock(mu);
        has_work.wait_for(lock, setup.interval, [&] { return requested > done_upto || stop; });
        stopping = stop;
        ticket = requested;
      }
      if (stopping)
        return;
      const bool ok = export_once();
      if (sender)
        count_export(ok);  // before the flush that asked returns: it may look
      {
        std::lock_guard lock(mu);
        done_upto = std::max(done_upto, ticket);
        last_ok = ok;
      }
      done.notify_all();
    }
  }

  bool flush(std::chrono::milliseconds timeout) noexcept {
    std::unique_lock lock(mu);
    const auto ticket = ++requested;
    has_work.notify_one();
    if (!done.wait_for(lock, timeout, [&] { return done_upto >= ticket || stop; }))
      return false;
    return done_upto >= ticket && last_ok;
  }

  void stop_thread() noexcept {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    if (sender)
      sender->shutdown();
    has_work.notify_all();
    done.notify_all();
    if (thread && thread->joinable())
      thread->join();
  }

  MetricExportSetup setup;
  int pid;
  std::mutex mu;
  std::condition_variable has_work;
  std::condition_variable done;
  std::uint64_t requested = 0;
  std::uint64_t done_upto = 0;
  bool last_ok = false;
  bool stop = false;
  // Export thread only.
  MetricRequestEncoder encoder;
  Buffer body;
  std::optional<otlp::HttpSender> sender;
  std::unique_ptr<std::thread> thread;
};

MetricExport::MetricExport(MetricExportSetup setup)
    : impl_(std::make_shared<Impl>(std::move(setup))) {
  impl_->thread = std::make_unique<std::thread>(
      start_thread("o11y-metrics-otlp", [impl = impl_.get()] { impl->run(); }));
}

MetricExport::~MetricExport() {
  if (impl_->pid == ::getpid()) {
    impl_->stop_thread();
  } else {
    // A fork()ed child: the thread is the parent's. Kept for ever, never joined.
    (void)new (std::nothrow) std::shared_ptr<Impl>(impl_);  // NOLINT(*-owning-memory)
  }
}

bool MetricExport::flush(std::chrono::milliseconds timeout) noexcept {
  if (impl_->pid != ::getpid())
    return false;  // the parent's exporter: workers export nothing
  return impl_->flush(std::min(timeout, impl_->setup.timeout + std::chrono::seconds(1)));
}

namespace {
struct Installed {
  std::mutex mu;
  std::shared_ptr<MetricExport> current;
};
Installed& installed() {
  static auto* i = new Installed();  // NOLINT: used by shutdown() at exit
  return *i;
}
}  // namespace

void install_metric_export(std::unique_ptr<MetricExport> e) {
  std::shared_ptr<MetricExport> old;
  {
    auto& i = installed();
    std::lock_guard lock(i.mu);
    old = std::move(i.current);
    i.current = std::move(e);
  }
  if (old)
    (void)old->flush(std::chrono::seconds(2));
}

bool flush_metric_export(std::chrono::milliseconds timeout) noexcept {
  std::shared_ptr<MetricExport> e;
  {
    auto& i = installed();
    std::lock_guard lock(i.mu);
    e = i.current;
  }
  return !e || e->flush(timeout);
}

void shutdown_metric_export() noexcept {
  std::shared_ptr<MetricExport> e;
  {
    auto& i = installed();
    std::lock_guard lock(i.mu);
    e = std::move(i.current);
  }
  if (e)
    (void)e->flush(std::chrono::milliseconds::max());
}

}  // namespace o11y::detail

namespace o11y::metrics {

bool export_directory(std::string_view dir, const OtlpOptions& options) {
  otlp::HttpSender sender(options, "metrics");
  detail::MetricRequestEncoder encoder(options.encoding, /*delta=*/false, detail::unix_time_ns());
  auto points = detail::directory_points(std::string(dir));
  detail::Buffer body;
  const auto res = o11y::resource();
  encoder.encode(points, res.get(), detail::unix_time_ns(), body);
  // The attempt's timeout bounds the whole export, retries included.
  return sender.send(std::string_view(body.data(), body.size()),
                     detail::Clock::now() + options.timeout);
}

bool force_flush(std::chrono::milliseconds timeout) noexcept {
  return detail::flush_metric_export(timeout);
}

}  // namespace o11y::metrics
