#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "o11y/trace.hpp"

/// Database and cache instrumentation: what the libpq, SQLite and hiredis adapters
/// (`<o11y/db/*.hpp>`) are built on, and what an adapter for any other client uses.
/// Spans and metrics follow OpenTelemetry's database semantic conventions.
namespace o11y::db {

/// What the instrumentation needs to know about one query. The views only need to live for
/// the QueryScope constructor. Designated initialisers read well:
/// `QueryScope q({.system = "postgresql", .query_text = sql, .db_namespace = "shop"})`.
struct QueryInfo {
  /// db.system.name: "postgresql", "sqlite", "redis", "mysql", ...
  std::string_view system;
  /// The statement as the application wrote it. Recorded sanitized (see sanitize()).
  std::string_view query_text = {};
  /// db.operation.name ("SELECT"); read from the statement's first keyword when empty.
  std::string_view operation = {};
  /// db.collection.name (the table); read from the statement when empty.
  std::string_view collection = {};
  /// db.namespace: the database name.
  std::string_view db_namespace = {};
  std::string_view server_address = {};
  int server_port = 0;
  /// The text belongs to a prepared statement: statement() never rewrites it.
  bool prepared = false;
  /// The text is already sanitized, or holds no values (a Redis command shown as "GET ?").
  bool sanitized = false;
  /// The query already ran this long when the scope is made (a hook that reports queries
  /// after the fact, as SQLite's does): the span and the duration start that long ago.
  std::chrono::nanoseconds ran_for{0};
};

/// One query or command: a CLIENT span (child of the current span) named
/// "{operation} {collection}", the duration histogram
/// `db_client_operation_duration_seconds{system,operation,collection}`, a `query_failed`
/// warning line on failure, a `slow_query` warning line at or over the configured threshold,
/// and the count that N+1 detection keeps for the enclosing request or job.
///
/// Create, finish and destroy it on one thread (the request's, for N+1 detection). Not
/// copyable or movable. The constructor throws only std::bad_alloc; nothing else throws.
class QueryScope {
 public:
  explicit QueryScope(const QueryInfo& info);
  /// Not finished: failed with error.type "exception" while an exception unwinds the scope,
  /// else finished successfully.
  ~QueryScope();
  QueryScope(const QueryScope&) = delete;
  QueryScope& operator=(const QueryScope&) = delete;
  QueryScope(QueryScope&&) = delete;
  QueryScope& operator=(QueryScope&&) = delete;

  /// The statement to send: the query text with a sqlcommenter comment
  /// (`/*traceparent='00-...-01'*/`) appended when the span is sampled, the system speaks SQL,
  /// the statement is not prepared and holds no comment yet, and the comment is enabled.
  [[nodiscard]] const std::string& statement() const noexcept { return statement_; }
  /// The text recorded as db.query.text.
  [[nodiscard]] const std::string& query_text() const noexcept { return text_; }
  [[nodiscard]] Span& span() noexcept { return span_; }
  /// db.response.returned_rows, when the client knows it.
  void set_returned_rows(std::int64_t rows) noexcept;
  /// The query succeeded. Later calls and the destructor then do nothing.
  void finish() noexcept;
  /// The query failed: `status_code` is the database's code (a SQLSTATE such as "23505", a
  /// Redis error prefix), recorded as db.response.status_code and error.type; `message` is the
  /// server's text (recorded on the span status and the warning line).
  void fail(std::string_view status_code, std::string_view message = {}) noexcept;

 private:
  void end(std::string_view status_code, std::string_view message, bool failed) noexcept;

  Span span_;
  std::string statement_;
  std::string text_;
  std::string operation_;
  std::string collection_;
  std::string system_;
  std::chrono::steady_clock::time_point start_;
  int uncaught_ = 0;
  bool finished_ = false;
};

/// The query text with its values replaced by `?`: string literals (also E'', X'', B'', N''
/// and $tag$ dollar-quoted), numbers, hex and booleans; a list of values in `IN (...)` becomes
/// `IN (?)`; comments are dropped. Placeholders ($1, ?, :name, @p) and identifiers (also
/// "quoted" ones) stay as written. `system` picks the dialect: MySQL and MariaDB strings take
/// backslash escapes and "double quotes". Never throws except std::bad_alloc.
[[nodiscard]] std::string sanitize(std::string_view query_text, std::string_view system = {});

/// The operation (first keyword, upper case: "SELECT") and the collection (the table after
/// FROM, INTO or UPDATE, or of CREATE/DROP/ALTER TABLE) of a SQL statement; either is empty
/// when not found.
struct StatementSummary {
  std::string operation;
  std::string collection;
};
[[nodiscard]] StatementSummary summarize(std::string_view query_text);

/// True when the text holds a SQL comment (`--` or `/*`) outside literals; sqlcommenter then
/// leaves the statement alone, as its specification asks.
[[nodiscard]] bool has_comment(std::string_view query_text) noexcept;

}  // namespace o11y::db
