#pragma once

#include <array>
#include <atomic>
#include <cstddef>
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

/// A log event's name and field names, fixed at compile time: what `o11y::event()` returns and
/// the fast form of a log call takes as its template argument. Its strings live in the object
/// (a template argument, so that a queued line may refer to them for the life of the process).
/// A plain value; build it with event().
template <std::size_t Chars, std::size_t Keys>
struct EventSpec {
  // Public, as a template argument's members must be: the name, then each key, back to back.
  std::array<char, Chars + 1> chars{};
  std::array<std::uint16_t, Keys + 1> ends{};  ///< where the name and each key end in chars

  [[nodiscard]] static constexpr std::size_t size() noexcept { return Keys; }
  [[nodiscard]] constexpr std::string_view name() const noexcept { return {chars.data(), ends[0]}; }
  [[nodiscard]] constexpr std::string_view key(std::size_t i) const noexcept {
    return {chars.data() + ends[i], static_cast<std::size_t>(ends[i + 1] - ends[i])};
  }
};

namespace detail {
/// Throwing here makes a bad event() a compile error (it is consteval).
inline void bad_event_spec(const char* /*why*/) {
  throw 0;  // NOLINT(hicpp-exception-baseclass): never runs; fails the constant evaluation
}
}  // namespace detail

/// The event and field names of a log call, checked once at compile time: a non-empty name, at
/// most 64 fields, no key empty or given twice. With it a call passes only the values, in
/// order, and copies no name:
///
///     static constexpr auto kOrderPlaced = o11y::event("order_placed", "order_id", "amount");
///     log.info<kOrderPlaced>({order_id, 49.99});
///
/// The line written is the one `log.info("order_placed", {{"order_id", order_id},
/// {"amount", 49.99}})` writes.
template <std::size_t N, std::size_t... Ns>
consteval auto event(const char (&name)[N], const char (&... keys)[Ns]) {
  static_assert(sizeof...(Ns) <= 64, "o11y::event: at most 64 fields");
  EventSpec<(N - 1) + (std::size_t{0} + ... + (Ns - 1)), sizeof...(Ns)> spec;
  std::size_t at = 0;
  std::size_t i = 0;
  const auto put = [&](const char* s, std::size_t n) {
    if (n == 0)
      detail::bad_event_spec("an empty event name or key");
    for (std::size_t j = 0; j < n; ++j)
      spec.chars[at++] = s[j];
    if (at > 0xFFFF)
      detail::bad_event_spec("names over 65535 bytes");
    spec.ends[i++] = static_cast<std::uint16_t>(at);
  };
  put(name, N - 1);
  (put(keys, Ns - 1), ...);
  for (std::size_t a = 0; a < spec.size(); ++a) {
    for (std::size_t b = a + 1; b < spec.size(); ++b) {
      if (spec.key(a) == spec.key(b))
        detail::bad_event_spec("a key given twice");
    }
  }
  return spec;
}

/// The values of a call to an event(), one per field in the event's order: exactly N, each
/// anything a Field's value may be. Like Field, it borrows: for call arguments only.
template <std::size_t N>
class EventValues {
 public:
  constexpr EventValues() noexcept requires(N == 0) = default;
  template <class... A>
  requires(sizeof...(A) == N && N > 0 &&
           (std::is_constructible_v<ValueView, const A&> &&
            ...)) constexpr EventValues(const A&... values) noexcept  // NOLINT(*-explicit-*)
      : values_{ValueView(values)...} {}
  [[nodiscard]] constexpr const ValueView* data() const noexcept { return values_.data(); }

 private:
  std::array<ValueView, N> values_{};
};

namespace detail {
/// An event()'s names as the logging pipeline reads them: the spec's strings by reference.
struct EventSite {
  std::string_view name;
  const std::string_view* keys;
  std::size_t size;
};
/// One EventSite per spec, with static storage like the spec it refers to.
template <auto Spec>
struct SiteOf {
  static constexpr auto keys = [] {
    std::array<std::string_view, Spec.size()> k{};
    for (std::size_t i = 0; i < k.size(); ++i)
      k[i] = Spec.key(i);
    return k;
  }();
  static constexpr EventSite site{Spec.name(), keys.data(), keys.size()};
};

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
  /// The fast form, for an event() declared once: `log.info<kOrderPlaced>({order_id, 49.99})`.
  /// The values follow the event's keys, in order; their number is checked at compile time.
  template <auto Spec>
  void debug(EventValues<Spec.size()> values = {}, Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Debug))
      write_event(Level::Debug, detail::SiteOf<Spec>::site, values.data(), loc);
  }
  template <auto Spec>
  void info(EventValues<Spec.size()> values = {}, Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Info))
      write_event(Level::Info, detail::SiteOf<Spec>::site, values.data(), loc);
  }
  template <auto Spec>
  void warning(EventValues<Spec.size()> values = {}, Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Warning))
      write_event(Level::Warning, detail::SiteOf<Spec>::site, values.data(), loc);
  }
  template <auto Spec>
  void error(EventValues<Spec.size()> values = {}, Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Error))
      write_event(Level::Error, detail::SiteOf<Spec>::site, values.data(), loc);
  }
  template <auto Spec>
  void critical(EventValues<Spec.size()> values = {}, Loc loc = Loc::current()) const noexcept {
    if (enabled(Level::Critical))
      write_event(Level::Critical, detail::SiteOf<Spec>::site, values.data(), loc);
  }
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
  void write_event(Level level, const detail::EventSite& site, const ValueView* values,
                   const Loc& loc) const noexcept;

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
