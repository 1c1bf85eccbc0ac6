#pragma once

// The sections of the environment parser (config/environment.cpp) that modules used before
// init() read for their defaults, so that each variable is parsed in one place only.

#include <optional>
#include <string>
#include <string_view>

#include "o11y/config.hpp"
#include "o11y/log.hpp"

namespace o11y::detail {

/// The logging section of the environment applied to c (O11Y_LOGGING_*, O11Y_SOURCE_ROOT).
[[nodiscard]] LoggingConfig apply_logging_env(LoggingConfig c);

/// OTEL_LOGS_EXPORTER, OTEL_EXPORTER_OTLP_[LOGS_]* and OTEL_BLRP_* applied to l (part of
/// apply_logging_env).
void apply_logs_export_env(LoggingConfig& l);

/// O11Y_DB_* applied to c.
[[nodiscard]] DbConfig apply_db_env(DbConfig c);

/// "debug", "info", "warning" (or "warn"), "error", "critical", "off"; nullopt otherwise.
[[nodiscard]] std::optional<Level> parse_level(std::string_view s) noexcept;

/// O11Y_MULTIPROC_DIR, else PROMETHEUS_MULTIPROC_DIR; nullopt when neither is set.
[[nodiscard]] std::optional<std::string> multiproc_dir_from_environment();

}  // namespace o11y::detail
