#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <o11y/context.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <string_view>

namespace o11y::testing {

/// Collects every span that ends during a test and isolates the test's context: tags set in
/// the test vanish with the fixture's Scope, and sampling is back to 1.0.
class SpanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_sample_rate(1.0);
    add_span_processor(spans_);
  }
  void TearDown() override {
    remove_span_processor(spans_);
    set_sample_rate(1.0);
  }

  std::shared_ptr<InMemorySpanProcessor> spans_ = std::make_shared<InMemorySpanProcessor>();
  Scope isolate_;
};

/// The value of an attribute, or null when absent.
inline const Value* find_attr(const Attributes& attrs, std::string_view key) {
  for (const auto& a : attrs) {
    if (a.key == key)
      return &a.value;
  }
  return nullptr;
}

/// An attribute's value as text, "<absent>" when the span does not have it.
inline std::string attr_text(const SpanData& span, std::string_view key) {
  const auto* v = find_attr(span.attributes, key);
  return v != nullptr ? v->to_string() : std::string("<absent>");
}

}  // namespace o11y::testing
