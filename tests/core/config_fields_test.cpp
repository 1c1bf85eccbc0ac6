// Every public Config field, set in code and handed to init(), changes what the library does.
// One test per field (or per pair that only shows together), through the public API. Fields
// already shown elsewhere through init(): service_name, service_version and environment
// (Init.BuildsTheResourceFromConfigAndEnvironment), tracing.sample_rate
// (Init.DefaultSampleRate...), tracing.enabled (Init.TracingDisabled...), tracing.exporter
// (ConfigEnv.InitWithTheConsoleExporter...).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <o11y/config.hpp>
#include <o11y/db.hpp>
#include <o11y/http.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/collector.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using testing::contains;
using testing::sample;

using namespace std::chrono_literals;

// init() with output to stdout captured (the test's own output stays readable); shutdown()
// and a reset to defaults at the end.
class InitApplies : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::internal::CaptureStdout(); }
  void TearDown() override {
    shutdown();
    Config defaults;
    defaults.environment = Environment::Production;
    init(defaults);
    logging::flush();
    (void)::testing::internal::GetCapturedStdout();
  }
  static Config base() {
    Config c;
    c.environment = Environment::Production;
    c.tracing.sample_rate = 1.0;
    return c;
  }
  /// The stdout written so far (capturing goes on).
  static std::string stdout_so_far() {
    logging::flush();
    auto out = ::testing::internal::GetCapturedStdout();
    ::testing::internal::CaptureStdout();
    return out;
  }
  testing::TempDir dir_;
};

TEST_F(InitApplies, ResourceAttributesFromCodeReachTheResource) {
  Config c = base();
  c.resource_attributes = {{"team", "payments"}, {"region", "eu-1"}};
  init(c);
  const auto res = resource();
  ASSERT_NE(res, nullptr);
  int found = 0;
  for (const auto& a : res->attributes) {
    if ((a.key == "team" && a.value == Value("payments")) ||
        (a.key == "region" && a.value == Value("eu-1")))
      ++found;
  }
  EXPECT_EQ(found, 2);
}

TEST_F(InitApplies, LoggingFormatChoosesJsonOrConsoleOnStdout) {
  Config c = base();
  c.logging.format = LogFormat::Json;
  init(c);
  get_logger("fmt").info("as_json");
  const auto json = stdout_so_far();
  EXPECT_TRUE(contains(json, "{\"timestamp\":")) << json;
  c.logging.format = LogFormat::Console;
  init(c);
  get_logger("fmt").info("as_console");
  const auto console = stdout_so_far();
  EXPECT_TRUE(contains(console, "as_console")) << console;
  EXPECT_FALSE(contains(console, "\"event\"")) << console;
}

TEST_F(InitApplies, LoggingStdoutOutputCanBeTurnedOff) {
  Config c = base();
  c.logging.stdout_output = false;
  c.logging.file_path = dir_.file("only_here.log");
  init(c);
  get_logger("quiet").warning("not_on_stdout");
  EXPECT_FALSE(contains(stdout_so_far(), "not_on_stdout"));
  EXPECT_EQ(testing::read_lines(c.logging.file_path).size(), 1U);
  c.logging.stdout_output = true;
  init(c);
  get_logger("quiet").warning("on_stdout");
  EXPECT_TRUE(contains(stdout_so_far(), "on_stdout"));
}

TEST_F(InitApplies, LoggingLevelHidesLinesBelowIt) {
  Config c = base();
  c.logging.level = Level::Warning;
  init(c);
  logging::LogCapture capture;
  get_logger("lvl").info("hidden");
  get_logger("lvl").warning("shown");
  EXPECT_TRUE(capture.lines_with_event("hidden").empty());
  EXPECT_EQ(capture.lines_with_event("shown").size(), 1U);
}

TEST_F(InitApplies, LoggingLevelsSetOneLoggersLevelByNamePrefix) {
  Config c = base();
  c.logging.levels = {{"orders", Level::Error}};
  init(c);
  logging::LogCapture capture;
  get_logger("orders.payments").warning("quiet_here");
  get_logger("inventory").warning("loud_here");
  EXPECT_TRUE(capture.lines_with_event("quiet_here").empty());
  EXPECT_EQ(capture.lines_with_event("loud_here").size(), 1U);
}

TEST_F(InitApplies, LoggingFilePathGetsTheJsonLines) {
  Config c = base();
  c.logging.file_path = dir_.file("app.log");
  init(c);
  get_logger("file").info("to_the_file", {{"n", 1}});
  logging::flush();
  const auto lines = testing::read_lines(c.logging.file_path);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(contains(lines[0], "\"event\":\"to_the_file\"")) << lines[0];
}

TEST_F(InitApplies, LoggingFileMaxBytesAndMaxFilesBoundTheRotation) {
  Config c = base();
  c.logging.file_path = dir_.file("app.log");
  c.logging.file_max_bytes = 2048;
  c.logging.file_max_files = 1;
  init(c);
  for (int i = 0; i < 200; ++i)
    get_logger("rot").info("rotating", {{"i", i}, {"pad", std::string(60, 'p')}});
  logging::flush();
  EXPECT_LE(std::filesystem::file_size(c.logging.file_path), 2048U);
  EXPECT_TRUE(std::filesystem::exists(dir_.file("app.1.log")));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("app.2.log")));
}

std::vector<std::string> thread_names() {
  std::vector<std::string> names;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  return names;
}

TEST_F(InitApplies, LoggingAsyncWritesOnAWriterThread) {
  Config c = base();
  c.logging.async = false;
  init(c);
  get_logger("async").info("sync_line");
  const auto before = thread_names();
  EXPECT_EQ(std::count(before.begin(), before.end(), "o11y-log-async"), 0);
  c.logging.async = true;
  init(c);
  get_logger("async").info("async_line");
  logging::flush();
  const auto after = thread_names();
  EXPECT_EQ(std::count(after.begin(), after.end(), "o11y-log-async"), 1);
  EXPECT_TRUE(contains(stdout_so_far(), "async_line"));
}

// Both async settings: a small queue that drops when full loses (and counts) lines a large
// one keeps, and a small queue that blocks keeps every line.
TEST_F(InitApplies, LoggingAsyncQueueBytesAndDropPolicyDecideWhatAFloodLoses) {
  auto flood = [&](std::size_t queue_bytes, bool drop, const std::string& file) {
    Config c = base();
    c.logging.async = true;
    c.logging.async_queue_bytes = queue_bytes;
    c.logging.async_drop_when_full = drop;
    c.logging.file_path = dir_.file(file);
    init(c);
    const auto dropped_before = logging::dropped_lines();
    for (int i = 0; i < 20000; ++i)
      get_logger("flood").info("flood", {{"i", i}, {"pad", std::string(100, 'x')}});
    logging::flush();
    (void)stdout_so_far();
    return logging::dropped_lines() - dropped_before;
  };
  EXPECT_GT(flood(16 * 1024, true, "small_drop.log"), 0U);
  EXPECT_EQ(flood(64 * 1024 * 1024, true, "large_drop.log"), 0U);
  EXPECT_EQ(flood(16 * 1024, false, "small_block.log"), 0U);
  EXPECT_EQ(testing::read_lines(dir_.file("small_block.log")).size(), 20000U);
}

TEST_F(InitApplies, LoggingSourceRootNamesLoggersFromIt) {
  Config c = base();
  c.logging.source_root = std::filesystem::path(__FILE__).parent_path().parent_path().string();
  init(c);
  EXPECT_EQ(get_logger().name(), "core.config_fields_test");
  c.logging.source_root = std::filesystem::path(__FILE__).parent_path().string();
  init(c);
  EXPECT_EQ(logging::logger_name_for_path(__FILE__), "config_fields_test");
}

// --- tracing export ------------------------------------------------------------------------

Config otlp_to(const testing::Collector& collector) {
  Config c;
  c.environment = Environment::Production;
  c.tracing.sample_rate = 1.0;
  c.tracing.exporter = TracesExporter::Otlp;
  c.tracing.otlp_endpoint = collector.url();
  c.tracing.batch.schedule_delay = 20ms;
  return c;
}

double dropped(const std::string& reason) {
  const double v = sample(metrics::render(), "o11y_spans_dropped_total{reason=\"" + reason + "\"}");
  return std::isnan(v) ? 0.0 : v;
}

TEST_F(InitApplies, OtlpEndpointHeadersGzipAndEncodingShapeTheRequest) {
  testing::Collector collector;
  Config c = otlp_to(collector);
  c.tracing.otlp_headers = {{"x-tenant", "acme"}};
  c.tracing.otlp_gzip = true;
  c.tracing.otlp_encoding = OtlpEncoding::Json;
  init(c);
  { auto s = start_span("configured"); }
  ASSERT_TRUE(force_flush_spans());
  const auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].get_header_value("x-tenant"), "acme");
  EXPECT_EQ(reqs[0].get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(reqs[0].get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(contains(reqs[0].body, "\"name\":\"configured\""));
  c.tracing.otlp_gzip = false;
  c.tracing.otlp_encoding = OtlpEncoding::Protobuf;
  init(c);
  { auto s = start_span("configured_again"); }
  ASSERT_TRUE(force_flush_spans());
  const auto again = collector.requests();
  ASSERT_EQ(again.size(), 2U);
  EXPECT_EQ(again[1].get_header_value("Content-Type"), "application/x-protobuf");
  EXPECT_FALSE(again[1].has_header("Content-Encoding"));
}

TEST_F(InitApplies, OtlpTimeoutAbandonsASlowCollector) {
  testing::Collector collector;
  collector.delay(1500ms);  // answers 200, but later than the timeout
  Config c = otlp_to(collector);
  c.tracing.otlp_timeout = 100ms;
  c.tracing.batch.export_timeout = 300ms;
  init(c);
  const double before = dropped("export_failed");
  { auto s = start_span("too_slow"); }
  (void)force_flush_spans(3s);
  // With the default 10 s timeout the first attempt would have succeeded after 1.5 s.
  EXPECT_TRUE(testing::wait_until([&] { return dropped("export_failed") > before; }, 5s));
}

TEST_F(InitApplies, BatchExportTimeoutBoundsTheRetries) {
  testing::Collector collector;
  collector.answer(std::vector<int>(1000, 503));  // retryable, for ever
  Config c = otlp_to(collector);
  c.tracing.batch.export_timeout = 300ms;
  init(c);
  const double before = dropped("export_failed");
  const auto start = std::chrono::steady_clock::now();
  { auto s = start_span("unavailable"); }
  // The default 30 s deadline would keep retrying long past this wait.
  EXPECT_TRUE(testing::wait_until([&] { return dropped("export_failed") > before; }, 8s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
}

TEST_F(InitApplies, BatchScheduleDelayIsWhenAQuietQueueIsSent) {
  testing::Collector collector;
  Config c = otlp_to(collector);
  c.tracing.batch.schedule_delay = 50ms;  // the default 5 s would miss the wait below
  init(c);
  { auto s = start_span("on_schedule"); }
  EXPECT_TRUE(testing::wait_until([&] { return !collector.requests().empty(); }, 3s));
}

TEST_F(InitApplies, BatchSizesBoundTheQueueAndEachRequest) {
  testing::Collector collector;
  Config c = otlp_to(collector);
  c.tracing.otlp_encoding = OtlpEncoding::Json;
  c.tracing.batch.max_export_batch_size = 2;
  c.tracing.batch.schedule_delay = 10s;  // only force_flush sends
  init(c);
  for (int i = 0; i < 5; ++i) {
    auto s = start_span("batched");
  }
  ASSERT_TRUE(force_flush_spans());
  const auto reqs = collector.requests();
  std::size_t total = 0;
  for (const auto& r : reqs) {
    std::size_t spans = 0;
    for (auto at = r.body.find("\"spanId\""); at != std::string::npos;
         at = r.body.find("\"spanId\"", at + 1))
      ++spans;
    EXPECT_LE(spans, 2U) << r.body;
    total += spans;
  }
  EXPECT_EQ(total, 5U);
  EXPECT_GE(reqs.size(), 3U);

  // A queue of 3 behind a collector that answers slowly: most of a burst of 10 is dropped
  // (the default 2048 would hold them all).
  collector.delay(500ms);
  c.tracing.batch.max_queue_size = 3;
  init(c);
  const double before = dropped("queue_full");
  for (int i = 0; i < 10; ++i) {
    auto s = start_span("overflowing");
  }
  EXPECT_GE(dropped("queue_full") - before, 4.0);
  (void)force_flush_spans();
}

// --- metrics and redaction ---------------------------------------------------------------

TEST_F(InitApplies, MaxSeriesPerMetricSendsNewLabelSetsToTheOverflowSeries) {
  Config c = base();
  c.metrics.max_series_per_metric = 3;
  init(c);
  auto users = counter("cfg_by_user_total", "Per user", {"user"});
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i)
    users.add(1, {{"user", "u" + std::to_string(i)}});
  (void)::testing::internal::GetCapturedStderr();
  EXPECT_EQ(users.value({{"user", "o11y_overflow"}}), 7.0);
}

TEST_F(InitApplies, RedactionKeysAndPiiMaskingReachLogLines) {
  Config c = base();
  c.redaction.keys = {"pin"};
  c.redaction.mask_pii = true;
  init(c);
  logging::LogCapture capture;
  get_logger("red").info("redacted", {{"card_pin", "1234"}, {"note", "mail me at a@b.example"}});
  const auto lines = capture.lines_with_event("redacted");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_TRUE(contains(lines[0], "\"card_pin\":\"[REDACTED]\"")) << lines[0];
  EXPECT_TRUE(contains(lines[0], "[EMAIL]")) << lines[0];
  EXPECT_FALSE(contains(lines[0], "a@b.example")) << lines[0];
}

// Runs body in a fork()ed child (a process with no metric declared yet) and returns its exit
// status: the test's checks are the child's exit code.
int in_fresh_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0)
    ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(InitAppliesMultiprocDir, InitBeforeTheFirstMetricTurnsMultiprocessModeOn) {
  testing::TempDir dir;
  const std::string mp = dir.file("mp");
  std::filesystem::create_directories(mp);
  const int rc = in_fresh_child([&] {
    Config c;
    c.environment = Environment::Production;
    c.metrics.multiproc_dir = mp;
    init(c);
    if (!metrics::multiprocess_enabled())
      return 1;
    counter("cfg_mp_jobs_total", "Jobs").add(4);
    return 0;
  });
  // ctest runs each test in a process of its own, so the child has declared nothing yet.
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(sample(metrics::render_directory(mp), "cfg_mp_jobs_total"), 4.0);
}

TEST(InitAppliesMultiprocDir, ALateSettingIsReportedOnceAndChangesNothing) {
  testing::TempDir dir;
  const std::string mp = dir.file("mp");
  std::filesystem::create_directories(mp);
  const std::string err_path = dir.file("stderr");
  const int rc = in_fresh_child([&] {
    (void)std::freopen(err_path.c_str(), "w", stderr);
    counter("cfg_early_total", "Declared before init").add(1);
    Config c;
    c.environment = Environment::Production;
    c.metrics.multiproc_dir = mp;
    init(c);
    init(c);
    std::fflush(stderr);
    return metrics::multiprocess_enabled() ? 1 : 0;
  });
  EXPECT_EQ(rc, 0) << "a late multiproc_dir switched modes";
  std::string err;
  for (const auto& line : testing::read_lines(err_path))
    err += line + "\n";
  EXPECT_TRUE(contains(err, "metrics.multiproc_dir")) << err;
  EXPECT_TRUE(contains(err, "single-process mode")) << err;
  EXPECT_EQ(err.find("metrics.multiproc_dir"), err.rfind("metrics.multiproc_dir")) << err;
  EXPECT_TRUE(std::filesystem::is_empty(mp));
}

TEST_F(InitApplies, DbSettingsReachTheQueries) {
  auto c = base();
  c.db.sqlcommenter = false;
  c.db.n_plus_one_threshold = 2;
  c.db.slow_query = std::chrono::milliseconds(0);  // off
  init(c);
  logging::LogCapture capture;
  {
    const http::ServerOptions options;
    http::RequestScope request({.method = "GET", .path = "/db", .route = "/db"}, options);
    for (int i = 0; i < 2; ++i) {
      db::QueryScope q({.system = "postgresql", .query_text = "SELECT 1"});
      EXPECT_EQ(q.statement(), "SELECT 1");
    }
    request.finish(200);
  }
  EXPECT_EQ(capture.lines_with_event("n_plus_one_detected").size(), 1U);
  EXPECT_TRUE(capture.lines_with_event("slow_query").empty());
}

}  // namespace
}  // namespace o11y
