#pragma once

// Metrics over OpenTelemetry: the periodic exporting reader.

#include <chrono>
#include <memory>

#include "o11y/config.hpp"
#include "o11y/export.hpp"

namespace o11y::detail {

/// What init() decided for metric export, resolved: Auto is gone.
struct MetricExportSetup {
  MetricsExporter kind = MetricsExporter::None;
  OtlpOptions otlp;
  std::chrono::milliseconds interval{60000};
  std::chrono::milliseconds timeout{30000};
  bool delta = false;
  int console_fd = 1;
};

/// The resolved setup: Auto becomes Otlp when an endpoint is set.
[[nodiscard]] MetricExportSetup metric_export_setup(const MetricsConfig& c);

/// OpenTelemetry's periodic exporting metric reader: every interval a background thread reads
/// every series of the default registry and sends them as one OTLP request (cumulative, or
/// delta since the previous export). Nothing on the recording path changes. In a fork()ed
/// child it does nothing (a pre-fork server's workers export nothing; see docs/otlp.md).
/// Thread-safe. The constructor throws std::invalid_argument for an endpoint that is not an
/// http(s) URL; nothing else throws.
class MetricExport {
 public:
  explicit MetricExport(MetricExportSetup setup);
  /// Stops the thread without a last export: flush() first.
  ~MetricExport();
  MetricExport(const MetricExport&) = delete;
  MetricExport& operator=(const MetricExport&) = delete;
  MetricExport(MetricExport&&) = delete;
  MetricExport& operator=(MetricExport&&) = delete;

  /// Exports now and waits for it, at most `timeout`; false when it failed or timed out.
  bool flush(std::chrono::milliseconds timeout) noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Makes `e` (null: none) the process's metric exporter. The one it replaces sends what it
/// has first, waiting at most 2 s.
void install_metric_export(std::unique_ptr<MetricExport> e);
/// Exports now through the installed exporter, waiting at most `timeout`; true with none.
bool flush_metric_export(std::chrono::milliseconds timeout) noexcept;
/// A last export (at most the export timeout), then no exporter.
void shutdown_metric_export() noexcept;

}  // namespace o11y::detail
