#include <gtest/gtest.h>

#include <atomic>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

// Run under ThreadSanitizer: concurrent creation, recording, striping and scraping.
namespace o11y {
namespace {

TEST(MetricsThreads, ConcurrentRecordingLosesNothingWhileScraping) {
  auto c = counter("t_threads_total", "h", {"shard"});
  auto hot = c.labels({"hot"});
  auto h = histogram("t_threads_seconds", "h", {"shard"});
  auto g = gauge("t_threads_gauge", "h", {"shard"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load())
      (void)metrics::render(metrics::Format::OpenMetrics);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto span = start_span("recording");
      for (int i = 0; i < kPerThread; ++i) {
        hot.add();                                            // one contended series
        c.add(1, {{"shard", "s" + std::to_string(i % 50)}});  // creation races
        h.record(0.01 * (i % 100), {{"shard", std::to_string(t)}});
        g.add(1, {{"shard", "shared"}});
      }
    });
  }
  for (auto& th : threads)
    th.join();
  stop = true;
  scraper.join();
  EXPECT_DOUBLE_EQ(hot.value(), kThreads * kPerThread);
  double spread = 0;
  for (int i = 0; i < 50; ++i)
    spread += c.value({{"shard", "s" + std::to_string(i)}});
  EXPECT_DOUBLE_EQ(spread, kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(h.count({{"shard", std::to_string(t)}}), static_cast<std::uint64_t>(kPerThread));
  EXPECT_DOUBLE_EQ(g.value({{"shard", "shared"}}), kThreads * kPerThread);
}

}  // namespace
}  // namespace o11y
