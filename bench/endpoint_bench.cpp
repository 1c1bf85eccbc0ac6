// /metrics endpoint latency on loopback with wrk, 10,000 series, one keep-alive connection:
// o11y::metrics::serve (cpp-httplib) side by side with prometheus-cpp's Exposer (civetweb).
// Run: build/release/bench/o11y_endpoint_bench [seconds]   (needs wrk: apt-get install wrk)
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <cstdio>
#include <cstdlib>
#include <o11y/metrics.hpp>
#include <string>

namespace {

int run_wrk(const char* who, int port, int seconds) {
  const std::string cmd = "wrk -t1 -c1 -d" + std::to_string(seconds) +
                          "s --latency http://127.0.0.1:" + std::to_string(port) + "/metrics";
  std::printf("\n=== %s (port %d): %s\n", who, port, cmd.c_str());
  std::fflush(stdout);
  return std::system(cmd.c_str());  // NOLINT(cert-env33-c): a fixed command line
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  constexpr int kSeries = 10000;

  auto ours = o11y::counter("endpoint_bench_total", "h", {"status", "method"});
  for (int i = 0; i < kSeries; ++i)
    ours.add(1, {{"status", "s" + std::to_string(i)}, {"method", "card"}});
  auto endpoint = o11y::metrics::serve("127.0.0.1:0");

  auto registry = std::make_shared<prometheus::Registry>();
  auto& family =
      prometheus::BuildCounter().Name("endpoint_bench_total").Help("h").Register(*registry);
  for (int i = 0; i < kSeries; ++i)
    family.Add({{"status", "s" + std::to_string(i)}, {"method", "card"}}).Increment();
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(registry);
  const int peer_port = exposer.GetListeningPorts().front();

  const int a = run_wrk("o11y serve()", endpoint.port(), seconds);
  const int b = run_wrk("prometheus-cpp Exposer", peer_port, seconds);
  return a == 0 && b == 0 ? 0 : 1;
}
