#include <gtest/gtest.h>

#include <map>
#include <o11y/propagation.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "support/span_fixture.hpp"

namespace o11y {
namespace {

constexpr const char* kValid = "00-12345678901234567890123456789012-1234567890123456-01";

SpanContext tp(std::string_view v) {
  return propagation::extract_values(v, "");
}

TEST(Traceparent, ParsesAValidVersion00Header) {
  const auto c = tp(kValid);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.trace_id.to_hex(), "12345678901234567890123456789012");
  EXPECT_EQ(c.span_id.to_hex(), "1234567890123456");
  EXPECT_TRUE(c.sampled());
  EXPECT_TRUE(c.remote);
}

TEST(Traceparent, HonoursTheSampledFlag) {
  EXPECT_FALSE(tp("00-12345678901234567890123456789012-1234567890123456-00").sampled());
  EXPECT_TRUE(tp("00-12345678901234567890123456789012-1234567890123456-03").sampled());
}

// Every case the W3C test harness treats as invalid: a new trace must start.
TEST(Traceparent, RejectsEveryMalformedShapeTheW3CSuiteChecks) {
  const std::vector<std::string> bad = {
      "",
      "00-12345678901234567890123456789012-1234567890123456-01.",
      "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
      "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
      "ff-12345678901234567890123456789012-1234567890123456-01",
      ".0-12345678901234567890123456789012-1234567890123456-01",
      "0.-12345678901234567890123456789012-1234567890123456-01",
      "000-12345678901234567890123456789012-1234567890123456-01",
      "0-12345678901234567890123456789012-1234567890123456-01",
      "00-00000000000000000000000000000000-1234567890123456-01",
      "00-.2345678901234567890123456789012-1234567890123456-01",
      "00-1234567890123456789012345678901.-1234567890123456-01",
      "00-123456789012345678901234567890123-1234567890123456-01",
      "00-1234567890123456789012345678901-1234567890123456-01",
      "00-12345678901234567890123456789012-0000000000000000-01",
      "00-12345678901234567890123456789012-.234567890123456-01",
      "00-12345678901234567890123456789012-123456789012345.-01",
      "00-12345678901234567890123456789012-12345678901234567-01",
      "00-12345678901234567890123456789012-123456789012345-01",
      "00-12345678901234567890123456789012-1234567890123456-.0",
      "00-12345678901234567890123456789012-1234567890123456-0.",
      "00-12345678901234567890123456789012-1234567890123456-001",
      "00-12345678901234567890123456789012-1234567890123456-1",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
      "00_12345678901234567890123456789012_1234567890123456_01",
  };
  for (const auto& h : bad)
    EXPECT_FALSE(tp(h).valid()) << h;
}

TEST(Traceparent, ParsesAFutureVersionByItsFirstFourFields) {
  EXPECT_TRUE(tp("cc-12345678901234567890123456789012-1234567890123456-01").valid());
  const auto c = tp("cc-12345678901234567890123456789012-1234567890123456-01-what-the-future");
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.trace_id.to_hex(), "12345678901234567890123456789012");
}

TEST(Traceparent, ToleratesSurroundingWhitespace) {
  EXPECT_TRUE(tp(" 00-12345678901234567890123456789012-1234567890123456-01").valid());
  EXPECT_TRUE(tp("\t 00-12345678901234567890123456789012-1234567890123456-01 \t").valid());
}

TEST(Traceparent, TwoHeadersMakeItInvalid) {
  const std::multimap<std::string, std::string> h = {
      {"traceparent", "00-12345678901234567890123456789011-1234567890123456-01"},
      {"traceparent", kValid}};
  EXPECT_FALSE(propagation::extract(h).valid());
}

TEST(Traceparent, FormatsVersion00) {
  const SpanContext c{TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736"),
                      SpanId::from_hex("00f067aa0ba902b7"), 0x01, "", false};
  EXPECT_EQ(propagation::format_traceparent(c),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(propagation::format_traceparent(SpanContext{}), "");
}

std::string ts(std::string_view header) {
  return propagation::extract_values(kValid, header).trace_state;
}

TEST(Tracestate, KeepsOrderAndNormalisesWhitespace) {
  EXPECT_EQ(ts("foo=1,bar=2"), "foo=1,bar=2");
  EXPECT_EQ(ts("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
  EXPECT_EQ(ts("\t foo=1 \t"), "foo=1");
  EXPECT_EQ(ts("foo=1,,bar=2,"), "foo=1,bar=2");
  EXPECT_EQ(ts(""), "");
}

TEST(Tracestate, AcceptsEveryAllowedCharacterAndMultiTenantKeys) {
  const std::string key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
  std::string value;
  for (int c = 0x20; c <= 0x7e; ++c) {
    if (c != ',' && c != '=')
      value.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(ts(key + "=" + value), key + "=" + value);
  EXPECT_EQ(ts(key + "@a-z0-9_-*/=" + value), key + "@a-z0-9_-*/=" + value);
}

TEST(Tracestate, DiscardsTheWholeHeaderWhenAnyMemberIsInvalid) {
  for (const char* bad : {"foo =1", "FOO=1", "foo.bar=1", "@foo=1,bar=2", "_foo=1,bar=2",
                          "foo=bar=baz", "foo=,bar=3", "foo", "foo=1 2 ,bar=\x01"}) {
    EXPECT_EQ(ts(bad), "") << bad;
  }
}

TEST(Tracestate, KeepsTheFirstValueOfARepeatedKey) {
  EXPECT_EQ(ts("foo=1,foo=1"), "foo=1");
  EXPECT_EQ(ts("foo=1,bar=2,foo=3"), "foo=1,bar=2");
}

TEST(Tracestate, CarriesKeysWithAtSignsAfterTheFirstCharacter) {
  EXPECT_EQ(ts("foo@=1,bar=2"), "foo@=1,bar=2");
  EXPECT_EQ(ts("foo@@bar=1,bar=2"), "foo@@bar=1,bar=2");
  EXPECT_EQ(ts("foo@bar@baz=1,bar=2"), "foo@bar@baz=1,bar=2");
  EXPECT_EQ(ts("0vendor@sys=1"), "0vendor@sys=1");
}

TEST(Tracestate, EnforcesTheKeyLengthLimitOnTheWholeKey) {
  EXPECT_NE(ts("foo=1," + std::string(256, 'z') + "=1"), "");
  EXPECT_EQ(ts("foo=1," + std::string(257, 'z') + "=1"), "");
  EXPECT_NE(ts("foo=1," + std::string(241, 't') + "@" + std::string(14, 'v') + "=1"), "");
  EXPECT_NE(ts("foo=1," + std::string(242, 't') + "@v=1"), "");
  EXPECT_NE(ts("foo=1,t@" + std::string(15, 'v') + "=1"), "");
  EXPECT_EQ(ts("foo=1," + std::string(250, 't') + "@" + std::string(6, 'v') + "=1"), "");
}

TEST(Tracestate, AllowsThirtyTwoMembersAndDiscardsThirtyThree) {
  std::string h;
  for (int i = 1; i <= 32; ++i)
    h += (i > 1 ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  EXPECT_EQ(ts(h), h);
  EXPECT_EQ(ts(h + ",k33=v"), "");
}

TEST(Tracestate, IsDiscardedWithoutAValidTraceparent) {
  EXPECT_EQ(propagation::extract_values("garbage", "foo=1").trace_state, "");
}

TEST(Extract, MatchesHeaderNamesCaseInsensitivelyInAnyMap) {
  const std::map<std::string, std::string> m = {{"TraceParent", kValid}, {"TRACESTATE", "foo=1"}};
  const auto a = propagation::extract(m);
  EXPECT_TRUE(a.valid());
  EXPECT_EQ(a.trace_state, "foo=1");
  const std::unordered_map<std::string, std::string> u = {{"tRaCePaReNt", kValid}};
  EXPECT_TRUE(propagation::extract(u).valid());
  const std::map<std::string, std::string> wrong = {{"trace-parent", kValid}};
  EXPECT_FALSE(propagation::extract(wrong).valid());
}

TEST(Extract, CombinesSeveralTracestateHeadersInOrder) {
  const std::multimap<std::string, std::string> h = {{"traceparent", kValid},
                                                     {"tracestate", "foo=1,bar=2"},
                                                     {"tracestate", ""},
                                                     {"tracestate", "rojo=1,congo=2"},
                                                     {"tracestate", "baz=3"}};
  EXPECT_EQ(propagation::extract(h).trace_state, "foo=1,bar=2,rojo=1,congo=2,baz=3");
  const std::multimap<std::string, std::string> dup = {
      {"traceparent", kValid}, {"tracestate", "foo=1"}, {"tracestate", "foo=2"}};
  EXPECT_EQ(propagation::extract(dup).trace_state, "foo=1");
}

using Inject = testing::SpanTest;

TEST_F(Inject, WritesTheCurrentSpanAndItsTracestate) {
  const auto parent = propagation::extract_values(kValid, "vendor=abc");
  auto server = start_span("server", {.kind = SpanKind::Server, .parent = parent});
  std::map<std::string, std::string> out;
  propagation::inject(out);
  EXPECT_EQ(out["traceparent"], "00-12345678901234567890123456789012-" + server.span_id() + "-01");
  EXPECT_EQ(out["tracestate"], "vendor=abc");
  std::unordered_map<std::string, std::string> u;
  propagation::inject(u);
  EXPECT_EQ(u["traceparent"], out["traceparent"]);
}

TEST_F(Inject, WritesNothingWithoutASpan) {
  std::map<std::string, std::string> out;
  propagation::inject(out);
  EXPECT_TRUE(out.empty());
}

TEST_F(Inject, RoundTripsThroughExtract) {
  auto span = start_span("client", {.kind = SpanKind::Client});
  std::map<std::string, std::string> out;
  propagation::inject(out);
  const auto back = propagation::extract(out);
  EXPECT_EQ(back.trace_id, span.context().trace_id);
  EXPECT_EQ(back.span_id, span.context().span_id);
  EXPECT_EQ(back.flags, span.context().flags);
}

}  // namespace
}  // namespace o11y
