// An instrumented cpp-httplib handler against the same handler uninstrumented, driven by wrk
// on loopback (one thread, 8 keep-alive connections), sampling 1.0, spans exported in batches
// to a collector stand-in that answers at once. Logs go to a file, as a service's would.
//
// Run: build/release/bench/o11y_http_bench [seconds] [full|export|logs|tracing|json|aa] [rounds]
//   (needs wrk: apt-get install wrk). The second argument takes one part away, or with
//   `json` exports OTLP/JSON instead of the default OTLP/protobuf; `full` leaves everything in;
//   `aa` leaves the second server uninstrumented too, to show the harness's own bias.
//   With several rounds, the two servers take turns going first, and a summary follows.
#include <httplib.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
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
#include <vector>

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

/// One wrk run's readings.
struct Run {
  double requests = 0;
  double seconds = 0;
  double cpu = 0;     ///< this process's CPU seconds
  double p99_ms = 0;  ///< wrk's 99th percentile latency
};

// wrk prints latencies as 123.45us, 1.23ms or 1.23s.
double to_ms(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (std::strncmp(end, "us", 2) == 0)
    return v / 1e3;
  if (std::strncmp(end, "ms", 2) == 0)
    return v;
  return v * 1e3;
}

// Prints wrk's throughput and latency, and this process's CPU time per request: the servers,
// the exporter and the collector stand-in all run here, so it is everything instrumentation
// costs, and it is steadier than throughput on a 2-core machine that wrk shares.
Run run_wrk(const char* who, int port, int seconds) {
  const std::string cmd = "wrk -t1 -c8 -d" + std::to_string(seconds) +
                          "s --latency http://127.0.0.1:" + std::to_string(port) +
                          "/orders/42 | grep -E 'Requests/sec|99%|50%|requests in'";
  std::fprintf(g_results, "--- %s\n", who);
  Run run;
  const double cpu_before = cpu_seconds();
  const auto threads_before = thread_cpu();
  const auto wall_before = std::chrono::steady_clock::now();
  FILE* p = ::popen(cmd.c_str(), "r");  // NOLINT(cert-env33-c): a benchmark driving wrk
  if (p == nullptr)
    return run;
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strstr(line, "requests in") != nullptr) {
      run.requests = std::strtod(line, nullptr);
      continue;
    }
    if (const char* at = std::strstr(line, "99%"))
      run.p99_ms = to_ms(at + 3 + std::strspn(at + 3, " "));
    std::fputs(line, g_results);
  }
  if (::pclose(p) != 0)
    run.requests = 0;
  run.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  run.cpu = cpu_seconds() - cpu_before;
  if (run.requests > 0) {
    std::fprintf(g_results, "CPU per request: %.1f us (%.0f requests)\n",
                 run.cpu * 1e6 / run.requests, run.requests);
    print_thread_split(threads_before, run.requests);
  }
  std::fflush(g_results);
  return run;
}

/// Sums of one server's runs.
struct Total {
  double requests = 0;
  double seconds = 0;
  double cpu = 0;
  double worst_p99_ms = 0;
  void add(const Run& r) {
    requests += r.requests;
    seconds += r.seconds;
    cpu += r.cpu;
    worst_p99_ms = std::max(worst_p99_ms, r.p99_ms);
  }
};

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
  cfg.environment = o11y::Environment::Production;
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.otlp_endpoint = "http://127.0.0.1:" + std::to_string(c.port()) + "/v1/traces";
  cfg.logging.format = o11y::LogFormat::Json;
  cfg.logging.file_path = "/tmp/o11y_http_bench.log";
  // Rotated at 100 MB as usual, but no generation deleted, so that every line can be counted.
  cfg.logging.file_max_files = 1000;
  // An optional second argument takes one part away, to see where the overhead goes, or
  // switches the export to JSON.
  const std::string without = argc > 2 ? argv[2] : "";
  const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  if (!without.empty() && without != "full" && without != "export" && without != "logs" &&
      without != "tracing" && without != "json" && without != "aa") {
    std::fprintf(stderr,
                 "usage: o11y_http_bench [seconds] [full|export|logs|tracing|json|aa] [rounds]\n");
    return 2;
  }
  if (without == "export")
    cfg.tracing.exporter = o11y::TracesExporter::None;
  if (without == "logs")
    cfg.logging.level = o11y::Level::Error;
  if (without == "tracing")
    cfg.tracing.enabled = false;
  if (without == "json")
    cfg.tracing.otlp_encoding = o11y::OtlpEncoding::Json;
  o11y::init(cfg);

  // Each run stands up its server alone and takes it down after: measured with both servers
  // up for the whole run, two identical uninstrumented servers (`aa`) read 1-21% apart, the
  // second one always slower, which would have been charged to the instrumentation.
  const bool aa = without == "aa";
  const auto measure = [&](bool instrument, const char* who) {
    httplib::Server server;
    // TCP_NODELAY: without it, cpp-httplib's two writes per response meet delayed ACKs and
    // every request takes 40 ms whatever the handler does.
    server.set_tcp_nodelay(true);
    if (instrument && !aa) {
      o11y::http::instrument(server);
      server.Get(R"(/orders/(\d+))",
                 o11y::http::route("/orders/{id}", [](const auto& req, auto& res) {
                   name_thread("instr-server");
                   handler(req, res);
                 }));
    } else {
      // With `aa`, the second server is uninstrumented too: the harness's own bias.
      server.Get(R"(/orders/(\d+))",
                 [instrument](const httplib::Request& req, httplib::Response& res) {
                   name_thread(instrument ? "instr-server" : "plain-server");
                   handler(req, res);
                 });
    }
    const o11y::testing::Serving serving(server);
    return run_wrk(who, serving.port(), seconds);
  };
  // Rounds alternate the order (plain first, then instrumented first, ...): on a shared VM
  // whose speed drifts over minutes, the server always run second would pay for the drift.
  const char* const kPlain = "uninstrumented cpp-httplib handler";
  const char* const kInstr = "instrumented (span, log line, 2 metrics, sampling 1.0, OTLP export)";
  Total plain_total;
  Total instr_total;
  std::vector<double> below;  // each round's throughput shortfall, in percent
  bool ok = true;
  for (int round = 0; round < rounds; ++round) {
    Run p;
    Run i;
    if (round % 2 == 0) {
      p = measure(false, kPlain);
      i = measure(true, kInstr);
    } else {
      i = measure(true, kInstr);
      p = measure(false, kPlain);
    }
    ok = ok && p.requests > 0 && i.requests > 0;
    if (!ok)
      break;
    plain_total.add(p);
    instr_total.add(i);
    below.push_back(100.0 * (1.0 - (i.requests / i.seconds) / (p.requests / p.seconds)));
    std::fprintf(g_results, "round %d: instrumented %.1f%% below\n", round + 1, below.back());
  }
  if (ok && rounds > 1) {
    std::sort(below.begin(), below.end());
    const double plain_rps = plain_total.requests / plain_total.seconds;
    const double instr_rps = instr_total.requests / instr_total.seconds;
    // The rounds' mean with two standard errors: single rounds on a shared 2-core VM spread by
    // tens of percent, so one number without its uncertainty says little.
    double mean = 0;
    for (const double b : below)
      mean += b;
    mean /= static_cast<double>(below.size());
    double var = 0;
    for (const double b : below)
      var += (b - mean) * (b - mean);
    var /= static_cast<double>(below.size() - 1);
    const double two_se = 2.0 * std::sqrt(var / static_cast<double>(below.size()));
    std::fprintf(g_results,
                 "=== %d rounds of %d s: uninstrumented %.0f req/s, %.1f us CPU a request, worst "
                 "p99 %.2f ms; instrumented %.0f req/s, %.1f us CPU a request, worst p99 %.2f ms; "
                 "%.1f%% below overall; rounds %.1f%% to %.1f%%, median %.1f%%, mean %.1f%% +- "
                 "%.1f%% (2 standard errors)\n",
                 rounds, seconds, plain_rps, plain_total.cpu * 1e6 / plain_total.requests,
                 plain_total.worst_p99_ms, instr_rps, instr_total.cpu * 1e6 / instr_total.requests,
                 instr_total.worst_p99_ms, 100.0 * (1.0 - instr_rps / plain_rps), below.front(),
                 below.back(), below[below.size() / 2], mean, two_se);
  }
  o11y::shutdown();
  // The overhead only counts if the work was done: spans exported (not dropped), lines written.
  const auto exported =
      o11y::counter("o11y_spans_exported_total", "Finished spans the exporter accepted.").value();
  const auto dropped =
      o11y::counter("o11y_spans_dropped_total", "", {"reason"}).value({{"reason", "queue_full"}}) +
      o11y::counter("o11y_spans_dropped_total", "", {"reason"})
          .value({{"reason", "export_failed"}});
  // The live file and its rotated generations, /tmp/o11y_http_bench.N.log.
  std::size_t lines = 0;
  for (int n = 0;; ++n) {
    const std::string path =
        n == 0 ? "/tmp/o11y_http_bench.log" : "/tmp/o11y_http_bench." + std::to_string(n) + ".log";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr)
      break;
    for (int ch = 0; (ch = std::fgetc(f)) != EOF;)
      lines += ch == '\n' ? 1 : 0;
    std::fclose(f);
    std::remove(path.c_str());
  }
  std::fprintf(g_results, "spans exported %.0f, dropped %.0f; log lines written %zu\n", exported,
               dropped, lines);
  return ok ? 0 : 1;
}
