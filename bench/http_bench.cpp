// An instrumented cpp-httplib handler against the same handler uninstrumented, driven by wrk
// on loopback (one thread, 8 keep-alive connections), sampling 1.0, spans exported in batches
// to a collector stand-in that answers at once. Logs go to a file, as a service's would.
//
// Run: build/release/bench/o11y_http_bench [seconds] [export|logs|tracing|json]
//   (needs wrk: apt-get install wrk). The second argument takes one part away, or with
//   `json` exports OTLP/JSON instead of the default OTLP/protobuf.
#include <httplib.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/http/httplib.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "support/serving.hpp"

namespace {

using namespace std::chrono_literals;

// Names the thread the first time it runs a handler, so the CPU split can tell the servers'
// threads apart.
void name_thread(const char* name) {
  thread_local bool named = false;
  if (!named)
    (void)::pthread_setname_np(::pthread_self(), name);
  named = true;
}

void handler(const httplib::Request&, httplib::Response& res) {
  res.set_content("{\"order_id\":123,\"status\":\"placed\"}", "application/json");
}

// The service's own log lines go to a file; stdout is kept for the results.
FILE* g_results = stdout;  // NOLINT(*-avoid-non-const-global-*)

/// CPU seconds of each thread of this process, by thread id, with its name.
std::map<std::string, std::pair<std::string, double>> thread_cpu() {
  std::map<std::string, std::pair<std::string, double>> out;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream stat(t.path() / "stat");
    std::ifstream comm(t.path() / "comm");
    std::string line;
    std::string name;
    std::getline(stat, line);
    std::getline(comm, name);
    // Fields after the parenthesised name: state is the 3rd, utime the 14th, stime the 15th.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; rest >> field; ++i) {
      if (i == 14 || i == 15)
        ticks += std::stod(field);
    }
    out[t.path().filename().string()] = {name, ticks / tick};
  }
  return out;
}

// CPU per request spent by each kind of thread (ours are named o11y-*; the servers' and the
// collector's are named by their handlers) between two thread_cpu() readings.
void print_thread_split(const std::map<std::string, std::pair<std::string, double>>& before,
                        double requests) {
  std::map<std::string, double> by_name;
  for (const auto& [tid, v] : thread_cpu()) {
    const auto it = before.find(tid);
    const double was = it == before.end() ? 0.0 : it->second.second;
    const auto& name = v.first;
    by_name[name == "o11y_http_bench" ? "other threads" : name] += v.second - was;
  }
  std::fprintf(g_results, "  of which:");
  for (const auto& [name, secs] : by_name)
    std::fprintf(g_results, " %s %.1f us;", name.c_str(), secs * 1e6 / requests);
  std::fprintf(g_results, "\n");
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Prints wrk's throughput and latency, and this process's CPU time per request: the servers,
// the exporter and the collector stand-in all run here, so it is everything instrumentation
// costs, and it is steadier than throughput on a 2-core machine that wrk shares.
int run_wrk(const char* who, int port, int seconds) {
  const std::string cmd = "wrk -t1 -c8 -d" + std::to_string(seconds) +
                          "s --latency http://127.0.0.1:" + std::to_string(port) +
                          "/orders/42 | grep -E 'Requests/sec|99%|50%|requests in'";
  std::fprintf(g_results, "--- %s\n", who);
  const double cpu_before = cpu_seconds();
  const auto threads_before = thread_cpu();
  FILE* p = ::popen(cmd.c_str(), "r");  // NOLINT(cert-env33-c): a benchmark driving wrk
  if (p == nullptr)
    return 1;
  char line[256];
  double requests = 0;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strstr(line, "requests in") != nullptr) {
      requests = std::strtod(line, nullptr);
      continue;
    }
    std::fputs(line, g_results);
  }
  const int rc = ::pclose(p);
  if (requests > 0) {
    std::fprintf(g_results, "CPU per request: %.1f us (%.0f requests)\n",
                 (cpu_seconds() - cpu_before) * 1e6 / requests, requests);
    print_thread_split(threads_before, requests);
  }
  std::fflush(g_results);
  return rc;
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
    name_thread("collector");
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
  // An optional second argument takes one part away, to see where the overhead goes, or
  // switches the export to JSON.
  const std::string without = argc > 2 ? argv[2] : "";
  if (without == "export")
    cfg.tracing.exporter = "none";
  if (without == "logs")
    cfg.logging.level = "error";
  if (without == "tracing")
    cfg.tracing.enabled = false;
  if (without == "json")
    cfg.tracing.otlp_encoding = o11y::OtlpEncoding::Json;
  o11y::init(cfg);

  // Both with TCP_NODELAY: without it, cpp-httplib's two writes per response meet delayed
  // ACKs and every request takes 40 ms whatever the handler does.
  httplib::Server plain;
  plain.set_tcp_nodelay(true);
  plain.Get(R"(/orders/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    name_thread("plain-server");
    handler(req, res);
  });
  httplib::Server instrumented;
  instrumented.set_tcp_nodelay(true);
  o11y::http::instrument(instrumented);
  instrumented.Get(R"(/orders/(\d+))",
                   o11y::http::route("/orders/{id}", [](const auto& req, auto& res) {
                     name_thread("instr-server");
                     handler(req, res);
                   }));

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
