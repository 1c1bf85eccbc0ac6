#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <o11y/context.hpp>
#include <o11y/propagation.hpp>
#include <o11y/trace.hpp>
#include <random>
#include <string>

#include "support/span_fixture.hpp"

// Bad input must never crash, throw out of a tracing call or leak (ASan/LSan run this suite).
namespace o11y {
namespace {

using testing::find_attr;
using HostileInput = testing::SpanTest;

TEST_F(HostileInput, HugeKeysAndValuesAreKept) {
  const std::string huge_key(1 << 20, 'k');
  const std::string huge_value(1 << 20, 'v');
  {
    auto span = start_span("huge");
    set_custom_tags({{huge_key, huge_value}});
  }
  auto d = spans_->find("huge");
  ASSERT_NE(d, nullptr);
  ASSERT_NE(find_attr(d->attributes, huge_key), nullptr);
  EXPECT_EQ(std::get<std::string>(find_attr(d->attributes, huge_key)->storage()).size(),
            huge_value.size());
}

TEST_F(HostileInput, NonUtf8BytesAreStoredVerbatim) {
  const std::string bytes("\xff\xfe\x00\x80 \x1b[31m", 9);
  set_custom_tags({{bytes, bytes}});
  const auto tags = Context::current().custom_tags();
  ASSERT_EQ(tags.size(), 1U);
  EXPECT_EQ(tags[0].key, bytes);
}

TEST_F(HostileInput, ThousandsOfTagsStayInTheFrameAndAreCappedOnTheSpan) {
  Attributes many;
  for (int i = 0; i < 5000; ++i)
    many.push_back({"tag" + std::to_string(i), i});
  set_custom_tags(many);
  EXPECT_EQ(Context::current().custom_tags().size(), 5000U);
  { auto span = start_span("many"); }
  auto d = spans_->find("many");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->attributes.size(), 128U);
  EXPECT_EQ(d->dropped_attributes, 5000U - 128U);
}

TEST_F(HostileInput, ThousandsOfEventsAreCapped) {
  {
    auto span = start_span("chatty");
    for (int i = 0; i < 3000; ++i)
      span.add_event("e");
  }
  auto d = spans_->find("chatty");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->events.size(), 128U);
  EXPECT_EQ(d->dropped_events, 3000U - 128U);
}

TEST(HostileHeaders, HundredKilobyteHeadersAreRejectedCleanly) {
  const std::string big(100 * 1024, 'a');
  EXPECT_FALSE(propagation::extract_values(big, big).valid());
  const std::string big_state = "foo=" + std::string(100 * 1024, 'x');
  const auto c = propagation::extract_values(
      "00-12345678901234567890123456789012-1234567890123456-01", big_state);
  EXPECT_TRUE(c.valid());
  EXPECT_EQ(c.trace_state, "");  // a 100 KB value is far past the 256-character limit
}

TEST(HostileHeaders, RandomBytesNeverProduceAnInvalidButAcceptedContext) {
  std::mt19937_64 rng(12345);  // fixed seed: the same inputs every run
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 120);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string tp(static_cast<std::size_t>(len(rng)), '\0');
    for (auto& ch : tp)
      ch = static_cast<char>(byte(rng));
    // Half the inputs keep a valid prefix so the parser gets past the first checks.
    if (i % 2 == 0 && tp.size() > 56)
      tp.replace(0, 55, "00-12345678901234567890123456789012-1234567890123456-01");
    std::string state(tp.rbegin(), tp.rend());
    const auto c = propagation::extract_values(tp, state);
    if (c.valid()) {
      ++accepted;
      EXPECT_TRUE(c.trace_id.valid() && c.span_id.valid());
      EXPECT_EQ(propagation::format_traceparent(c).size(), 55U);
    } else {
      EXPECT_EQ(c.trace_state, "");
    }
  }
  // Valid prefixes followed by more bytes are invalid for version 00: nothing random passes.
  EXPECT_EQ(accepted, 0);
}

TEST_F(HostileInput, SpanNamesOfAnySizeAndByteWork) {
  const std::string name(1 << 16, '\n');
  { auto s = start_span(name); }
  EXPECT_NE(spans_->find(name), nullptr);
}

}  // namespace
}  // namespace o11y
