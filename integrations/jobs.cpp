#include "o11y/jobs.hpp"

#include <chrono>
#include <cmath>
#include <exception>
#include <string>
#include <typeinfo>

#include "base/internal_error.hpp"
#include "base/sys.hpp"
#include "context/redact.hpp"
#include "context/span_state.hpp"
#include "integrations/span_attribute.hpp"
#include "integrations/work_unit.hpp"
#include "o11y/log.hpp"
#include "o11y/metrics.hpp"

namespace o11y::jobs {
namespace {

constinit const detail::KnownKey kOperationType{"messaging.operation.type"};
constinit const detail::KnownKey kDestination{"messaging.destination.name"};
constinit const detail::KnownKey kMessageId{"messaging.message.id"};
constinit const detail::KnownKey kMessagingSystem{"messaging.system"};
constinit const detail::KnownKey kJobName{"job.name"};
constinit const detail::KnownKey kErrorType{"error.type"};

using detail::set;

Counter jobs_total() {
  static const Counter c =
      counter("jobs_total", "Background jobs run, by job and outcome.", {"job", "outcome"});
  return c;
}

Histogram job_duration() {
  static const Histogram h = histogram("job_duration_seconds", "Time to run a background job.",
                                       {"job"}, {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300});
  return h;
}

Logger& jobs_logger() {
  static Logger log = get_logger("o11y.jobs");
  return log;
}

}  // namespace

JobScope::JobScope(std::string_view name, const SpanContext& producer, const JobOptions& options)
    : name_(name),
      task_id_(options.task_id),
      start_(std::chrono::steady_clock::now()),
      uncaught_(std::uncaught_exceptions()) {
  SpanOptions so{.kind = SpanKind::Consumer, .parent = producer};
  if (producer.valid())
    so.links.push_back({producer, {}});
  span_ = start_span(name_, std::move(so));
  set(span_, kOperationType, "process");
  set(span_, kJobName, name_);
  if (!options.queue.empty())
    set(span_, kDestination, options.queue);
  if (!options.task_id.empty())
    set(span_, kMessageId, options.task_id);
  if (!options.system.empty())
    set(span_, kMessagingSystem, options.system);
  detail::open_work_unit(this, &span_);
  jobs_logger().info("task_started", {{"task_name", name_}, {"task_id", task_id_}});
}

JobScope::~JobScope() {
  if (finished_)
    return;
  if (std::uncaught_exceptions() > uncaught_) {
    fail("exception", "an exception left the job's scope");
  } else {
    fail("abandoned", "the job ended without succeed() or fail()");
  }
}

void JobScope::succeed() noexcept {
  end(true, {}, {}, nullptr);
}

void JobScope::fail(const std::exception& ex) noexcept {
  std::string type;
  try {
    type = detail::demangle(typeid(ex).name());
  } catch (...) {
    type = "exception";
  }
  end(false, type, ex.what(), &ex);
}

void JobScope::fail(std::string_view error_type, std::string_view message) noexcept {
  end(false, error_type.empty() ? std::string_view("_OTHER") : error_type, message, nullptr);
}

void JobScope::end(bool ok, std::string_view error_type, std::string_view message,
                   const std::exception* ex) noexcept {
  if (finished_)
    return;
  finished_ = true;
  detail::close_work_unit(this, name_);
  try {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double ms = std::round(seconds * 1e6) / 1e3;
    if (ok) {
      jobs_logger().info("task_succeeded",
                         {{"task_name", name_}, {"task_id", task_id_}, {"duration_ms", ms}});
    } else {
      set(span_, kErrorType, error_type);
      if (ex != nullptr) {
        span_.record_exception(*ex);
        jobs_logger().exception("task_failed", *ex,
                                {{"task_name", name_}, {"task_id", task_id_}, {"duration_ms", ms}});
      } else {
        jobs_logger().error("task_failed", {{"task_name", name_},
                                            {"task_id", task_id_},
                                            {"duration_ms", ms},
                                            {"error_type", error_type},
                                            {"error", message}});
      }
      span_.set_status(StatusCode::Error, message);
    }
    jobs_total().add(1, {{"job", name_}, {"outcome", ok ? "success" : "failure"}});
    job_duration().record(seconds, {{"job", name_}});
  } catch (...) {
    detail::report_internal_error("jobs", "could not record a finished job");
  }
  span_.end();
}

}  // namespace o11y::jobs
