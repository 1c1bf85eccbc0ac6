#include "trace/tracer.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <vector>

#include "base/internal_error.hpp"
#include "base/published.hpp"

namespace o11y {
namespace detail {
namespace {

struct TracerTag {};
using TracerRegistry = Published<TracerState, TracerTag>;

TracerRegistry& registry() {
  static auto* r = new TracerRegistry();  // NOLINT: never destroyed, so spans ending during
  return *r;                              // static destruction still find it
}

template <class Change>
void update(Change&& change) {
  registry().update(std::forward<Change>(change));
}

std::atomic<bool> g_enabled{true};       // NOLINT(*-avoid-non-const-global-*)
std::atomic<double> g_sample_rate{1.0};  // NOLINT(*-avoid-non-const-global-*)

}  // namespace

const TracerState& tracer_state() noexcept {
  return registry().get();
}

void set_tracing_enabled(bool enabled) noexcept {
  g_enabled.store(enabled, std::memory_order_relaxed);
}

bool tracing_enabled() noexcept {
  return g_enabled.load(std::memory_order_relaxed);
}

bool sample_root(const TraceId& id) noexcept {
  const double rate = g_sample_rate.load(std::memory_order_relaxed);
  if (rate >= 1.0)
    return true;
  if (rate <= 0.0)
    return false;
  // The low 56 bits are the random part of a W3C Level 2 trace id; the same id gives the same
  // decision in every process, so ratio sampling is consistent across services.
  constexpr double kRange = 72057594037927936.0;  // 2^56
  const auto bound = static_cast<std::uint64_t>(rate * kRange);
  return (id.lo & 0x00ffffffffffffffULL) < bound;
}

void shutdown_span_processors() noexcept {
  std::vector<std::shared_ptr<SpanProcessor>> procs;
  try {
    update([&procs](TracerState& s) { procs = std::exchange(s.processors, {}); });
  } catch (...) {
    report_internal_error("trace", "could not unregister span processors");
  }
  for (auto& p : procs)
    p->shutdown();
}

}  // namespace detail

void add_span_processor(std::shared_ptr<SpanProcessor> processor) {
  if (!processor)
    return;
  detail::update([&processor](detail::TracerState& s) { s.processors.push_back(processor); });
}

void remove_span_processor(const std::shared_ptr<SpanProcessor>& processor) {
  detail::update([&processor](detail::TracerState& s) { std::erase(s.processors, processor); });
}

bool force_flush_spans(std::chrono::milliseconds timeout) noexcept {
  const auto state = detail::registry().snapshot();
  bool ok = true;
  for (const auto& p : state->processors)
    ok = p->force_flush(timeout) && ok;
  return ok;
}

void set_sample_rate(double rate) noexcept {
  if (std::isnan(rate))
    rate = 1.0;
  detail::g_sample_rate.store(std::clamp(rate, 0.0, 1.0), std::memory_order_relaxed);
}

double sample_rate() noexcept {
  return detail::g_sample_rate.load(std::memory_order_relaxed);
}

void set_resource(Resource resource) {
  // Every resource ever set stays alive, so spans can point at theirs without owning it: a
  // shared_ptr with no control block. Copying an owning one into every span was an atomic
  // increment and decrement on one cache line that every span-starting thread wrote. A
  // process sets its resource a few times at most.
  // Kept under the registry's own lock, which update() holds while it runs the change.
  static auto* kept = new std::vector<std::unique_ptr<const Resource>>();  // NOLINT: never freed
  auto owned = std::make_unique<const Resource>(std::move(resource));
  detail::update([&](detail::TracerState& s) {
    kept->push_back(std::move(owned));
    s.resource =
        std::shared_ptr<const Resource>(std::shared_ptr<const Resource>(), kept->back().get());
  });
}

std::shared_ptr<const Resource> resource() noexcept {
  return detail::tracer_state().resource;
}

void InMemorySpanProcessor::on_end(std::shared_ptr<const SpanData> span) noexcept {
  try {
    std::lock_guard lock(mu_);
    spans_.push_back(std::move(span));
  } catch (...) {
    detail::report_internal_error("trace", "in-memory span processor could not store a span");
  }
}

std::vector<std::shared_ptr<const SpanData>> InMemorySpanProcessor::spans() const {
  std::lock_guard lock(mu_);
  return spans_;
}

std::shared_ptr<const SpanData> InMemorySpanProcessor::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& s : spans_) {
    if (s->name == name)
      return s;
  }
  return nullptr;
}

void InMemorySpanProcessor::clear() {
  std::lock_guard lock(mu_);
  spans_.clear();
}

}  // namespace o11y
