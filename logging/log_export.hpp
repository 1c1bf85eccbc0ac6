#pragma once

// Log records over OpenTelemetry: the batch log record processor and its exporter.

#include <chrono>
#include <memory>

#include "logging/record.hpp"
#include "o11y/config.hpp"
#include "o11y/export.hpp"

namespace o11y::detail {

/// What init() (or the environment) decided for log export, resolved: Auto is gone.
struct LogExportSetup {
  LogsExporter kind = LogsExporter::None;
  OtlpOptions otlp;
  BatchOptions batch;
  RenderLimits limits;
  int console_fd = 1;
};

/// The resolved setup for a logging config: Auto becomes Otlp when an endpoint is set.
[[nodiscard]] LogExportSetup log_export_setup(const LoggingConfig& c);

/// OpenTelemetry's batch log record processor with an OTLP (or console) exporter. A caller's
/// enqueue() copies the record (the async writer's encoding) into a bounded queue under a
/// short lock; one background thread turns queued records into OTLP requests, at most
/// batch.max_export_batch_size records each, every schedule delay or as soon as a batch is
/// full, and sends them. A full queue drops the record; a failed export drops its records;
/// both are counted (o11y_log_records_dropped_total{reason}), so a dead or slow collector
/// never blocks a caller or grows memory. Thread-safe. The constructor throws
/// std::invalid_argument for an endpoint that is not an http(s) URL; nothing else throws.
class LogExport {
 public:
  explicit LogExport(LogExportSetup setup);
  /// Stops the thread; records still queued are dropped (and counted): flush() first.
  ~LogExport();
  LogExport(const LogExport&) = delete;
  LogExport& operator=(const LogExport&) = delete;
  LogExport(LogExport&&) = delete;
  LogExport& operator=(LogExport&&) = delete;

  void enqueue(const Record& r) noexcept;
  /// Exports what was queued before the call; false when `timeout` passed first.
  bool flush(std::chrono::milliseconds timeout) noexcept;
  /// In a fork()ed child: the thread does not exist here, so the object must never be used
  /// or destroyed; the parent exports what was queued.
  void abandon() noexcept;
  [[nodiscard]] std::chrono::milliseconds export_timeout() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  bool abandoned_ = false;
};

}  // namespace o11y::detail
