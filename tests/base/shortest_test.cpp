#include "base/shortest.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace o11y::detail {
namespace {

std::string ours(double d) {
  char buf[kShortestBound];
  return {buf, write_shortest(buf, d)};
}

std::string reference(double d) {
  char buf[64];
  return {buf, std::to_chars(buf, buf + sizeof buf, d).ptr};
}

// to_chars is the specification: the fast path must write the same bytes for every double,
// including where fixed and scientific notation tie or swap and at the limits of the fast path.
TEST(ShortestDouble, WritesExactlyWhatToCharsWritesForEveryKindOfValue) {
  std::vector<double> values = {0.0,
                                -0.0,
                                1,
                                -1,
                                49.99,
                                0.1 + 0.2,
                                0.5,
                                0.25,
                                0.001,
                                0.0012,
                                0.00123,
                                0.0001,
                                0.00012,
                                0.000999,
                                9999,
                                99999,
                                100000,
                                120000,
                                123456,
                                1000000,
                                1e14,
                                1e15,
                                999999999999999.0,
                                99999999999999.9,
                                123456789.123456,
                                4503599627370495.5,
                                5e-324,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN()};
  const std::size_t fixed = values.size();
  for (std::size_t i = 0; i < fixed; ++i) {
    values.push_back(std::nextafter(values[i], 0.0));
    values.push_back(std::nextafter(values[i], std::numeric_limits<double>::infinity()));
  }
  std::mt19937_64 rng(42);  // NOLINT(cert-msc32-c,cert-msc51-cpp): reproducible on purpose
  constexpr double kPow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  for (int n = 0; n < 300000; ++n) {
    // Few decimals, any magnitude the fast path could take, either sign.
    const auto digits = static_cast<double>(rng() % 10000000000000000ULL >> (rng() % 50));
    const double v = digits / kPow10[rng() % 9];
    values.push_back((rng() & 1U) != 0 ? v : -v);
    // Any bit pattern at all.
    const std::uint64_t bits = rng();
    double any = 0;
    std::memcpy(&any, &bits, sizeof any);
    values.push_back(any);
    // Results of arithmetic: long expansions.
    values.push_back(static_cast<double>(rng() % 100000) / 7.0);
  }
  std::size_t mismatches = 0;
  for (const double v : values) {
    const auto expected = reference(v);
    const auto got = ours(v);
    if (got != expected && ++mismatches <= 20) {
      ADD_FAILURE() << "for " << expected << " wrote " << got;
    }
  }
  EXPECT_EQ(mismatches, 0U);
}

}  // namespace
}  // namespace o11y::detail
