// Everything at once from several threads for a bounded time: logging, metrics, spans, context
// hops to other threads, and the batch processor exporting meanwhile. Run under TSan by the
// test command; the counts check that nothing was lost on the way.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <o11y/o11y.hpp>
#include <thread>

namespace o11y {
namespace {

using namespace std::chrono_literals;

class CountingExporter final : public SpanExporter {
 public:
  explicit CountingExporter(std::atomic<std::uint64_t>& n) : n_(n) {}
  ExportResult export_spans(SpanBatch spans,
                            std::chrono::steady_clock::time_point /*deadline*/) noexcept override {
    n_ += spans.size();
    return ExportResult::Success;
  }

 private:
  std::atomic<std::uint64_t>& n_;
};

TEST(MixedThreads, LogsMetricsSpansAndContextHopsTogetherLoseNothing) {
  set_sample_rate(1.0);
  std::atomic<std::uint64_t> exported{0};
  auto processor = std::make_shared<BatchSpanProcessor>(
      std::make_unique<CountingExporter>(exported),
      BatchOptions{.max_queue_size = 1 << 16, .schedule_delay = 5ms});
  add_span_processor(processor);
  logging::LogCapture capture;
  const auto requests = counter("mixed_requests_total", "Requests.", {"worker"});
  const auto latency = histogram("mixed_latency_seconds", "Latency.", {"worker"});
  const auto in_flight = gauge("mixed_in_flight", "In flight.");

  constexpr int kThreads = 4;
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  std::atomic<std::uint64_t> spans_started{0};
  std::atomic<std::uint64_t> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t);
      auto log = get_logger("mixed");
      while (std::chrono::steady_clock::now() < until) {
        Scope request;
        auto server = start_span("request", {.kind = SpanKind::Server});
        set_custom_tags({{"worker", worker}});
        in_flight.add(1);
        {
          auto timer = latency.time({{"worker", worker}});
          log.info("working", {{"n", done.load()}});
        }
        // Hop: the same context on another thread, with a child span there.
        auto ctx = Context::current();
        std::async(std::launch::async, [ctx, &log] {
          auto attached = ctx.attach();
          auto child = start_span("background");
          log.debug("in_background");
        }).get();
        requests.add(1, {{"worker", worker}});
        in_flight.add(-1);
        spans_started += 2;
        ++done;
      }
    });
  }
  std::thread flusher([&] {
    while (std::chrono::steady_clock::now() < until)
      (void)force_flush_spans(100ms);
  });
  for (auto& th : threads)
    th.join();
  flusher.join();
  ASSERT_TRUE(processor->force_flush(10s));
  remove_span_processor(processor);
  processor->shutdown();

  double total = 0;
  for (int t = 0; t < kThreads; ++t)
    total += requests.value({{"worker", "w" + std::to_string(t)}});
  EXPECT_EQ(total, static_cast<double>(done.load()));
  EXPECT_EQ(in_flight.value(), 0.0);
  EXPECT_EQ(exported.load(), spans_started.load());
  EXPECT_EQ(processor->dropped(), 0U);
  EXPECT_EQ(capture.lines_with_event("working").size(), done.load());
  EXPECT_GT(done.load(), 100U);
}

}  // namespace
}  // namespace o11y
