#pragma once

#include <optional>
#include <string>

#include "o11y/value.hpp"

namespace o11y {

/// How log lines are rendered.
enum class LogFormat : std::uint8_t {
  Auto,     ///< console when stdout is a terminal, JSON otherwise
  Json,     ///< one JSON object per line
  Console,  ///< a coloured, human-readable line
};

/// Logging settings. Environment: O11Y_LOGGING_FORMAT, O11Y_LOGGING_LEVEL, O11Y_LOGGING_LEVELS,
/// O11Y_LOGGING_FILE_PATH.
struct LoggingConfig {
  LogFormat format = LogFormat::Auto;
  std::string level = "info";
  /// Per-logger levels, "orders=debug,orders.payments=warning": the longest prefix wins.
  std::string levels;
  /// Also write JSON lines to this file ("" = no file).
  std::string file_path;
};

/// Tracing settings. Environment: O11Y_TRACING_ENABLED, OTEL_SDK_DISABLED,
/// O11Y_TRACING_SAMPLE_RATE (else OTEL_TRACES_SAMPLER_ARG), OTEL_EXPORTER_OTLP_ENDPOINT,
/// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
struct TracingConfig {
  bool enabled = true;
  /// Unset: 1.0 in development, 0.01 in production (as django-o11y does).
  std::optional<double> sample_rate;
  std::string otlp_endpoint;
};

/// Metrics settings. Environment: O11Y_MULTIPROC_DIR (else PROMETHEUS_MULTIPROC_DIR).
struct MetricsConfig {
  std::string multiproc_dir;
};

/// Everything init() needs. Defaults, then what code sets here, then the environment, which
/// overrides both (as django-o11y does). A plain struct; copy it freely.
struct Config {
  /// Environment: O11Y_SERVICE_NAME, else OTEL_SERVICE_NAME. Default "unknown_service".
  std::string service_name;
  /// Environment: O11Y_SERVICE_VERSION.
  std::string service_version;
  /// "development" or "production". Environment: O11Y_ENVIRONMENT. Unset: development when
  /// stdout is a terminal, production otherwise.
  std::string environment;
  /// Extra resource attributes; OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2") adds to them.
  Attributes resource_attributes;
  LoggingConfig logging;
  TracingConfig tracing;
  MetricsConfig metrics;

  /// `c` with the environment applied on top. Malformed values are reported once on stderr
  /// (naming the variable and the value) and leave the field as it was. Never throws
  /// except std::bad_alloc.
  static Config with_environment(Config c);
};

/// Configures the library: resource, sampling, logging. Optional: every call works with
/// defaults. Calling it again reconfigures. Thread-safe; never throws except std::bad_alloc.
void init(const Config& config = {});

/// Flushes logs and spans and shuts processors down. Also runs at normal exit. Idempotent.
void shutdown() noexcept;

/// The configuration in effect (after the environment was applied).
[[nodiscard]] Config current_config();

}  // namespace o11y
