// The libcurl adapter against a real cpp-httplib server instrumented by o11y: one trace across
// the client span and the server span.
#include <gtest/gtest.h>
#include <httplib.h>

#include <o11y/http/curl.hpp>
#include <o11y/http/httplib.hpp>
#include <string>

#include "support/process.hpp"
#include "support/serving.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;

/// The span of this kind named `name` (a server span without a route is named by its method
/// too, as the client span is).
std::shared_ptr<const SpanData> find(const InMemorySpanProcessor& spans, std::string_view name,
                                     SpanKind kind) {
  for (const auto& s : spans.spans()) {
    if (s->name == name && s->kind == kind)
      return s;
  }
  return nullptr;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class Curl : public testing::SpanTest {
 protected:
  void SetUp() override {
    SpanTest::SetUp();
    http::instrument(server_);
    server_.Post("/orders", [this](const httplib::Request& req, httplib::Response& res) {
      seen_custom_ = req.get_header_value("X-Custom");
      res.status = 201;
      res.set_content("created", "text/plain");
    });
    serving_ = std::make_unique<testing::Serving>(server_);
    easy_ = curl_easy_init();
    ASSERT_NE(easy_, nullptr);
  }
  void TearDown() override {
    curl_easy_cleanup(easy_);
    serving_.reset();
    SpanTest::TearDown();
  }

  httplib::Server server_;
  std::unique_ptr<testing::Serving> serving_;
  std::string seen_custom_;
  CURL* easy_ = nullptr;
};

TEST_F(Curl, PerformSendsTraceparentSoTheServerContinuesTheClientSpan) {
  const std::string url =
      "http://user:pw@127.0.0.1:" + std::to_string(serving_->port()) + "/orders";
  std::string body;
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, "id=1");
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &body);
  curl_slist* headers = curl_slist_append(nullptr, "X-Custom: kept");
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
  SpanContext parent;
  {
    auto outer = start_span("checkout");
    parent = outer.context();
    ASSERT_EQ(http::curl::perform(easy_, headers), CURLE_OK);
  }
  curl_slist_free_all(headers);
  EXPECT_EQ(body, "created");
  EXPECT_EQ(seen_custom_, "kept");

  const auto client = find(*spans_, "POST", SpanKind::Client);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->parent_span_id, parent.span_id);
  EXPECT_EQ(testing::attr_text(*client, "http.request.method"), "POST");
  EXPECT_EQ(testing::attr_text(*client, "http.response.status_code"), "201");
  EXPECT_EQ(testing::attr_text(*client, "server.address"), "127.0.0.1");
  EXPECT_EQ(testing::attr_text(*client, "server.port"), std::to_string(serving_->port()));
  EXPECT_EQ(testing::attr_text(*client, "url.full"),
            "http://127.0.0.1:" + std::to_string(serving_->port()) + "/orders");
  // The server span ends after the response is on the wire.
  ASSERT_TRUE(
      testing::wait_until([&] { return find(*spans_, "POST", SpanKind::Server) != nullptr; }, 5s));
  for (const auto& s : spans_->spans()) {
    if (s->kind == SpanKind::Server) {
      EXPECT_EQ(s->context.trace_id, parent.trace_id);
      EXPECT_EQ(s->parent_span_id, client->context.span_id);
    }
  }
}

TEST_F(Curl, RefusedConnectionIsAnErrorSpan) {
  curl_easy_setopt(easy_, CURLOPT_URL, "http://127.0.0.1:1/nothing");
  EXPECT_EQ(http::curl::perform(easy_), CURLE_COULDNT_CONNECT);
  const auto client = spans_->find("GET");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*client, "error.type"), curl_easy_strerror(CURLE_COULDNT_CONNECT));
}

TEST_F(Curl, ServerErrorStatusMarksTheClientSpan) {
  server_.Get("/broken", [](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const std::string url = "http://127.0.0.1:" + std::to_string(serving_->port()) + "/broken";
  curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());
  std::string body;
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &body);
  EXPECT_EQ(http::curl::perform(easy_), CURLE_OK);
  const auto client = find(*spans_, "GET", SpanKind::Client);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*client, "http.response.status_code"), "503");
}

}  // namespace
}  // namespace o11y
