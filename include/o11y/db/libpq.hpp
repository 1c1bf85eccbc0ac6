#pragma once

// The libpq adapter (target o11y::libpq). Header-only: it compiles against the libpq your
// program links, and all the logic it calls lives behind <o11y/db.hpp>. Each wrapper takes
// the same arguments as the libpq function it is named after and returns what that returns.
#include <libpq-fe.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "o11y/db.hpp"

namespace o11y::db::pq {

namespace detail {

inline std::string_view or_empty(const char* s) noexcept {
  return s != nullptr ? std::string_view(s) : std::string_view();
}

/// Prepared statements' text by connection and name, so that exec_prepared() can record what
/// it runs. Bounded: past the limit new statements run with their name only.
class PreparedTexts {
 public:
  static PreparedTexts& instance() {
    static PreparedTexts* p = new PreparedTexts();  // NOLINT(*-owning-memory): used at exit
    return *p;
  }
  void remember(PGconn* conn, std::string_view name, std::string_view text) {
    std::lock_guard lock(mu_);
    if (texts_.size() < kMax)
      texts_.insert_or_assign({conn, std::string(name)}, std::string(text));
  }
  [[nodiscard]] std::string find(PGconn* conn, std::string_view name) const {
    std::lock_guard lock(mu_);
    const auto it = texts_.find({conn, std::string(name)});
    return it == texts_.end() ? std::string() : it->second;
  }
  void forget(PGconn* conn) {
    std::lock_guard lock(mu_);
    for (auto it = texts_.lower_bound({conn, std::string()});
         it != texts_.end() && it->first.first == conn;) {
      it = texts_.erase(it);
    }
  }

 private:
  static constexpr std::size_t kMax = 4096;
  mutable std::mutex mu_;
  std::map<std::pair<PGconn*, std::string>, std::string> texts_;
};

inline QueryInfo info(PGconn* conn, std::string_view text) noexcept {
  const char* port = PQport(conn);
  return {.system = "postgresql",
          .query_text = text,
          .db_namespace = or_empty(PQdb(conn)),
          .server_address = or_empty(PQhost(conn)),
          .server_port = port != nullptr ? std::atoi(port) : 0};
}

/// Ends the query's scope from its result: the SQLSTATE and primary message of an error, the
/// row count of a query that returned rows.
inline PGresult* finish(QueryScope& q, PGconn* conn, PGresult* r) noexcept {
  if (r == nullptr) {
    q.fail("_OTHER", or_empty(PQerrorMessage(conn)));
    return r;
  }
  switch (PQresultStatus(r)) {
    case PGRES_FATAL_ERROR:
    case PGRES_NONFATAL_ERROR:
    case PGRES_BAD_RESPONSE: {
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
      q.fail(state != nullptr ? state : "_OTHER",
             primary != nullptr ? primary : or_empty(PQresultErrorMessage(r)));
      return r;
    }
    case PGRES_TUPLES_OK:
      q.set_returned_rows(PQntuples(r));
      break;
    default:
      break;
  }
  q.finish();
  return r;
}

}  // namespace detail

/// PQexec, traced: a CLIENT span with the sanitized statement, the SQLSTATE of a failure as
/// db.response.status_code, and the traceparent sent to the server as a sqlcommenter comment.
inline PGresult* exec(PGconn* conn, const char* command) {
  db::QueryScope q(detail::info(conn, detail::or_empty(command)));
  return detail::finish(q, conn, PQexec(conn, q.statement().c_str()));
}

/// PQexecParams, traced as exec(); the parameters' values are never recorded.
inline PGresult* exec_params(PGconn* conn, const char* command, int n_params,
                             const Oid* param_types, const char* const* param_values,
                             const int* param_lengths, const int* param_formats,
                             int result_format) {
  db::QueryScope q(detail::info(conn, detail::or_empty(command)));
  return detail::finish(q, conn,
                        PQexecParams(conn, q.statement().c_str(), n_params, param_types,
                                     param_values, param_lengths, param_formats, result_format));
}

/// PQprepare, traced as a PREPARE; the statement is sent as written (a prepared statement is
/// never rewritten) and remembered so exec_prepared() can record its text.
inline PGresult* prepare(PGconn* conn, const char* stmt_name, const char* query, int n_params,
                         const Oid* param_types) {
  auto qi = detail::info(conn, detail::or_empty(query));
  qi.operation = "PREPARE";
  qi.prepared = true;
  db::QueryScope q(qi);
  PGresult* r = PQprepare(conn, stmt_name, query, n_params, param_types);
  if (r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK) {
    try {
      detail::PreparedTexts::instance().remember(conn, detail::or_empty(stmt_name),
                                                 detail::or_empty(query));
    } catch (...) {
      // Later executions are recorded by name only.
    }
  }
  return detail::finish(q, conn, r);
}

/// PQexecPrepared, traced with the text given to prepare() on this connection.
inline PGresult* exec_prepared(PGconn* conn, const char* stmt_name, int n_params,
                               const char* const* param_values, const int* param_lengths,
                               const int* param_formats, int result_format) {
  const std::string text =
      detail::PreparedTexts::instance().find(conn, detail::or_empty(stmt_name));
  auto qi = detail::info(conn, text);
  qi.prepared = true;
  if (text.empty()) {
    qi.operation = "EXECUTE";
    qi.collection = detail::or_empty(stmt_name);
  }
  db::QueryScope q(qi);
  return detail::finish(q, conn,
                        PQexecPrepared(conn, stmt_name, n_params, param_values, param_lengths,
                                       param_formats, result_format));
}

/// PQfinish, also forgetting the connection's prepared statements.
inline void finish(PGconn* conn) {
  detail::PreparedTexts::instance().forget(conn);
  PQfinish(conn);
}

}  // namespace o11y::db::pq
