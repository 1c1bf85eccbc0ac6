#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "o11y/export.hpp"
#include "o11y/log.hpp"
#include "o11y/value.hpp"

namespace o11y {

/// Where the service runs: it picks the default sample rate (1.0 in development, 0.01 in
/// production) and becomes the resource's deployment.environment.
enum class Environment : std::uint8_t { Auto, Development, Production };

/// "development" or "production" ("" for Auto).
[[nodiscard]] std::string_view to_string(Environment environment) noexcept;

/// Where finished spans go (OTEL_TRACES_EXPORTER).
enum class TracesExporter : std::uint8_t {
  Auto,     ///< OTLP when an OTLP endpoint is configured, none otherwise
  Otlp,     ///< OTLP/HTTP to the configured endpoint
  Console,  ///< one JSON line per span on stdout
  None,
};

/// "otlp", "console" or "none" ("" for Auto), as OTEL_TRACES_EXPORTER spells them.
[[nodiscard]] std::string_view to_string(TracesExporter exporter) noexcept;

/// How log lines are rendered.
enum class LogFormat : std::uint8_t {
  Auto,     ///< console when stdout is a terminal, JSON otherwise
  Json,     ///< one JSON object per line
  Console,  ///< a coloured, human-readable line
};

/// Where log records go over OpenTelemetry (OTEL_LOGS_EXPORTER).
enum class LogsExporter : std::uint8_t {
  Auto,     ///< OTLP when an OTLP endpoint is configured, none otherwise
  Otlp,     ///< OTLP/HTTP to the configured endpoint
  Console,  ///< one OTLP/JSON request per batch, one line each, on stdout
  None,     ///< log lines go to the outputs only
};
/// "otlp", "console", "none"; "" for Auto.
[[nodiscard]] std::string_view to_string(LogsExporter exporter) noexcept;

/// Logging settings. Environment: O11Y_LOGGING_FORMAT, O11Y_LOGGING_LEVEL, O11Y_LOGGING_LEVELS,
/// O11Y_LOGGING_STDOUT, O11Y_LOGGING_FILE_PATH, O11Y_LOGGING_FILE_MAX_BYTES,
/// O11Y_LOGGING_FILE_MAX_FILES, O11Y_LOGGING_ASYNC, O11Y_LOGGING_ASYNC_POLICY, O11Y_SOURCE_ROOT.
struct LoggingConfig {
  LogFormat format = LogFormat::Auto;
  /// The level of every logger no entry in `levels` matches.
  Level level = Level::Info;
  /// Log records over OpenTelemetry (the otlp_* fields and `batch` below). Auto: OTLP when an
  /// OTLP endpoint is configured, none otherwise.
  LogsExporter exporter = LogsExporter::Auto;
  OtlpEncoding otlp_encoding = OtlpEncoding::Protobuf;
  bool otlp_gzip = false;
  /// Per-logger levels, {"orders": "debug", "orders.payments": "warning"}: the longest
  /// matching name prefix wins. The environment's entries are merged in, not swapped in, as
  /// django-o11y's build_logging_dict(extra=...) merges.
  std::map<std::string, Level, std::less<>> levels;
  /// Write every line to stdout (the process's standard output, as a container platform
  /// collects it). Off for a service that logs to a file, a sink or a collector only, and in
  /// tests that read their lines from a LogCapture. Environment: O11Y_LOGGING_STDOUT.
  bool stdout_output = true;
  /// Also write JSON lines to this file ("" = no file), rotated by size.
  std::string file_path;
  std::size_t file_max_bytes = std::size_t{100} * 1024 * 1024;
  std::size_t file_max_files = 5;
  /// Render on the caller, write on a background thread through a bounded queue.
  bool async = false;
  std::size_t async_queue_bytes = std::size_t{8} * 1024 * 1024;
  /// When the queue is full: false blocks the caller until there is room, true drops the line
  /// (and counts it).
  bool async_drop_when_full = false;
  /// Stripped from source paths when get_logger() names a logger ("" = heuristics only).
  std::string source_root;

  /// Log records over OpenTelemetry, beside the outputs above: every line that passes its
  /// level also becomes an OTLP LogRecord (same fields, redaction and trace ids), batched and
  /// sent from a background thread; a slow or dead collector drops records (counted in
  /// o11y_log_records_dropped_total), never slows a caller. Environment: OTEL_LOGS_EXPORTER,
  /// OTEL_EXPORTER_OTLP_[LOGS_]{ENDPOINT,HEADERS,PROTOCOL,COMPRESSION,TIMEOUT}, OTEL_BLRP_*.
  /// See docs/otlp.md.
  /// The full logs URL. Unset with exporter "otlp": http://127.0.0.1:4318/v1/logs.
  std::string otlp_endpoint;
  std::map<std::string, std::string> otlp_headers;
  std::chrono::milliseconds otlp_timeout{10000};
  /// OpenTelemetry's batch log record processor defaults.
  BatchOptions batch{2048, 512, std::chrono::milliseconds(1000), std::chrono::milliseconds(30000)};
};

/// Tracing settings. Environment: O11Y_TRACING_ENABLED, OTEL_SDK_DISABLED,
/// O11Y_TRACING_SAMPLE_RATE (else OTEL_TRACES_SAMPLER_ARG), OTEL_TRACES_EXPORTER, the
/// OTEL_EXPORTER_OTLP_* variables (see OtlpOptions) and OTEL_BSP_* (see BatchOptions).
struct TracingConfig {
  bool enabled = true;
  /// Unset: 1.0 in development, 0.01 in production (as django-o11y does).
  std::optional<double> sample_rate;
  /// Where finished spans go. Auto: OTLP when an OTLP endpoint is configured, none otherwise.
  TracesExporter exporter = TracesExporter::Auto;
  /// The full traces URL. Unset with exporter "otlp": http://127.0.0.1:4318/v1/traces.
  std::string otlp_endpoint;
  std::map<std::string, std::string> otlp_headers;
  bool otlp_gzip = false;
  OtlpEncoding otlp_encoding = OtlpEncoding::Protobuf;
  std::chrono::milliseconds otlp_timeout{10000};
  BatchOptions batch;
};

/// Where metrics go over OpenTelemetry (OTEL_METRICS_EXPORTER), beside /metrics.
enum class MetricsExporter : std::uint8_t {
  Auto,     ///< OTLP when an OTLP endpoint is configured, none otherwise
  Otlp,     ///< OTLP/HTTP to the configured endpoint
  Console,  ///< one OTLP/JSON request per export, one line each, on stdout
  None,     ///< scraped or pushed only
};
/// "otlp", "console", "none"; "" for Auto.
[[nodiscard]] std::string_view to_string(MetricsExporter exporter) noexcept;

/// What an exported counter or histogram point carries
/// (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
enum class MetricsTemporality : std::uint8_t {
  Cumulative,  ///< everything since the process started (OpenTelemetry's default)
  Delta,       ///< what was recorded since the previous export ("delta" or "lowmemory")
};

/// Metrics settings. Environment: O11Y_MULTIPROC_DIR (else PROMETHEUS_MULTIPROC_DIR),
/// O11Y_METRICS_MAX_SERIES, and for OTLP export OTEL_METRICS_EXPORTER,
/// OTEL_EXPORTER_OTLP_[METRICS_]{ENDPOINT,HEADERS,PROTOCOL,COMPRESSION,TIMEOUT},
/// OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT and
/// OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (docs/otlp.md).
struct MetricsConfig {
  /// Metrics over OpenTelemetry: a background thread sends every series every export_interval.
  /// Auto: OTLP when an OTLP endpoint is configured, none otherwise.
  MetricsExporter exporter = MetricsExporter::Auto;
  MetricsTemporality temporality = MetricsTemporality::Cumulative;
  OtlpEncoding otlp_encoding = OtlpEncoding::Protobuf;
  bool otlp_gzip = false;
  /// The full metrics URL. Unset with exporter "otlp": http://127.0.0.1:4318/v1/metrics.
  std::string otlp_endpoint;
  std::map<std::string, std::string> otlp_headers;
  std::chrono::milliseconds otlp_timeout{10000};
  std::chrono::milliseconds export_interval{60000};
  std::chrono::milliseconds export_timeout{30000};
  /// Multiprocess mode: every process writes its values to its own file in this directory,
  /// and a scrape aggregates them ("" = single-process). Takes effect only when init() runs
  /// before the first metric is declared (a namespace-scope `static auto c = counter(...)`
  /// is declared before main()); a later change is reported once on stderr and ignored.
  std::string multiproc_dir;
  /// Label sets one metric may hold; beyond it, new label sets are recorded in one series
  /// whose label values are all "o11y_overflow", and a warning is printed once.
  /// Environment: O11Y_METRICS_MAX_SERIES.
  std::size_t max_series_per_metric = 10000;
};

/// What is kept out of logs and spans. Environment: O11Y_REDACT_KEYS (comma-separated, added
/// to the list), O11Y_MASK_PII (true/false).
struct RedactionConfig {
  /// A field, tag or attribute whose key contains one of these (case-insensitive; '-', '.'
  /// and ' ' read as '_') is written as "[REDACTED]": "X-Api-Key", "db.password" and
  /// "session_id" all are.
  std::vector<std::string> keys = {"password",    "passwd",        "secret",    "token",
                                   "api_key",     "apikey",        "cookie",    "session",
                                   "private_key", "authorization", "credential"};
  /// Also mask emails, Luhn-valid card numbers and national ids (ddd-dd-dddd) inside string
  /// values, as [EMAIL], [CARD] and [NATIONAL_ID]. Off by default: it costs a scan of every
  /// string value.
  bool mask_pii = false;
};

/// Database instrumentation (`<o11y/db.hpp>` and its adapters). Environment:
/// O11Y_DB_SQLCOMMENTER, O11Y_DB_SLOW_QUERY_MS, O11Y_DB_N_PLUS_ONE_THRESHOLD.
struct DbConfig {
  /// Append `/*traceparent='...'*/` to SQL statements sent under a sampled span, so the
  /// database's own logs and pg_stat_activity lead back to the trace.
  bool sqlcommenter = true;
  /// A query that takes at least this long also writes a `slow_query` warning line.
  std::chrono::milliseconds slow_query{500};
  /// The same sanitized statement run this many times within one request or job is reported
  /// as a potential N+1 pattern.
  std::size_t n_plus_one_threshold = 5;
  /// Record query text as written, literals included. Off: literals become `?` (values are
  /// often personal data). Code only, no variable: turning it on is a decision about data, not
  /// about deployment.
  bool record_query_values = false;
};

/// Everything init() needs. Defaults, then what code sets here, then the environment, which
/// overrides both (as django-o11y does). A plain struct; copy it freely.
struct Config {
  /// Environment: O11Y_SERVICE_NAME, else OTEL_SERVICE_NAME. Default "unknown_service".
  std::string service_name;
  /// Environment: O11Y_SERVICE_VERSION.
  std::string service_version;
  /// Environment: O11Y_ENVIRONMENT (development or production). Auto: development when stdout
  /// is a terminal, production otherwise.
  Environment environment = Environment::Auto;
  /// Extra resource attributes; OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2") adds to them.
  Attributes resource_attributes;
  LoggingConfig logging;
  TracingConfig tracing;
  MetricsConfig metrics;
  RedactionConfig redaction;
  DbConfig db;

  /// `c` with the environment applied on top. Malformed values are reported once on stderr
  /// (naming the variable and the value) and leave the field as it was. Never throws
  /// except std::bad_alloc.
  static Config with_environment(Config c);
};

/// Whether init() applies the environment over the Config it is given.
enum class EnvironmentUse : std::uint8_t {
  Apply,   ///< the environment overrides code (the default, as django-o11y does)
  Ignore,  ///< exactly the Config given: for tools and tests that must not be steered by it
};

/// Configures the library: resource, sampling, logging, export, metrics. Optional: every call
/// works with defaults. Calling it again reconfigures. Thread-safe; never throws except
/// std::bad_alloc.
void init(const Config& config = {}, EnvironmentUse environment = EnvironmentUse::Apply);

/// Flushes logs and spans and shuts processors down. Also runs at normal exit. Idempotent.
void shutdown() noexcept;

/// The malformed settings in the environment, one message per problem, naming the variable,
/// its value, what was expected and what is used instead; nothing is printed. For `o11y check`
/// and for services that want to refuse to start on a bad configuration.
[[nodiscard]] std::vector<std::string> environment_problems();

/// The defaults with the environment applied, as init() would see them. With `problems`, the
/// malformed settings are appended there (as environment_problems() words them) instead of
/// being reported on stderr.
[[nodiscard]] Config environment_config(std::vector<std::string>* problems = nullptr);

/// The configuration in effect (after the environment was applied).
[[nodiscard]] Config current_config();

}  // namespace o11y
