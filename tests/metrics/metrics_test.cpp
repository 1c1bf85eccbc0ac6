#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <o11y/metrics.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <thread>
#include <vector>

#include "metrics/family.hpp"
#include "support/text.hpp"

namespace o11y {
namespace {

using testing::contains;

// Families are process-wide, so every test declares its own names.
std::string render_text() {
  return metrics::render(metrics::Format::Text);
}
std::string render_om() {
  return metrics::render(metrics::Format::OpenMetrics);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const MetricError& e) {
    return e.what();
  }
  return "no MetricError";
}

TEST(CounterFamily, AddsByNamedLabelsInAnyOrder) {
  auto c = counter("t_payments_processed_total", "Total payments processed", {"status", "method"});
  c.add(1, {{"status", "success"}, {"method", "card"}});
  c.add(2, {{"method", "card"}, {"status", "success"}});
  EXPECT_DOUBLE_EQ(c.value({{"status", "success"}, {"method", "card"}}), 3.0);
  EXPECT_DOUBLE_EQ(c.value({{"status", "failed"}, {"method", "card"}}), 0.0);
}

// Lookups compare label values as words (exact up to 7 bytes, hashed beyond), so values that
// share bytes, lengths, prefixes or suffixes around those boundaries must stay apart.
TEST(CounterFamily, KeepsSeriesApartWhoseValuesDifferAnywhereAtAnyLength) {
  const std::vector<std::string> values = {"",
                                           "a",
                                           "b",
                                           "ab",
                                           "ba",
                                           "aa",
                                           "abc",
                                           "acc",
                                           "abd",
                                           "abcd",
                                           "abce",
                                           "abXd",
                                           "abcde",
                                           "abXde",
                                           "abcdef",
                                           "abcXef",
                                           "abcdefg",
                                           "abcXefg",
                                           std::string("abc\0efg", 7),
                                           std::string(1, '\7'),
                                           std::string("\7\0", 2),
                                           "abcdefgh",
                                           "abcdefgi",
                                           "Xbcdefgh",
                                           "abcdefghi",
                                           "abcdefghj",
                                           "abcdXfghi",
                                           "a/very/long/route/{id}/items",
                                           "a/very/long/route/{id}/itemz"};
  // Seven labels: past the four values a series keeps as words; names around 7-8 bytes.
  const auto c = counter("words_apart_total", "h",
                         {"k", "status1", "method12", "kind", "a_longer_label_name", "f", "g"});
  auto labels_for = [](const std::string& v, std::size_t at) {
    std::vector<std::string> vals(7, "x");
    vals[at] = v;
    return vals;
  };
  for (std::size_t at = 0; at < 7; ++at) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto v = labels_for(values[i], at);
      c.add(static_cast<double>(i + 1), {{"k", v[0]},
                                         {"status1", v[1]},
                                         {"method12", v[2]},
                                         {"kind", v[3]},
                                         {"a_longer_label_name", v[4]},
                                         {"f", v[5]},
                                         {"g", v[6]}});
    }
  }
  for (std::size_t at = 0; at < 7; ++at) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto v = labels_for(values[i], at);
      // "x" everywhere is one series that every position shares.
      const double expected =
          values[i] == "x" ? 7.0 * static_cast<double>(i + 1) : static_cast<double>(i + 1);
      EXPECT_EQ(c.value({{"k", v[0]},
                         {"status1", v[1]},
                         {"method12", v[2]},
                         {"kind", v[3]},
                         {"a_longer_label_name", v[4]},
                         {"f", v[5]},
                         {"g", v[6]}}),
                expected)
          << "value #" << i << " at label " << at;
      // Positional children find the same series.
      EXPECT_EQ(c.labels({v[0], v[1], v[2], v[3], v[4], v[5], v[6]}).value(), expected);
    }
  }
}

TEST(CounterFamily, TellsLabelNamesApartThatShareWords) {
  const auto c = counter("names_apart_total", "h", {"method12", "a_longer_label_name"});
  EXPECT_THROW(c.add(1, {{"method13", "x"}, {"a_longer_label_name", "y"}}), MetricError);
  EXPECT_THROW(c.add(1, {{"method12", "x"}, {"a_longer_label_namf", "y"}}), MetricError);
  EXPECT_THROW(c.add(1, {{"method1", "x"}, {"a_longer_label_name", "y"}}), MetricError);
  c.add(1, {{"a_longer_label_name", "y"}, {"method12", "x"}});
  EXPECT_EQ(c.value({{"method12", "x"}, {"a_longer_label_name", "y"}}), 1.0);
}

TEST(CounterFamily, PreBoundChildSharesTheSeries) {
  auto c = counter("t_child_total", "h", {"status", "method"});
  auto ok = c.labels({"success", "card"});
  ok.add();
  ok.add(2.5);
  c.add(1, {{"status", "success"}, {"method", "card"}});
  EXPECT_DOUBLE_EQ(ok.value(), 4.5);
}

TEST(CounterFamily, RejectsUndeclaredLabel) {
  auto c = counter("t_undeclared_total", "h", {"status", "method"});
  const auto msg = error_of([&] { c.add(1, {{"status", "ok"}, {"methd", "card"}}); });
  EXPECT_TRUE(contains(msg, "t_undeclared_total")) << msg;
  EXPECT_TRUE(contains(msg, "\"methd\" is not declared")) << msg;
}

TEST(CounterFamily, RejectsMissingAndRepeatedLabels) {
  auto c = counter("t_missing_total", "h", {"status", "method"});
  const auto missing = error_of([&] { c.add(1, {{"status", "ok"}}); });
  EXPECT_TRUE(contains(missing, "\"method\" is missing")) << missing;
  const auto twice = error_of([&] { c.add(1, {{"status", "a"}, {"status", "b"}}); });
  EXPECT_TRUE(contains(twice, "\"method\" is missing") || contains(twice, "more than once"))
      << twice;
  const auto extra = error_of([&] { c.add(1, {{"status", "a"}, {"method", "b"}, {"x", "c"}}); });
  EXPECT_TRUE(contains(extra, "\"x\" is not declared")) << extra;
}

TEST(CounterFamily, RejectsAWrongNumberOfPositionalValues) {
  auto c = counter("t_positional_total", "h", {"status", "method"});
  const auto msg = error_of([&] { (void)c.labels({"only_one"}); });
  EXPECT_TRUE(contains(msg, "t_positional_total")) << msg;
  EXPECT_TRUE(contains(msg, "got 1 value(s) for 2 declared label(s) (status, method)")) << msg;
}

TEST(CounterFamily, RejectsNegativeAndNanIncrements) {
  auto c = counter("t_negative_total", "h");
  EXPECT_TRUE(contains(error_of([&] { c.add(-1); }), "t_negative_total"));
  EXPECT_THROW(c.labels({}).add(std::nan("")), MetricError);
  EXPECT_DOUBLE_EQ(c.value(), 0.0);
}

TEST(MetricDeclaration, RejectsInvalidNames) {
  EXPECT_TRUE(contains(error_of([] { (void)counter("1bad", "h"); }), "invalid metric name"));
  EXPECT_TRUE(contains(error_of([] { (void)counter("has-dash", "h"); }), "\"has-dash\""));
  EXPECT_TRUE(contains(error_of([] { (void)counter("__reserved", "h"); }), "reserved"));
  EXPECT_TRUE(contains(error_of([] { (void)gauge("t_g", "h", {"bad-label"}); }), "\"bad-label\""));
  EXPECT_TRUE(contains(error_of([] { (void)gauge("t_g2", "h", {"__x"}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([] { (void)histogram("t_h", "h", {"le"}); }), "\"le\""));
  EXPECT_TRUE(contains(error_of([] { (void)gauge("t_g3", "h", {"a", "a"}); }), "declared twice"));
}

TEST(MetricDeclaration, RejectsBadBuckets) {
  EXPECT_TRUE(contains(error_of([] {
                         (void)histogram("t_hb1", "h", {}, {1, 1});
                       }),
                       "strictly increasing"));
  EXPECT_TRUE(contains(error_of([] {
                         (void)histogram("t_hb2", "h", {}, {2, 1});
                       }),
                       "strictly increasing"));
  EXPECT_TRUE(contains(error_of([] {
                         (void)histogram("t_hb3", "h", {}, {std::nan(""), 1});
                       }),
                       "finite"));
}

TEST(MetricDeclaration, SameShapeReturnsTheSameFamilyOtherShapeThrows) {
  auto a = counter("t_shared_total", "h", {"k"});
  auto b = counter("t_shared_total", "h", {"k"});
  a.add(1, {{"k", "v"}});
  EXPECT_DOUBLE_EQ(b.value({{"k", "v"}}), 1.0);
  const auto msg = error_of([] { (void)counter("t_shared_total", "h", {"other"}); });
  EXPECT_TRUE(contains(msg, "already declared")) << msg;
  EXPECT_THROW((void)gauge("t_shared", "h", {"k"}), MetricError);  // same family name, other type
}

TEST(MetricDeclaration, AGaugeNamedLikeACountersSampleIsRefusedNamingBoth) {
  (void)counter("t_clash_payments_processed_total", "Payments");
  const auto msg =
      error_of([] { (void)gauge("t_clash_payments_processed_total", "Also payments"); });
  EXPECT_TRUE(contains(msg, "gauge \"t_clash_payments_processed_total\"")) << msg;
  EXPECT_TRUE(contains(msg, "counter \"t_clash_payments_processed_total\"")) << msg;
  EXPECT_TRUE(contains(msg, "OpenMetrics family t_clash_payments_processed")) << msg;
  // The registry still holds only the counter, and the exposition stays one family per name.
  const auto text = render_text();
  EXPECT_EQ(text.find("# HELP t_clash_payments_processed_total "),
            text.rfind("# HELP t_clash_payments_processed_total "));
}

TEST(MetricDeclaration, EverySampleNameOfAHistogramIsTaken) {
  (void)histogram("t_clash_latency_seconds", "Latency");
  for (const char* taken : {"t_clash_latency_seconds_count", "t_clash_latency_seconds_sum",
                            "t_clash_latency_seconds_bucket", "t_clash_latency_seconds_created"}) {
    EXPECT_THROW((void)gauge(taken, "h"), MetricError) << taken;
    EXPECT_THROW((void)counter(taken, "h"), MetricError) << taken;
  }
  // A histogram whose own family name is another histogram's sample name.
  (void)histogram("t_clash_size", "Sizes");
  EXPECT_THROW((void)histogram("t_clash_size_bucket", "h"), MetricError);
  // Declared first, the gauge keeps its name and the histogram is the one refused.
  (void)gauge("t_clash_queue_sum", "h");
  const auto msg = error_of([] { (void)histogram("t_clash_queue", "h"); });
  EXPECT_TRUE(contains(msg, "\"t_clash_queue_sum\"")) << msg;
}

TEST(MetricDeclaration, ACounterWithAndWithoutTotalIsOneFamilyButItsCreatedNameIsTaken) {
  auto a = counter("t_clash_jobs", "Jobs");
  auto b = counter("t_clash_jobs_total", "Jobs");
  a.add(2);
  EXPECT_DOUBLE_EQ(b.value(), 2.0);
  EXPECT_THROW((void)gauge("t_clash_jobs", "h"), MetricError);
  EXPECT_THROW((void)gauge("t_clash_jobs_created", "h"), MetricError);
}

TEST(MetricDeclaration, NamesTheLibraryRendersItselfAreTaken) {
  EXPECT_THROW((void)gauge("process_open_fds", "h"), MetricError);
  EXPECT_THROW((void)gauge("process_cpu_seconds_total", "h"), MetricError);
  EXPECT_THROW((void)counter("o11y_metric_families_skipped_total", "h"), MetricError);
  EXPECT_THROW((void)gauge("o11y_multiproc_files", "h"), MetricError);
}

TEST(MetricDeclaration, UnitMustEndTheName) {
  EXPECT_NO_THROW((void)counter("t_sent_bytes_total", "h", {}, "bytes"));
  EXPECT_TRUE(contains(error_of([] { (void)gauge("t_size", "h", {}, GaugeMode::All, "bytes"); }),
                       "must end in \"_bytes\""));
}

TEST(GaugeFamily, SetsAndAddsBothWays) {
  auto depth = gauge("t_queue_depth", "Jobs waiting", {"queue"}, GaugeMode::LiveSum);
  depth.set(12, {{"queue", "email"}});
  depth.add(-1, {{"queue", "email"}});
  EXPECT_DOUBLE_EQ(depth.value({{"queue", "email"}}), 11.0);
  auto child = depth.labels({"sms"});
  child.set(3);
  child.add(0.5);
  EXPECT_DOUBLE_EQ(child.value(), 3.5);
}

TEST(HistogramFamily, RecordsIntoInclusiveBuckets) {
  auto h = histogram("t_latency_seconds", "h", {"method"}, {0.1, 0.5, 1.0});
  for (double v : {0.05, 0.1, 0.3, 1.0, 7.0})
    h.record(v, {{"method", "card"}});
  EXPECT_EQ(h.count({{"method", "card"}}), 5U);
  EXPECT_DOUBLE_EQ(h.sum({{"method", "card"}}), 8.45);
  const auto text = render_text();
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{method=\"card\",le=\"0.1\"} 2\n")) << text;
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{method=\"card\",le=\"0.5\"} 3\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{method=\"card\",le=\"1.0\"} 4\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_bucket{method=\"card\",le=\"+Inf\"} 5\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_count{method=\"card\"} 5\n"));
  EXPECT_TRUE(contains(text, "t_latency_seconds_sum{method=\"card\"} 8.45\n"));
}

TEST(HistogramFamily, DefaultBucketsAreThePrometheusOnes) {
  auto h = histogram("t_default_buckets_seconds", "h");
  h.record(0.2);
  const auto text = render_text();
  for (const char* le : {"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75",
                         "1.0", "2.5", "5.0", "7.5", "10.0", "+Inf"}) {
    EXPECT_TRUE(contains(text, std::string("t_default_buckets_seconds_bucket{le=\"") + le + "\"}"))
        << le;
  }
}

TEST(HistogramFamily, TimerRecordsElapsedSecondsOnScopeExit) {
  auto h = histogram("t_timer_seconds", "h", {"method"});
  {
    auto timer = h.time({{"method", "card"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  { auto t2 = h.labels({"card"}).time(); }
  EXPECT_EQ(h.count({{"method", "card"}}), 2U);
  EXPECT_GE(h.sum({{"method", "card"}}), 0.019);
  EXPECT_LT(h.sum({{"method", "card"}}), 5.0);
}

TEST(TextFormat, HasHelpTypeAndEscapedLabelValues) {
  auto c = counter("t_escape_total", "Help with \\ and\nnewline", {"path"});
  c.add(1, {{"path", "a\"b\\c\nd\xff"}});
  const auto text = render_text();
  EXPECT_TRUE(contains(text, "# HELP t_escape_total Help with \\\\ and\\nnewline\n")) << text;
  EXPECT_TRUE(contains(text, "# TYPE t_escape_total counter\n"));
  EXPECT_TRUE(contains(text, "t_escape_total{path=\"a\\\"b\\\\c\\nd\xEF\xBF\xBD\"} 1\n"));
  EXPECT_FALSE(contains(text, "# EOF"));
}

TEST(TextFormat, CounterNamesWithoutTotalGainIt) {
  auto c = counter("t_jobs", "h");
  c.add(2);
  EXPECT_TRUE(contains(render_text(), "\nt_jobs_total 2\n"));
}

TEST(OpenMetrics, UsesFamilyNamesUnitsAndEof) {
  auto c = counter("t_om_sent_bytes_total", "Bytes sent", {}, "bytes");
  c.add(10);
  const auto om = render_om();
  EXPECT_TRUE(contains(om, "# TYPE t_om_sent_bytes counter\n")) << om;
  EXPECT_TRUE(contains(om, "# UNIT t_om_sent_bytes bytes\n"));
  EXPECT_TRUE(contains(om, "\nt_om_sent_bytes_total 10"));
  EXPECT_TRUE(om.ends_with("# EOF\n"));
}

TEST(OpenMetrics, SampledSpansLeaveExemplarsOnCountersAndBuckets) {
  set_sample_rate(1.0);
  auto c = counter("t_exemplar_total", "h", {"k"});
  auto h = histogram("t_exemplar_seconds", "h", {}, {0.5, 1.0});
  std::string trace;
  std::string span_id;
  {
    auto span = start_span("work");
    trace = span.trace_id();
    span_id = span.span_id();
    c.add(1, {{"k", "v"}});
    h.record(0.7);
  }
  c.add(1, {{"k", "no_span"}});
  const auto om = render_om();
  const std::string ex = " # {trace_id=\"" + trace + "\",span_id=\"" + span_id + "\"} ";
  EXPECT_TRUE(contains(om, "t_exemplar_total{k=\"v\"} 1" + ex + "1 ")) << om;
  EXPECT_TRUE(contains(om, "t_exemplar_seconds_bucket{le=\"1.0\"} 1" + ex + "0.7 ")) << om;
  EXPECT_TRUE(contains(om, "t_exemplar_total{k=\"no_span\"} 1\n"));
  EXPECT_FALSE(contains(render_text(), "trace_id"));  // text 0.0.4 has no exemplars
}

TEST(OpenMetrics, AnExemplarStaysAtLeast100msThenTheNextSampledValueReplacesIt) {
  set_sample_rate(1.0);
  auto c = counter("t_exemplar_age_total", "h");
  const auto add_under_span = [&c] {
    auto span = start_span("work");
    c.add(1);
    return span.trace_id();
  };
  const auto start = std::chrono::steady_clock::now();
  const auto first = add_under_span();
  const auto second = add_under_span();
  const bool back_to_back =
      std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50);
  const auto after_two = render_om();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto third = add_under_span();
  const auto after_three = render_om();
  if (back_to_back) {  // a machine that stalled 50 ms between two calls proves nothing here
    EXPECT_TRUE(contains(after_two, "t_exemplar_age_total 2 # {trace_id=\"" + first)) << after_two;
    EXPECT_FALSE(contains(after_two, second)) << after_two;
  }
  EXPECT_TRUE(contains(after_three, "t_exemplar_age_total 3 # {trace_id=\"" + third))
      << after_three;
}

TEST(OpenMetrics, UnsampledSpansLeaveNoExemplar) {
  set_sample_rate(0.0);
  auto c = counter("t_unsampled_total", "h");
  {
    auto span = start_span("dropped");
    c.add(1);
  }
  set_sample_rate(1.0);
  EXPECT_TRUE(contains(render_om(), "\nt_unsampled_total 1\n"));
}

TEST(ProcessMetrics, AreRenderedFromProc) {
  const auto text = render_text();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_open_fds ", "process_max_fds ",
                           "process_start_time_seconds "}) {
    EXPECT_TRUE(contains(text, std::string("\n") + name)) << name;
  }
}

TEST(Negotiation, PrometheusAcceptHeaderGetsOpenMetrics) {
  EXPECT_EQ(
      metrics::negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                         "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
      metrics::Format::OpenMetrics);
  EXPECT_EQ(metrics::negotiate("text/plain"), metrics::Format::Text);
  EXPECT_EQ(metrics::negotiate(""), metrics::Format::Text);
  EXPECT_EQ(metrics::negotiate("application/openmetrics-text;q=0"), metrics::Format::Text);
}

std::string gunzip(const std::string& in) {
  z_stream zs{};
  inflateInit2(&zs, 15 + 16);
  std::string out(in.size() * 20 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST(Endpoint, ServesTextOpenMetricsAndGzipWithKeepAlive) {
  auto c = counter("t_served_total", "h");
  c.add(5);
  auto endpoint = metrics::serve("127.0.0.1:0");
  ASSERT_GT(endpoint.port(), 0);
  httplib::Client client("127.0.0.1", endpoint.port());
  client.set_keep_alive(true);
  auto text = client.Get("/metrics");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
  EXPECT_TRUE(text->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
  EXPECT_TRUE(contains(text->body, "\nt_served_total 5\n"));
  auto om = client.Get("/metrics", {{"Accept", "application/openmetrics-text;version=1.0.0"}});
  ASSERT_TRUE(om);
  EXPECT_TRUE(om->get_header_value("Content-Type").starts_with("application/openmetrics-text"));
  EXPECT_TRUE(om->body.ends_with("# EOF\n"));
  auto zipped = client.Get("/metrics", {{"Accept-Encoding", "gzip"}});
  ASSERT_TRUE(zipped);
  EXPECT_EQ(zipped->get_header_value("Content-Encoding"), "gzip");
  EXPECT_TRUE(contains(gunzip(zipped->body), "\nt_served_total 5\n"));
  auto missing = client.Get("/elsewhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(Endpoint, RejectsMalformedAddresses) {
  EXPECT_THROW((void)metrics::serve("no-port"), MetricError);
  EXPECT_THROW((void)metrics::serve("127.0.0.1:http"), MetricError);
  EXPECT_THROW((void)metrics::serve("127.0.0.1:70000"), MetricError);
}

TEST(ScrapeHandler, GzipsWhenAskedAndNamesTheFormat) {
  const auto r = metrics::handle_scrape("application/openmetrics-text", "gzip, deflate");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_encoding, "gzip");
  EXPECT_TRUE(gunzip(r.body).ends_with("# EOF\n"));
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

TEST(CardinalityGuard, LabelSetsBeyondTheLimitShareOneOverflowSeriesAndWarnOnce) {
  const auto saved = detail::series_limit();
  detail::set_series_limit(3);
  auto c = counter("guarded_logins_total", "Logins by user (a bad idea).", {"user"});
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i)
    c.add(1, {{"user", "u" + std::to_string(i)}});
  c.add(1, {{"user", "u1"}});  // an existing label set still has its own series
  const auto err = ::testing::internal::GetCapturedStderr();
  detail::set_series_limit(saved);
  EXPECT_EQ(c.value({{"user", "u1"}}), 2.0);
  EXPECT_EQ(c.value({{"user", "o11y_overflow"}}), 7.0);
  EXPECT_EQ(c.value({{"user", "u9"}}), 0.0) << "never got a series of its own";
  const auto text = metrics::render();
  EXPECT_NE(text.find("guarded_logins_total{user=\"o11y_overflow\"} 7"), std::string::npos);
  std::size_t warnings = 0;
  for (auto p = err.find("guarded_logins_total"); p != std::string::npos;
       p = err.find("guarded_logins_total", p + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1U) << err;
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

TEST(EndpointSecurity, RequiresTheConfiguredCredentialsAndLeaksNothingInErrors) {
  auto endpoint = metrics::serve(
      "127.0.0.1:0",
      {.basic_auth_user = "prom", .basic_auth_password = "s3cret", .bearer_token = "tok-123"});
  httplib::Client cli("127.0.0.1", endpoint.port());
  const auto anonymous = cli.Get("/metrics");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_NE(anonymous->get_header_value("WWW-Authenticate"), "");
  EXPECT_EQ(anonymous->body.find("process_"), std::string::npos);
  const auto wrong = cli.Get("/metrics", {{"Authorization", "Bearer tok-124"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  cli.set_basic_auth("prom", "s3cret");
  const auto basic = cli.Get("/metrics");
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 200);
  httplib::Client bearer("127.0.0.1", endpoint.port());
  bearer.set_bearer_token_auth("tok-123");
  const auto with_token = bearer.Get("/metrics");
  ASSERT_TRUE(with_token);
  EXPECT_EQ(with_token->status, 200);
  const auto missing = bearer.Get("/etc/passwd");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body.find("passwd"), std::string::npos);
}

TEST(EndpointSecurity, ScrapesBeyondTheConcurrencyLimitAreTurnedAway) {
  // Many series make each scrape take a while; 1 slot and 6 simultaneous scrapers.
  auto wide = gauge("endpoint_limit_wide", "Many series.", {"i"});
  for (int i = 0; i < 9000; ++i)
    wide.set(i, {{"i", std::to_string(i)}});
  auto endpoint = metrics::serve("127.0.0.1:0", {.max_concurrent_scrapes = 1});
  std::atomic<int> ok{0};
  std::atomic<int> busy{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 6; ++t) {
    scrapers.emplace_back([&] {
      httplib::Client cli("127.0.0.1", endpoint.port());
      for (int k = 0; k < 5; ++k) {
        const auto res = cli.Get("/metrics");
        if (res && res->status == 200)
          ++ok;
        if (res && res->status == 503) {
          EXPECT_EQ(res->get_header_value("Retry-After"), "1");
          ++busy;
        }
      }
    });
  }
  for (auto& s : scrapers)
    s.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(busy.load(), 0) << "6 concurrent scrapers never hit the limit of 1";
  EXPECT_EQ(ok.load() + busy.load(), 30);
}

}  // namespace
}  // namespace o11y
