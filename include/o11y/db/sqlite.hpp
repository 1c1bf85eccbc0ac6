#pragma once

// The SQLite adapter (target o11y::sqlite). Header-only: it compiles against the SQLite your
// program links, and all the logic it calls lives behind <o11y/db.hpp>.
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "o11y/db.hpp"

namespace o11y::db::sqlite {

namespace detail {

// "/var/lib/app/orders.db" -> "orders.db"; an in-memory or temporary database has no name.
inline std::string_view database_name(sqlite3* db) noexcept {
  const char* path = sqlite3_db_filename(db, "main");
  if (path == nullptr || *path == '\0')
    return {};
  std::string_view p(path);
  const auto slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

/// When each statement now running on this thread started. SQLite's own run time (the
/// profile event's) counts whole milliseconds, too coarse for the 1 ms bucket; a statement
/// runs on the thread that steps it, so the starts are kept per thread.
struct Starts {
  static constexpr std::size_t kMax = 32;  // statements stepped at once; more is a leak
  std::array<std::pair<sqlite3_stmt*, std::chrono::steady_clock::time_point>, kMax> slots{};
  std::size_t used = 0;

  void begin(sqlite3_stmt* s) noexcept {
    for (std::size_t i = 0; i < used; ++i) {
      if (slots[i].first == s) {
        slots[i].second = std::chrono::steady_clock::now();
        return;
      }
    }
    if (used == kMax)
      used = 0;  // statements never finished (a leak upstream): start over
    slots[used++] = {s, std::chrono::steady_clock::now()};
  }
  /// How long `s` ran, or `fallback` when its start was not seen.
  std::chrono::nanoseconds end(sqlite3_stmt* s, std::chrono::nanoseconds fallback) noexcept {
    for (std::size_t i = 0; i < used; ++i) {
      if (slots[i].first == s) {
        const auto ran = std::chrono::steady_clock::now() - slots[i].second;
        slots[i] = slots[--used];
        return std::chrono::duration_cast<std::chrono::nanoseconds>(ran);
      }
    }
    return fallback;
  }
};

inline Starts& starts() noexcept {
  thread_local Starts s;
  return s;
}

// SQLite calls this when a statement starts and when it finishes (or is reset): the span is
// recorded at the finish, starting when the statement did.
inline int on_trace(unsigned type, void* /*context*/, void* p, void* x) noexcept {
  auto* stmt = static_cast<sqlite3_stmt*>(p);
  if (type == SQLITE_TRACE_STMT) {
    starts().begin(stmt);
    return 0;
  }
  if (type != SQLITE_TRACE_PROFILE)
    return 0;
  const auto ran =
      starts().end(stmt, std::chrono::nanoseconds(*static_cast<const sqlite3_int64*>(x)));
  sqlite3* db = sqlite3_db_handle(stmt);
  const char* sql = sqlite3_sql(stmt);
  try {
    QueryScope q({.system = "sqlite",
                  .query_text = sql != nullptr ? std::string_view(sql) : std::string_view(),
                  .db_namespace = database_name(db),
                  .prepared = true,
                  .ran_for = ran});
    q.finish();
  } catch (...) {
    // Out of memory while recording: the statement itself is unaffected.
  }
  return 0;
}

}  // namespace detail

/// Traces every statement run on `db` from now on (through sqlite3_trace_v2, so the caller's
/// code does not change): a CLIENT span each, with the statement's text sanitized, and the
/// query metrics and N+1 counting of QueryScope. Replaces any trace hook set on `db` before.
/// Statements are never rewritten (SQLite has prepared them before the hook sees them), so no
/// sqlcommenter comment is added. SQLite's hook is not told a statement's result: a statement
/// that fails while running is traced with its duration but not its error, and one that fails
/// to prepare never runs and is not traced; check the result codes as before. Returns
/// SQLite's result code.
inline int instrument(sqlite3* db) noexcept {
  return sqlite3_trace_v2(db, SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE, &detail::on_trace, nullptr);
}

/// Stops tracing `db`.
inline int uninstrument(sqlite3* db) noexcept {
  return sqlite3_trace_v2(db, 0, nullptr, nullptr);
}

}  // namespace o11y::db::sqlite
