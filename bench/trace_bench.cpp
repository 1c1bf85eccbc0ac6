// Trace core costs: span start+end, custom tags, id generation, W3C extract+inject.
// Run: build/release/bench/o11y_trace_bench
#include <benchmark/benchmark.h>

#include <map>
#include <o11y/o11y.hpp>
#include <random>
#include <string>

namespace {

void BM_SpanStartEndWith2Attributes(benchmark::State& state) {
  o11y::set_sample_rate(1.0);
  for (auto _ : state) {
    auto span = o11y::start_span("process_payment");
    span.set_attribute("payment.method", "card");
    span.set_attribute("amount", 49.99);
  }
}
BENCHMARK(BM_SpanStartEndWith2Attributes)->Threads(1)->Threads(2);

void BM_SpanStartEndUnsampled(benchmark::State& state) {
  o11y::set_sample_rate(0.0);
  for (auto _ : state) {
    auto span = o11y::start_span("process_payment");
    span.set_attribute("payment.method", "card");
    span.set_attribute("amount", 49.99);
  }
  o11y::set_sample_rate(1.0);
}
BENCHMARK(BM_SpanStartEndUnsampled);

void BM_SetCustomTags2(benchmark::State& state) {
  o11y::Scope scope;
  for (auto _ : state) {
    o11y::set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
  }
}
BENCHMARK(BM_SetCustomTags2)->Threads(1)->Threads(2);

void BM_ScopeWithSetCustomTags2(benchmark::State& state) {
  for (auto _ : state) {
    o11y::Scope scope;
    o11y::set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
  }
}
BENCHMARK(BM_ScopeWithSetCustomTags2);

void BM_SpanIdGenerate(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(o11y::SpanId::generate());
}
BENCHMARK(BM_SpanIdGenerate)->Threads(1)->Threads(2);

void BM_TraceIdGenerate(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(o11y::TraceId::generate());
}
BENCHMARK(BM_TraceIdGenerate)->Threads(1)->Threads(2);

// The same cost from the standard library's generator, as a yardstick.
void BM_PeerMt19937_64TwoWords(benchmark::State& state) {
  std::mt19937_64 rng(42);
  for (auto _ : state) {
    benchmark::DoNotOptimize(rng());
    benchmark::DoNotOptimize(rng());
  }
}
BENCHMARK(BM_PeerMt19937_64TwoWords);

void BM_ExtractInject(benchmark::State& state) {
  const std::map<std::string, std::string> in = {
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
      {"user-agent", "bench"}};
  for (auto _ : state) {
    const auto ctx = o11y::propagation::extract(in);
    std::map<std::string, std::string> out;
    o11y::propagation::inject(ctx, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ExtractInject);

}  // namespace

BENCHMARK_MAIN();
