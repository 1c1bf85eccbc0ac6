// Caller-side cost of a sampled span with 4 attributes exported through the batch processor
// and the OTLP/HTTP exporter, while the collector is (a) healthy, (b) absent (nothing listens
// on the port), (c) slow (answers after 2 s). Side by side: the same span with no processor,
// with an exporter that takes every batch at once without reading it, and with one that
// encodes every batch as the OTLP exporter does but sends nothing. A dropped span costs the
// caller less than a queued one, so read each case's figure beside its dropped/exported counts.
// The queue is bounded, so (b) and (c) drop spans instead of growing: dropped/exported and the
// resident-set growth are reported as counters.
//
// Run: build/release/bench/o11y_export_bench
// On a shared VM whose speed drifts over minutes, compare cases within one run, interleaved:
//   o11y_export_bench --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//     --benchmark_report_aggregates_only=true
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <o11y/export.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>

#include "discarding_exporter.hpp"
#include "support/serving.hpp"
#include "trace/otlp.hpp"

namespace {

using namespace std::chrono_literals;

long rss_kib() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  }
  return 0;
}

/// A collector stand-in on 127.0.0.1 that answers 200 after `delay`.
class Collector {
 public:
  explicit Collector(std::chrono::milliseconds delay) {
    server_.set_tcp_nodelay(true);  // as real collectors do; see http_bench.cpp
    server_.Post("/v1/traces", [delay](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(delay);
      res.set_content("{}", "application/json");
    });
    serving_ = std::make_unique<o11y::testing::Serving>(server_);
  }
  [[nodiscard]] int port() const { return serving_->port(); }

 private:
  httplib::Server server_;
  std::unique_ptr<o11y::testing::Serving> serving_;
};

/// A loopback port nothing listens on: bound to learn a free number, then closed, so a connect
/// is refused at once.
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // NOLINT: the sockets API
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);  // NOLINT: the sockets API
  ::close(fd);
  return ntohs(addr.sin_port);
}

void one_span() {
  auto span = o11y::start_span("process_payment");
  span.set_attribute("payment.method", "card");
  span.set_attribute("order_id", 123);
  span.set_attribute("amount", 49.99);
  span.set_attribute("retry", false);
}

void run(benchmark::State& state, std::unique_ptr<o11y::SpanExporter> exporter) {
  o11y::set_sample_rate(1.0);
  auto processor = std::make_shared<o11y::BatchSpanProcessor>(
      std::move(exporter), o11y::BatchOptions{.schedule_delay = 200ms, .export_timeout = 5s});
  o11y::add_span_processor(processor);
  const long rss_before = rss_kib();
  for (auto _ : state)
    one_span();
  state.counters["rss_growth_kib"] = static_cast<double>(rss_kib() - rss_before);
  state.counters["dropped"] = static_cast<double>(processor->dropped());
  state.counters["exported"] = static_cast<double>(processor->exported());
  o11y::remove_span_processor(processor);
  (void)processor->force_flush(1s);
}

void run(benchmark::State& state, int port) {
  run(state, o11y::make_otlp_http_exporter(
                 {.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces",
                  .timeout = 3s,
                  .initial_backoff = 100ms}));
}

void BM_Span_NoProcessor(benchmark::State& state) {
  o11y::set_sample_rate(1.0);
  for (auto _ : state)
    one_span();
}

void BM_Span_Export_HealthyCollector(benchmark::State& state) {
  static Collector collector(0ms);
  run(state, collector.port());
}

void BM_Span_Export_NothingListening(benchmark::State& state) {
  run(state, unused_port());
}

void BM_Span_Export_SlowCollector(benchmark::State& state) {
  static Collector collector(2000ms);
  run(state, collector.port());
}

void BM_Span_Export_DiscardingExporter(benchmark::State& state) {
  run(state, std::make_unique<o11y_bench::DiscardingExporter>());
}

/// Encodes every batch as OTLP/protobuf into one kept buffer, as the OTLP exporter does, and
/// sends nothing: the export thread reads every span, as with a real collector, but never
/// waits for one. What that reading costs the caller shows here without the network's noise.
class EncodingExporter final : public o11y::SpanExporter {
 public:
  o11y::ExportResult export_spans(
      o11y::SpanBatch spans, std::chrono::steady_clock::time_point /*deadline*/) noexcept override {
    o11y::otlp::encode_protobuf_to(spans, buffer_);
    benchmark::DoNotOptimize(buffer_.data());
    return o11y::ExportResult::Success;
  }

 private:
  o11y::detail::Buffer buffer_;
};

void BM_Span_Export_EncodingExporter(benchmark::State& state) {
  run(state, std::make_unique<EncodingExporter>());
}

// Long enough runs that the export thread sends many batches while the caller works.
BENCHMARK(BM_Span_NoProcessor)->MinTime(1.0);
BENCHMARK(BM_Span_Export_HealthyCollector)->MinTime(2.0);
BENCHMARK(BM_Span_Export_NothingListening)->MinTime(2.0);
BENCHMARK(BM_Span_Export_SlowCollector)->MinTime(2.0);
BENCHMARK(BM_Span_Export_DiscardingExporter)->MinTime(2.0);
BENCHMARK(BM_Span_Export_EncodingExporter)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
