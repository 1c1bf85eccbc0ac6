#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/tick_clock.hpp"
#include "context/frame.hpp"
#include "o11y/log.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// One log event, stamped on the calling thread and passed whole to every renderer. It only
/// borrows: it must not outlive the log call.
struct Record {
  Record() = default;
  /// Every member given (no exception), so that nothing is cleared first.
  Record(std::uint64_t time, Level lvl, std::string_view logger_name, std::string_view event_name,
         std::span<const Field> call_fields, const Attributes* bound_fields, const Frame* context,
         std::string_view file_name, std::uint32_t lineno, bool names_last = false,
         std::uint64_t reading = 0) noexcept
      : time_ns(time),
        ticks(reading),
        level(lvl),
        logger(logger_name),
        event(event_name),
        fields(call_fields),
        bound(bound_fields),
        frame(context),
        file(file_name),
        line(lineno),
        lasting_names(names_last) {}

  /// Unix time; 0 until it is stamped from `ticks`. An async call leaves that to the writer
  /// thread (stamp_time()): the caller need not wait for the conversion.
  std::uint64_t time_ns = 0;
  std::uint64_t ticks = 0;  ///< the clock's reading (tick_clock::now()) when the call was made
  Level level = Level::Info;
  std::string_view logger;
  std::string_view event;
  std::span<const Field> fields;
  const Attributes* bound = nullptr;  ///< fields from Logger::bind, may be null
  const Frame* frame = nullptr;       ///< the context: tags, log context, active span
  std::string_view file;              ///< base name of the call site's file
  std::uint32_t line = 0;
  /// `logger` and `file` live as long as the process (a logger's name, a call site's file):
  /// a queued record may refer to them instead of copying them.
  bool lasting_names = false;
  /// A call to an event(): the names are the site's, `fields` is empty and `values` holds
  /// site->size values. dispatch() pairs them into fields wherever it does not queue the record.
  const EventSite* site = nullptr;
  const ValueView* values = nullptr;
  std::string_view exception_type;  ///< empty unless Logger::exception
  std::string_view exception_message;
};

/// Limits that keep one line bounded whatever a caller passes. Beyond them values are cut and
/// fields dropped, and the line says so.
struct RenderLimits {
  std::size_t max_value_bytes = std::size_t{64} * 1024;
  std::size_t max_fields = 1024;
};

inline std::string_view base_name(std::string_view path) noexcept {
  const auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The base name of a call site's file, remembered per thread for the last file seen: finding
// it (a strlen and a backward scan of the path) was a fifth of a log call's own work, and a
// thread's lines mostly come from one file in a row. A source location's file name has static
// storage, so its address identifies it (get_logger() relies on the same).
inline std::string_view call_site_file(const char* file) noexcept {
  thread_local const char* t_file = nullptr;
  thread_local std::string_view t_base;
  if (file != t_file) {
    t_base = base_name(file);
    t_file = file;
  }
  return t_base;
}

// A log call's record, built by a constructor from every member: a default-constructed (or
// aggregate-initialised) Record was cleared with `rep stos` first, all of it.
// Its names last: a LoggerCore is never freed, and a call site's file has static storage
// (SourceLocation). Stamped with the clock's reading alone: dispatch() converts it to Unix
// time only where it renders the line here.
[[gnu::always_inline]] inline Record record_for(const LoggerCore& core, const Attributes* bound,
                                                Level level, std::string_view event,
                                                std::span<const Field> fields,
                                                const SourceLocation& loc) noexcept {
  return {0,
          level,
          core.name,
          event,
          fields,
          bound,
          &current_frame(),
          call_site_file(loc.file_name()),
          loc.line(),
          /*names_last=*/true,
          tick_clock::now()};
}

}  // namespace o11y::detail
