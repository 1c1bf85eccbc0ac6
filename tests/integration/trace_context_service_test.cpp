// examples/trace_context_service driven the way the W3C Trace Context harness drives a
// service: POST /test with callbacks, then inspect the headers the callbacks received.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/process.hpp"
#include "support/serving.hpp"
#include "support/temp_dir.hpp"

namespace o11y {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTraceId = "0af7651916cd43dd8448eb211c80319c";
constexpr const char* kParentId = "b7ad6b7169203331";

/// What the harness plays: the callback endpoint the service POSTs to.
class Callbacks {
 public:
  Callbacks() {
    server_.Post(R"(/callback/(\d+))", [this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      received_[std::stoi(req.matches[1].str())] = req.headers;
    });
    serving_ = std::make_unique<testing::Serving>(server_);
  }

  [[nodiscard]] std::string url(int id) const {
    return serving_->url() + "/callback/" + std::to_string(id);
  }
  [[nodiscard]] httplib::Headers headers(int id) {
    std::lock_guard lock(mu_);
    return received_[id];
  }

 private:
  std::mutex mu_;
  std::map<int, httplib::Headers> received_;
  httplib::Server server_;
  std::unique_ptr<testing::Serving> serving_;  // last: stops before what handlers touch
};

class TraceContextService : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::wait_until(
        [this] { return static_cast<bool>(httplib::Client(base()).Get("/")); }, 20s))
        << "the service did not start";
  }
  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  /// Sends one harness test case; returns the headers the callback received.
  httplib::Headers send(const httplib::Headers& headers) {
    const int id = ++next_id_;
    nlohmann::json body = nlohmann::json::array(
        {{{"url", callbacks_.url(id)}, {"arguments", nlohmann::json::array()}}});
    httplib::Client cli(base());
    const auto res = cli.Post("/test", headers, body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200);
    return callbacks_.headers(id);
  }

  static std::vector<std::string> values(const httplib::Headers& h, const std::string& name) {
    std::vector<std::string> out;
    auto [b, e] = h.equal_range(name);
    for (auto it = b; it != e; ++it)
      out.push_back(it->second);
    return out;
  }

  int port_ = testing::free_port();
  testing::Process service_{{O11Y_TRACE_CONTEXT_SERVICE, std::to_string(port_)}};
  Callbacks callbacks_;
  int next_id_ = 0;
};

TEST_F(TraceContextService, ContinuesAValidTraceWithANewParentAndTheSameTracestate) {
  const auto got = send({{"traceparent", std::string("00-") + kTraceId + "-" + kParentId + "-01"},
                         {"tracestate", "foo=1,bar=2"}});
  const auto tp = values(got, "traceparent");
  ASSERT_EQ(tp.size(), 1U);
  ASSERT_EQ(tp[0].size(), 55U);
  EXPECT_EQ(tp[0].substr(0, 3), "00-");
  EXPECT_EQ(tp[0].substr(3, 32), kTraceId);
  EXPECT_NE(tp[0].substr(36, 16), kParentId);                     // our own span is the parent now
  EXPECT_EQ(std::stoi(tp[0].substr(53, 2), nullptr, 16) & 1, 1);  // still sampled
  EXPECT_EQ(values(got, "tracestate"), std::vector<std::string>{"foo=1,bar=2"});
}

TEST_F(TraceContextService, KeepsAnUnsampledDecision) {
  const auto got = send({{"traceparent", std::string("00-") + kTraceId + "-" + kParentId + "-00"}});
  const auto tp = values(got, "traceparent");
  ASSERT_EQ(tp.size(), 1U);
  EXPECT_EQ(tp[0].substr(3, 32), kTraceId);
  EXPECT_EQ(std::stoi(tp[0].substr(53, 2), nullptr, 16) & 1, 0);
}

TEST_F(TraceContextService, CombinesSeveralTracestateHeaders) {
  const auto got = send({{"traceparent", std::string("00-") + kTraceId + "-" + kParentId + "-01"},
                         {"tracestate", "foo=1"},
                         {"tracestate", "bar=2"}});
  EXPECT_EQ(values(got, "tracestate"), std::vector<std::string>{"foo=1,bar=2"});
}

TEST_F(TraceContextService, RestartsTheTraceAndDropsTracestateForAnInvalidTraceparent) {
  for (const std::string bad :
       {"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",           // uppercase
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",           // forbidden version
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",           // zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"}) {  // v00 extra
    const auto got = send({{"traceparent", bad}, {"tracestate", "foo=1"}});
    const auto tp = values(got, "traceparent");
    ASSERT_EQ(tp.size(), 1U) << bad;
    EXPECT_NE(tp[0].substr(3, 32), kTraceId) << bad;
    EXPECT_TRUE(values(got, "tracestate").empty()) << bad;
  }
}

TEST_F(TraceContextService, AcceptsAFutureVersionWithExtraFields) {
  const auto got = send(
      {{"traceparent", std::string("cc-") + kTraceId + "-" + kParentId + "-01-what-the-future"}});
  const auto tp = values(got, "traceparent");
  ASSERT_EQ(tp.size(), 1U);
  EXPECT_EQ(tp[0].substr(0, 3), "00-");  // we send the version we speak
  EXPECT_EQ(tp[0].substr(3, 32), kTraceId);
}

// The official W3C Trace Context suite (shared/peers, run unchanged from a scratch copy) against
// the example service, at the strict level: every one of its tests must pass.
TEST(W3cTraceContextSuite, PassesEveryTestAtLevelTwo) {
  const std::string suite = O11Y_W3C_SUITE_DIR;
  ASSERT_TRUE(std::filesystem::exists(suite + "/test.py")) << "missing " << suite;
  testing::TempDir scratch;
  std::filesystem::copy(suite, scratch.path() / "test", std::filesystem::copy_options::recursive);
  const int port = testing::free_port();
  testing::Process service({O11Y_TRACE_CONTEXT_SERVICE, std::to_string(port)},
                           scratch.file("service.log"));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(
      testing::wait_until([&] { return static_cast<bool>(httplib::Client(base).Get("/")); }, 20s));
  std::string out;
  const int rc = testing::run(
      "cd " + scratch.file("test") + " && SPEC_LEVEL=2 HARNESS_HOST=127.0.0.1 HARNESS_PORT=" +
          std::to_string(testing::free_port()) + " /usr/bin/python3 -B test.py " + base + "/test",
      out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Ran 41 tests"), std::string::npos) << out;
  EXPECT_NE(out.find("\nOK"), std::string::npos) << out;
}

}  // namespace
}  // namespace o11y
