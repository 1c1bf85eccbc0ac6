#pragma once

#include <chrono>
#include <exception>
#include <string>
#include <string_view>

#include "o11y/context.hpp"
#include "o11y/propagation.hpp"
#include "o11y/trace.hpp"

/// Background job instrumentation: the consumer side of a queue, as a request is the server
/// side of a connection.
namespace o11y::jobs {

/// What is known about a job beside its name. The views only need to live for the JobScope
/// constructor.
struct JobOptions {
  /// The job's id in its queue (messaging.message.id, and task_id on the log lines).
  std::string_view task_id = {};
  /// The queue it came from (messaging.destination.name).
  std::string_view queue = {};
  /// The queueing system (messaging.system): "redis", "rabbitmq", "kafka", ...
  std::string_view system = {};
};

/// One job run: a fresh context frame (tags set by the job stay in it), a CONSUMER span that
/// continues the producer's trace from the message's headers (and links to it), the log lines
/// `task_started` and then `task_succeeded` or `task_failed` with task_name, task_id and
/// duration_ms, the metrics `jobs_total{job,outcome}` and `job_duration_seconds{job}`, and
/// N+1 detection over the queries it runs.
///
/// Create and end it on the thread that runs the job. Not copyable or movable. Never throws
/// except std::bad_alloc from the constructor.
class JobScope {
 public:
  /// `headers` is any map-like container of the message's headers (see propagation::extract).
  template <propagation::detail::HeaderRange Carrier>
  JobScope(std::string_view name, const Carrier& headers, const JobOptions& options = {})
      : JobScope(name, propagation::extract(headers), options) {}
  /// `producer` is the context the message carried (invalid: a new trace).
  JobScope(std::string_view name, const SpanContext& producer, const JobOptions& options = {});
  /// Neither succeed() nor fail() was called: the job failed ("exception" while an exception
  /// unwinds the scope, else "abandoned").
  ~JobScope();
  JobScope(const JobScope&) = delete;
  JobScope& operator=(const JobScope&) = delete;
  JobScope(JobScope&&) = delete;
  JobScope& operator=(JobScope&&) = delete;

  [[nodiscard]] Span& span() noexcept { return span_; }
  /// The job is done. Later calls and the destructor then do nothing.
  void succeed() noexcept;
  /// The job failed with this exception (recorded on the span and the log line).
  void fail(const std::exception& ex) noexcept;
  /// The job failed: error.type and a message.
  void fail(std::string_view error_type, std::string_view message = {}) noexcept;

 private:
  void end(bool ok, std::string_view error_type, std::string_view message,
           const std::exception* ex) noexcept;

  Scope scope_;
  Span span_;
  std::string name_;
  std::string task_id_;
  std::chrono::steady_clock::time_point start_;
  int uncaught_ = 0;
  bool finished_ = false;
};

}  // namespace o11y::jobs
