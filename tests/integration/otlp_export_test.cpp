// The exporter against a receiver built on OpenTelemetry JS's generated OTLP types (installed by
// the test command with npm), and against fork().
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <o11y/context.hpp>
#include <o11y/export.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <thread>

#include "support/node_receiver.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// Every span of every request, by name.
std::multimap<std::string, json> spans_by_name(const std::vector<json>& requests) {
  std::multimap<std::string, json> out;
  for (const auto& r : requests) {
    for (const auto& rs : r["request"]["resourceSpans"]) {
      for (const auto& ss : rs["scopeSpans"]) {
        for (auto s : ss["spans"]) {
          s["resource"] = rs["resource"];
          out.emplace(s["name"].get<std::string>(), std::move(s));
        }
      }
    }
  }
  return out;
}

json attr(const json& attrs, std::string_view key) {
  for (const auto& a : attrs) {
    if (a["key"] == key)
      return a["value"];
  }
  return nullptr;
}

class OtlpExport : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(receiver_.port(), 0) << "the Node receiver did not start: " << receiver_.log();
    set_sample_rate(1.0);
    set_resource({{{"service.name", Value("checkout")},
                   {"service.version", Value("1.2.3")},
                   {"service.instance.id", Value("instance-1")}}});
  }
  testing::TempDir dir_;
  testing::NodeReceiver receiver_{dir_};
};

/// A server span continuing a remote trace, with a tagged child that fails, and a consumer
/// span linked to it: what a handler in a real service produces.
void record_a_request() {
  Scope scope;
  const std::map<std::string, std::string> headers{
      {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
      {"tracestate", "congo=t61rcWkgMzE"}};
  auto server = start_span("GET /orders/{id}",
                           {.kind = SpanKind::Server, .parent = propagation::extract(headers)});
  server.set_attribute("http.route", "/orders/{id}");
  set_custom_tags({{"tenant_id", "acme"}});
  SpanContext client_ctx;
  {
    auto client = start_span("charge", {.kind = SpanKind::Client});
    client.set_attribute("order_id", std::int64_t{9'007'199'254'740'993});
    client.set_attribute("amount", 49.99);
    client.add_event("validated", {{"rule", "amount"}});
    client.record_exception(std::runtime_error("card declined"));
    client.set_status(StatusCode::Error, "declined");
    client_ctx = client.context();
  }
  auto consumer =
      start_span("process_refund", {.kind = SpanKind::Consumer, .links = {{client_ctx, {}}}});
}

TEST_F(OtlpExport, NodeDecodesEveryEncodingWithIdsParentsKindsAndAttributes) {
  for (const auto encoding : {OtlpEncoding::Json, OtlpEncoding::Protobuf}) {
    for (const bool gzip : {false, true}) {
      auto p = std::make_shared<BatchSpanProcessor>(
          make_otlp_http_exporter({.endpoint = receiver_.url(),
                                   .headers = {{"x-tenant", "acme"}},
                                   .encoding = encoding,
                                   .gzip = gzip}),
          BatchOptions{.schedule_delay = 1h});
      add_span_processor(p);
      record_a_request();
      EXPECT_TRUE(p->force_flush(10s));
      remove_span_processor(p);
      p->shutdown();
    }
  }
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 4U) << receiver_.log();
  int i = 0;
  for (const auto& r : requests) {
    ASSERT_FALSE(r.contains("error")) << r.dump();
    EXPECT_EQ(r["encoding"], i < 2 ? "json" : "protobuf");
    EXPECT_EQ(r["gzip"], i % 2 == 1);
    EXPECT_EQ(r["headers"]["x-tenant"], "acme");
    ++i;
  }
  const auto spans = spans_by_name(requests);
  ASSERT_EQ(spans.count("GET /orders/{id}"), 4U);
  for (const auto& [name, s] : spans) {
    EXPECT_EQ(s["traceId"], "0af7651916cd43dd8448eb211c80319c") << name;
    EXPECT_EQ(attr(s["resource"]["attributes"], "service.name")["stringValue"], "checkout");
    EXPECT_EQ(attr(s["resource"]["attributes"], "service.version")["stringValue"], "1.2.3");
    EXPECT_EQ(attr(s["resource"]["attributes"], "service.instance.id")["stringValue"],
              "instance-1");
  }
  // Per request: parents, kinds, tags, events, status, links.
  for (const auto& r : requests) {
    const auto one = spans_by_name({r});
    const auto& server = one.find("GET /orders/{id}")->second;
    const auto& client = one.find("charge")->second;
    const auto& consumer = one.find("process_refund")->second;
    EXPECT_EQ(server["parentSpanId"], "b7ad6b7169203331");
    EXPECT_EQ(server["traceState"], "congo=t61rcWkgMzE");
    EXPECT_EQ(server["kind"], 2);
    EXPECT_EQ(server["flags"], 0x301);  // sampled; the parent was remote
    EXPECT_EQ(client["parentSpanId"], server["spanId"]);
    EXPECT_EQ(client["kind"], 3);
    EXPECT_EQ(client["flags"], 0x101);
    EXPECT_EQ(attr(client["attributes"], "tenant_id")["stringValue"], "acme");
    EXPECT_EQ(attr(client["attributes"], "order_id")["intValue"], "9007199254740993");
    EXPECT_EQ(attr(client["attributes"], "amount")["doubleValue"], 49.99);
    ASSERT_EQ(client["events"].size(), 2U);
    EXPECT_EQ(client["events"][0]["name"], "validated");
    EXPECT_EQ(attr(client["events"][0]["attributes"], "rule")["stringValue"], "amount");
    EXPECT_EQ(client["events"][1]["name"], "exception");
    EXPECT_EQ(attr(client["events"][1]["attributes"], "exception.message")["stringValue"],
              "card declined");
    EXPECT_EQ(client["status"]["code"], 2);
    EXPECT_EQ(client["status"]["message"], "declined");
    EXPECT_LE(std::stoull(client["startTimeUnixNano"].get<std::string>()),
              std::stoull(client["endTimeUnixNano"].get<std::string>()));
    EXPECT_EQ(consumer["kind"], 5);
    ASSERT_EQ(consumer["links"].size(), 1U);
    EXPECT_EQ(consumer["links"][0]["spanId"], client["spanId"]);
  }
}

// A full batch: its nested messages are far over 16 KiB, so the protobuf lengths take three
// bytes and every enclosing message's body is moved after it is written.
TEST_F(OtlpExport, NodeDecodesAFullBatchOfLargeSpansInEitherEncoding) {
  constexpr int kSpans = 300;
  const std::string payload(300, 'x');
  for (const auto encoding : {OtlpEncoding::Json, OtlpEncoding::Protobuf}) {
    auto p = std::make_shared<BatchSpanProcessor>(
        make_otlp_http_exporter({.endpoint = receiver_.url(), .encoding = encoding}),
        BatchOptions{.schedule_delay = 1h});
    add_span_processor(p);
    for (int i = 0; i < kSpans; ++i) {
      auto span = start_span("bulk-" + std::to_string(i));
      span.set_attribute("payload", payload);
      span.set_attribute("index", std::int64_t{i});
    }
    EXPECT_TRUE(p->force_flush(10s));
    remove_span_processor(p);
    p->shutdown();
  }
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2U) << receiver_.log();
  for (const auto& r : requests) {
    ASSERT_FALSE(r.contains("error")) << r.dump().substr(0, 2000);
    const auto spans = spans_by_name({r});
    ASSERT_EQ(spans.size(), static_cast<std::size_t>(kSpans)) << r["encoding"];
    for (int i = 0; i < kSpans; i += 37) {
      const auto it = spans.find("bulk-" + std::to_string(i));
      ASSERT_NE(it, spans.end()) << i;
      EXPECT_EQ(attr(it->second["attributes"], "payload")["stringValue"], payload);
      EXPECT_EQ(attr(it->second["attributes"], "index")["intValue"], std::to_string(i));
      EXPECT_EQ(attr(it->second["resource"]["attributes"], "service.name")["stringValue"],
                "checkout");
    }
  }
}

TEST_F(OtlpExport, ForkedChildExportsOnlyItsOwnSpansAndTheParentKeepsWorking) {
  auto p = std::make_shared<BatchSpanProcessor>(
      make_otlp_http_exporter({.endpoint = receiver_.url()}), BatchOptions{.schedule_delay = 1h});
  add_span_processor(p);
  // Queued in the parent, export thread running, nothing sent yet when fork() happens.
  for (int i = 0; i < 3; ++i)
    (void)start_span("parent-pending-" + std::to_string(i));
  // The fork comes at once, while the export thread has only just started: glibc's malloc is
  // fork-safe, but GCC 12's ASan allocator takes no lock around fork(), and a fork while that
  // thread was still in its start-up left the child's allocator locked (seen here before the
  // library's threads were started with a hand-shake, ASan builds only).
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    { auto s = start_span("child-span"); }
    const bool ok = p->force_flush(10s) && p->exported() == 1;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child could not export";
  { auto s = start_span("parent-after"); }
  EXPECT_TRUE(p->force_flush(10s));
  EXPECT_EQ(p->exported(), 4U);
  remove_span_processor(p);
  p->shutdown();

  const auto spans = spans_by_name(receiver_.requests());
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(spans.count("parent-pending-" + std::to_string(i)), 1U) << "exported exactly once";
  EXPECT_EQ(spans.count("child-span"), 1U);
  EXPECT_EQ(spans.count("parent-after"), 1U);
  EXPECT_EQ(spans.size(), 5U);
}

}  // namespace
}  // namespace o11y
