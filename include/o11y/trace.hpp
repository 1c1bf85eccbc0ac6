#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "o11y/value.hpp"

namespace o11y {

/// A 128-bit W3C trace id. A plain value; the all-zero id is invalid.
struct TraceId {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  [[nodiscard]] constexpr bool valid() const noexcept { return hi != 0 || lo != 0; }
  /// 32 lowercase hex digits.
  [[nodiscard]] std::string to_hex() const;
  /// Writes exactly 32 lowercase hex digits to out (no terminator).
  void write_hex(char* out) const noexcept;
  /// Parses exactly 32 lowercase hex digits; anything else gives the invalid id.
  static TraceId from_hex(std::string_view hex) noexcept;
  /// A fresh random id, never all-zero. Per-thread generator, reseeded after fork().
  static TraceId generate() noexcept;

  friend constexpr bool operator==(const TraceId&, const TraceId&) = default;
};

/// A 64-bit W3C span (parent) id. A plain value; zero is invalid.
struct SpanId {
  std::uint64_t value = 0;

  [[nodiscard]] constexpr bool valid() const noexcept { return value != 0; }
  /// 16 lowercase hex digits.
  [[nodiscard]] std::string to_hex() const;
  /// Writes exactly 16 lowercase hex digits to out (no terminator).
  void write_hex(char* out) const noexcept;
  /// Parses exactly 16 lowercase hex digits; anything else gives the invalid id.
  static SpanId from_hex(std::string_view hex) noexcept;
  /// A fresh random id, never zero. Per-thread generator, reseeded after fork().
  static SpanId generate() noexcept;

  friend constexpr bool operator==(const SpanId&, const SpanId&) = default;
};

/// Trace flags of W3C Trace Context: bit 0 sampled, bit 1 random trace id (Level 2).
inline constexpr std::uint8_t kTraceFlagSampled = 0x01;
inline constexpr std::uint8_t kTraceFlagRandom = 0x02;

/// What identifies a span across process boundaries: trace id, span id, flags and tracestate.
/// A plain value type.
struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  std::uint8_t flags = 0;
  /// The tracestate header value, validated and normalised (members joined by ',').
  std::string trace_state;
  /// True when it came from another process (extract), false for local spans.
  bool remote = false;

  [[nodiscard]] constexpr bool valid() const noexcept {
    return trace_id.valid() && span_id.valid();
  }
  [[nodiscard]] constexpr bool sampled() const noexcept { return (flags & kTraceFlagSampled) != 0; }

  friend bool operator==(const SpanContext&, const SpanContext&) = default;
};

/// The role of a span, as in OpenTelemetry.
enum class SpanKind : std::uint8_t { Internal, Server, Client, Producer, Consumer };

/// Span status, as in OpenTelemetry: Unset unless the code says otherwise.
enum class StatusCode : std::uint8_t { Unset, Ok, Error };

/// A timestamped annotation on a span.
struct SpanEvent {
  std::string name;
  std::uint64_t time_ns = 0;  ///< nanoseconds since the Unix epoch
  Attributes attributes;
};

/// A reference from one span to another, e.g. a consumer to the producer of its message.
struct SpanLink {
  SpanContext context;
  Attributes attributes;
};

/// The entity producing telemetry: service.name, service.version, service.instance.id and
/// whatever OTEL_RESOURCE_ATTRIBUTES or Config adds.
struct Resource {
  Attributes attributes;
};

/// Everything an exporter needs about one finished span. Immutable once handed to processors.
struct SpanData {
  SpanContext context;
  SpanId parent_span_id;  ///< invalid for a root span
  bool parent_remote = false;
  std::string name;
  SpanKind kind = SpanKind::Internal;
  std::uint64_t start_time_ns = 0;  ///< nanoseconds since the Unix epoch
  std::uint64_t end_time_ns = 0;    ///< nanoseconds since the Unix epoch
  Attributes attributes;
  std::vector<SpanEvent> events;
  std::vector<SpanLink> links;
  StatusCode status = StatusCode::Unset;
  std::string status_description;
  std::uint32_t dropped_attributes = 0;
  std::uint32_t dropped_events = 0;
  std::shared_ptr<const Resource> resource;
};

/// Options for start_span. Designated initialisers read well:
/// `start_span("GET /orders/{id}", {.kind = SpanKind::Server, .parent = parent})`.
struct SpanOptions {
  SpanKind kind = SpanKind::Internal;
  /// The explicit parent. Unset: the current span (if any). Set but invalid: a new root trace
  /// (what a server does when the request carried no valid traceparent).
  std::optional<SpanContext> parent = std::nullopt;
  std::vector<SpanLink> links = {};
  /// Start time in ns since the Unix epoch; 0 means now.
  std::uint64_t start_time_ns = 0;
};

namespace detail {
struct SpanState;
struct SpanAccess;
}  // namespace detail

/// An RAII span: started by start_span, it is the current span of its thread until it ends
/// (explicitly with end() or by destruction), and then its parent is current again, also when
/// spans end out of order.
///
/// Move-only. The methods are thread-safe (a span may be annotated from an attached context on
/// another thread), and none of them throws; calls after end() are ignored. A span that is not
/// sampled still has ids and propagates, but records nothing.
class Span {
 public:
  /// A no-op span: no ids, records nothing.
  Span() noexcept = default;
  ~Span();
  Span(Span&& other) noexcept = default;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  void set_attribute(std::string_view key, ValueView value) noexcept;
  void set_attributes(std::initializer_list<Field> attributes) noexcept;
  void add_event(std::string_view name, std::initializer_list<Field> attributes = {}) noexcept;
  void set_status(StatusCode code, std::string_view description = {}) noexcept;
  /// Adds an "exception" event with exception.type and exception.message.
  void record_exception(const std::exception& ex,
                        std::initializer_list<Field> attributes = {}) noexcept;
  void update_name(std::string_view name) noexcept;
  /// Ends the span now; later calls do nothing.
  void end() noexcept;
  /// Ends the span at the given time (ns since the Unix epoch).
  void end(std::uint64_t end_time_ns) noexcept;

  [[nodiscard]] SpanContext context() const noexcept;
  [[nodiscard]] bool is_recording() const noexcept;
  [[nodiscard]] std::string trace_id() const;
  [[nodiscard]] std::string span_id() const;

 private:
  friend Span start_span(std::string_view, SpanOptions) noexcept;
  friend struct detail::SpanAccess;
  explicit Span(std::shared_ptr<detail::SpanState> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<detail::SpanState> state_;
};

/// Starts a span as a child of options.parent, else of the current span, else a new trace, and
/// makes it current. Inherits the current frame's custom tags as attributes. Never throws.
[[nodiscard]] Span start_span(std::string_view name, SpanOptions options = {}) noexcept;

/// Trace id of the current span: 32 lowercase hex digits, "" when no span is active.
[[nodiscard]] std::string current_trace_id();
/// Span id of the current span: 16 lowercase hex digits, "" when no span is active.
[[nodiscard]] std::string current_span_id();
/// The current span's context (invalid when no span is active).
[[nodiscard]] SpanContext current_span_context() noexcept;

/// Receives spans as they start and end. Implementations must be thread-safe: spans end on
/// whatever thread their owners run. on_end must not throw (exceptions are caught and
/// reported, and the span is counted as dropped).
class SpanProcessor {
 public:
  virtual ~SpanProcessor() = default;
  SpanProcessor() = default;
  SpanProcessor(const SpanProcessor&) = delete;
  SpanProcessor& operator=(const SpanProcessor&) = delete;
  SpanProcessor(SpanProcessor&&) = delete;
  SpanProcessor& operator=(SpanProcessor&&) = delete;

  /// Called with each finished, sampled span.
  virtual void on_end(std::shared_ptr<const SpanData> span) noexcept = 0;
  /// Delivers whatever is pending; true when everything was delivered in time.
  virtual bool force_flush(std::chrono::milliseconds /*timeout*/) noexcept { return true; }
  /// Flushes and releases resources; later spans are ignored.
  virtual void shutdown() noexcept {}
};

/// Keeps finished spans in memory: for tests (ours and users'). Thread-safe.
class InMemorySpanProcessor final : public SpanProcessor {
 public:
  void on_end(std::shared_ptr<const SpanData> span) noexcept override;
  /// A copy of the spans finished so far, in the order they ended.
  [[nodiscard]] std::vector<std::shared_ptr<const SpanData>> spans() const;
  /// The first finished span with that name, or null.
  [[nodiscard]] std::shared_ptr<const SpanData> find(std::string_view name) const;
  void clear();

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const SpanData>> spans_;
};

/// Registers a processor for every span that ends from now on, on every thread.
void add_span_processor(std::shared_ptr<SpanProcessor> processor);
/// Unregisters a processor (without shutting it down).
void remove_span_processor(const std::shared_ptr<SpanProcessor>& processor);
/// Flushes every registered processor; true when all delivered in time.
bool force_flush_spans(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;

/// Fraction of new root traces sampled, in [0, 1]; children follow their parent's decision.
/// Out-of-range values are clamped. Thread-safe.
void set_sample_rate(double rate) noexcept;
[[nodiscard]] double sample_rate() noexcept;

/// The resource attached to every span from now on. Thread-safe.
void set_resource(Resource resource);
[[nodiscard]] std::shared_ptr<const Resource> resource() noexcept;

}  // namespace o11y
