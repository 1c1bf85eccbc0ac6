// The cpp-httplib integration with a real server and client on 127.0.0.1.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/http/httplib.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/propagation.hpp>
#include <optional>
#include <thread>

#include "context/redact.hpp"
#include "support/process.hpp"
#include "support/serving.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;
using logging::LogCapture;
using nlohmann::json;
using testing::find_attr;

/// An instrumented cpp-httplib server on a free loopback port, serving from its own thread.
class TestServer {
 public:
  explicit TestServer(const std::function<void(httplib::Server&)>& routes,
                      http::ServerOptions options = {}) {
    http::instrument(server_, std::move(options));
    routes(server_);
    serving_ = std::make_unique<testing::Serving>(server_);
  }

  [[nodiscard]] std::string url() const { return serving_->url(); }
  [[nodiscard]] int port() const { return serving_->port(); }

 private:
  httplib::Server server_;
  std::unique_ptr<testing::Serving> serving_;
};

class Http : public testing::SpanTest {
 protected:
  /// Spans end after the response is on the wire: wait for the one we expect.
  std::shared_ptr<const SpanData> wait_for_span(std::string_view name) {
    std::shared_ptr<const SpanData> found;
    testing::wait_until([&] { return (found = spans_->find(name)) != nullptr; }, 5s);
    return found;
  }
  std::vector<json> wait_for_lines(const LogCapture& capture, std::string_view event,
                                   std::size_t n = 1) {
    std::vector<json> out;
    testing::wait_until(
        [&] {
          out.clear();
          for (const auto& l : capture.lines_with_event(event))
            out.push_back(json::parse(l));
          return out.size() >= n;
        },
        5s);
    return out;
  }
};

TEST_F(Http, ServerSpanContinuesTheCallersTraceAndFansOutTagsToLogsAndMetrics) {
  LogCapture capture;
  TestServer server([](httplib::Server& s) {
    s.Get(R"(/orders/(\d+))",
          http::route("/orders/{id}", [](const httplib::Request& req, httplib::Response& res) {
            set_custom_tags({{"tenant_id", "acme"}});
            get_logger().info("order_viewed", {{"order_id", req.matches[1].str()}});
            res.set_content("ok", "text/plain");
          }));
  });
  const auto before = counter("http_requests_total", "", {"method", "route", "status"})
                          .value({{"method", "GET"}, {"route", "/orders/{id}"}, {"status", "200"}});
  httplib::Client cli(server.url());
  const auto res = cli.Get(
      "/orders/42", {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                     {"User-Agent", "o11y-test"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  const auto span = wait_for_span("GET /orders/{id}");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->kind, SpanKind::Server);
  EXPECT_EQ(span->context.trace_id.to_hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(span->parent_span_id.to_hex(), "b7ad6b7169203331");
  EXPECT_TRUE(span->parent_remote);
  EXPECT_EQ(find_attr(span->attributes, "http.route")->to_string(), "/orders/{id}");
  EXPECT_EQ(find_attr(span->attributes, "http.request.method")->to_string(), "GET");
  EXPECT_EQ(find_attr(span->attributes, "http.response.status_code")->to_string(), "200");
  EXPECT_EQ(find_attr(span->attributes, "url.path")->to_string(), "/orders/42");
  EXPECT_EQ(find_attr(span->attributes, "user_agent.original")->to_string(), "o11y-test");
  EXPECT_EQ(find_attr(span->attributes, "server.address")->to_string(), "127.0.0.1");
  EXPECT_EQ(find_attr(span->attributes, "tenant_id")->to_string(), "acme");
  EXPECT_EQ(span->status, StatusCode::Unset);

  const auto handler_lines = wait_for_lines(capture, "order_viewed");
  ASSERT_EQ(handler_lines.size(), 1U);
  EXPECT_EQ(handler_lines[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(handler_lines[0]["span_id"], span->context.span_id.to_hex());
  EXPECT_EQ(handler_lines[0]["tenant_id"], "acme");

  const auto request_lines = wait_for_lines(capture, "request_finished");
  ASSERT_EQ(request_lines.size(), 1U);
  const auto& line = request_lines[0];
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["path"], "/orders/42");
  EXPECT_EQ(line["route"], "/orders/{id}");
  EXPECT_EQ(line["status"], 200);
  EXPECT_GE(line["duration_ms"].get<double>(), 0.0);
  EXPECT_EQ(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(line["tenant_id"], "acme");

  EXPECT_EQ(counter("http_requests_total", "", {"method", "route", "status"})
                .value({{"method", "GET"}, {"route", "/orders/{id}"}, {"status", "200"}}),
            before + 1);
  const auto text = metrics::render();
  EXPECT_NE(text.find(R"(http_request_duration_seconds_count{method="GET",route="/orders/{id}"})"),
            std::string::npos);
}

TEST_F(Http, AnEscapingExceptionIsA500ThatNeverShowsItsMessage) {
  LogCapture capture;
  TestServer server([](httplib::Server& s) {
    s.Post("/pay", http::route("/pay", [](const httplib::Request&, httplib::Response&) {
             throw std::runtime_error("db password is hunter2");
           }));
  });
  httplib::Client cli(server.url());
  const auto res = cli.Post("/pay", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body.find("hunter2"), std::string::npos);
  for (const auto& [k, v] : res->headers)
    EXPECT_EQ(v.find("hunter2"), std::string::npos) << k;
  const auto span = wait_for_span("POST /pay");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  ASSERT_FALSE(span->events.empty());
  EXPECT_EQ(span->events[0].name, "exception");
  const auto lines = wait_for_lines(capture, "request_finished");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0]["level"], "error");
  EXPECT_EQ(lines[0]["status"], 500);
}

TEST_F(Http, ClientErrorsAreWarningsAndNotSpanErrors) {
  LogCapture capture;
  TestServer server([](httplib::Server&) {});
  httplib::Client cli(server.url());
  const auto res = cli.Get("/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  const auto span = wait_for_span("GET");  // no route matched: method only
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Unset);
  EXPECT_EQ(find_attr(span->attributes, "http.route"), nullptr);
  const auto lines = wait_for_lines(capture, "request_finished");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0]["level"], "warning");
}

TEST_F(Http, ExcludedPathsLikeMetricsRecordNothing) {
  LogCapture capture;
  TestServer server([](httplib::Server& s) {
    s.Get("/metrics", http::metrics_handler());
    s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok", "text/plain");
    });
  });
  httplib::Client cli(server.url());
  const auto res = cli.Get("/metrics", {{"Accept", "application/openmetrics-text; version=1.0.0"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("openmetrics"), std::string::npos);
  EXPECT_NE(res->body.find("# EOF"), std::string::npos);
  ASSERT_TRUE(cli.Get("/healthz"));
  // A request that is recorded, after the excluded ones on the same connection, as a marker.
  ASSERT_TRUE(cli.Get("/marker"));
  ASSERT_NE(wait_for_span("GET"), nullptr);
  EXPECT_EQ(spans_->spans().size(), 1U);
  EXPECT_EQ(capture.lines_with_event("request_finished").size(), 1U);
}

TEST_F(Http, OutgoingCallsCarryTheTraceToTheNextService) {
  TestServer backend([](httplib::Server& s) {
    s.Get("/stock", http::route("/stock", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("7", "text/plain");
          }));
  });
  const std::string backend_url = backend.url();
  TestServer frontend([&backend_url](httplib::Server& s) {
    s.Get("/checkout",
          http::route("/checkout", [backend_url](const httplib::Request&, httplib::Response& res) {
            http::Client client(backend_url);
            const auto r = client.Get("/stock");
            res.set_content(r ? r->body : "down", "text/plain");
          }));
  });
  httplib::Client cli(frontend.url());
  const auto res = cli.Get("/checkout");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "7");
  const auto front = wait_for_span("GET /checkout");
  const auto back = wait_for_span("GET /stock");
  const auto client = wait_for_span("GET");
  ASSERT_TRUE(front && back && client);
  EXPECT_EQ(client->kind, SpanKind::Client);
  EXPECT_EQ(client->parent_span_id, front->context.span_id);
  EXPECT_EQ(back->parent_span_id, client->context.span_id);
  EXPECT_EQ(back->context.trace_id, front->context.trace_id);
  EXPECT_EQ(find_attr(client->attributes, "url.full")->to_string(), backend_url + "/stock");
  EXPECT_EQ(find_attr(client->attributes, "server.port")->to_string(),
            std::to_string(backend.port()));
  EXPECT_EQ(find_attr(client->attributes, "http.response.status_code")->to_string(), "200");
}

TEST_F(Http, AClientCallThatCannotConnectIsAnErrorSpan) {
  http::Client client("http://127.0.0.1:" + std::to_string(testing::free_port()));
  const auto res = client.Get("/x");
  EXPECT_FALSE(res);
  const auto span = spans_->find("GET");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_NE(find_attr(span->attributes, "error.type"), nullptr);
}

TEST_F(Http, HooksAddAttributesAndAThrowingHookIsContained) {
  http::ServerOptions options;
  options.request_hook = [](Span& span, const http::RequestInfo& info) {
    span.set_attribute("enduser.id", std::string(info.path) == "/me" ? "u-1" : "anonymous");
  };
  options.response_hook = [](Span&, int) { throw std::runtime_error("hook bug"); };
  options.traceresponse = true;
  TestServer server(
      [](httplib::Server& s) {
        s.Get("/me", [](const httplib::Request&, httplib::Response& res) {
          res.set_content("me", "text/plain");
        });
      },
      options);
  httplib::Client cli(server.url());
  ::testing::internal::CaptureStderr();
  const auto res = cli.Get("/me");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto span = wait_for_span("GET");
  ::testing::internal::GetCapturedStderr();
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(find_attr(span->attributes, "enduser.id")->to_string(), "u-1");
  EXPECT_EQ(res->get_header_value("traceresponse"), propagation::format_traceparent(span->context));
  EXPECT_TRUE(
      res->get_header_value("traceresponse").starts_with("00-" + span->context.trace_id.to_hex()));
}

TEST_F(Http, TwoTraceparentHeadersStartANewTrace) {
  TestServer server([](httplib::Server&) {});
  httplib::Client cli(server.url());
  const auto res =
      cli.Get("/x", {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                     {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01"}});
  ASSERT_TRUE(res);
  const auto span = wait_for_span("GET");
  ASSERT_NE(span, nullptr);
  EXPECT_NE(span->context.trace_id.to_hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_FALSE(span->parent_span_id.valid());
}

TEST_F(Http, UnknownMethodsAreOtherSoClientsCannotInventLabelValues) {
  EXPECT_EQ(http::normalize_method("GET"), "GET");
  EXPECT_EQ(http::normalize_method("get"), "_OTHER");
  EXPECT_EQ(http::normalize_method("BREW"), "_OTHER");
}

TEST_F(Http, ASpanIsNamedByMethodAndRouteWhateverTheRoutesLength) {
  // The name is built on the stack up to 128 characters and on the heap past them.
  const std::string long_route = "/tenants/{tenant}/" + std::string(300, 'r') + "/{id}";
  for (const std::string& route : {std::string("/orders/{id}"), long_route}) {
    const http::ServerOptions options;
    {
      http::RequestScope scope({.method = "POST", .path = "/somewhere"}, options);
      http::set_route(route);
      scope.finish(201);
    }
    const auto span = spans_->find("POST " + route);
    ASSERT_NE(span, nullptr) << route;
    const auto* attr = find_attr(span->attributes, "http.route");
    ASSERT_NE(attr, nullptr);
    EXPECT_EQ(*attr, Value(route));
  }
}

TEST_F(Http, TheRequestLineGivesItsDurationInWholeMicroseconds) {
  LogCapture capture;
  const http::ServerOptions options;
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    http::RequestScope scope({.method = "GET", .path = "/timed"}, options);
    scope.finish(200);
  }
  const auto lines = capture.lines_with_event("request_finished");
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kRequests));
  for (const auto& line : lines) {
    // The number as written: at most 3 decimals (0.012, not 0.011994999999999999).
    const auto at = line.find("\"duration_ms\":");
    ASSERT_NE(at, std::string::npos) << line;
    const auto start = at + std::string_view("\"duration_ms\":").size();
    const auto text = line.substr(start, line.find_first_of(",}", start) - start);
    const auto dot = text.find('.');
    EXPECT_TRUE(dot == std::string::npos || text.size() - dot - 1 <= 3) << text;
    EXPECT_GE(std::stod(text), 0.0) << text;
  }
}

TEST_F(Http, AQueueMessageCarriesOneTraceFromProducerToConsumer) {
  std::map<std::string, std::string> message;
  SpanContext producer_ctx;
  {
    auto producer = start_span("send order", {.kind = SpanKind::Producer});
    message = propagation::to_carrier();
    producer_ctx = producer.context();
  }
  std::thread consumer_thread(
      [&message] { auto consumer = propagation::start_consumer_span("process order", message); });
  consumer_thread.join();
  const auto consumer = spans_->find("process order");
  ASSERT_NE(consumer, nullptr);
  EXPECT_EQ(consumer->kind, SpanKind::Consumer);
  EXPECT_EQ(consumer->context.trace_id, producer_ctx.trace_id);
  EXPECT_EQ(consumer->parent_span_id, producer_ctx.span_id);
  ASSERT_EQ(consumer->links.size(), 1U);
  EXPECT_EQ(consumer->links[0].context.span_id, producer_ctx.span_id);
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

TEST_F(Http, RedactionRulesReachTheAttributesTheAdapterSetsAndFollowEachChange) {
  // The adapter's own keys keep their redaction traits beside them, across threads: a cache
  // that missed a change of rules would leak, or go on hiding, a value.
  const http::ServerOptions options;
  const auto user_agent_of = [&](const std::string& route) -> std::optional<Value> {
    {
      http::RequestScope scope({.method = "GET", .path = route, .user_agent = "curl/8.1"}, options);
      http::set_route(route);
      scope.finish(200);
    }
    const auto span = spans_->find("GET " + route);
    if (span == nullptr)
      return std::nullopt;
    const auto* attr = find_attr(span->attributes, "user_agent.original");
    return attr != nullptr ? std::optional<Value>(*attr) : std::nullopt;
  };
  EXPECT_EQ(user_agent_of("/before"), Value("curl/8.1"));
  detail::set_redaction({"user_agent"}, false);
  EXPECT_EQ(user_agent_of("/secret"), Value(std::string(detail::kRedacted)));
  std::thread other(
      [&] { EXPECT_EQ(user_agent_of("/other-thread"), Value(std::string(detail::kRedacted))); });
  other.join();
  detail::set_redaction(RedactionConfig{}.keys, false);
  EXPECT_EQ(user_agent_of("/after"), Value("curl/8.1"));
}

TEST_F(Http, RequestMetricsCountEveryMethodRouteAndStatusApartOnOneThread) {
  // More routes than a thread keeps series for, interleaved, so that series are found again,
  // replaced and looked up afresh in every order.
  const http::ServerOptions options;
  std::vector<std::string> routes;
  for (int r = 0; r < 20; ++r)
    routes.push_back("/alternating/" + std::to_string(r));
  constexpr int kRounds = 3;
  const std::array<int, 3> statuses = {200, 404, 503};
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& route : routes) {
      for (const int status : statuses) {
        for (const char* method : {"GET", "POST"}) {
          http::RequestScope scope({.method = method, .path = route}, options);
          http::set_route(route);
          scope.finish(status);
        }
      }
    }
  }
  const auto requests = counter("http_requests_total", "", {"method", "route", "status"});
  const auto duration = histogram("http_request_duration_seconds", "", {"method", "route"});
  for (const auto& route : routes) {
    for (const char* method : {"GET", "POST"}) {
      for (const int status : statuses) {
        EXPECT_EQ(requests.value(
                      {{"method", method}, {"route", route}, {"status", std::to_string(status)}}),
                  kRounds)
            << method << " " << route << " " << status;
      }
      EXPECT_EQ(duration.count({{"method", method}, {"route", route}}),
                static_cast<std::uint64_t>(kRounds) * statuses.size())
          << method << " " << route;
    }
  }
}

TEST_F(Http, CredentialsInRequestHeadersReachNeitherSpansNorLogs) {
  logging::LogCapture capture;
  TestServer server([](httplib::Server& s) {
    s.Get("/account", http::route("/account", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("ok", "text/plain");
          }));
  });
  httplib::Client cli(server.url());
  const auto res = cli.Get("/account", {{"Authorization", "Bearer sk-live-123"},
                                        {"Cookie", "session=cookie-456"},
                                        {"X-Api-Key", "key-789"}});
  ASSERT_TRUE(res);
  const auto span = wait_for_span("GET /account");
  ASSERT_NE(span, nullptr);
  const auto lines = wait_for_lines(capture, "request_finished");
  ASSERT_EQ(lines.size(), 1U);
  std::string everything = lines[0].dump();
  for (const auto& a : span->attributes)
    everything += a.key + "=" + a.value.to_string() + ";";
  for (const char* secret : {"sk-live-123", "cookie-456", "key-789"})
    EXPECT_EQ(everything.find(secret), std::string::npos) << secret;
}

}  // namespace
}  // namespace o11y
