#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <o11y/value.hpp>
#include <string>

namespace o11y {
namespace {

TEST(ValueView, StringLiteralIsAStringNotABool) {
  const ValueView v("acme");
  EXPECT_EQ(v.kind(), ValueView::Kind::String);
  EXPECT_EQ(v.as_string(), "acme");
}

TEST(ValueView, KeepsEachScalarKind) {
  EXPECT_EQ(ValueView(true).kind(), ValueView::Kind::Bool);
  EXPECT_EQ(ValueView(123).as_int(), 123);
  EXPECT_EQ(ValueView(-5L).as_int(), -5);
  EXPECT_DOUBLE_EQ(ValueView(49.99).as_double(), 49.99);
  EXPECT_DOUBLE_EQ(ValueView(1.5F).as_double(), 1.5);
  const std::string s = "owned";
  EXPECT_EQ(ValueView(s).as_string(), "owned");
  EXPECT_EQ(ValueView(static_cast<const char*>(nullptr)).as_string(), "");
}

TEST(ValueView, UnsignedAboveInt64MaxIsNotWrappedNegative) {
  const auto big = std::numeric_limits<std::uint64_t>::max();
  const ValueView v(big);
  ASSERT_EQ(v.kind(), ValueView::Kind::Uint);
  EXPECT_EQ(v.as_uint(), big);
  EXPECT_EQ(ValueView(std::uint64_t{7}).kind(), ValueView::Kind::Int);
}

TEST(Value, OwnsACopyOfTheString) {
  std::string s = "before";
  const Value v{ValueView(s)};
  s = "after";
  EXPECT_EQ(std::get<std::string>(v.storage()), "before");
}

TEST(Value, ToStringRendersEachKind) {
  EXPECT_EQ(Value(true).to_string(), "true");
  EXPECT_EQ(Value(42).to_string(), "42");
  EXPECT_EQ(Value(0.1).to_string(), "0.1");
  EXPECT_EQ(Value("x").to_string(), "x");
  EXPECT_EQ(Value().to_string(), "");
}

TEST(Value, RoundTripsThroughView) {
  const Value v(std::string("acme"));
  const Value copy(v.view());
  EXPECT_EQ(v, copy);
}

TEST(Value, AssignTakesEveryKindAndAViewOfItsOwnString) {
  Value v;
  v.assign(ValueView(42));
  EXPECT_EQ(v, Value(42));
  v.assign(ValueView(std::string_view("a string longer than the small-string buffer")));
  EXPECT_EQ(v, Value("a string longer than the small-string buffer"));
  // A view into the value's own string: assign must copy before it overwrites.
  v.assign(ValueView(v).as_string().substr(2, 6));
  EXPECT_EQ(v, Value("string"));
  v.assign(ValueView(2.5));
  EXPECT_EQ(v, Value(2.5));
  v.assign(ValueView(true));
  EXPECT_EQ(v, Value(true));
  v.assign(ValueView(std::uint64_t{1} << 63U));
  EXPECT_EQ(v, Value(std::uint64_t{1} << 63U));
  v.assign(ValueView());
  EXPECT_EQ(v, Value());
}

}  // namespace
}  // namespace o11y
