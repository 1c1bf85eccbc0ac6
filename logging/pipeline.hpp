#pragma once

#include <spdlog/sinks/sink.h>

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "config/environment.hpp"
#include "logging/record.hpp"
#include "o11y/config.hpp"

namespace o11y::detail {

/// Everything that decides where lines go, resolved: what init() (or the first log call,
/// from the environment alone) hands to configure_logging.
struct LoggingSetup {
  LoggingConfig config;
  bool stdout_is_terminal = false;
  bool stdout_enabled = true;
  /// Additional sinks, JSON-rendered (benchmarks and tests use a null or file sink here).
  std::vector<std::shared_ptr<spdlog::sinks::sink>> extra_json_sinks;
  /// Additional sinks, rendered for the console.
  std::vector<std::shared_ptr<spdlog::sinks::sink>> extra_console_sinks;
};

/// Replaces the outputs, the format and every logger's level. Thread-safe; lines being
/// written meanwhile finish on the outputs they started with.
void configure_logging(const LoggingSetup& setup);

/// Configures from the environment alone, once, if nothing configured logging yet.
void ensure_logging_configured();

/// Renders the record for each output and writes it (or queues it, in async mode). Stamps
/// `record.time_ns` from its `ticks` where it is still 0, unless the record is queued for the
/// writer, which stamps it.
void dispatch(Record& record) noexcept;
/// dispatch() for a call to an event(): builds its record and dispatches it without a call in
/// between.
void dispatch_event(const LoggerCore& core, const Attributes* bound, Level level,
                    const EventSite& site, const ValueView* values,
                    const SourceLocation& loc) noexcept;

/// Sends the log records queued for OTLP export, waiting at most `limit` (and the exporter's
/// own export timeout); false when time ran out. Not part of flush_logging(), which runs
/// before fork() and must not wait on a network.
bool flush_log_export(std::chrono::milliseconds limit) noexcept;

/// Drains the async queue and flushes every sink.
void flush_logging() noexcept;

/// In a fork()ed child whose fork handlers did not run: the next log call builds this
/// process's own async writer. A no-op in the process that built the current one.
void logging_after_fork() noexcept;

/// Counts a line that did not reach a sink.
void count_dropped_line() noexcept;

/// Sets every logger's level: the longest matching prefix in levels, else global.
void apply_logger_levels(Level global, const std::map<std::string, Level, std::less<>>& levels);

/// The source root stripped from paths when naming loggers.
void set_logger_source_root(std::string root);

}  // namespace o11y::detail
