// Native histograms in multiprocess mode: every worker's sparse buckets live in its file, and a
// scrape (protobuf exposition, OTLP) sums them at the lowest schema any worker reached, through
// compaction and while workers are still lowering theirs. Part of o11y_multiprocess_tests,
// whose main() points O11Y_MULTIPROC_DIR at a fresh directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <o11y/metrics.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "metrics/mp_format.hpp"
#include "metrics/native_histogram.hpp"
#include "support/process.hpp"
#include "support/prometheus.hpp"
#include "support/protobuf.hpp"
#include "support/text.hpp"

namespace fs = std::filesystem;

namespace o11y {
namespace {

std::string multiproc_dir() {
  const char* d = std::getenv("O11Y_MULTIPROC_DIR");
  return d != nullptr ? d : "";
}

/// What a native histogram says, as Prometheus reads it from the protobuf exposition.
struct NativeView {
  std::int64_t schema = 0;
  std::uint64_t count = 0;
  std::uint64_t zero = 0;
  std::map<int, std::int64_t> positive;
  std::map<int, std::int64_t> negative;
  bool operator==(const NativeView&) const = default;
};

std::ostream& operator<<(std::ostream& out, const NativeView& v) {
  out << "schema " << v.schema << ", count " << v.count << ", zero " << v.zero << ", positive {";
  for (const auto& [i, n] : v.positive)
    out << i << ":" << n << " ";
  out << "}, negative {";
  for (const auto& [i, n] : v.negative)
    out << i << ":" << n << " ";
  return out << "}";
}

/// Each series' histogram fields of the family `name` in a protobuf exposition (views into body).
std::vector<std::vector<testing::PbField>> histograms(const std::string& body,
                                                      std::string_view name) {
  std::vector<std::vector<testing::PbField>> out;
  for (const auto frame : testing::pb_delimited(body)) {
    const auto family = testing::pb_fields(frame);
    if (testing::pb_one(family, 1).bytes != name)
      continue;
    for (const auto& metric : testing::pb_all(family, 4))
      out.push_back(testing::pb_fields(testing::pb_one(testing::pb_fields(metric.bytes), 7).bytes));
  }
  return out;
}

NativeView view_of(const std::vector<testing::PbField>& h) {
  NativeView v;
  v.schema = testing::pb_zigzag(testing::pb_value(h, 5));
  v.count = testing::pb_value(h, 1);
  v.zero = testing::pb_value(h, 7);
  v.positive = testing::pb_native_buckets(h, 12, 13);
  v.negative = testing::pb_native_buckets(h, 9, 10);
  return v;
}

/// What one process recording every value would hold: the reference the aggregate must equal.
NativeView expected_of(const std::vector<double>& values, int schema, std::size_t max_buckets) {
  detail::NativeBuckets b(schema, max_buckets, 2.938735877055719e-39);
  for (const double x : values)
    b.record(x);
  const auto s = b.snapshot();
  NativeView v;
  v.schema = s.schema;
  v.count = s.count();
  v.zero = s.zero_count;
  for (const auto& [i, n] : s.positive)
    v.positive[i] = static_cast<std::int64_t>(n);
  for (const auto& [i, n] : s.negative)
    v.negative[i] = static_cast<std::int64_t>(n);
  return v;
}

TEST(MultiprocessNative, EveryWorkersBucketsAddUpAtTheLowestSchemaAndCompactionKeepsThem) {
  (void)metrics::compact();  // earlier tests' exited workers
  // At most 8 buckets: the worker recording 2^-10..2^10 lowers its schema, the others keep 3.
  auto h = histogram("mpn_latency_seconds", "Latency.", {"route"}, Buckets::exponential(3, 8));
  const std::vector<double> parent{0.1, 0.1, 0.0, -0.5};
  const std::vector<double> narrow{1.0, 1.5, 2.0};
  std::vector<double> wide;
  for (int k = -10; k <= 10; ++k)
    wide.push_back(std::exp2(k));
  for (const double v : parent)
    h.record(v, {{"route", "/"}});
  testing::in_child([&] {
    for (const double v : narrow)
      h.record(v, {{"route", "/"}});
  });
  testing::in_child([&] {
    for (const double v : wide)
      h.record(v, {{"route", "/"}});
  });
  std::vector<double> all = parent;
  all.insert(all.end(), narrow.begin(), narrow.end());
  all.insert(all.end(), wide.begin(), wide.end());
  const NativeView expected = expected_of(all, 3, 8);
  ASSERT_LT(expected.schema, 3) << "the wide worker was meant to lower its schema";

  const std::string body = metrics::render(metrics::Format::Protobuf);
  const auto series = histograms(body, "mpn_latency_seconds");
  ASSERT_EQ(series.size(), 1U);
  EXPECT_EQ(view_of(series[0]), expected);
  double sum = 0;
  for (const double v : all)
    sum += v;
  EXPECT_NEAR(testing::pb_one(series[0], 2).as_double(), sum, 1e-9);
  const std::string text = metrics::render();
  EXPECT_EQ(testing::sample(text, "mpn_latency_seconds_count{route=\"/\"}"),
            static_cast<double>(all.size()))
      << text;

  // The two exited workers fold into the archive: the same histogram, read from it.
  EXPECT_GE(metrics::compact(), 2U);
  const std::string compacted = metrics::render(metrics::Format::Protobuf);
  ASSERT_EQ(histograms(compacted, "mpn_latency_seconds").size(), 1U);
  EXPECT_EQ(view_of(histograms(compacted, "mpn_latency_seconds")[0]), expected);

  // A worker after the compaction adds to the archive's buckets.
  testing::in_child([&] { h.record(1000.0, {{"route", "/"}}); });
  all.push_back(1000.0);
  const std::string later = metrics::render(metrics::Format::Protobuf);
  ASSERT_EQ(histograms(later, "mpn_latency_seconds").size(), 1U);
  EXPECT_EQ(view_of(histograms(later, "mpn_latency_seconds")[0]), expected_of(all, 3, 8));
}

TEST(MultiprocessNative,
     PrometheusScrapesTheWorkersNativeHistogramAndItsQuantileIsWithinTheSchemaError) {
  auto h = histogram("mpn_peer_seconds", "Latency.", {"method"}, Buckets::exponential());
  // 1000 values spread evenly in log space between 1 ms and 1 s, recorded by four workers in
  // turn: the median is 10^-1.5 s.
  const auto value = [](int i) { return std::pow(10.0, -3.0 + 3.0 * (i + 0.5) / 1000.0); };
  for (int w = 0; w < 4; ++w) {
    testing::in_child([&] {
      for (int i = w; i < 1000; i += 4)
        h.record(value(i), {{"method", "card"}});
    });
  }
  auto endpoint = metrics::serve("127.0.0.1:0");
  testing::TempDir dir;
  testing::PrometheusServer prometheus(dir, endpoint.port(),
                                       {"--enable-feature=native-histograms"});
  ASSERT_TRUE(prometheus.started());
  const std::string series = "mpn_peer_seconds{method=\"card\"}";
  ASSERT_TRUE(testing::wait_until(
      [&] { return prometheus.scalar("histogram_count(" + series + ")") == 1000.0; },
      std::chrono::seconds(40)))
      << "Prometheus never saw the native histogram: " << prometheus.query("up").dump();
  for (const auto& [q, exact] :
       {std::pair{0.5, std::pow(10.0, -1.5)}, std::pair{0.9, std::pow(10.0, -0.3)},
        std::pair{0.1, std::pow(10.0, -2.7)}}) {
    const double got =
        prometheus.scalar("histogram_quantile(" + std::to_string(q) + ", " + series + ")");
    EXPECT_NEAR(got, exact, exact * 0.095) << "quantile " << q;  // schema 3: buckets of 9%
  }
}

TEST(MultiprocessNative, ANativeHistogramWithClassicBucketsAddsUpBoth) {
  auto h =
      histogram("mpn_both_seconds", "Both.", {}, Buckets::exponential().with_classic({0.1, 1.0}));
  h.record(2.0);
  testing::in_child([&] {
    h.record(0.05);
    h.record(0.5);
  });
  const std::string text = metrics::render();
  EXPECT_EQ(testing::sample(text, "mpn_both_seconds_bucket{le=\"0.1\"}"), 1.0) << text;
  EXPECT_EQ(testing::sample(text, "mpn_both_seconds_bucket{le=\"1.0\"}"), 2.0);
  EXPECT_EQ(testing::sample(text, "mpn_both_seconds_bucket{le=\"+Inf\"}"), 3.0);
  const std::string body = metrics::render(metrics::Format::Protobuf);
  const auto found = histograms(body, "mpn_both_seconds");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(view_of(found[0]), expected_of({2.0, 0.05, 0.5}, 3, 160));
  EXPECT_EQ(testing::pb_all(found[0], 3).size(), 3U) << "the classic buckets beside the native";
}

std::uint64_t total_count(const std::string& body, std::string_view name) {
  std::uint64_t n = 0;
  for (const auto& h : histograms(body, name))
    n += testing::pb_value(h, 1);
  return n;
}

TEST(MultiprocessNative, AScrapeWhileAWorkerLowersItsSchemasNeverCountsAnObservationTwice) {
  // Each of the worker's series lowers its schema about seven times, moving its counts from
  // one table to the next each time, while this process scrapes as fast as it can: every
  // scrape's total lies between the previous one's and what was recorded.
  auto h = histogram("mpn_moving_seconds", "Moving.", {"shard"}, Buckets::exponential(3, 4));
  constexpr int kSeries = 400;
  constexpr int kPerSeries = 41;
  constexpr std::uint64_t kTotal = std::uint64_t{kSeries} * kPerSeries;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c = 0;
    (void)::read(go[0], &c, 1);
    for (int s = 0; s < kSeries; ++s) {
      const std::string shard = std::to_string(s);
      for (int k = -20; k <= 20; ++k)
        h.record(std::exp2(k) * (1.0 + (s % 7) / 10.0), {{"shard", shard}});
    }
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  std::atomic<bool> stop{false};
  std::uint64_t previous = 0;
  int scrapes = 0;
  std::thread scraper([&] {
    while (!stop.load()) {
      const std::uint64_t now =
          total_count(metrics::render(metrics::Format::Protobuf), "mpn_moving_seconds");
      EXPECT_GE(now, previous) << "a scrape counted fewer observations than the one before";
      EXPECT_LE(now, kTotal) << "a scrape counted an observation twice";
      previous = now;
      ++scrapes;
    }
  });
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  stop = true;
  scraper.join();
  ::close(go[0]);
  ::close(go[1]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(total_count(metrics::render(metrics::Format::Protobuf), "mpn_moving_seconds"), kTotal);
  std::printf("[ figures  ] %d scrapes while the worker recorded\n", scrapes);
}

// The offsets of the records of `kind` in a file of ours, in file order.
std::vector<std::size_t> find_records(std::string_view bytes, detail::mp::RecordKind kind) {
  std::vector<std::size_t> out;
  std::size_t at = detail::mp::kHeaderBytes;
  while (at + 8 <= bytes.size()) {
    std::uint32_t k = 0;
    std::uint32_t n = 0;
    std::memcpy(&k, bytes.data() + at, 4);
    std::memcpy(&n, bytes.data() + at + 4, 4);
    if (n == 0)
      break;  // past the records: a file grows with zeros
    if (k == static_cast<std::uint32_t>(kind))
      out.push_back(at);
    at += n;
  }
  return out;
}

fs::path own_file() {
  return fs::path(multiproc_dir()) /
         (std::to_string(::getpid()) + "-" +
          std::to_string(detail::mp::process_start_ticks(::getpid())) + ".o11ymp");
}

TEST(MultiprocessNative, AScrapeWaitsOutAWriterMovingCountsFromOneTableToTheNext) {
  auto h = histogram("mpn_seq_seconds", "Seq.", {}, Buckets::exponential(3));
  for (int i = 0; i < 5; ++i)
    h.record(1.0);
  // This process's file, mapped as a scrape maps it but writable: the test plays a writer in
  // the middle of a rebuild, its count taken out of the old table and not yet in the new one.
  const int fd = ::open(own_file().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  char* base = static_cast<char*>(map);
  const std::string_view bytes(base, size);
  const auto tables = find_records(bytes, detail::mp::RecordKind::NativeTable);
  const auto series = find_records(bytes, detail::mp::RecordKind::Series);
  ASSERT_FALSE(tables.empty());
  std::uint32_t ordinal = 0;
  std::uint32_t capacity = 0;
  std::memcpy(&ordinal, base + tables.back() + 8, 4);
  std::memcpy(&capacity, base + tables.back() + 16, 4);
  ASSERT_LT(ordinal, series.size());
  std::uint32_t series_bytes = 0;
  std::memcpy(&series_bytes, base + series[ordinal] + 4, 4);
  // The sequence is the series' last cell; the count sits in the slot whose key is set.
  auto* seq =
      reinterpret_cast<std::atomic<std::uint64_t>*>(base + series[ordinal] + series_bytes - 8);
  const char* table = base + tables.back() + detail::mp::kNativeTableHeaderBytes;
  std::atomic<std::uint64_t>* count = nullptr;
  for (std::uint32_t i = 0; i < capacity; ++i) {
    std::uint32_t key = 0;
    std::memcpy(&key, table + 4 * i, 4);
    if (key != 0)
      count = reinterpret_cast<std::atomic<std::uint64_t>*>(
          base + tables.back() + detail::mp::kNativeTableHeaderBytes +
          detail::native_counts_offset(capacity) + 8 * i);
  }
  ASSERT_NE(count, nullptr);
  ASSERT_EQ(count->load(), 5U);
  ASSERT_EQ(seq->load() % 2, 0U);

  seq->fetch_add(1);  // odd: counts are moving
  count->store(0);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    count->store(5);
    seq->fetch_add(1, std::memory_order_release);
  });
  const std::string body = metrics::render(metrics::Format::Protobuf);
  writer.join();
  const auto found = histograms(body, "mpn_seq_seconds");
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(view_of(found[0]).count, 5U) << "the scrape read the tables in the middle of a move";
  ::munmap(map, size);
  ::close(fd);
}

TEST(MultiprocessNative, AFileWithABadTableOrParametersIsSkippedCountedAndNamed) {
  auto h = histogram("mpn_damaged_seconds", "Damaged.", {}, Buckets::exponential());
  h.record(0.25);
  std::string bytes;
  {
    std::ifstream in(own_file(), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto tables = find_records(bytes, detail::mp::RecordKind::NativeTable);
  const auto families = find_records(bytes, detail::mp::RecordKind::NativeFamily);
  ASSERT_FALSE(tables.empty());
  ASSERT_FALSE(families.empty());
  const std::size_t table = tables.back();
  const std::size_t params = families.back();
  struct Damage {
    const char* name;
    std::size_t at;
    std::uint32_t value;
    const char* why;
  };
  const Damage damages[] = {
      {"1-0.o11ymp", table + 16, 33, "corrupt native table record"},             // capacity not 2^k
      {"2-0.o11ymp", table + 12, 9, "corrupt native table record"},              // schema above 8
      {"3-0.o11ymp", params + 12, 0xFFFFFFFBU, "corrupt native family record"},  // schema -5
      {"4-0.o11ymp", params + 16, 0, "corrupt native family record"},  // no buckets allowed
  };
  const double skipped_before =
      testing::sample(metrics::render(), "o11y_multiproc_files_skipped_total");
  for (const auto& d : damages) {
    std::string damaged = bytes;
    std::memcpy(damaged.data() + d.at, &d.value, 4);
    std::ofstream(fs::path(multiproc_dir()) / d.name, std::ios::binary) << damaged;
  }
  ::testing::internal::CaptureStderr();
  const std::string text = metrics::render();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(testing::sample(text, "o11y_multiproc_files_skipped_total") - skipped_before, 4.0);
  EXPECT_EQ(testing::sample(text, "mpn_damaged_seconds_count"), 1.0)
      << "the healthy file still counts\n"
      << text;
  for (const auto& d : damages) {
    EXPECT_NE(err.find(std::string(d.name) + ": " + d.why), std::string::npos) << d.name << "\n"
                                                                               << err;
    fs::remove(fs::path(multiproc_dir()) / d.name);
  }
}

}  // namespace
}  // namespace o11y
