#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
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

TEST(MetricsThreads, AReaderOfEveryTableNeverSeesAnObservationTwiceWhileCountsMove) {
  // Native buckets over storage of their own, as in a multiprocess file: a reader that sums
  // every table and the zero cell, as a scrape in another process does, retrying while the
  // sequence is odd or moved, sees a total that never goes back and never passes what was
  // recorded, while recorders force rebuilds that move counts from table to table.
  std::atomic<std::uint64_t> zero{0};
  std::atomic<std::uint64_t> seq{0};
  std::mutex mu;
  std::vector<std::unique_ptr<std::uint64_t[]>> arena;      // NOLINT(*-avoid-c-arrays)
  std::vector<std::pair<const char*, std::size_t>> tables;  // memory, capacity
  detail::NativeStorage storage;
  storage.zero = &zero;
  storage.seq = &seq;
  storage.table = [&](int /*schema*/, std::size_t bytes) -> void* {
    std::lock_guard lock(mu);
    arena.push_back(std::make_unique<std::uint64_t[]>(bytes / 8));  // NOLINT(*-avoid-c-arrays)
    tables.emplace_back(reinterpret_cast<const char*>(arena.back().get()), bytes / 12);
    return arena.back().get();
  };
  detail::NativeBuckets b(8, 6, 0, std::move(storage));
  constexpr int kThreads = 3;
  constexpr int kPerThread = 3000;
  constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kPerThread;
  std::atomic<bool> done{false};
  std::uint64_t reads = 0;
  std::thread reader([&] {
    std::uint64_t previous = 0;
    for (;;) {
      const bool last = done.load();  // one whole read after the recorders stop, at least
      const std::uint64_t before = seq.load(std::memory_order_acquire);
      if (before % 2 != 0)
        continue;
      std::vector<std::pair<const char*, std::size_t>> seen;
      {
        std::lock_guard lock(mu);
        seen = tables;
      }
      std::uint64_t total = zero.load(std::memory_order_relaxed);
      for (const auto& [memory, capacity] : seen) {
        // NOLINTNEXTLINE(*-reinterpret-cast): the layout of detail::native_table_bytes()
        const auto* counts = reinterpret_cast<const std::atomic<std::uint64_t>*>(
            memory + detail::native_counts_offset(capacity));
        for (std::size_t i = 0; i < capacity; ++i)
          total += counts[i].load(std::memory_order_relaxed);
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq.load(std::memory_order_relaxed) != before)
        continue;
      EXPECT_GE(total, previous) << "an observation was missed while it moved";
      EXPECT_LE(total, kTotal) << "an observation was counted twice";
      previous = total;
      ++reads;
      if (last) {
        EXPECT_EQ(total, kTotal) << "the recorders are done: every observation is there";
        return;
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&b, t] {
      for (int i = 0; i < kPerThread; ++i)
        b.record(i % 97 == 0
                     ? 0.0
                     : std::exp2(static_cast<double>((i * 11 + t * 5) % 400) / 10.0 - 20.0));
    });
  }
  for (auto& t : threads)
    t.join();
  done = true;
  reader.join();
  EXPECT_GT(reads, 0U);
  EXPECT_EQ(b.snapshot().count(), kTotal);
  EXPECT_GT(tables.size(), 2U) << "the recorders were meant to force rebuilds";
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
