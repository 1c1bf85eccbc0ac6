#include <gtest/gtest.h>

#include <o11y/context.hpp>
#include <o11y/trace.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/span_fixture.hpp"

namespace o11y {
namespace {

using testing::find_attr;
using ContextTags = testing::SpanTest;

TEST_F(ContextTags, SetCustomTagsIsVisibleInTheCurrentContext) {
  set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
  const auto tags = Context::current().custom_tags();
  ASSERT_EQ(tags.size(), 2U);
  EXPECT_EQ(tags[0].key, "tenant_id");
  EXPECT_EQ(tags[0].value, Value("acme"));
  EXPECT_EQ(tags[1].key, "feature");
}

TEST_F(ContextTags, LaterValueReplacesEarlierKeyInPlace) {
  set_custom_tags({{"a", 1}, {"b", 2}});
  set_custom_tags({{"a", 3}});
  const auto tags = Context::current().custom_tags();
  ASSERT_EQ(tags.size(), 2U);
  EXPECT_EQ(tags[0].value, Value(3));
}

TEST_F(ContextTags, EmptyKeysAreIgnored) {
  set_custom_tags({{"", "x"}, {"ok", true}});
  const auto tags = Context::current().custom_tags();
  ASSERT_EQ(tags.size(), 1U);
  EXPECT_EQ(tags[0].key, "ok");
}

TEST_F(ContextTags, LogContextIsSeparateFromTags) {
  add_log_context({{"checkout_variant", "B"}});
  EXPECT_TRUE(Context::current().custom_tags().empty());
  ASSERT_EQ(Context::current().log_context().size(), 1U);
}

TEST_F(ContextTags, ScopeUndoesWhatWasSetInside) {
  set_custom_tags({{"outer", 1}});
  {
    Scope request;
    set_custom_tags({{"user_id", "42"}});
    add_log_context({{"debug", true}});
    EXPECT_EQ(Context::current().custom_tags().size(), 2U);
  }
  const auto tags = Context::current().custom_tags();
  ASSERT_EQ(tags.size(), 1U);
  EXPECT_EQ(tags[0].key, "outer");
  EXPECT_TRUE(Context::current().log_context().empty());
}

TEST_F(ContextTags, ScopeUndoesWhenClosedByAnException) {
  try {
    Scope request;
    set_custom_tags({{"user_id", "42"}});
    throw std::runtime_error("handler failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(Context::current().custom_tags().empty());
}

TEST_F(ContextTags, ClearCustomContextKeepsTheActiveSpan) {
  auto span = start_span("request");
  set_custom_tags({{"a", 1}});
  add_log_context({{"b", 2}});
  clear_custom_context();
  EXPECT_TRUE(Context::current().custom_tags().empty());
  EXPECT_TRUE(Context::current().log_context().empty());
  EXPECT_EQ(current_span_id(), span.span_id());
}

TEST_F(ContextTags, TagsSetOnAnOpenSpanBecomeItsAttributes) {
  {
    auto span = start_span("handler");
    set_custom_tags({{"tenant_id", "acme"}});
  }
  auto data = spans_->find("handler");
  ASSERT_NE(data, nullptr);
  const Value* v = find_attr(data->attributes, "tenant_id");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, Value("acme"));
}

TEST_F(ContextTags, SpansStartedInAFrameInheritItsTags) {
  Scope request;
  set_custom_tags({{"tenant_id", "acme"}});
  { auto child = start_span("child"); }
  auto data = spans_->find("child");
  ASSERT_NE(data, nullptr);
  EXPECT_NE(find_attr(data->attributes, "tenant_id"), nullptr);
}

TEST_F(ContextTags, AddSpanAttributeReachesTheSpanOnly) {
  {
    auto span = start_span("cart");
    add_span_attribute("cart_size", 3);
    EXPECT_TRUE(Context::current().custom_tags().empty());
    EXPECT_TRUE(Context::current().log_context().empty());
  }
  auto data = spans_->find("cart");
  ASSERT_NE(data, nullptr);
  ASSERT_NE(find_attr(data->attributes, "cart_size"), nullptr);
  EXPECT_EQ(*find_attr(data->attributes, "cart_size"), Value(3));
}

TEST_F(ContextTags, AddSpanAttributeWithoutASpanDoesNothing) {
  add_span_attribute("cart_size", 3);
  EXPECT_TRUE(Context::current().custom_tags().empty());
  EXPECT_TRUE(spans_->spans().empty());
}

TEST_F(ContextTags, LogContextDoesNotReachSpans) {
  {
    auto span = start_span("quiet");
    add_log_context({{"checkout_variant", "B"}});
  }
  auto data = spans_->find("quiet");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(find_attr(data->attributes, "checkout_variant"), nullptr);
}

TEST_F(ContextTags, AttachedContextOnAnotherThreadSeesTagsAndSpan) {
  auto span = start_span("parent");
  set_custom_tags({{"tenant_id", "acme"}});
  add_log_context({{"variant", "B"}});
  auto ctx = Context::current();

  std::string seen_trace;
  std::string seen_span;
  Attributes seen_tags;
  Attributes seen_log;
  bool empty_after = false;
  std::thread worker([&] {
    {
      auto attached = ctx.attach();
      seen_trace = current_trace_id();
      seen_span = current_span_id();
      seen_tags = Context::current().custom_tags();
      seen_log = Context::current().log_context();
      auto child = start_span("job");
    }
    empty_after = current_trace_id().empty() && Context::current().custom_tags().empty();
  });
  worker.join();
  span.end();

  EXPECT_EQ(seen_trace, span.trace_id());
  EXPECT_EQ(seen_span, span.span_id());
  ASSERT_EQ(seen_tags.size(), 1U);
  ASSERT_EQ(seen_log.size(), 1U);
  EXPECT_TRUE(empty_after);
  auto job = spans_->find("job");
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->parent_span_id, span.context().span_id);
  EXPECT_EQ(job->context.trace_id, span.context().trace_id);
}

TEST_F(ContextTags, SnapshotDoesNotChangeWhenTheThreadMovesOn) {
  set_custom_tags({{"a", 1}});
  const auto snapshot = Context::current();
  set_custom_tags({{"b", 2}});
  EXPECT_EQ(snapshot.custom_tags().size(), 1U);
  EXPECT_EQ(Context::current().custom_tags().size(), 2U);
}

TEST_F(ContextTags, RunTimeAttributesOverloadsWork) {
  const Attributes tags{{"tenant_id", "acme"}, {"n", 5}};
  set_custom_tags(tags);
  add_log_context(Attributes{{"x", 1.5}});
  EXPECT_EQ(Context::current().custom_tags(), tags);
  EXPECT_EQ(Context::current().log_context().size(), 1U);
}

}  // namespace
}  // namespace o11y
