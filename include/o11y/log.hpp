#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "o11y/value.hpp"

namespace o11y {

/// Log severity, lowest first. Off disables a logger entirely.
enum class Level : std::uint8_t { Debug, Info, Warning, Error, Critical, Off };

/// "debug", "info", "warning", "error", "critical", "off".
[[nodiscard]] std::string_view to_string(Level level) noexcept;

/// The call site of a log call, captured without macros: default arguments built from
/// __builtin_FILE()/__builtin_LINE() are evaluated where the call is written. (std::source_location
/// would do, but clang 14 with libstdc++ 12 lacks it.) A plain value. A `file` passed by hand
/// must have static storage duration, as __builtin_FILE()'s has: loggers and queued lines refer
/// to it.
class SourceLocation {
 public:
  static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                          int line = __builtin_LINE()) noexcept {
    return {file, line};
  }
  [[nodiscard]] constexpr const char* file_name() const noexcept { return file_; }
  [[nodiscard]] constexpr std::uint32_t line() const noexcept { return line_; }

 private:
  constexpr SourceLocation(const char* file, int line) noexcept
      : file_(file != nullptr ? file : ""),
        line_(line > 0 ? static_cast<std::uint32_t>(line) : 0) {}
  const char* file_;
  std::uint32_t line_;
};

namespace detail {
/// The per-name state every Logger of that name shares: its effective level, kept up to date
/// when the configuration changes. Lives for the whole process.
struct LoggerCore {
  std::string name;
  std::atomic<std::uint8_t> level{static_cast<std::uint8_t>(Level::Info)};
};
}  // namespace detail

/// A named structured logger: `log.info("order_placed", {{"order_id", 123}})` writes one line
/// (JSON or console) with the call's fields, the logger's bound fields, the current context's
/// custom tags and log context, trace_id/span_id of the active span, and the call site.
///
/// Cheap to copy (a pointer and a shared pointer) and safe to keep in statics. Thread-safe.
/// No method throws, and a failing sink never reaches the caller: errors are reported through
/// a rate-limited internal channel and the line is counted as dropped. A disabled level costs
/// one atomic load and a branch: nothing is formatted or allocated.
class Logger {
 public:
  using Loc = SourceLocation;

  void debug(std::string_view event, std::initializer_list<Field> fields = {},
             Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Debug))
      write(Level::Debug, event, fields, loc);
  }
  void info(std::string_view event, std::initializer_list<Field> fields = {},
            Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Info))
      write(Level::Info, event, fields, loc);
  }
  void warning(std::string_view event, std::initializer_list<Field> fields = {},
               Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Warning))
      write(Level::Warning, event, fields, loc);
  }
  void error(std::string_view event, std::initializer_list<Field> fields = {},
             Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Error))
      write(Level::Error, event, fields, loc);
  }
  void critical(std::string_view event, std::initializer_list<Field> fields = {},
                Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Critical))
      write(Level::Critical, event, fields, loc);
  }
  /// Error level, with exception_type and exception_message fields from ex.
  void exception(std::string_view event, const std::exception& ex,
                 std::initializer_list<Field> fields = {}, Loc loc = Loc::current()) const noexcept;
  /// Any level, with fields built at run time.
  void log(Level level, std::string_view event, std::span<const Field> fields = {},
           Loc loc = Loc::current()) const noexcept {
    if (enabled(level))
      write(level, event, fields, loc);
  }

  /// A logger of the same name that adds these fields to every line.
  [[nodiscard]] Logger bind(std::initializer_list<Field> fields) const;

  [[nodiscard]] bool enabled(Level level) const noexcept {
    return level != Level::Off &&
           static_cast<std::uint8_t>(level) >= core_->level.load(std::memory_order_relaxed);
  }
  [[nodiscard]] const std::string& name() const noexcept { return core_->name; }

 private:
  friend Logger get_logger(std::string_view name);
  friend Logger get_logger(SourceLocation loc);
  explicit Logger(detail::LoggerCore* core) noexcept : core_(core) {}
  void write(Level level, std::string_view event, std::span<const Field> fields, const Loc& loc,
             const std::exception* ex = nullptr) const noexcept;

  detail::LoggerCore* core_;
  std::shared_ptr<const Attributes> bound_;
};

/// The logger named after the calling source file: `src/orders/views.cpp` -> "orders.views"
/// (the configured source root and a leading `src/` are stripped, `/` becomes `.`, the
/// extension goes). Never throws except std::bad_alloc.
[[nodiscard]] Logger get_logger(SourceLocation loc = SourceLocation::current());
/// The logger with this name. The same name always shares one level setting.
[[nodiscard]] Logger get_logger(std::string_view name);

namespace logging {

/// The name get_logger() infers for a source path (exposed for tests and tools).
[[nodiscard]] std::string logger_name_for_path(std::string_view path);

/// Writes everything buffered (file sink, async queue) to its destination, and sends the log
/// records queued for OTLP (waiting at most the exporter's export timeout). Thread-safe.
void flush() noexcept;

/// Lines dropped since start: async queue full in drop mode, or a sink that failed.
[[nodiscard]] std::uint64_t dropped_lines() noexcept;

/// The level a request log line gets from its HTTP status: 5xx error, 4xx warning, else info.
[[nodiscard]] constexpr Level level_for_status(int status) noexcept {
  if (status >= 500)
    return Level::Error;
  if (status >= 400)
    return Level::Warning;
  return Level::Info;
}

/// Writes the request line the HTTP integration emits ("request_finished" with method, path,
/// route, status and duration_ms, then the first 32 of `extra`), at the level its status calls
/// for.
void log_request(const Logger& logger, std::string_view method, std::string_view path,
                 std::string_view route, int status, double duration_ms,
                 std::span<const Field> extra = {},
                 SourceLocation loc = SourceLocation::current()) noexcept;

/// Captures every log line as JSON while it lives, whatever the configured format and in
/// addition to the configured sinks: for tests, ours and users'.
///
/// Thread-safe. Several captures may be active; each sees every line written while it lives.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  LogCapture(LogCapture&&) = delete;
  LogCapture& operator=(LogCapture&&) = delete;

  /// The JSON lines captured so far (without the trailing newline), oldest first.
  [[nodiscard]] std::vector<std::string> lines() const;
  /// The captured lines whose event is exactly this.
  [[nodiscard]] std::vector<std::string> lines_with_event(std::string_view event) const;
  void clear();

  struct State;  ///< shared with the sink; opaque

 private:
  std::shared_ptr<State> state_;
};

}  // namespace logging
}  // namespace o11y
