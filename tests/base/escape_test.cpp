// The JSON string escaper on its own. This file also runs in o11y_portable_scan_tests, which
// builds the escaper with its portable word-at-a-time scan instead of the SSE2 one, so that both
// are checked on this machine.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/text.hpp"

namespace o11y::detail {
namespace {

// The escaped form parsed back by a JSON parser we did not write.
std::string round_trip(const std::string& value) {
  std::string out(value.size() * 6 + 2, '\0');
  std::size_t left_out = 0;
  out[0] = '"';
  char* end = write_json_escaped(out.data() + 1, value, static_cast<std::size_t>(-1), left_out);
  *end++ = '"';
  out.resize(static_cast<std::size_t>(end - out.data()));
  const auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_string() ? j.get<std::string>() : std::string("<not a JSON string: ") + out + ">";
}

std::string plain(std::size_t len) {
  std::string s;
  for (std::size_t k = 0; k < len; ++k)
    s.push_back(static_cast<char>('a' + k % 26));
  return s;
}

// What the escaper promises for text that is not valid UTF-8: a lone 0xff becomes U+FFFD.
std::string expected_after_escape(std::string s) {
  for (auto at = s.find('\xff'); at != std::string::npos; at = s.find('\xff', at + 3))
    s.replace(at, 1, "\xef\xbf\xbd");
  return s;
}

const std::vector<std::string>& specials() {
  static const std::vector<std::string> s = {
      "\"",   "\\",       "\n",  std::string(1, '\x01'), std::string(1, '\0'), "\x1f",
      "\x7f", "\xc3\xa9", "\xff"};
  return s;
}

TEST(JsonEscaper, EveryLengthAndOffsetOfASpecialByteRoundTrips) {
  for (std::size_t len = 0; len <= 40; ++len) {
    for (std::size_t at = 0; at <= len; ++at) {
      for (const auto& special : specials()) {
        auto value = plain(len);
        value.insert(at, special);
        EXPECT_EQ(round_trip(value), expected_after_escape(value))
            << "length " << len << ", special at " << at;
      }
    }
  }
}

// After each special byte the scan resumes with reads that overlap bytes it already handled:
// two specials at every pair of places cover those restarts.
TEST(JsonEscaper, EveryPairOfSpecialBytesRoundTrips) {
  for (std::size_t len = 0; len <= 20; ++len) {
    for (std::size_t first = 0; first <= len; ++first) {
      for (std::size_t second = first; second <= len; ++second) {
        for (const auto& a : specials()) {
          for (const auto& b : specials()) {
            auto value = plain(len);
            value.insert(second, b);
            value.insert(first, a);
            ASSERT_EQ(round_trip(value), expected_after_escape(value))
                << "length " << len << ", at " << first << " and " << second;
          }
        }
      }
    }
  }
}

TEST(JsonEscaper, PlainTextOfEveryLengthIsCopiedUnchanged) {
  for (std::size_t len = 0; len <= 70; ++len) {
    const auto value = plain(len);
    EXPECT_EQ(round_trip(value), value) << "length " << len;
  }
}

// What the JSON and console renderers may write as it is: printable ASCII but '"' and '\\'.
bool needs_escaping(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\' || c >= 0x7F;
}

TEST(PlainShortCopy, CopiesEveryPlainStringOfOneToSixteenBytesAndWritesNothingPast) {
  for (std::size_t len = 1; len <= 16; ++len) {
    const auto value = plain(len);
    std::string out(32, '#');
    const char* end = copy_if_plain_short(out.data(), value);
    ASSERT_NE(end, nullptr) << "length " << len;
    EXPECT_EQ(end, out.data() + len);
    EXPECT_EQ(out, value + std::string(32 - len, '#')) << "length " << len;
    EXPECT_TRUE(is_plain_short(value));
  }
}

TEST(PlainShortCopy, RefusesEveryByteThatNeedsEscapingAtEveryPlace) {
  for (std::size_t len = 1; len <= 16; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (unsigned c = 0; c < 256; ++c) {
        auto value = plain(len);
        value[at] = static_cast<char>(c);
        std::string out(32, '#');
        const char* end = copy_if_plain_short(out.data(), value);
        if (needs_escaping(static_cast<unsigned char>(c))) {
          ASSERT_EQ(end, nullptr) << "byte " << c << " at " << at << " of " << len;
          ASSERT_EQ(out, std::string(32, '#')) << "wrote a refused string";
          ASSERT_FALSE(is_plain_short(value));
        } else {
          ASSERT_EQ(std::string(out.data(), len), value) << "byte " << c << " at " << at;
        }
      }
    }
  }
}

TEST(PlainShortCopy, LeavesEmptyAndLongerStringsToTheEscaper) {
  char out[64];
  EXPECT_EQ(copy_if_plain_short(out, std::string_view()), nullptr);
  for (std::size_t len = 17; len <= 40; ++len)
    EXPECT_EQ(copy_if_plain_short(out, plain(len)), nullptr) << "length " << len;
}

}  // namespace
}  // namespace o11y::detail
