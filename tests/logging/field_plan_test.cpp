// A thread keeps what it decided for the keys of its last line (renames, redaction) and reuses
// it for a line with the same keys. These lines differ from the one before them in exactly
// what a wrongly reused plan would get wrong.
#include "logging/field_plan.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

nlohmann::json render(const std::vector<std::pair<std::string, Value>>& call_fields,
                      const Frame& frame) {
  std::vector<Field> fields;
  fields.reserve(call_fields.size());
  for (const auto& [k, v] : call_fields)
    fields.push_back({k, ValueView(v)});
  Record rec;
  rec.time_ns = 1'770'892'245'123'456'000ULL;
  rec.level = Level::Info;
  rec.logger = "orders.views";
  rec.event = "e";
  rec.fields = fields;
  rec.frame = &frame;
  rec.file = "views.cpp";
  rec.line = 42;
  Buffer out;
  make_json_renderer()->render(rec, out);
  return nlohmann::json::parse(std::string_view(out.data(), out.size()));
}

class FieldPlanLines : public ::testing::Test {
 protected:
  void TearDown() override { set_redaction(RedactionConfig{}.keys, false); }
  Frame no_tags_;
};

TEST_F(FieldPlanLines, LinesWithKeysOfTheSameSizesInTurnEachGetTheirOwnRenames) {
  for (int round = 0; round < 3; ++round) {
    const auto reserved = render({{"level", Value("user")}, {"x", Value(1)}}, no_tags_);
    EXPECT_EQ(reserved.value("level", std::string()), "info");
    EXPECT_EQ(reserved.value("level_field", std::string()), "user");
    EXPECT_EQ(reserved.value("x", -1), 1);

    const auto plain = render({{"leveL", Value("user")}, {"x", Value(1)}}, no_tags_);
    EXPECT_EQ(plain.value("leveL", std::string()), "user");
    EXPECT_FALSE(plain.contains("level_field"));

    const auto twice = render({{"x", Value(1)}, {"x", Value(2)}}, no_tags_);
    EXPECT_EQ(twice.value("x", -1), 1);
    EXPECT_EQ(twice.value("x_field", -1), 2);
  }
}

TEST_F(FieldPlanLines, ATagNamedAsACallFieldIsRenamedOnlyOnTheLinesWhereItCollides) {
  const Frame tagged{{{"a", Value("tag")}}, {}, nullptr, {}};
  for (int round = 0; round < 3; ++round) {
    const auto collides = render({{"a", Value("call")}}, tagged);
    EXPECT_EQ(collides.value("a", std::string()), "call");
    EXPECT_EQ(collides.value("a_tag", std::string()), "tag");

    const auto apart = render({{"b", Value("call")}}, tagged);
    EXPECT_EQ(apart.value("b", std::string()), "call");
    EXPECT_EQ(apart.value("a", std::string()), "tag");
    EXPECT_FALSE(apart.contains("a_tag"));
  }
}

TEST_F(FieldPlanLines, NewRedactionRulesApplyToTheNextLineWithTheSameKeys) {
  const std::vector<std::pair<std::string, Value>> fields = {{"card_holder", Value("Zoe")}};
  EXPECT_EQ(render(fields, no_tags_).value("card_holder", std::string()), "Zoe");
  set_redaction({"holder"}, false);
  EXPECT_EQ(render(fields, no_tags_).value("card_holder", std::string()), "[REDACTED]");
  set_redaction(RedactionConfig{}.keys, false);
  EXPECT_EQ(render(fields, no_tags_).value("card_holder", std::string()), "Zoe");
}

// A line with more keys than a kept plan holds gets a plan of its own, between lines that use
// the kept one.
TEST_F(FieldPlanLines, ALineWithMoreKeysThanAKeptPlanHoldsIsStillRenamed) {
  std::vector<std::pair<std::string, Value>> many = {{"level", Value("user")}};
  for (std::size_t i = 0; i < FieldPlan::kMaxKeys; ++i)
    many.emplace_back("k" + std::to_string(i), Value(static_cast<int>(i)));
  many.emplace_back("k3", Value(-1));
  const std::vector<std::pair<std::string, Value>> long_key = {
      {std::string(FieldPlan::kMaxKeyBytes, 'l'), Value(1)}, {"x", Value(1)}, {"x", Value(2)}};
  for (int round = 0; round < 2; ++round) {
    const auto big = render(many, no_tags_);
    EXPECT_EQ(big.value("level_field", std::string()), "user");
    EXPECT_EQ(big.value("k3", -100), 3);
    EXPECT_EQ(big.value("k3_field", -100), -1);
    EXPECT_EQ(big.value("k31", -100), 31);

    const auto longer = render(long_key, no_tags_);
    EXPECT_EQ(longer.value("x_field", -1), 2);

    const auto small = render({{"k3", Value(3)}}, no_tags_);
    EXPECT_FALSE(small.contains("k3_field"));
  }
}

// A thread_local destructor at thread exit still renders whole, renamed lines.
TEST_F(FieldPlanLines, ALineRenderedFromAThreadLocalDestructorAtExitIsStillRenamed) {
  nlohmann::json late_line;
  std::thread([&] {
    struct RendersAtExit {
      nlohmann::json* out;
      const Frame* frame;
      ~RendersAtExit() { *out = render({{"level", Value("user")}, {"x", Value(1)}}, *frame); }
    };
    thread_local RendersAtExit at_exit{&late_line, &no_tags_};
    (void)at_exit;
    (void)render({{"y", Value(2)}}, no_tags_);
  }).join();
  ASSERT_FALSE(late_line.is_null());
  EXPECT_EQ(late_line.value("level_field", std::string()), "user");
  EXPECT_EQ(late_line.value("x", -1), 1);
}

}  // namespace
}  // namespace o11y::detail
