// The span pipeline against a collector that is down, then up, then failing, then answering
// garbage: callers never wait, memory stays bounded by the queue, drops are counted, and
// export recovers as soon as the collector does.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <o11y/export.hpp>
#include <thread>

#include "support/process.hpp"
#include "support/serving.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::shared_ptr<const SpanData> span(int i) {
  auto s = std::make_shared<SpanData>();
  s->context.trace_id = TraceId::generate();
  s->context.span_id = SpanId::generate();
  s->context.flags = kTraceFlagSampled;
  s->name = "op-" + std::to_string(i);
  s->attributes = {{"i", Value(i)}, {"payload", Value(std::string(200, 'x'))}};
  return s;
}

/// A collector whose answer the test changes while it runs.
class Collector {
 public:
  explicit Collector(int port) {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      spans_ += count(req.body, "\"spanId\"");
      res.status = status_.load();
      res.set_content(res.status == 200 ? garbage_.load() ? "\x01\x02not json" : "{}" : "{}",
                      "application/json");
    });
    serving_ = std::make_unique<testing::Serving>(server_, port);
  }

  [[nodiscard]] bool listening() const { return serving_->listening(); }
  std::atomic<int> status_{200};
  std::atomic<bool> garbage_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> spans_{0};

 private:
  static int count(const std::string& s, const std::string& what) {
    int n = 0;
    for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
      ++n;
    return n;
  }
  httplib::Server server_;
  std::unique_ptr<testing::Serving> serving_;
};

TEST(ExportFaults, CallersNeverWaitDropsAreCountedAndExportRecovers) {
  const int port = testing::free_port();
  BatchSpanProcessor p(make_otlp_http_exporter(
                           {.endpoint = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces",
                            .encoding = OtlpEncoding::Json,  // the stand-in counts JSON spans
                            .timeout = 300ms,
                            .max_retries = 2,
                            .initial_backoff = 20ms}),
                       {.max_queue_size = 256,
                        .max_export_batch_size = 64,
                        .schedule_delay = 50ms,
                        .export_timeout = 500ms});
  ::testing::internal::CaptureStderr();

  // Down: nothing listens on the port.
  auto worst = Clock::duration::zero();
  for (int i = 0; i < 3000; ++i) {
    const auto start = Clock::now();
    p.on_end(span(i));
    worst = std::max(worst, Clock::now() - start);
  }
  EXPECT_LT(worst, 20ms) << "a caller waited on the network";
  EXPECT_GT(p.dropped(), 2000U) << "the queue is bounded: most of 3,000 spans cannot fit";
  std::this_thread::sleep_for(1s);  // let the exporter give up on what it holds

  // Up again: new spans go through.
  Collector collector(port);
  ASSERT_TRUE(collector.listening());
  const auto exported_before = p.exported();
  for (int i = 0; i < 100; ++i)
    p.on_end(span(i));
  EXPECT_TRUE(p.force_flush(5s));
  EXPECT_GE(p.exported() - exported_before, 100U);
  EXPECT_GE(collector.spans_.load(), 100);

  // Failing with 500: counted as failed exports, not retried forever.
  collector.status_ = 500;
  const auto failures_before = p.export_failures();
  const auto requests_before = collector.requests_.load();
  for (int i = 0; i < 10; ++i)
    p.on_end(span(i));
  EXPECT_FALSE(p.force_flush(5s));
  EXPECT_EQ(p.export_failures() - failures_before, 10U);
  EXPECT_EQ(collector.requests_.load() - requests_before, 1) << "a 500 is not retried";

  // 200 with a body that is not OTLP: the spans were accepted, which is all 200 means.
  collector.status_ = 200;
  collector.garbage_ = true;
  const auto exported_mid = p.exported();
  for (int i = 0; i < 10; ++i)
    p.on_end(span(i));
  EXPECT_TRUE(p.force_flush(5s));
  EXPECT_EQ(p.exported() - exported_mid, 10U);
  p.shutdown();
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("answered 500"), std::string::npos) << err;
  std::printf("[ figures  ] collector down: 3000 spans, %llu dropped, worst caller %.3f ms\n",
              static_cast<unsigned long long>(p.dropped()),
              std::chrono::duration<double, std::milli>(worst).count());
}

}  // namespace
}  // namespace o11y
