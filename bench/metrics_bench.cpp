// Metrics costs, o11y side by side with prometheus-cpp 1.0.1 in one run.
//   labeled add, 2 labels, with 1 / 100 / 10,000 existing series (ours vs family.Add().Increment())
//   pre-bound add (ours vs a cached prometheus::Counter&), 1 and 2 threads on one series
//   histogram record, labeled and pre-bound (ours vs a cached prometheus::Histogram&)
//   render of 10,000 and 100,000 series (ours vs Collect() + TextSerializer)
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <o11y/config.hpp>
#include <o11y/metrics.hpp>
#include <string>

#include "alloc_counter.hpp"

namespace {

using o11y_bench::g_allocs;
using o11y_bench::report_allocs;

std::string n(std::string_view base, std::int64_t i) {
  return std::string(base) + std::to_string(i);
}

// --- render -----------------------------------------------------------------------------------
// First in the file, so first to run: render() covers the whole registry, and the labeled
// benchmarks below add families of up to 10,000 series each.

void BM_Render_O11y(benchmark::State& state) {
  static std::int64_t filled = 0;
  static auto c = o11y::counter("bench_render_total", "h", {"status", "method"});
  for (; filled < state.range(0); ++filled)
    c.add(1, {{"status", n("s", filled)}, {"method", "card"}});
  std::size_t bytes = 0;
  for (auto _ : state)
    bytes = o11y::metrics::render(o11y::metrics::Format::Text).size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render_O11y)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_Render_PrometheusCpp(benchmark::State& state) {
  static auto registry = std::make_shared<prometheus::Registry>();
  static auto& family =
      prometheus::BuildCounter().Name("peer_render_total").Help("h").Register(*registry);
  static std::int64_t filled = 0;
  for (; filled < state.range(0); ++filled)
    family.Add({{"status", n("s", filled)}, {"method", "card"}}).Increment();
  std::size_t bytes = 0;
  for (auto _ : state)
    bytes = prometheus::TextSerializer().Serialize(registry->Collect()).size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render_PrometheusCpp)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// --- labeled add --------------------------------------------------------------------------

void BM_LabeledAdd_O11y(benchmark::State& state) {
  static std::atomic<int> family_id{0};
  static o11y::Counter* c = nullptr;
  if (state.thread_index() == 0) {
    static std::vector<o11y::Counter> keep;
    keep.push_back(
        o11y::counter(n("bench_labeled_", family_id++) + "_total", "h", {"status", "method"}));
    c = &keep.back();
    for (std::int64_t i = 0; i < state.range(0); ++i)
      c->add(1, {{"status", n("s", i)}, {"method", "card"}});
  }
  const auto before = g_allocs.load();
  for (auto _ : state)
    c->add(1, {{"status", "s0"}, {"method", "card"}});
  report_allocs(state, before);
}
BENCHMARK(BM_LabeledAdd_O11y)->Arg(1)->Arg(100)->Arg(10000)->Threads(1)->Threads(2);

void BM_LabeledAdd_PrometheusCpp(benchmark::State& state) {
  static prometheus::Family<prometheus::Counter>* family = nullptr;
  static auto registry = std::make_shared<prometheus::Registry>();
  static std::atomic<int> family_id{0};
  if (state.thread_index() == 0) {
    family = &prometheus::BuildCounter()
                  .Name(n("peer_labeled_", family_id++) + "_total")
                  .Help("h")
                  .Register(*registry);
    for (std::int64_t i = 0; i < state.range(0); ++i)
      family->Add({{"status", n("s", i)}, {"method", "card"}});
  }
  const auto before = g_allocs.load();
  for (auto _ : state)
    family->Add({{"status", "s0"}, {"method", "card"}}).Increment();
  report_allocs(state, before);
}
BENCHMARK(BM_LabeledAdd_PrometheusCpp)->Arg(1)->Arg(100)->Arg(10000)->Threads(1)->Threads(2);

// --- pre-bound add --------------------------------------------------------------------------

void BM_PreBoundAdd_O11y(benchmark::State& state) {
  static auto child =
      o11y::counter("bench_prebound_total", "h", {"status", "method"}).labels({"ok", "card"});
  const auto before = g_allocs.load();
  for (auto _ : state)
    child.add(1);
  report_allocs(state, before);
}
BENCHMARK(BM_PreBoundAdd_O11y)->Threads(1)->Threads(2);

void BM_PreBoundAdd_PrometheusCpp(benchmark::State& state) {
  static auto registry = std::make_shared<prometheus::Registry>();
  static auto& counter = prometheus::BuildCounter()
                             .Name("peer_prebound_total")
                             .Help("h")
                             .Register(*registry)
                             .Add({{"status", "ok"}, {"method", "card"}});
  const auto before = g_allocs.load();
  for (auto _ : state)
    counter.Increment();
  report_allocs(state, before);
}
BENCHMARK(BM_PreBoundAdd_PrometheusCpp)->Threads(1)->Threads(2);

void BM_BareAtomicAdd(benchmark::State& state) {
  static std::atomic<std::uint64_t> cell{0};
  for (auto _ : state)
    cell.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_BareAtomicAdd)->Threads(1)->Threads(2);

// --- histograms -------------------------------------------------------------------------------

void BM_HistogramRecordLabeled_O11y(benchmark::State& state) {
  static auto h = o11y::histogram("bench_hist_labeled_seconds", "h", {"method"});
  double v = 0;
  for (auto _ : state) {
    h.record(v, {{"method", "card"}});
    v = v > 10 ? 0 : v + 0.013;
  }
}
BENCHMARK(BM_HistogramRecordLabeled_O11y)->Threads(1)->Threads(2);

void BM_HistogramRecordPreBound_O11y(benchmark::State& state) {
  static auto child =
      o11y::histogram("bench_hist_prebound_seconds", "h", {"method"}).labels({"card"});
  const auto before = g_allocs.load();
  double v = 0;
  for (auto _ : state) {
    child.record(v);
    v = v > 10 ? 0 : v + 0.013;
  }
  report_allocs(state, before);
}
BENCHMARK(BM_HistogramRecordPreBound_O11y)->Threads(1)->Threads(2);

// The same values into a native histogram (schema 3): the classic cells plus a sparse bucket.
void BM_NativeHistogramRecordPreBound_O11y(benchmark::State& state) {
  static auto child = o11y::histogram("bench_native_prebound_seconds", "h", {"method"},
                                      o11y::Buckets::exponential())
                          .labels({"card"});
  const auto before = g_allocs.load();
  double v = 0;
  for (auto _ : state) {
    child.record(v);
    v = v > 10 ? 0 : v + 0.013;
  }
  report_allocs(state, before);
}
BENCHMARK(BM_NativeHistogramRecordPreBound_O11y)->Threads(1)->Threads(2);

void BM_HistogramObserveCached_PrometheusCpp(benchmark::State& state) {
  static auto registry = std::make_shared<prometheus::Registry>();
  static auto& hist = prometheus::BuildHistogram()
                          .Name("peer_hist_seconds")
                          .Help("h")
                          .Register(*registry)
                          .Add({{"method", "card"}}, prometheus::Histogram::BucketBoundaries{
                                                         0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                                         0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0});
  double v = 0;
  for (auto _ : state) {
    hist.Observe(v);
    v = v > 10 ? 0 : v + 0.013;
  }
}
BENCHMARK(BM_HistogramObserveCached_PrometheusCpp)->Threads(1)->Threads(2);

}  // namespace

int main(int argc, char** argv) {
  // 100,000 series in one family is the point of the render benchmark, not a runaway label.
  o11y::Config config;
  config.metrics.max_series_per_metric = 1'000'000;
  o11y::init(config);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
