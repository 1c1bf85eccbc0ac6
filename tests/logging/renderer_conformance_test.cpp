// Every renderer must pass the same cases (Go's slogtest is the model): whatever bytes a
// caller passes, the output is exactly one line, carries the event and the fields, and never
// lets a value forge a second record or drive the terminal.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

struct Case {
  std::string name;
  std::string event;
  std::vector<std::pair<std::string, Value>> fields;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"plain", "order_placed", {{"order_id", Value(123)}, {"amount", Value(49.99)}}});
  c.push_back({"newline_event", "line1\nline2\r\n{\"forged\":true}", {}});
  c.push_back({"quote_key", "e", {{"we\"ird\\key", Value("v")}}});
  c.push_back({"invalid_utf8",
               "e",
               {{"bytes", Value(std::string("\xff\xfe ok \xc3\x28 \xed\xa0\x80", 13))}}});
  c.push_back({"control_chars", "e", {{"ctl", Value(std::string("\x01\x02\x1f\x7f\0end", 8))}}});
  c.push_back({"terminal_escape",
               "e",
               {{"esc", Value("\x1b[2J\x1b]0;pwned\x07 \xc2\x9b"
                              "31m")}}});
  c.push_back({"nan_inf",
               "e",
               {{"nan", Value(std::numeric_limits<double>::quiet_NaN())},
                {"inf", Value(std::numeric_limits<double>::infinity())},
                {"ninf", Value(-std::numeric_limits<double>::infinity())}}});
  c.push_back({"huge_value", "e", {{"big", Value(std::string(1 << 20, 'x'))}}});
  c.push_back({"unicode", "café ☕", {{"name", Value("Zoë 日本 🎉")}}});
  c.push_back({"empty_key", "", {{"", Value(1)}}});
  std::vector<std::pair<std::string, Value>> many;
  for (int i = 0; i < 10000; ++i)
    many.emplace_back("f" + std::to_string(i), Value(i));
  c.push_back({"ten_thousand_fields", "e", std::move(many)});
  return c;
}

std::string render(const Renderer& r, const Case& c, const Frame& frame) {
  std::vector<Field> fields;
  for (const auto& [k, v] : c.fields)
    fields.push_back({k, ValueView(v)});
  Record rec;
  rec.time_ns = 1'770'892'245'123'456'000ULL;
  rec.level = Level::Warning;
  rec.logger = "orders.views";
  rec.event = c.event;
  rec.fields = fields;
  rec.frame = &frame;
  rec.file = "views.cpp";
  rec.line = 42;
  Buffer out;
  r.render(rec, out);
  return {out.data(), out.size()};
}

class RendererConformance : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Renderer> renderer() const {
    if (GetParam() == "json")
      return make_json_renderer();
    if (GetParam() == "console_colour")
      return make_console_renderer(true);
    return make_console_renderer(false);
  }
  Frame frame_{{{"tenant_id", "acme"}}, {}, nullptr, {}};
};

TEST_P(RendererConformance, EveryCaseIsExactlyOneLine) {
  const auto r = renderer();
  for (const auto& c : cases()) {
    const auto line = render(*r, c, frame_);
    ASSERT_FALSE(line.empty()) << c.name;
    EXPECT_EQ(line.back(), '\n') << c.name;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << c.name;
    EXPECT_EQ(line.find('\r'), std::string::npos) << c.name;
  }
}

TEST_P(RendererConformance, NoValueCanDriveTheTerminal) {
  const auto r = renderer();
  const auto line = render(*r, cases()[5], frame_);  // terminal_escape
  // Our own colour codes are the only ESC bytes allowed, and only with colours on.
  std::string stripped;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b' && GetParam() == "console_colour" && i + 1 < line.size() &&
        line[i + 1] == '[') {
      const auto m = line.find('m', i);
      const auto code = line.substr(i + 2, m - i - 2);
      EXPECT_EQ(code.find_first_not_of("0123456789;"), std::string::npos) << code;
      i = m;
      continue;
    }
    stripped.push_back(line[i]);
  }
  EXPECT_EQ(stripped.find('\x1b'), std::string::npos) << line;
  EXPECT_EQ(stripped.find('\x07'), std::string::npos);
  EXPECT_EQ(stripped.find("\xc2\x9b"), std::string::npos);  // C1 CSI
}

TEST_P(RendererConformance, CarriesEventFieldsTagsAndCallSite) {
  const auto r = renderer();
  const auto line = render(*r, cases()[0], frame_);
  EXPECT_NE(line.find("order_placed"), std::string::npos);
  EXPECT_NE(line.find("order_id"), std::string::npos);
  EXPECT_NE(line.find("123"), std::string::npos);
  EXPECT_NE(line.find("49.99"), std::string::npos);
  EXPECT_NE(line.find("acme"), std::string::npos);
  EXPECT_NE(line.find("views.cpp"), std::string::npos);
  EXPECT_NE(line.find("42"), std::string::npos);
  EXPECT_NE(line.find("2026-02-12T10:30:45"), std::string::npos);
}

TEST_P(RendererConformance, OversizeValuesAreCutAndSaySo) {
  const auto r = renderer();
  const auto line = render(*r, cases()[7], frame_);
  EXPECT_LT(line.size(), 70U * 1024U);
  EXPECT_NE(line.find("truncated 983040 of 1048576 bytes"), std::string::npos);
}

TEST_P(RendererConformance, TooManyFieldsAreDroppedAndCounted) {
  const auto r = renderer();
  const auto line = render(*r, cases()[10], frame_);
  EXPECT_NE(line.find("dropped_fields"), std::string::npos);
  // 10,000 call fields + 1 tag, 1,024 written.
  EXPECT_NE(line.find("8977"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllRenderers, RendererConformance,
                         ::testing::Values("json", "console", "console_colour"));

TEST(JsonRenderer, EveryCaseParsesAsOneObject) {
  const auto r = make_json_renderer();
  const Frame frame{{{"tenant_id", "acme"}}, {}, nullptr, {}};
  for (const auto& c : cases()) {
    const auto line = render(*r, c, frame);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << c.name << ": " << line.substr(0, 300);
    EXPECT_EQ(j["event"].get<std::string>().empty(), c.event.empty()) << c.name;
    EXPECT_EQ(j["level"], "warning");
    EXPECT_EQ(j["timestamp"], "2026-02-12T10:30:45.123456Z");
  }
}

TEST(JsonRenderer, NanAndInfinityBecomeStrings) {
  const auto r = make_json_renderer();
  const auto j = nlohmann::json::parse(render(*r, cases()[6], Frame{}));
  EXPECT_EQ(j["nan"], "NaN");
  EXPECT_EQ(j["inf"], "Infinity");
  EXPECT_EQ(j["ninf"], "-Infinity");
}

TEST(JsonRenderer, InvalidUtf8BecomesReplacementCharacters) {
  const auto r = make_json_renderer();
  const auto j = nlohmann::json::parse(render(*r, cases()[3], Frame{}));
  const std::string v = j["bytes"];
  EXPECT_NE(v.find("\xEF\xBF\xBD ok \xEF\xBF\xBD("), std::string::npos);
}

TEST(JsonRenderer, ValidUnicodeIsKeptAsIs) {
  const auto r = make_json_renderer();
  const auto j = nlohmann::json::parse(render(*r, cases()[8], Frame{}));
  EXPECT_EQ(j["event"], "café ☕");
  EXPECT_EQ(j["name"], "Zoë 日本 🎉");
}

TEST(JsonRenderer, ControlCharactersAndQuotesRoundTrip) {
  const auto r = make_json_renderer();
  const auto j = nlohmann::json::parse(render(*r, cases()[4], Frame{}));
  EXPECT_EQ(j["ctl"], std::string("\x01\x02\x1f\x7f\0end", 8));
  const auto q = nlohmann::json::parse(render(*r, cases()[2], Frame{}));
  EXPECT_EQ(q["we\"ird\\key"], "v");
  const auto n = nlohmann::json::parse(render(*r, cases()[1], Frame{}));
  EXPECT_EQ(n["event"], "line1\nline2\r\n{\"forged\":true}");
}

// The line grows its buffer section by section (head, each field, tail) rather than from one
// bound computed up front: lines of every size around those steps, with keys and values that
// escape to six bytes each, appended after whatever the buffer already held, must come out
// whole, with the earlier content untouched (and, under ASan, with no write past the end).
TEST(JsonRenderer, LinesOfEverySizeAppendWholeToABufferInAnyState) {
  const auto r = make_json_renderer();
  const Frame frame{{{"tenant_id", "acme"}}, {}, nullptr, {}};
  for (std::size_t prefix : {0U, 1U, 499U, 500U, 4000U}) {
    for (std::size_t nfields = 0; nfields <= 12; nfields += 3) {
      for (std::size_t len : {0U, 15U, 16U, 17U, 90U, 700U}) {
        std::vector<std::string> keys;
        std::vector<std::string> values;
        for (std::size_t i = 0; i < nfields; ++i) {
          keys.push_back("k" + std::to_string(i) + std::string(len, '\x01'));
          values.push_back(std::string(len, '"') + std::to_string(i));
        }
        std::vector<Field> fields;
        for (std::size_t i = 0; i < nfields; ++i)
          fields.push_back({keys[i], ValueView(values[i])});
        Record rec;
        rec.time_ns = 1'770'892'245'123'456'000ULL;
        rec.level = Level::Info;
        rec.logger = values.empty() ? std::string_view("l") : std::string_view(values[0]);
        rec.event = "e";
        rec.fields = fields;
        rec.frame = &frame;
        rec.file = "views.cpp";
        rec.line = 42;
        Buffer out;
        const std::string before(prefix, 'p');
        out.append(before);
        r->render(rec, out);
        const std::string all(out.data(), out.size());
        ASSERT_EQ(all.substr(0, prefix), before);
        const auto j = nlohmann::json::parse(all.substr(prefix), nullptr, false);
        ASSERT_TRUE(j.is_object()) << prefix << " " << nfields << " " << len;
        for (std::size_t i = 0; i < nfields; ++i)
          ASSERT_EQ(j[keys[i]], values[i]) << prefix << " " << nfields << " " << len;
        EXPECT_EQ(all.back(), '\n');
      }
    }
  }
}

// The escaper scans eight bytes at a time and copies short runs with overlapping moves: a
// byte that needs escaping at any offset of any length must still come out exactly.
TEST(JsonRenderer, EveryLengthAndOffsetOfASpecialByteRoundTrips) {
  const auto r = make_json_renderer();
  const std::vector<std::string> specials = {
      "\"", "\\", "\n", std::string(1, '\x01'), std::string(1, '\0'), "\x7f", "\xc3\xa9"};
  for (std::size_t len = 0; len <= 40; ++len) {
    for (std::size_t at = 0; at <= len; ++at) {
      for (const auto& special : specials) {
        std::string value;
        for (std::size_t k = 0; k < len; ++k)
          value.push_back(static_cast<char>('a' + k % 26));
        value.insert(at, special);
        Case c{"case", "e", {{"v", Value(value)}}};
        const auto j = nlohmann::json::parse(render(*r, c, Frame{}), nullptr, false);
        ASSERT_TRUE(j.is_object()) << len << " " << at;
        EXPECT_EQ(j["v"], value) << "length " << len << ", special at " << at;
      }
    }
  }
}

TEST(ConsoleRenderer, MatchesTheDocumentedLayoutWithoutColours) {
  const auto r = make_console_renderer(false);
  Case c{"doc", "order_placed", {{"order_id", Value(123)}, {"amount", Value(49.99)}}};
  const auto line = render(*r, c, Frame{});
  EXPECT_EQ(line,
            "2026-02-12T10:30:45 [warning  ] order_placed    order_id=123 amount=49.99 "
            "[views.cpp:42]\n");
}

}  // namespace
}  // namespace o11y::detail
