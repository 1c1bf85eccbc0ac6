// Log call cost, o11y side by side with its peers in one run, for the API.md example line:
// 4 fields, 2 custom tags, an active span (trace ids).
//   (a) raw spdlog, default text pattern, null sink    (b) nlohmann::json build + dump()
//   (c) o11y JSON, sync, null sink                     (d) o11y JSON, sync, file
//   (e) o11y console, null sink                        (f) o11y async, file: caller side
//       (callers outrunning the writer, and the writer     (g) o11y with the level disabled, and
//       keeping up), the backend's lines/s                     raw spdlog with its level disabled,
//                                                               and o11y behind an enabled() check
//   (h) stdout that is a pipe drained by a reader: raw spdlog's stdout sink and o11y JSON
//   (i) (c) with every record also exported over OTLP/HTTP to a collector on 127.0.0.1: the
//       caller's added cost is (i) - (c)
// Each reports allocs_per_op: heap allocations per log call in steady state.
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>
#include <o11y/o11y.hpp>
#include <thread>
#include <vector>

#include "alloc_counter.hpp"
#include "logging/pipeline.hpp"
#include "support/serving.hpp"

namespace {

const std::string kLogFile =
    (std::filesystem::temp_directory_path() / "o11y_log_bench.log").string();

void configure(bool file, bool console, bool async = false, o11y::Level level = o11y::Level::Info,
               const std::string& otlp_logs = "") {
  o11y::detail::LoggingSetup setup;
  if (!otlp_logs.empty()) {
    setup.config.exporter = o11y::LogsExporter::Otlp;
    setup.config.otlp_endpoint = otlp_logs;
  }
  setup.stdout_enabled = false;
  setup.config.level = level;
  setup.config.async = async;
  if (file) {
    std::filesystem::remove(kLogFile);
    setup.config.file_path = kLogFile;
    setup.config.file_max_bytes = std::size_t{1} << 40;
  } else if (console) {
    setup.extra_console_sinks.push_back(std::make_shared<spdlog::sinks::null_sink_mt>());
  } else {
    setup.extra_json_sinks.push_back(std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  o11y::detail::configure_logging(setup);
}

// Each thread gets the example context: a span and two tags.
struct ExampleContext {
  o11y::Scope scope;
  o11y::Span span = o11y::start_span("request");
  ExampleContext() { o11y::set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}}); }
};

using o11y_bench::g_allocs;
using o11y_bench::report_allocs;

void o11y_example(benchmark::State& state) {
  ExampleContext ctx;
  auto log = o11y::get_logger("orders.views");
  const auto before = g_allocs.load();
  for (auto _ : state) {
    log.info("order_placed",
             {{"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}});
  }
  report_allocs(state, before);
}

// The same data as the example line through spdlog's text pattern: the peer of (a) and (g).
void spdlog_example(benchmark::State& state, spdlog::logger& logger) {
  ExampleContext ctx;
  const auto trace = ctx.span.trace_id();
  const auto span = ctx.span.span_id();
  const auto before = g_allocs.load();
  for (auto _ : state) {
    logger.info(
        "order_placed order_id={} amount={} currency={} items={} tenant_id={} feature={} "
        "trace_id={} span_id={}",
        123, 49.99, "EUR", 3, "acme", "checkout_v2", trace, span);
  }
  report_allocs(state, before);
}

void BM_a_RawSpdlogTextNullSink(benchmark::State& state) {
  static auto logger =
      std::make_shared<spdlog::logger>("raw", std::make_shared<spdlog::sinks::null_sink_mt>());
  spdlog_example(state, *logger);
}
BENCHMARK(BM_a_RawSpdlogTextNullSink)->Threads(1)->Threads(2);

void BM_b_NlohmannBuildAndDump(benchmark::State& state) {
  ExampleContext ctx;
  const auto trace = ctx.span.trace_id();
  const auto span = ctx.span.span_id();
  const auto before = g_allocs.load();
  for (auto _ : state) {
    nlohmann::json j;
    j["timestamp"] = "2026-02-12T10:30:45.123456Z";
    j["level"] = "info";
    j["logger"] = "orders.views";
    j["event"] = "order_placed";
    j["order_id"] = 123;
    j["amount"] = 49.99;
    j["currency"] = "EUR";
    j["items"] = 3;
    j["tenant_id"] = "acme";
    j["feature"] = "checkout_v2";
    j["trace_id"] = trace;
    j["span_id"] = span;
    j["filename"] = "views.cpp";
    j["lineno"] = 42;
    benchmark::DoNotOptimize(j.dump());
  }
  report_allocs(state, before);
}
BENCHMARK(BM_b_NlohmannBuildAndDump)->Threads(1)->Threads(2);

void BM_c_O11yJsonSyncNullSink(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(false, false);
  o11y_example(state);
}
BENCHMARK(BM_c_O11yJsonSyncNullSink)->Threads(1)->Threads(2);

/// An OTLP collector stand-in on 127.0.0.1 that accepts and discards every request.
class DiscardingCollector {
 public:
  DiscardingCollector() {
    server_.set_tcp_nodelay(true);  // as real collectors do: no delayed-ACK wait per request
    server_.Post("/v1/logs", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    serving_ = std::make_unique<o11y::testing::Serving>(server_);
  }
  [[nodiscard]] std::string url() const { return serving_->url() + "/v1/logs"; }

 private:
  httplib::Server server_;
  std::unique_ptr<o11y::testing::Serving> serving_;
};

// (c) with and without OTLP log export, in the same loop: every 256 calls the clock stops
// while the exporter sends what was queued, so every record measured is queued (none dropped
// for a full queue), as in a service logging below the exporter's capacity. Async: the writer
// thread renders the line and hands the record to the exporter.
void json_keeping_up(benchmark::State& state, bool otlp, bool async = false) {
  static auto* collector = new DiscardingCollector();  // NOLINT: lives for the whole run
  configure(false, false, async, o11y::Level::Info, otlp ? collector->url() : std::string());
  ExampleContext ctx;
  auto log = o11y::get_logger("orders.views");
  const auto before = g_allocs.load();
  int since_flush = 0;
  for (auto _ : state) {
    log.info("order_placed",
             {{"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}});
    if (++since_flush == 256) {
      state.PauseTiming();
      o11y::logging::flush();
      state.ResumeTiming();
      since_flush = 0;
    }
  }
  report_allocs(state, before);
  configure(false, false);
}
void BM_i_O11yJsonSyncNullSinkFlushedEvery256(benchmark::State& state) {
  json_keeping_up(state, false);
}
BENCHMARK(BM_i_O11yJsonSyncNullSinkFlushedEvery256);
void BM_i_O11yJsonSyncNullSinkOtlpLogsFlushedEvery256(benchmark::State& state) {
  json_keeping_up(state, true);
}
BENCHMARK(BM_i_O11yJsonSyncNullSinkOtlpLogsFlushedEvery256);
void BM_i_O11yJsonAsyncNullSinkFlushedEvery256(benchmark::State& state) {
  json_keeping_up(state, false, true);
}
BENCHMARK(BM_i_O11yJsonAsyncNullSinkFlushedEvery256);
void BM_i_O11yJsonAsyncNullSinkOtlpLogsFlushedEvery256(benchmark::State& state) {
  json_keeping_up(state, true, true);
}
BENCHMARK(BM_i_O11yJsonAsyncNullSinkOtlpLogsFlushedEvery256);

void BM_d_O11yJsonSyncFile(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(true, false);
  o11y_example(state);
  if (state.thread_index() == 0)
    o11y::logging::flush();
}
BENCHMARK(BM_d_O11yJsonSyncFile)->Threads(1)->Threads(2);

void BM_e_O11yConsoleNullSink(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(false, true);
  o11y_example(state);
}
BENCHMARK(BM_e_O11yConsoleNullSink)->Threads(1)->Threads(2);

void BM_f_O11yAsyncFileCallerSide(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(true, false, true);
  o11y_example(state);
  if (state.thread_index() == 0)
    o11y::logging::flush();
}
BENCHMARK(BM_f_O11yAsyncFileCallerSide)->Threads(1)->Threads(2);

// The caller's cost when the backend keeps up, as in a service that logs below the writer's
// capacity: every 512 lines (about 100 KB, well inside the queue) the clock stops while the
// writer drains the queue. The case above measures callers outrunning the writer, where they
// wait for room in the queue.
void BM_f_O11yAsyncFileCallerSideBackendKeepingUp(benchmark::State& state) {
  configure(true, false, true);
  ExampleContext ctx;
  auto log = o11y::get_logger("orders.views");
  const auto before = g_allocs.load();
  int since_drain = 0;
  for (auto _ : state) {
    log.info("order_placed",
             {{"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}});
    if (++since_drain == 512) {
      state.PauseTiming();
      o11y::logging::flush();
      state.ResumeTiming();
      since_drain = 0;
    }
  }
  report_allocs(state, before);
}
BENCHMARK(BM_f_O11yAsyncFileCallerSideBackendKeepingUp);

// Backend throughput: lines/s from the first queued line to the last one on disk.
void BM_f_O11yAsyncFileBackendThroughput(benchmark::State& state) {
  configure(true, false, true);
  ExampleContext ctx;
  auto log = o11y::get_logger("orders.views");
  constexpr int kLines = 200000;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) {
      log.info("order_placed",
               {{"order_id", i}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}});
    }
    o11y::logging::flush();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.counters["lines_per_s"] = kLines / took.count();
  }
}
BENCHMARK(BM_f_O11yAsyncFileBackendThroughput)->Iterations(3)->UseRealTime();

void BM_g_O11yLevelDisabled(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(false, false, false, o11y::Level::Warning);
  o11y_example(state);
}
BENCHMARK(BM_g_O11yLevelDisabled)->Threads(1)->Threads(2);

// (g) with the caller's own enabled() check in front, for hot loops: the braced field list is
// then built only when the line is written. Not a replacement for the row above, which is
// what the plain call costs.
void BM_g_O11yLevelDisabledEnabledGuard(benchmark::State& state) {
  if (state.thread_index() == 0)
    configure(false, false, false, o11y::Level::Warning);
  ExampleContext ctx;
  auto log = o11y::get_logger("orders.views");
  const auto before = g_allocs.load();
  for (auto _ : state) {
    if (log.enabled(o11y::Level::Info)) {
      log.info("order_placed",
               {{"order_id", 123}, {"amount", 49.99}, {"currency", "EUR"}, {"items", 3}});
    }
  }
  report_allocs(state, before);
}
BENCHMARK(BM_g_O11yLevelDisabledEnabledGuard)->Threads(1)->Threads(2);

// The peer for (g): spdlog's own check in front of the same eight values.
void BM_g_RawSpdlogLevelDisabled(benchmark::State& state) {
  static auto logger = [] {
    auto l = std::make_shared<spdlog::logger>("raw_disabled",
                                              std::make_shared<spdlog::sinks::null_sink_mt>());
    l->set_level(spdlog::level::warn);
    return l;
  }();
  spdlog_example(state, *logger);
}
BENCHMARK(BM_g_RawSpdlogLevelDisabled)->Threads(1)->Threads(2);

/// For the length of a benchmark, stdout is a pipe that a thread drains, as a container
/// runtime or a log shipper drains a service's stdout.
class StdoutPipe {
 public:
  StdoutPipe() {
    std::fflush(stdout);
    int fds[2] = {-1, -1};
    if (::pipe(fds) != 0)
      std::abort();
    saved_ = ::dup(STDOUT_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[1]);
    read_end_ = fds[0];
    reader_ = std::thread([this] {
      std::vector<char> buf(std::size_t{64} * 1024);
      while (::read(read_end_, buf.data(), buf.size()) > 0) {
      }
    });
  }
  ~StdoutPipe() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);  // closes the pipe's last write end: the reader sees EOF
    ::close(saved_);
    reader_.join();
    ::close(read_end_);
  }
  StdoutPipe(const StdoutPipe&) = delete;
  StdoutPipe& operator=(const StdoutPipe&) = delete;
  StdoutPipe(StdoutPipe&&) = delete;
  StdoutPipe& operator=(StdoutPipe&&) = delete;

 private:
  int saved_ = -1;
  int read_end_ = -1;
  std::thread reader_;
};

// (h) stdout that is a pipe: spdlog's stdout sink (text pattern; it flushes every line) against
// o11y's JSON to stdout, which, not being a terminal, gets large writes.
void BM_h_RawSpdlogTextStdoutPipe(benchmark::State& state) {
  const StdoutPipe pipe;
  auto logger =
      std::make_shared<spdlog::logger>("raw", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  spdlog_example(state, *logger);
}
BENCHMARK(BM_h_RawSpdlogTextStdoutPipe);

void BM_h_O11yJsonStdoutPipe(benchmark::State& state) {
  const StdoutPipe pipe;
  o11y::detail::LoggingSetup setup;
  setup.stdout_enabled = true;
  setup.stdout_is_terminal = false;
  setup.config.format = o11y::LogFormat::Json;
  o11y::detail::configure_logging(setup);
  o11y_example(state);
  o11y::logging::flush();
  configure(false, false);  // off the pipe before it goes
}
BENCHMARK(BM_h_O11yJsonStdoutPipe);

}  // namespace

BENCHMARK_MAIN();
