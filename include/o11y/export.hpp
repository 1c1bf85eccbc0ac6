#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "o11y/trace.hpp"

namespace o11y {

/// The spans one export call carries.
using SpanBatch = std::span<const std::shared_ptr<const SpanData>>;

/// Outcome of one export call.
enum class ExportResult : std::uint8_t { Success, Failure };

/// Sends batches of finished spans somewhere. The batch processor calls export_spans() from
/// its one export thread, so implementations need not lock around it; shutdown() may come from
/// any thread. Nothing here may throw.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  SpanExporter() = default;
  SpanExporter(const SpanExporter&) = delete;
  SpanExporter& operator=(const SpanExporter&) = delete;
  SpanExporter(SpanExporter&&) = delete;
  SpanExporter& operator=(SpanExporter&&) = delete;

  /// Delivers the batch, giving up (Failure) once `deadline` passes.
  virtual ExportResult export_spans(SpanBatch spans,
                                    std::chrono::steady_clock::time_point deadline) noexcept = 0;
  /// Interrupts any retry wait and releases resources; later exports fail fast.
  virtual void shutdown() noexcept {}
  /// Called in a fork()ed child before its first export: drop what belongs to the parent
  /// (a connection, say) without closing it, since the parent still uses it.
  virtual void after_fork_child() noexcept {}
};

/// Batch processor settings; the defaults are OpenTelemetry's. Environment (read by init()):
/// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY,
/// OTEL_BSP_EXPORT_TIMEOUT (milliseconds).
struct BatchOptions {
  std::size_t max_queue_size = 2048;
  std::size_t max_export_batch_size = 512;
  std::chrono::milliseconds schedule_delay{5000};
  std::chrono::milliseconds export_timeout{30000};
};

/// Queues finished spans and exports them in batches from a background thread, so a caller
/// never waits on the network: on_end takes a short lock and appends, and a full queue drops
/// the span (counted in `o11y_spans_dropped_total{reason="queue_full"}`). force_flush() and
/// shutdown() deliver what was queued before they return (or time out). Destroying a processor
/// never waits: without shutdown(), its thread still delivers what was queued, then exits.
///
/// fork()-safe: the child starts with an empty queue (the parent's pending spans are exported
/// once, by the parent), its own export thread and a fresh exporter connection.
/// Thread-safe. The constructor throws std::invalid_argument for a null exporter or a zero
/// queue or batch size; nothing else throws.
class BatchSpanProcessor final : public SpanProcessor {
 public:
  explicit BatchSpanProcessor(std::unique_ptr<SpanExporter> exporter, BatchOptions options = {});
  ~BatchSpanProcessor() override;
  BatchSpanProcessor(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor& operator=(const BatchSpanProcessor&) = delete;
  BatchSpanProcessor(BatchSpanProcessor&&) = delete;
  BatchSpanProcessor& operator=(BatchSpanProcessor&&) = delete;

  void on_end(std::shared_ptr<const SpanData> span) noexcept override;
  bool force_flush(std::chrono::milliseconds timeout) noexcept override;
  void shutdown() noexcept override;

  /// Spans dropped because the queue was full, and spans in batches the exporter failed.
  [[nodiscard]] std::uint64_t dropped() const noexcept;
  [[nodiscard]] std::uint64_t export_failures() const noexcept;
  /// Spans the exporter accepted.
  [[nodiscard]] std::uint64_t exported() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// How the OTLP exporter encodes a request. Protobuf by default, as OpenTelemetry SDKs default
/// to http/protobuf: a third of JSON's bytes, and the cheaper of the two to export.
enum class OtlpEncoding : std::uint8_t {
  Json,      ///< OTLP/JSON (application/json)
  Protobuf,  ///< OTLP binary protobuf (application/x-protobuf)
};

/// OTLP/HTTP exporter settings. Environment (read by init()): OTEL_EXPORTER_OTLP_ENDPOINT (+
/// "/v1/traces") or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_[TRACES_]HEADERS,
/// OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL,
/// OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT.
struct OtlpOptions {
  /// The full URL spans are POSTed to.
  std::string endpoint = "http://127.0.0.1:4318/v1/traces";
  std::map<std::string, std::string> headers = {};
  OtlpEncoding encoding = OtlpEncoding::Protobuf;
  bool gzip = false;
  /// One attempt's limit; retries stop at the batch processor's deadline too.
  std::chrono::milliseconds timeout{10000};
  /// Retries of 429, 502, 503, 504 and connection failures, with exponential backoff and
  /// jitter starting here (a Retry-After header is honoured).
  int max_retries = 5;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{5000};
};

/// An exporter that POSTs OTLP over HTTP with libcurl, keeping its connection alive. Failures
/// are reported through the rate-limited internal error channel, naming the endpoint.
/// Throws std::invalid_argument for an endpoint that is not an http:// or https:// URL.
[[nodiscard]] std::unique_ptr<SpanExporter> make_otlp_http_exporter(OtlpOptions options = {});

/// A development exporter: one JSON line per span (the OTLP/JSON span object, with the
/// service name) written to the given file descriptor (stdout by default). Never throws.
[[nodiscard]] std::unique_ptr<SpanExporter> make_console_span_exporter(int fd = 1);

namespace otlp {
/// The OTLP/JSON ExportTraceServiceRequest for these spans: lowerCamelCase keys, hex ids,
/// integer enums, 64-bit integers as decimal strings. Spans are grouped by resource.
[[nodiscard]] std::string encode_json(SpanBatch spans);
/// The same request in protobuf binary encoding.
[[nodiscard]] std::string encode_protobuf(SpanBatch spans);
}  // namespace otlp

/// Re-initialises the library in a fork()ed child: new id seeds, an empty span queue and a new
/// export thread, its own multiprocess metrics file, its own log writer. Runs automatically
/// (pthread_atfork); call it yourself only when a process is created in a way that bypasses
/// fork handlers (a raw clone(), say). Idempotent, and a no-op in the original process.
void after_fork() noexcept;

}  // namespace o11y
