// Native histograms: the bucket index, schema reduction, the declaration's checks, the
// protobuf exposition's framing and content negotiation.
#include "metrics/native_histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/protobuf.hpp"

namespace o11y {
namespace {

using BucketList = std::vector<std::pair<int, std::uint64_t>>;

using detail::native_bucket_index;
using detail::NativeBuckets;

// The bucket's bounds computed in long double: (base^(i-1), base^i].
long double upper_bound(int index, int schema) {
  return std::exp2(static_cast<long double>(index) * std::exp2(static_cast<long double>(-schema)));
}

TEST(NativeBuckets, EveryValueLandsInTheBucketWhoseBoundsHoldItAtEverySchema) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> log2v(-60.0, 60.0);
  for (int schema = detail::kMinSchema; schema <= detail::kMaxSchema; ++schema) {
    for (int n = 0; n < 20000; ++n) {
      const double v = std::exp2(log2v(rng));
      const int i = native_bucket_index(v, schema);
      const long double hi = upper_bound(i, schema);
      const long double lo = upper_bound(i - 1, schema);
      // Values within rounding of a boundary may go either way.
      const long double slack = hi * 1e-14L;
      EXPECT_LE(static_cast<long double>(v), hi + slack) << "v=" << v << " schema=" << schema;
      EXPECT_GT(static_cast<long double>(v), lo - slack) << "v=" << v << " schema=" << schema;
    }
  }
}

TEST(NativeBuckets, APowerOfTwoIsTheUpperBoundOfItsBucket) {
  EXPECT_EQ(native_bucket_index(1.0, 3), 0);
  EXPECT_EQ(native_bucket_index(2.0, 3), 8);
  EXPECT_EQ(native_bucket_index(0.5, 3), -8);
  EXPECT_EQ(native_bucket_index(1.0, 0), 0);
  EXPECT_EQ(native_bucket_index(3.0, 0), 2);
  EXPECT_EQ(native_bucket_index(4.0, -1), 1);
  EXPECT_EQ(native_bucket_index(5.0, -1), 2);
  EXPECT_EQ(native_bucket_index(1.0, 8), 0);
  EXPECT_EQ(native_bucket_index(std::nextafter(1.0, 2.0), 8), 1);
}

TEST(NativeBuckets, NegativeValuesZeroAndNaNGoWhereTheyBelong) {
  NativeBuckets b(3, 160, 1e-9);
  b.record(-1.5);
  b.record(0.0);
  b.record(1e-12);
  b.record(std::nan(""));
  b.record(2.0);
  const auto s = b.snapshot();
  EXPECT_EQ(s.zero_count, 2U);
  ASSERT_EQ(s.negative.size(), 1U);
  EXPECT_EQ(s.negative[0].first, native_bucket_index(1.5, 3));
  ASSERT_EQ(s.positive.size(), 1U);
  EXPECT_EQ(s.positive[0], (std::pair<int, std::uint64_t>{8, 1}));
  EXPECT_EQ(s.count(), 4U) << "NaN counts in no bucket";
}

TEST(NativeBuckets, TooManyBucketsLowerTheSchemaAndKeepEveryObservation) {
  NativeBuckets b(8, 20, 0);
  std::vector<double> values;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> log2v(-20.0, 20.0);
  for (int n = 0; n < 5000; ++n) {
    values.push_back(std::exp2(log2v(rng)) * (n % 5 == 0 ? -1 : 1));
    b.record(values.back());
  }
  const auto s = b.snapshot();
  EXPECT_LT(s.schema, 8);
  EXPECT_LE(s.positive.size() + s.negative.size(), 20U);
  EXPECT_EQ(s.count(), values.size());
  // The same values indexed directly at the final schema: the very same buckets.
  std::map<int, std::uint64_t> pos;
  std::map<int, std::uint64_t> neg;
  for (const double v : values)
    ++(v < 0 ? neg : pos)[native_bucket_index(std::fabs(v), s.schema)];
  EXPECT_EQ(BucketList(pos.begin(), pos.end()), s.positive);
  EXPECT_EQ(BucketList(neg.begin(), neg.end()), s.negative);
}

TEST(NativeBuckets, ManyBucketsUnderTheLimitKeepTheSchema) {
  NativeBuckets b(3, 1000, 0);
  for (int i = 0; i < 300; ++i)
    b.record(std::exp2(i / 8.0));  // one per bucket: 300 buckets, the table grows
  const auto s = b.snapshot();
  EXPECT_EQ(s.schema, 3);
  EXPECT_EQ(s.positive.size(), 300U);
  EXPECT_EQ(s.count(), 300U);
}

TEST(HistogramFamily, RejectsANativeSchemaOutsideTheRangeNamingTheMetric) {
  metrics::Registry r;
  try {
    (void)r.histogram("nh_bad_schema_seconds", "h", {}, Buckets::exponential(9));
    FAIL() << "schema 9 was accepted";
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find("nh_bad_schema_seconds"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("-4..8"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)r.histogram("nh_no_buckets", "h", {}, Buckets::exponential(3, 0)),
               MetricError);
  EXPECT_THROW((void)r.histogram("nh_bad_zero", "h", {}, Buckets::exponential(3, 160, -1)),
               MetricError);
}

TEST(HistogramFamily, ANativeHistogramIsAnotherShapeThanAClassicOne) {
  metrics::Registry r;
  (void)r.histogram("nh_shape_seconds", "h", {}, Buckets::exponential());
  EXPECT_NO_THROW((void)r.histogram("nh_shape_seconds", "h", {}, Buckets::exponential()));
  EXPECT_THROW((void)r.histogram("nh_shape_seconds", "h"), MetricError);
  EXPECT_THROW((void)r.histogram("nh_shape_seconds", "h", {}, Buckets::exponential(2)),
               MetricError);
}

TEST(HistogramFamily, ANativeHistogramShowsItsCountAndSumInTheTextFormat) {
  metrics::Registry r;
  auto h = r.histogram("nh_text_seconds", "Latency.", {"method"}, Buckets::exponential());
  h.record(0.25, {{"method", "card"}});
  h.record(0.75, {{"method", "card"}});
  EXPECT_EQ(h.count({{"method", "card"}}), 2U);
  const auto text = r.render();
  EXPECT_NE(text.find("nh_text_seconds_bucket{method=\"card\",le=\"+Inf\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("nh_text_seconds_count{method=\"card\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("nh_text_seconds_sum{method=\"card\"} 1"), std::string::npos) << text;
}

TEST(HistogramFamily, ANativeHistogramWithClassicBucketsShowsThemInTheTextFormat) {
  metrics::Registry r;
  auto h =
      r.histogram("nh_both_seconds", "Latency.", {}, Buckets::exponential().with_classic({0.5, 1}));
  h.record(0.25);
  h.record(0.75);
  const auto text = r.render();
  EXPECT_NE(text.find("nh_both_seconds_bucket{le=\"0.5\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("nh_both_seconds_bucket{le=\"1.0\"} 2"), std::string::npos) << text;
  EXPECT_THROW(
      (void)r.histogram("nh_both_bad", "h", {}, Buckets::exponential().with_classic({1, 0.5})),
      MetricError)
      << "classic bounds are checked as for any histogram";
}

TEST(ProtobufExposition, IsOneLengthDelimitedFamilyAfterAnotherNamedAsInTheTextFormat) {
  metrics::Registry r;
  auto c = r.counter("pb_orders_total", "Orders.", {"status"});
  c.add(3, {{"status", "ok"}});
  auto h = r.histogram("pb_latency_seconds", "Latency.", {}, Buckets::exponential());
  h.record(0.1);
  (void)r.gauge("pb_unused", "Never set.");
  const std::string body = r.render(metrics::Format::Protobuf);
  std::vector<std::string> names;
  for (const auto frame : testing::pb_delimited(body))  // throws if a frame runs past the end
    names.emplace_back(testing::pb_one(testing::pb_fields(frame), 1).bytes);
  EXPECT_EQ(names, (std::vector<std::string>{"pb_orders_total", "pb_latency_seconds"}))
      << "families without series are left out";
}

TEST(ProtobufExposition, ANativeHistogramCarriesItsSchemaZeroBucketBucketsAndExemplar) {
  set_sample_rate(1.0);
  metrics::Registry r;
  auto h = r.histogram("pb_native_seconds", "Latency.", {"route"}, Buckets::exponential(3));
  for (const double v : {0.0, 1.0, 1.5, -1.0, 2.0})
    h.record(v, {{"route", "/a"}});
  std::string trace;
  {
    auto span = start_span("work");
    trace = span.trace_id();
    h.record(2.0, {{"route", "/a"}});
  }
  const std::string body = r.render(metrics::Format::Protobuf);
  const auto frames = testing::pb_delimited(body);
  ASSERT_EQ(frames.size(), 1U);
  const auto family = testing::pb_fields(frames[0]);
  EXPECT_EQ(testing::pb_one(family, 1).bytes, "pb_native_seconds");
  EXPECT_EQ(testing::pb_one(family, 3).value, 4U) << "type HISTOGRAM";
  const auto metric = testing::pb_fields(testing::pb_one(family, 4).bytes);
  const auto label = testing::pb_fields(testing::pb_one(metric, 1).bytes);
  EXPECT_EQ(testing::pb_one(label, 1).bytes, "route");
  EXPECT_EQ(testing::pb_one(label, 2).bytes, "/a");
  const auto hist = testing::pb_fields(testing::pb_one(metric, 7).bytes);
  EXPECT_EQ(testing::pb_one(hist, 1).value, 6U) << "sample_count";
  EXPECT_DOUBLE_EQ(testing::pb_one(hist, 2).as_double(), 5.5) << "sample_sum";
  EXPECT_EQ(testing::pb_one(hist, 5).as_sint(), 3) << "schema";
  EXPECT_EQ(testing::pb_one(hist, 7).value, 1U) << "zero_count";
  EXPECT_GE(testing::pb_one(hist, 6).as_double(), 0.0) << "zero_threshold";
  // At schema 3 a bucket i holds (2^((i-1)/8), 2^(i/8)]: 1 is bucket 0, 1.5 bucket 5, 2 bucket 8.
  EXPECT_EQ(testing::pb_native_buckets(hist, 12, 13),
            (std::map<int, std::int64_t>{{0, 1}, {5, 1}, {8, 2}}));
  EXPECT_EQ(testing::pb_native_buckets(hist, 9, 10), (std::map<int, std::int64_t>{{0, 1}}));
  EXPECT_TRUE(testing::pb_all(hist, 3).empty()) << "no classic buckets were asked for";
  // The exemplar, in the field scrapers read for native histograms (16), with its timestamp.
  const auto exemplars = testing::pb_all(hist, 16);
  ASSERT_EQ(exemplars.size(), 1U);
  const auto ex = testing::pb_fields(exemplars[0].bytes);
  std::map<std::string, std::string> labels;
  for (const auto& l : testing::pb_all(ex, 1)) {
    const auto pair = testing::pb_fields(l.bytes);
    labels[std::string(testing::pb_one(pair, 1).bytes)] = testing::pb_one(pair, 2).bytes;
  }
  EXPECT_EQ(labels["trace_id"], trace);
  EXPECT_EQ(labels["span_id"].size(), 16U);
  EXPECT_DOUBLE_EQ(testing::pb_one(ex, 2).as_double(), 2.0);
  const auto ts = testing::pb_fields(testing::pb_one(ex, 3).bytes);
  EXPECT_GT(testing::pb_one(ts, 1).value, 1'600'000'000U) << "seconds since the epoch";
}

TEST(Negotiate, PicksProtobufWhenPrometheusAsksForNativeHistograms) {
  // What Prometheus 2.42 sends with --enable-feature=native-histograms.
  EXPECT_EQ(metrics::negotiate("application/vnd.google.protobuf;proto=io.prometheus.client."
                               "MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;"
                               "q=0.3,*/*;q=0.2"),
            metrics::Format::Protobuf);
  EXPECT_EQ(metrics::negotiate("application/openmetrics-text;version=1.0.0,application/"
                               "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                               "q=0.5,*/*;q=0.1"),
            metrics::Format::OpenMetrics);
  EXPECT_EQ(metrics::negotiate("application/vnd.google.protobuf;proto=io.prometheus.client."
                               "MetricFamily;encoding=delimited;q=0.5,application/"
                               "openmetrics-text;version=1.0.0;q=0.9"),
            metrics::Format::OpenMetrics)
      << "the higher q wins";
  EXPECT_EQ(metrics::negotiate("application/vnd.google.protobuf;proto=io.prometheus.client."
                               "MetricFamily;encoding=text"),
            metrics::Format::Text)
      << "only the delimited encoding is served";
  EXPECT_EQ(metrics::negotiate("application/vnd.google.protobuf;proto=io.prometheus.client."
                               "MetricFamily;encoding=delimited;q=0"),
            metrics::Format::Text);
}

}  // namespace
}  // namespace o11y
