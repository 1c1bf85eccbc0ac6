// The hiredis adapter against a real Redis.
#include <gtest/gtest.h>

#include <o11y/db/hiredis.hpp>
#include <string>

#include "support/db_servers.hpp"
#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using testing::DbServers;

class Redis : public testing::SpanTest {
 protected:
  void SetUp() override {
    SpanTest::SetUp();
    O11Y_REQUIRE_DB_SERVERS();
    ctx_ = redisConnect("127.0.0.1", DbServers::get().redis_port());
    ASSERT_NE(ctx_, nullptr);
    ASSERT_EQ(ctx_->err, 0) << ctx_->errstr;
  }
  void TearDown() override {
    if (ctx_ != nullptr)
      redisFree(ctx_);
    SpanTest::TearDown();
  }
  redisContext* ctx_ = nullptr;
};

TEST_F(Redis, CommandIsAClientSpanNamedByTheCommandWithItsArgumentsHidden) {
  auto* set = db::redis::command(ctx_, "SET order:%d %s", 42, "secret-value");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(std::string(set->str, set->len), "OK");
  freeReplyObject(set);
  auto* get = db::redis::command(ctx_, "get order:%d", 42);
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(std::string(get->str, get->len), "secret-value");
  freeReplyObject(get);

  const auto span = spans_->find("SET");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->kind, SpanKind::Client);
  EXPECT_EQ(testing::attr_text(*span, "db.system.name"), "redis");
  EXPECT_EQ(testing::attr_text(*span, "db.operation.name"), "SET");
  EXPECT_EQ(testing::attr_text(*span, "db.query.text"), "SET ? ?");
  EXPECT_EQ(testing::attr_text(*span, "server.address"), "127.0.0.1");
  EXPECT_EQ(testing::attr_text(*span, "server.port"),
            std::to_string(DbServers::get().redis_port()));
  EXPECT_EQ(span->status, StatusCode::Unset);
  ASSERT_NE(spans_->find("GET"), nullptr);
  EXPECT_EQ(testing::attr_text(*spans_->find("GET"), "db.query.text"), "GET ?");
}

TEST_F(Redis, ErrorReplyFailsTheSpanWithItsPrefixAndTheConnectionGoesOn) {
  freeReplyObject(db::redis::command(ctx_, "SET plain %s", "x"));
  auto* bad = db::redis::command(ctx_, "LPUSH plain %s", "y");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->type, REDIS_REPLY_ERROR);
  freeReplyObject(bad);
  const auto span = spans_->find("LPUSH");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(span->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*span, "db.response.status_code"), "WRONGTYPE");

  auto* ok = db::redis::command(ctx_, "PING");
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(std::string(ok->str, ok->len), "PONG");
  freeReplyObject(ok);
}

TEST_F(Redis, CommandArgvIsTracedTheSameWay) {
  const char* argv[] = {"hset", "order:7", "status", "paid"};
  auto* reply = db::redis::commandArgv(ctx_, 4, argv, nullptr);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->type, REDIS_REPLY_INTEGER);
  freeReplyObject(reply);
  const auto span = spans_->find("HSET");
  ASSERT_NE(span, nullptr);
  EXPECT_EQ(testing::attr_text(*span, "db.query.text"), "HSET ? ? ?");
}

TEST_F(Redis, LostConnectionFailsTheSpanWithTheClientsError) {
  freeReplyObject(db::redis::command(ctx_, "CLIENT KILL SKIPME no"));
  // The server closes this connection; the next command gets no reply.
  auto* reply = db::redis::command(ctx_, "QUIT");
  freeReplyObject(reply);
  auto* after = db::redis::command(ctx_, "PING");
  EXPECT_EQ(after, nullptr);
  const auto spans = spans_->spans();
  ASSERT_FALSE(spans.empty());
  const auto& last = spans.back();
  EXPECT_EQ(last->name, "PING");
  EXPECT_EQ(last->status, StatusCode::Error);
  EXPECT_EQ(testing::attr_text(*last, "error.type"), "_OTHER");
}

}  // namespace
}  // namespace o11y
