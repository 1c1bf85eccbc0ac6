#include <gtest/gtest.h>

#include <cstdio>
#include <mutex>
#include <o11y/trace.hpp>
#include <set>
#include <thread>
#include <vector>

namespace o11y {
namespace {

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(TraceIdGeneration, NeverZeroAndUniqueOverManyIds) {
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
  for (int i = 0; i < 100000; ++i) {
    const auto id = TraceId::generate();
    ASSERT_TRUE(id.valid());
    ASSERT_TRUE(seen.emplace(id.hi, id.lo).second) << "duplicate trace id at " << i;
  }
}

TEST(SpanIdGeneration, NeverZeroAndUniqueOverManyIds) {
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 100000; ++i) {
    const auto id = SpanId::generate();
    ASSERT_TRUE(id.valid());
    ASSERT_TRUE(seen.insert(id.value).second) << "duplicate span id at " << i;
  }
}

TEST(IdGeneration, ThreadsProduceDisjointIds) {
  std::mutex mu;
  std::set<std::uint64_t> all;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::uint64_t> mine;
      for (int i = 0; i < 20000; ++i)
        mine.push_back(SpanId::generate().value);
      std::lock_guard lock(mu);
      all.insert(mine.begin(), mine.end());
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(all.size(), 80000U);
}

TEST(IdHex, IsZeroPaddedLowercaseAndRoundTrips) {
  const TraceId t{0x1, 0xabcdefULL};
  EXPECT_EQ(t.to_hex(),
            "0000000000000001"
            "0000000000abcdef");
  EXPECT_EQ(TraceId::from_hex(t.to_hex()), t);
  const SpanId s{0xfULL};
  EXPECT_EQ(s.to_hex(), "000000000000000f");
  EXPECT_EQ(SpanId::from_hex(s.to_hex()), s);
  const auto g = TraceId::generate();
  EXPECT_TRUE(is_lower_hex(g.to_hex()));
  EXPECT_EQ(g.to_hex().size(), 32U);
}

// Every digit value in every position, against a formatter we did not write.
TEST(IdHex, EveryNibbleInEveryPositionMatchesPrintf) {
  for (unsigned digit = 0; digit < 16; ++digit) {
    for (unsigned pos = 0; pos < 16; ++pos) {
      const std::uint64_t v =
          (std::uint64_t{digit} << (4 * pos)) | (0x0123456789abcdefULL & ~(0xFULL << (4 * pos)));
      char expected[17];
      std::snprintf(expected, sizeof expected, "%016llx", static_cast<unsigned long long>(v));
      EXPECT_EQ(SpanId{v}.to_hex(), expected);
      EXPECT_EQ((TraceId{v, ~v}).to_hex().substr(0, 16), expected);
    }
  }
}

TEST(IdHex, RejectsUppercaseWrongLengthAndJunk) {
  EXPECT_FALSE(TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").valid());
  EXPECT_FALSE(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473").valid());
  EXPECT_FALSE(SpanId::from_hex("00f067aa0ba902bz").valid());
  EXPECT_FALSE(SpanId::from_hex("").valid());
}

}  // namespace
}  // namespace o11y
