#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/context.hpp>
#include <o11y/log.hpp>
#include <o11y/trace.hpp>

#include "context/redact.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using testing::find_attr;

class Redaction : public testing::SpanTest {
 protected:
  void TearDown() override {
    detail::set_redaction(RedactionConfig{}.keys, false);
    testing::SpanTest::TearDown();
  }
  static nlohmann::json only_line(const logging::LogCapture& capture) {
    const auto lines = capture.lines();
    EXPECT_EQ(lines.size(), 1U);
    return lines.empty() ? nlohmann::json{} : nlohmann::json::parse(lines.back());
  }
};

TEST_F(Redaction, SecretKeysNeverReachLogLinesOrSpans) {
  logging::LogCapture capture;
  {
    auto span = start_span("login");
    set_custom_tags({{"session_id", "s-123"}, {"tenant_id", "acme"}});
    span.set_attribute("db.password", "hunter2");
    span.set_attribute("user", "ada");
    span.add_event("retry", {{"Authorization", "Bearer abc"}});
    get_logger("auth")
        .bind({{"api_key", "k-1"}})
        .info("login_ok", {{"password", "hunter2"}, {"X-Api-Key", "k-2"}, {"user", "ada"}});
  }
  const auto line = only_line(capture);
  EXPECT_EQ(line["password"], "[REDACTED]");
  EXPECT_EQ(line["X-Api-Key"], "[REDACTED]");
  EXPECT_EQ(line["api_key"], "[REDACTED]");
  EXPECT_EQ(line["session_id"], "[REDACTED]");
  EXPECT_EQ(line["user"], "ada");
  EXPECT_EQ(line["tenant_id"], "acme");
  EXPECT_EQ(line.dump().find("hunter2"), std::string::npos);

  const auto span = spans_->find("login");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(find_attr(span->attributes, "db.password")->to_string(), "[REDACTED]");
  EXPECT_EQ(find_attr(span->attributes, "session_id")->to_string(), "[REDACTED]");
  EXPECT_EQ(find_attr(span->attributes, "user")->to_string(), "ada");
  EXPECT_EQ(find_attr(span->events.at(0).attributes, "Authorization")->to_string(), "[REDACTED]");
}

TEST_F(Redaction, PersonalDataMaskingIsOptIn) {
  const std::string text =
      "mail ada@example.com card 4111 1111 1111 1111 ssn 078-05-1120 order 4111111111111112";
  {
    logging::LogCapture capture;
    get_logger("pii").info("note", {{"text", text}});
    EXPECT_EQ(only_line(capture)["text"], text) << "off by default";
  }
  detail::set_redaction(RedactionConfig{}.keys, true);
  logging::LogCapture capture;
  {
    auto span = start_span("pii");
    span.set_attribute("text", text);
    get_logger("pii").info("note", {{"text", text}});
  }
  // The order number fails the Luhn check: it is not a card and stays.
  const std::string masked = "mail [EMAIL] card [CARD] ssn [NATIONAL_ID] order 4111111111111112";
  EXPECT_EQ(only_line(capture)["text"], masked);
  EXPECT_EQ(find_attr(spans_->find("pii")->attributes, "text")->to_string(), masked);
}

TEST_F(Redaction, TheKeyListIsConfigurableFromCodeAndEnvironment) {
  ::setenv("O11Y_REDACT_KEYS", "pin, national_insurance", 1);
  const auto c = Config::with_environment({});
  ::unsetenv("O11Y_REDACT_KEYS");
  EXPECT_NE(std::find(c.redaction.keys.begin(), c.redaction.keys.end(), "pin"),
            c.redaction.keys.end());
  EXPECT_NE(std::find(c.redaction.keys.begin(), c.redaction.keys.end(), "password"),
            c.redaction.keys.end())
      << "the environment adds to the defaults";
  detail::set_redaction(c.redaction.keys, false);
  EXPECT_TRUE(detail::is_secret_key("card_PIN"));
  EXPECT_TRUE(detail::is_secret_key("National-Insurance-Number"));
  EXPECT_FALSE(detail::is_secret_key("order_id"));
  detail::set_redaction({}, false);
  EXPECT_FALSE(detail::is_secret_key("password")) << "an empty list turns redaction off";
}

}  // namespace
}  // namespace o11y
