// What instrumenting one HTTP request costs its handler thread, without a server around it:
// the framework-neutral RequestScope that the cpp-httplib adapter is built on, with the parts
// a request pays for (server span with its attributes, route, 2 metrics, the request log line
// into a log file), in the configuration of http_bench.cpp. The wrk comparison there includes
// the export thread and the collector stand-in; this isolates the handler thread's share.
//
// Run: build/release/bench/o11y_request_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/http.hpp>
#include <o11y/log.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <vector>

#include "alloc_counter.hpp"
#include "discarding_exporter.hpp"
#include "trace/otlp.hpp"

namespace {

const o11y::http::RequestInfo kInfo{.method = "GET",
                                    .path = "/orders/42",
                                    .server_address = "127.0.0.1",
                                    .server_port = 8080,
                                    .client_address = "127.0.0.1",
                                    .user_agent = "wrk/4.2.0"};

void configure(bool with_processor) {
  o11y::Config cfg;
  cfg.service_name = "request_bench";
  cfg.environment = o11y::Environment::Production;
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.exporter = o11y::TracesExporter::None;
  cfg.logging.format = o11y::LogFormat::Json;
  cfg.logging.file_path = "/tmp/o11y_request_bench.log";
  o11y::init(cfg);
  static std::shared_ptr<o11y::BatchSpanProcessor> processor;
  if (processor)
    o11y::remove_span_processor(processor);
  processor.reset();
  if (with_processor) {
    processor = std::make_shared<o11y::BatchSpanProcessor>(
        std::make_unique<o11y_bench::DiscardingExporter>());
    o11y::add_span_processor(processor);
  }
}

void request(const o11y::http::ServerOptions& options) {
  o11y::http::RequestScope scope(kInfo, options);
  o11y::http::set_route("/orders/{id}");
  scope.finish(200);
}

void BM_RequestScope(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(state.range(0) != 0);  // the timing loop's start waits for every thread
  const o11y::http::ServerOptions options;
  const auto before = o11y_bench::g_allocs.load();
  for (auto _ : state)
    request(options);
  if (state.thread_index() == 0) {
    o11y_bench::report_allocs(state, before);
    o11y::shutdown();
    std::remove("/tmp/o11y_request_bench.log");
  }
}

// 0: spans end with no processor; 1: through a batch processor whose exporter discards.
BENCHMARK(BM_RequestScope)->Arg(0)->Arg(1)->MinTime(1.0)->Threads(1)->Threads(2);

// The same request after the caches have been filled with other memory, as in a server, where
// between two requests on one handler thread the kernel's network stack, wrk and the other
// threads run on the core. Warm, the loop above keeps every line it needs in L1 and L2; cold,
// each line the instrumentation touches is a miss, so this ranks changes by how much memory
// and code a request touches, which the warm loop hides. Only the request is timed.
void BM_RequestScopeColdCaches(benchmark::State& state) {
  configure(state.range(0) != 0);
  const o11y::http::ServerOptions options;
  std::vector<unsigned char> other(std::size_t{2} << 20U);  // 2 MiB: 4 times what L2 holds
  const auto before = o11y_bench::g_allocs.load();
  unsigned char round = 0;
  for (auto _ : state) {
    ++round;
    for (std::size_t i = 0; i < other.size(); i += 64)
      other[i] = round;
    benchmark::ClobberMemory();
    const auto start = std::chrono::steady_clock::now();
    request(options);
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  o11y_bench::report_allocs(state, before);
  o11y::shutdown();
  std::remove("/tmp/o11y_request_bench.log");
}
BENCHMARK(BM_RequestScopeColdCaches)->Arg(0)->Arg(1)->UseManualTime()->Iterations(5000);

// The export thread's share: encoding a full batch (512) of these requests' server spans, per
// span. 0: OTLP/JSON, 1: protobuf.
void BM_OtlpEncodeHttpServerSpan(benchmark::State& state) {
  configure(false);
  auto memory = std::make_shared<o11y::InMemorySpanProcessor>();
  o11y::add_span_processor(memory);
  const o11y::http::ServerOptions options;
  constexpr int kBatch = 512;
  for (int i = 0; i < kBatch; ++i)
    request(options);
  o11y::remove_span_processor(memory);
  const auto spans = memory->spans();
  const bool json = state.range(0) == 0;
  std::size_t bytes = 0;
  o11y::detail::Buffer reused;  // as the exporter encodes: into one buffer kept for good
  for (auto _ : state) {
    if (json) {
      o11y::otlp::encode_json_to(spans, reused);
    } else {
      o11y::otlp::encode_protobuf_to(spans, reused);
    }
    bytes = reused.size();
    benchmark::DoNotOptimize(reused.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kBatch);
  state.counters["bytes_per_span"] = static_cast<double>(bytes) / kBatch;
  o11y::shutdown();
  std::remove("/tmp/o11y_request_bench.log");
}
BENCHMARK(BM_OtlpEncodeHttpServerSpan)->Arg(0)->Arg(1)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
