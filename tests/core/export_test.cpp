#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <thread>

#include "support/collector.hpp"
#include "support/process.hpp"
#include "support/serving.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::shared_ptr<const SpanData> make_span(std::string name, SpanKind kind = SpanKind::Internal) {
  auto s = std::make_shared<SpanData>();
  s->context.trace_id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c");
  s->context.span_id = SpanId::from_hex("b7ad6b7169203331");
  s->context.flags = kTraceFlagSampled;
  s->context.trace_state = "congo=t61rcWkgMzE";
  s->parent_span_id = SpanId::from_hex("00f067aa0ba902b7");
  s->parent_remote = true;
  s->name = std::move(name);
  s->kind = kind;
  s->start_time_ns = 1'700'000'000'123'456'789ULL;
  s->end_time_ns = 1'700'000'000'223'456'789ULL;
  s->attributes = {{"http.route", Value("/orders/{id}")},
                   {"order_id", Value(std::int64_t{9'007'199'254'740'993})},
                   {"amount", Value(49.99)},
                   {"paid", Value(true)}};
  s->events = {{"validated", 1'700'000'000'150'000'000ULL, {{"rule", Value("amount")}}}};
  s->status = StatusCode::Error;
  s->status_description = "declined";
  auto r = std::make_shared<Resource>();
  r->attributes = {{"service.name", Value("checkout")}};
  s->resource = r;
  return s;
}

/// Records what it is given; can be made to block until released.
class RecordingExporter final : public SpanExporter {
 public:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> names;
    int calls = 0;
    bool blocked = false;
    bool fail = false;
  };
  explicit RecordingExporter(std::shared_ptr<State> s) : s_(std::move(s)) {}
  ExportResult export_spans(SpanBatch spans, Clock::time_point deadline) noexcept override {
    std::unique_lock lock(s_->mu);
    ++s_->calls;
    s_->cv.wait_until(lock, deadline, [this] { return !s_->blocked; });
    if (s_->blocked || s_->fail)
      return ExportResult::Failure;
    for (const auto& sp : spans)
      s_->names.push_back(sp->name);
    return ExportResult::Success;
  }

 private:
  std::shared_ptr<State> s_;
};

TEST(OtlpJson, FollowsTheOtlpJsonMapping) {
  const std::vector spans{make_span("GET /orders/{id}", SpanKind::Server)};
  const auto j = nlohmann::json::parse(otlp::encode_json(spans));
  const auto& rs = j.at("resourceSpans").at(0);
  EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "checkout");
  EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "o11y");
  const auto& s = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(s["traceId"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(s["spanId"], "b7ad6b7169203331");
  EXPECT_EQ(s["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(s["traceState"], "congo=t61rcWkgMzE");
  EXPECT_EQ(s["kind"], 2);  // SPAN_KIND_SERVER
  EXPECT_EQ(s["startTimeUnixNano"], "1700000000123456789");
  EXPECT_EQ(s["attributes"][1]["value"]["intValue"], "9007199254740993");  // exact, as a string
  EXPECT_EQ(s["attributes"][2]["value"]["doubleValue"], 49.99);
  EXPECT_EQ(s["attributes"][3]["value"]["boolValue"], true);
  EXPECT_EQ(s["events"][0]["name"], "validated");
  EXPECT_EQ(s["events"][0]["timeUnixNano"], "1700000000150000000");
  EXPECT_EQ(s["status"]["code"], 2);
  EXPECT_EQ(s["status"]["message"], "declined");
  EXPECT_EQ(s["flags"], 0x301);  // sampled, parent known to be remote
}

TEST(OtlpJson, GroupsSpansByResourceAndStaysValidForAnyBytes) {
  auto a = make_span("a");
  auto b = std::make_shared<SpanData>(*make_span("b\n\"\xff"));  // another resource object
  b->attributes.push_back({"nan", Value(std::nan(""))});
  const std::vector<std::shared_ptr<const SpanData>> spans{a, b, a};
  const auto j = nlohmann::json::parse(otlp::encode_json(spans));
  ASSERT_EQ(j["resourceSpans"].size(), 2U);
  EXPECT_EQ(j["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 2U);
  const auto& bj = j["resourceSpans"][1]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(bj["name"], "b\n\"\xef\xbf\xbd");  // invalid UTF-8 replaced, not thrown on
  EXPECT_EQ(bj["attributes"].back()["value"]["doubleValue"], "NaN");
}

TEST(OtlpProtobuf, StartsWithResourceSpansAndCarriesRawIds) {
  const std::vector spans{make_span("x")};
  const auto pb = otlp::encode_protobuf(spans);
  ASSERT_FALSE(pb.empty());
  EXPECT_EQ(static_cast<unsigned char>(pb[0]), 0x0a);  // field 1, length-delimited
  const std::string raw_trace_id("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c",
                                 16);
  EXPECT_NE(pb.find(raw_trace_id), std::string::npos);
}

TEST(BatchSpanProcessor, ForceFlushDeliversEverythingQueued) {
  auto state = std::make_shared<RecordingExporter::State>();
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state),
                       {.max_queue_size = 100, .max_export_batch_size = 7, .schedule_delay = 1h});
  for (int i = 0; i < 50; ++i)
    p.on_end(make_span("s" + std::to_string(i)));
  ASSERT_TRUE(p.force_flush(5s));
  std::lock_guard lock(state->mu);
  ASSERT_EQ(state->names.size(), 50U);
  EXPECT_EQ(state->names.front(), "s0");
  EXPECT_EQ(state->names.back(), "s49");
  EXPECT_GE(state->calls, 8);  // batches of at most 7
  EXPECT_EQ(p.exported(), 50U);
}

/// The names of this process's threads, as `top -H` and gdb show them.
std::vector<std::string> thread_names() {
  std::vector<std::string> out;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(t.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out.push_back(name);
  }
  return out;
}

// Exported spans come back to the producers, which release one per span they queue, and fetch
// the memory of those they will release next (batch_processor.cpp): every span handed back
// is released by later calls, none twice, none early.
TEST(BatchSpanProcessor, ReleasesEachExportedSpanInALaterCallOnTheProducersThread) {
  auto state = std::make_shared<RecordingExporter::State>();
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state),
                       {.max_queue_size = 100, .max_export_batch_size = 50, .schedule_delay = 1h});
  std::vector<std::weak_ptr<const SpanData>> first;
  for (int i = 0; i < 40; ++i) {
    auto span = make_span("first" + std::to_string(i));
    first.push_back(span);
    p.on_end(std::move(span));
  }
  ASSERT_TRUE(p.force_flush(5s));
  // Exported and handed back, not yet released: no producer has come by since.
  EXPECT_EQ(std::count_if(first.begin(), first.end(), [](const auto& w) { return w.expired(); }),
            0);
  for (int i = 0; i < 39; ++i)
    p.on_end(make_span("second" + std::to_string(i)));
  EXPECT_EQ(std::count_if(first.begin(), first.end(), [](const auto& w) { return w.expired(); }),
            39);
  p.on_end(make_span("last"));
  EXPECT_TRUE(std::all_of(first.begin(), first.end(), [](const auto& w) { return w.expired(); }));
  ASSERT_TRUE(p.force_flush(5s));
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->names.size(), 80U);
  EXPECT_EQ(p.exported(), 80U);
}

TEST(BatchSpanProcessor, IgnoresANullSpan) {
  auto state = std::make_shared<RecordingExporter::State>();
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state), {.schedule_delay = 1h});
  p.on_end(nullptr);
  p.on_end(make_span("real"));
  ASSERT_TRUE(p.force_flush(5s));
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->names, std::vector<std::string>{"real"});
  EXPECT_EQ(p.exported(), 1U);
  EXPECT_EQ(p.dropped(), 0U);
}

TEST(BatchSpanProcessor, ItsExportThreadIsNamedSoTopAndGdbShowWhatItIs) {
  auto state = std::make_shared<RecordingExporter::State>();
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state));
  p.on_end(make_span("starts_the_thread"));
  ASSERT_TRUE(p.force_flush(5s));  // the thread has run, so it has named itself
  const auto names = thread_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "o11y-export"), names.end())
      << ::testing::PrintToString(names);
  p.shutdown();
}

TEST(BatchSpanProcessor, DropsAndCountsWhenTheQueueIsFullWithoutBlockingTheCaller) {
  auto state = std::make_shared<RecordingExporter::State>();
  state->blocked = true;
  const auto dropped_before =
      counter("o11y_spans_dropped_total", "", {"reason"}).value({{"reason", "queue_full"}});
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state),
                       {.max_queue_size = 10, .max_export_batch_size = 5, .schedule_delay = 1h});
  // The first full batch goes to the (blocked) exporter; then the queue fills.
  for (int i = 0; i < 5; ++i)
    p.on_end(make_span("first"));
  ASSERT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard lock(state->mu);
        return state->calls == 1;
      },
      5s));
  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i)
    p.on_end(make_span("more"));
  EXPECT_LT(Clock::now() - start, 1s);  // never waited for the exporter
  EXPECT_EQ(p.dropped(), 90U);
  EXPECT_EQ(counter("o11y_spans_dropped_total", "", {"reason"}).value({{"reason", "queue_full"}}),
            dropped_before + 90);
  {
    std::lock_guard lock(state->mu);
    state->blocked = false;
  }
  state->cv.notify_all();
  EXPECT_TRUE(p.force_flush(5s));
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->names.size(), 15U);
}

TEST(BatchSpanProcessor, ShutdownDeliversQueuedSpansThenIgnoresNewOnes) {
  auto state = std::make_shared<RecordingExporter::State>();
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state), {.schedule_delay = 1h});
  p.on_end(make_span("before"));
  p.shutdown();
  p.on_end(make_span("after"));
  p.shutdown();  // idempotent
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->names, std::vector<std::string>{"before"});
}

TEST(BatchSpanProcessor, ShutdownIsBoundedWhenTheExporterHangs) {
  auto state = std::make_shared<RecordingExporter::State>();
  state->blocked = true;
  BatchSpanProcessor p(std::make_unique<RecordingExporter>(state),
                       {.schedule_delay = 1h, .export_timeout = 300ms});
  p.on_end(make_span("stuck"));
  const auto start = Clock::now();
  p.shutdown();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(p.export_failures(), 1U);
}

// The last reference to a processor can be dropped on any thread (a thread refreshing its
// cached tracer state inside start_span(), say): destruction must not wait for the exporter.
TEST(BatchSpanProcessor, DestroyedWithoutShutdownItNeverWaitsAndStillDeliversWhatWasQueued) {
  auto state = std::make_shared<RecordingExporter::State>();
  state->blocked = true;
  auto p = std::make_unique<BatchSpanProcessor>(
      std::make_unique<RecordingExporter>(state),
      BatchOptions{.max_export_batch_size = 2, .schedule_delay = 1h, .export_timeout = 10s});
  p->on_end(make_span("a"));
  p->on_end(make_span("b"));  // a full batch: the exporter gets it and blocks
  ASSERT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard lock(state->mu);
        return state->calls == 1;
      },
      5s));
  p->on_end(make_span("c"));  // queued behind the blocked export
  const auto start = Clock::now();
  p.reset();
  EXPECT_LT(Clock::now() - start, 1s) << "the destructor waited for the exporter";
  {
    std::lock_guard lock(state->mu);
    state->blocked = false;
  }
  state->cv.notify_all();
  EXPECT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard lock(state->mu);
        return state->names.size() == 3;
      },
      5s));
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(BatchSpanProcessor, RejectsANullExporterOrZeroSizes) {
  EXPECT_THROW(BatchSpanProcessor(nullptr), std::invalid_argument);
  auto state = std::make_shared<RecordingExporter::State>();
  EXPECT_THROW(
      BatchSpanProcessor(std::make_unique<RecordingExporter>(state), {.max_queue_size = 0}),
      std::invalid_argument);
}

using testing::Collector;

TEST(OtlpHttpExporter, EachBatchIsSentAloneThoughTheBodyBufferIsReused) {
  Collector collector;
  auto exporter =
      make_otlp_http_exporter({.endpoint = collector.url(), .encoding = OtlpEncoding::Json});
  std::vector<std::shared_ptr<const SpanData>> big;
  for (int i = 0; i < 50; ++i)
    big.push_back(make_span("big_" + std::to_string(i)));
  const std::vector small{make_span("small")};
  ASSERT_EQ(exporter->export_spans(big, Clock::now() + 5s), ExportResult::Success);
  ASSERT_EQ(exporter->export_spans(small, Clock::now() + 5s), ExportResult::Success);
  const auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[0].body, otlp::encode_json(big));
  // The second, shorter body carries nothing of the first.
  EXPECT_EQ(reqs[1].body, otlp::encode_json(small));
}

TEST(OtlpHttpExporter, PostsJsonWithConfiguredHeadersAndGzip) {
  Collector collector;
  auto exporter = make_otlp_http_exporter({.endpoint = collector.url(),
                                           .headers = {{"x-tenant", "acme"}},
                                           .encoding = OtlpEncoding::Json,
                                           .gzip = true});
  const std::vector spans{make_span("a")};
  ASSERT_EQ(exporter->export_spans(spans, Clock::now() + 5s), ExportResult::Success);
  const auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(reqs[0].get_header_value("x-tenant"), "acme");
  // cpp-httplib (built with zlib) inflates a gzip request body before the handler sees it; the
  // Node receiver test checks the compressed bytes themselves.
  EXPECT_EQ(reqs[0].body, otlp::encode_json(spans));
}

// OTLP/protobuf unless told otherwise, as the OpenTelemetry SDKs default to http/protobuf.
TEST(OtlpHttpExporter, PostsProtobufByDefaultAsOpenTelemetrySdksDo) {
  EXPECT_EQ(OtlpOptions{}.encoding, OtlpEncoding::Protobuf);
  EXPECT_EQ(Config{}.tracing.otlp_encoding, OtlpEncoding::Protobuf);
  Collector collector;
  auto exporter = make_otlp_http_exporter({.endpoint = collector.url()});
  const std::vector spans{make_span("a")};
  ASSERT_EQ(exporter->export_spans(spans, Clock::now() + 5s), ExportResult::Success);
  const auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].get_header_value("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(reqs[0].body, otlp::encode_protobuf(spans));
}

TEST(OtlpHttpExporter, RetriesUnavailableThenSucceeds) {
  Collector collector;
  collector.answer({503, 429, 200});
  auto exporter = make_otlp_http_exporter(
      {.endpoint = collector.url(), .encoding = OtlpEncoding::Protobuf, .initial_backoff = 10ms});
  const std::vector spans{make_span("a")};
  EXPECT_EQ(exporter->export_spans(spans, Clock::now() + 5s), ExportResult::Success);
  const auto reqs = collector.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[2].get_header_value("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(reqs[2].body, otlp::encode_protobuf(spans));
}

TEST(OtlpHttpExporter, DoesNotRetryARejectedRequest) {
  Collector collector;
  collector.answer({400, 200});
  auto exporter = make_otlp_http_exporter({.endpoint = collector.url(), .initial_backoff = 10ms});
  const std::vector spans{make_span("a")};
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(exporter->export_spans(spans, Clock::now() + 5s), ExportResult::Failure);
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(collector.requests().size(), 1U);
  EXPECT_NE(err.find("answered 400"), std::string::npos) << err;
  EXPECT_EQ(err.find("bad\nthing"), std::string::npos) << "the body must stay on one line";
}

TEST(OtlpHttpExporter, GivesUpAtTheDeadlineWhenNothingListens) {
  const int port = testing::free_port();
  auto exporter = make_otlp_http_exporter(
      {.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces",
       .initial_backoff = 50ms});
  const std::vector spans{make_span("a")};
  ::testing::internal::CaptureStderr();
  const auto start = Clock::now();
  EXPECT_EQ(exporter->export_spans(spans, start + 500ms), ExportResult::Failure);
  ::testing::internal::GetCapturedStderr();
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(OtlpHttpExporter, ShutdownInterruptsARetryWait) {
  const int port = testing::free_port();
  auto exporter = make_otlp_http_exporter(
      {.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces",
       .initial_backoff = 10s,
       .max_backoff = 10s});
  const std::vector spans{make_span("a")};
  ::testing::internal::CaptureStderr();
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    exporter->shutdown();
  });
  const auto start = Clock::now();
  EXPECT_EQ(exporter->export_spans(spans, start + 60s), ExportResult::Failure);
  stopper.join();
  ::testing::internal::GetCapturedStderr();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(OtlpHttpExporter, RejectsAnEndpointThatIsNotAnHttpUrl) {
  EXPECT_THROW((void)make_otlp_http_exporter({.endpoint = "127.0.0.1:4318"}),
               std::invalid_argument);
}

TEST(ConsoleSpanExporter, WritesOneJsonLinePerSpan) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto exporter = make_console_span_exporter(fds[1]);
  const std::vector spans{make_span("one"), make_span("two")};
  ASSERT_EQ(exporter->export_spans(spans, Clock::now() + 1s), ExportResult::Success);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  std::istringstream lines(out);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    names.push_back(j["name"]);
    EXPECT_EQ(j["serviceName"], "checkout");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"one", "two"}));
}

}  // namespace
}  // namespace o11y
