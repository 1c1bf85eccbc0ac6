#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "metrics/native_histogram.hpp"

// Run under ThreadSanitizer: concurrent creation, recording, striping and scraping.
namespace o11y {
namespace {

using BucketList = std::vector<std::pair<int, std::uint64_t>>;

TEST(MetricsThreads, NativeBucketsKeepEveryObservationThroughConcurrentSchemaReductions) {
  // A small bucket limit and values spread over 2^-30..2^30: the recorders force rebuilds
  // and schema reductions on each other while a reader takes snapshots.
  detail::NativeBuckets b(8, 24, 0);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  const auto value = [](int t, int i) {
    return std::exp2(static_cast<double>((i * 7 + t * 13) % 600) / 10.0 - 30.0);
  };
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      const auto s = b.snapshot();
      EXPECT_LE(s.count(), std::uint64_t{kThreads} * kPerThread);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i)
        b.record(value(t, i));
    });
  }
  for (auto& t : threads)
    t.join();
  done = true;
  reader.join();
  const auto s = b.snapshot();
  EXPECT_EQ(b.dropped(), 0U);
  EXPECT_EQ(s.count(), std::uint64_t{kThreads} * kPerThread);
  EXPECT_LE(s.positive.size(), 24U);
  std::map<int, std::uint64_t> expected;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i)
      ++expected[detail::native_bucket_index(value(t, i), s.schema)];
  }
  EXPECT_EQ(BucketList(expected.begin(), expected.end()), s.positive);
}

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
