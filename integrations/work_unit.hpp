#pragma once

// The unit of work whose queries N+1 detection counts: a request (RequestScope) or a job
// (JobScope). Units nest per thread; a query counts against the innermost one.

#include <string_view>

#include "o11y/config.hpp"
#include "o11y/log.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// Opens a unit owned by `owner` on this thread, reporting to `span` (the request's or job's).
/// Never throws.
void open_work_unit(const void* owner, Span* span) noexcept;

/// Closes `owner`'s unit: when one sanitized statement ran at least the threshold's times, the
/// span gets db.potential_n_plus_one, db.max_query_repetitions and db.query_count, one
/// `n_plus_one_detected` warning is logged and db_n_plus_one_total{route} counts it. Call it
/// while the span is still open. Never throws.
void close_work_unit(const void* owner, std::string_view route) noexcept;

/// Counts one run of a sanitized statement against the innermost unit on this thread.
void count_query(std::string_view sanitized_text) noexcept;

/// The "o11y.db" logger: query failures, slow queries and N+1 patterns.
[[nodiscard]] Logger& db_logger();

/// The database settings in effect: the environment's until init() sets them.
struct DbSettings {
  bool sqlcommenter;
  bool record_query_values;
  std::int64_t slow_query_ns;
  std::size_t n_plus_one_threshold;
};
[[nodiscard]] DbSettings db_settings() noexcept;
void set_db_config(const DbConfig& config) noexcept;

}  // namespace o11y::detail
