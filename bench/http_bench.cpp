// An instrumented cpp-httplib handler against the same handler uninstrumented, driven by wrk
// on loopback (one thread, 8 keep-alive connections), sampling 1.0, spans exported in batches
// to a collector stand-in that answers at once. Logs go to a file, as a service's would.
//
// Run: build/release/bench/o11y_http_bench [seconds]   (needs wrk: apt-get install wrk)
#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/http/httplib.hpp>
#include <string>
#include <thread>

#include "support/serving.hpp"

namespace {

using namespace std::chrono_literals;

void handler(const httplib::Request&, httplib::Response& res) {
  res.set_content("{\"order_id\":123,\"status\":\"placed\"}", "application/json");
}

// The service's own log lines go to a file; stdout is kept for the results.
FILE* g_results = stdout;  // NOLINT(*-avoid-non-const-global-*)

int run_wrk(const char* who, int port, int seconds) {
  const std::string cmd = "wrk -t1 -c8 -d" + std::to_string(seconds) +
                          "s --latency http://127.0.0.1:" + std::to_string(port) +
                          "/orders/42 | grep -E 'Requests/sec|99%|50%'";
  std::fprintf(g_results, "--- %s\n", who);
  FILE* p = ::popen(cmd.c_str(), "r");  // NOLINT(cert-env33-c): a benchmark driving wrk
  if (p == nullptr)
    return 1;
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr)
    std::fputs(line, g_results);
  std::fflush(g_results);
  return ::pclose(p);
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  // stdout (where the library logs by default) goes to /dev/null; results to a copy of it.
  g_results = ::fdopen(::dup(1), "w");
  if (std::freopen("/dev/null", "w", stdout) == nullptr)
    return 1;
  httplib::Server collector;
  // As real collectors do (Go's net package sets it by default). Without it the stand-in
  // writes its response in two segments, the second waits for a delayed ACK, and every
  // export after the first takes 40 ms: measured, the exporter then managed 12k spans/s and
  // the queue dropped a quarter of the spans.
  collector.set_tcp_nodelay(true);
  collector.Post("/v1/traces", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });
  const o11y::testing::Serving c(collector);

  o11y::Config cfg;
  cfg.service_name = "http_bench";
  cfg.environment = "production";
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.otlp_endpoint = "http://127.0.0.1:" + std::to_string(c.port()) + "/v1/traces";
  cfg.logging.format = o11y::LogFormat::Json;
  cfg.logging.file_path = "/tmp/o11y_http_bench.log";
  o11y::init(cfg);

  // Both with TCP_NODELAY: without it, cpp-httplib's two writes per response meet delayed
  // ACKs and every request takes 40 ms whatever the handler does.
  httplib::Server plain;
  plain.set_tcp_nodelay(true);
  plain.Get(R"(/orders/(\d+))", handler);
  httplib::Server instrumented;
  instrumented.set_tcp_nodelay(true);
  o11y::http::instrument(instrumented);
  instrumented.Get(R"(/orders/(\d+))", o11y::http::route("/orders/{id}", handler));

  const o11y::testing::Serving a(plain);
  const o11y::testing::Serving b(instrumented);
  int rc = run_wrk("uninstrumented cpp-httplib handler", a.port(), seconds);
  rc |= run_wrk("instrumented (span, log line, 2 metrics, sampling 1.0, OTLP export)", b.port(),
                seconds);
  o11y::shutdown();
  // The overhead only counts if the work was done: spans exported (not dropped), lines written.
  const auto exported =
      o11y::counter("o11y_spans_exported_total", "Finished spans the exporter accepted.").value();
  const auto dropped =
      o11y::counter("o11y_spans_dropped_total", "", {"reason"}).value({{"reason", "queue_full"}}) +
      o11y::counter("o11y_spans_dropped_total", "", {"reason"})
          .value({{"reason", "export_failed"}});
  std::size_t lines = 0;
  if (FILE* f = std::fopen("/tmp/o11y_http_bench.log", "r")) {
    for (int ch = 0; (ch = std::fgetc(f)) != EOF;)
      lines += ch == '\n' ? 1 : 0;
    std::fclose(f);
  }
  std::fprintf(g_results, "spans exported %.0f, dropped %.0f; log lines written %zu\n", exported,
               dropped, lines);
  std::remove("/tmp/o11y_http_bench.log");
  return rc == 0 ? 0 : 1;
}
