#include "integrations/work_unit.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/internal_error.hpp"
#include "base/thread_instance.hpp"
#include "config/environment.hpp"
#include "o11y/log.hpp"
#include "o11y/metrics.hpp"

namespace o11y::detail {
namespace {

struct Statement {
  std::uint64_t hash = 0;
  std::uint32_t count = 0;
  std::string text;
};

// A request with more distinct statements than this is not an N+1 pattern anyone reads out
// of a span attribute; the cap keeps the scan in count_query() short.
constexpr std::size_t kMaxStatements = 64;

struct Unit {
  const void* owner = nullptr;
  Span* span = nullptr;
  std::size_t used = 0;  // statements_[0, used) belong to this unit; the rest is kept capacity
  std::vector<Statement> statements;
  std::uint64_t total = 0;
};

struct Units {
  std::vector<Unit> stack;  // entries past `depth` keep their buffers for the next request
  std::size_t depth = 0;
};

// Null once the thread's exit destroyed it: a request finished in a thread_local destructor
// then goes uncounted (base/thread_instance.hpp).
Units* units() noexcept {
  return thread_instance<Units>();
}

struct Settings {
  std::atomic<bool> sqlcommenter;
  std::atomic<bool> record_values;
  std::atomic<std::int64_t> slow_ns;
  std::atomic<std::size_t> threshold;

  void store(const DbConfig& c) noexcept {
    sqlcommenter.store(c.sqlcommenter, std::memory_order_relaxed);
    record_values.store(c.record_query_values, std::memory_order_relaxed);
    slow_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(c.slow_query).count(),
                  std::memory_order_relaxed);
    threshold.store(c.n_plus_one_threshold, std::memory_order_relaxed);
  }
};

Settings& settings() noexcept {
  static Settings s;
  // The environment's settings until init() passes its own.
  static const bool loaded = [] {
    try {
      s.store(apply_db_env(DbConfig{}));
    } catch (...) {
      s.store(DbConfig{});
    }
    return true;
  }();
  (void)loaded;
  return s;
}

Counter n_plus_one_total() {
  static const Counter c = counter(
      "db_n_plus_one_total",
      "Requests and jobs that ran one database statement at least the N+1 threshold's times.",
      {"route"});
  return c;
}

}  // namespace

Logger& db_logger() {
  static Logger log = get_logger("o11y.db");
  return log;
}

DbSettings db_settings() noexcept {
  auto& s = settings();
  return {s.sqlcommenter.load(std::memory_order_relaxed),
          s.record_values.load(std::memory_order_relaxed),
          s.slow_ns.load(std::memory_order_relaxed), s.threshold.load(std::memory_order_relaxed)};
}

void set_db_config(const DbConfig& config) noexcept {
  settings().store(config);
}

void open_work_unit(const void* owner, Span* span) noexcept {
  auto* const up = units();
  if (up == nullptr)
    return;
  auto& u = *up;
  try {
    if (u.depth == u.stack.size())
      u.stack.emplace_back();
  } catch (...) {
    return;  // no unit: queries in it go uncounted, nothing else changes
  }
  auto& unit = u.stack[u.depth++];
  unit.owner = owner;
  unit.span = span;
  unit.used = 0;
  unit.total = 0;
}

void count_query(std::string_view sanitized_text) noexcept {
  auto* const up = units();
  if (up == nullptr || up->depth == 0)
    return;
  auto& u = *up;
  auto& unit = u.stack[u.depth - 1];
  ++unit.total;
  const std::uint64_t h = std::hash<std::string_view>{}(sanitized_text);
  for (std::size_t i = 0; i < unit.used; ++i) {
    auto& s = unit.statements[i];
    if (s.hash == h && s.text == sanitized_text) {
      ++s.count;
      return;
    }
  }
  if (unit.used == kMaxStatements)
    return;
  try {
    if (unit.used == unit.statements.size())
      unit.statements.emplace_back();
    auto& s = unit.statements[unit.used];
    s.text.assign(sanitized_text);
    s.hash = h;
    s.count = 1;
    ++unit.used;
  } catch (...) {
    // Not counted; the query itself is unaffected.
  }
}

void close_work_unit(const void* owner, std::string_view route) noexcept {
  auto* const up = units();
  if (up == nullptr || up->depth == 0 || up->stack[up->depth - 1].owner != owner)
    return;  // never opened (allocation failed, thread exit) or closed already
  auto& u = *up;
  auto& unit = u.stack[--u.depth];
  unit.owner = nullptr;
  if (unit.total == 0 || unit.span == nullptr)
    return;
  try {
    const Statement* top = nullptr;
    for (std::size_t i = 0; i < unit.used; ++i) {
      if (top == nullptr || unit.statements[i].count > top->count)
        top = &unit.statements[i];
    }
    auto& span = *unit.span;
    span.set_attribute("db.query_count", static_cast<std::int64_t>(unit.total));
    if (top == nullptr || top->count < db_settings().n_plus_one_threshold)
      return;
    span.set_attribute("db.potential_n_plus_one", true);
    span.set_attribute("db.max_query_repetitions", static_cast<std::int64_t>(top->count));
    db_logger().warning("n_plus_one_detected",
                        {{"statement", top->text},
                         {"count", static_cast<std::int64_t>(top->count)},
                         {"query_count", static_cast<std::int64_t>(unit.total)},
                         {"route", route}});
    n_plus_one_total().add(1, {{"route", route}});
  } catch (...) {
    report_internal_error("db", "could not report an N+1 pattern");
  }
}

}  // namespace o11y::detail
