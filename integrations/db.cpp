#include "o11y/db.hpp"

#include <chrono>
#include <cmath>
#include <exception>
#include <string>

#include "base/internal_error.hpp"
#include "context/redact.hpp"
#include "context/span_state.hpp"
#include "integrations/span_attribute.hpp"
#include "integrations/work_unit.hpp"
#include "o11y/log.hpp"
#include "o11y/metrics.hpp"
#include "o11y/propagation.hpp"

namespace o11y::db {
namespace {

constinit const detail::KnownKey kSystem{"db.system.name"};
constinit const detail::KnownKey kNamespace{"db.namespace"};
constinit const detail::KnownKey kOperation{"db.operation.name"};
constinit const detail::KnownKey kCollection{"db.collection.name"};
constinit const detail::KnownKey kQueryText{"db.query.text"};
constinit const detail::KnownKey kQuerySummary{"db.query.summary"};
constinit const detail::KnownKey kServerAddress{"server.address"};
constinit const detail::KnownKey kServerPort{"server.port"};
constinit const detail::KnownKey kStatusCode{"db.response.status_code"};
constinit const detail::KnownKey kReturnedRows{"db.response.returned_rows"};
constinit const detail::KnownKey kErrorType{"error.type"};

using detail::set;

Histogram operation_duration() {
  // The buckets OpenTelemetry's database conventions advise for this histogram.
  static const Histogram h = histogram(
      "db_client_operation_duration_seconds", "Duration of database client operations, seconds.",
      {"system", "operation", "collection"}, {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10});
  return h;
}

// Systems whose statements are not SQL: no summary parsing, no sqlcommenter.
bool speaks_sql(std::string_view system) noexcept {
  return system != "redis" && system != "memcached" && system != "mongodb" &&
         system != "cassandra" && system != "elasticsearch" && system != "valkey";
}

// sqlcommenter values are URL-encoded; tracestate is the only one that can need it.
void append_url_encoded(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4U]);
      out.push_back(kHex[u & 15U]);
    }
  }
}

}  // namespace

QueryScope::QueryScope(const QueryInfo& info)
    : start_(std::chrono::steady_clock::now() - info.ran_for),
      uncaught_(std::uncaught_exceptions()) {
  const auto settings = detail::db_settings();
  system_ = info.system.empty() ? std::string_view("other_sql") : info.system;
  const bool sql = speaks_sql(system_);
  text_ = info.sanitized || settings.record_query_values ? std::string(info.query_text)
                                                         : sanitize(info.query_text, system_);
  operation_ = info.operation;
  collection_ = info.collection;
  if (sql && (operation_.empty() || collection_.empty())) {
    auto summary = summarize(info.query_text);
    if (operation_.empty())
      operation_ = std::move(summary.operation);
    if (collection_.empty() && info.operation.empty())
      collection_ = std::move(summary.collection);
  }
  // Conventions: "{operation} {collection}", else the operation, else the system.
  std::string summary = operation_;
  if (!operation_.empty() && !collection_.empty()) {
    summary.push_back(' ');
    summary.append(collection_);
  }
  SpanOptions options{.kind = SpanKind::Client};
  if (info.ran_for.count() > 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    options.start_time_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - info.ran_for).count());
  }
  span_ = start_span(summary.empty() ? std::string_view(system_) : std::string_view(summary),
                     std::move(options));
  set(span_, kSystem, system_);
  if (!info.db_namespace.empty())
    set(span_, kNamespace, info.db_namespace);
  if (!operation_.empty())
    set(span_, kOperation, operation_);
  if (!collection_.empty())
    set(span_, kCollection, collection_);
  if (!text_.empty())
    set(span_, kQueryText, text_);
  if (!summary.empty())
    set(span_, kQuerySummary, summary);
  if (!info.server_address.empty())
    set(span_, kServerAddress, info.server_address);
  if (info.server_port > 0)
    set(span_, kServerPort, info.server_port);

  statement_ = info.query_text;
  const auto ctx = span_.context();
  if (sql && settings.sqlcommenter && !info.prepared && ctx.valid() && ctx.sampled() &&
      !has_comment(info.query_text)) {
    statement_.append(" /*traceparent='");
    statement_.append(propagation::format_traceparent(ctx));
    statement_.push_back('\'');
    if (!ctx.trace_state.empty()) {
      statement_.append(",tracestate='");
      append_url_encoded(statement_, ctx.trace_state);
      statement_.push_back('\'');
    }
    statement_.append("*/");
  }
  detail::count_query(text_);
}

QueryScope::~QueryScope() {
  if (finished_)
    return;
  if (std::uncaught_exceptions() > uncaught_) {
    fail("exception", "an exception left the query's scope");
  } else {
    finish();
  }
}

void QueryScope::set_returned_rows(std::int64_t rows) noexcept {
  if (!finished_)
    set(span_, kReturnedRows, rows);
}

void QueryScope::finish() noexcept {
  end({}, {}, false);
}

void QueryScope::fail(std::string_view status_code, std::string_view message) noexcept {
  end(status_code.empty() ? std::string_view("_OTHER") : status_code, message, true);
}

void QueryScope::end(std::string_view status_code, std::string_view message, bool failed) noexcept {
  if (finished_)
    return;
  finished_ = true;
  try {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    // In whole microseconds, as the request line does.
    const double ms = std::round(seconds * 1e6) / 1e3;
    if (failed) {
      set(span_, kStatusCode, status_code);
      set(span_, kErrorType, status_code);
      span_.set_status(StatusCode::Error, message);
      detail::db_logger().warning("query_failed", {{"db_system", system_},
                                                   {"operation", operation_},
                                                   {"collection", collection_},
                                                   {"query", text_},
                                                   {"status_code", status_code},
                                                   {"error", message},
                                                   {"duration_ms", ms}});
    }
    const auto slow_ns = detail::db_settings().slow_query_ns;
    if (slow_ns > 0 &&
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count() >= slow_ns) {
      detail::db_logger().warning("slow_query",
                                  {{"db_system", system_},
                                   {"operation", operation_},
                                   {"collection", collection_},
                                   {"query", text_},
                                   {"duration_ms", ms},
                                   {"threshold_ms", static_cast<double>(slow_ns) / 1e6}});
    }
    operation_duration().record(
        seconds, {{"system", system_}, {"operation", operation_}, {"collection", collection_}});
  } catch (...) {
    detail::report_internal_error("db", "could not record a finished query");
  }
  span_.end();
}

}  // namespace o11y::db
