#include "o11y/context.hpp"

#include <algorithm>
#include <utility>

#include "base/internal_error.hpp"
#include "base/thread_instance.hpp"
#include "base/words.hpp"
#include "context/frame.hpp"
#include "context/redact.hpp"
#include "context/span_state.hpp"

namespace o11y {
namespace detail {
namespace {

// The one definition of the current frame. Keeping it in this .cpp (not a header) gives every
// translation unit and shared object the same slot.
// Clears t_frame when the thread's slot is destroyed, so nothing reads a freed frame
// through it from a later thread_local destructor. Once it is gone, this thread's context
// stays empty: calls from later destructors still log and make spans, without context.
struct CurrentSlot {
  std::shared_ptr<const Frame> frame;
  CurrentSlot() = default;
  CurrentSlot(const CurrentSlot&) = delete;
  CurrentSlot& operator=(const CurrentSlot&) = delete;
  CurrentSlot(CurrentSlot&&) = delete;
  CurrentSlot& operator=(CurrentSlot&&) = delete;
  ~CurrentSlot() { t_frame = nullptr; }

  void set(std::shared_ptr<const Frame> next) noexcept {
    t_frame = next.get();
    frame = std::move(next);
  }
};
CurrentSlot* slot() noexcept {
  return thread_instance<CurrentSlot>();
}

const std::shared_ptr<const Frame>& no_frame() noexcept {
  static const std::shared_ptr<const Frame> kNone;
  return kNone;
}

// Applies `change` to a copy of the current frame and installs the copy.
template <class Change>
void modify_current(Change&& change) noexcept {
  try {
    auto* const current = slot();
    if (current == nullptr)
      return;
    auto next = std::make_shared<Frame>(derive_frame(current->frame));
    std::forward<Change>(change)(*next);
    current->set(std::move(next));
  } catch (const std::exception& e) {
    report_internal_error("context", e.what());
  } catch (...) {
    report_internal_error("context", "unknown exception while changing context");
  }
}

void add_to_span(SpanState* span, std::string_view key, ValueView value) {
  if (span == nullptr || !span->recording)
    return;
  std::lock_guard lock(span->mu);
  if (span->ended)
    return;
  if (!upsert_user(span->data.attributes, key, value, kMaxSpanAttributes)) {
    ++span->data.dropped_attributes;
  }
}

}  // namespace

thread_local constinit const Frame* t_frame = nullptr;  // NOLINT(*-avoid-non-const-global-*)

const Frame& empty_frame() noexcept {
  static const Frame kEmpty;
  return kEmpty;
}

const std::shared_ptr<const Frame>& current_frame_ptr() noexcept {
  const auto* const current = slot();
  return current != nullptr ? current->frame : no_frame();
}

std::shared_ptr<const Frame> exchange_current_frame(std::shared_ptr<const Frame> frame) noexcept {
  auto* const current = slot();
  if (current == nullptr)
    return {};  // `frame` is released here: nothing can be current any more
  auto previous = std::move(current->frame);
  current->set(std::move(frame));
  return previous;
}

const void* current_slot() noexcept {
  return slot();
}

bool upsert_user(Attributes& attrs, std::string_view key, ValueView value, std::size_t max_count) {
  return upsert_redacted(attrs, key, key_traits(key), value, max_count);
}

bool upsert_masked(Attributes& attrs, std::string_view key, KeyTraits traits, ValueView value,
                   std::size_t max_count) {
  std::string scratch;
  return upsert(attrs, key, redact(traits, value, scratch), max_count);
}

bool upsert(Attributes& attrs, std::string_view key, ValueView value, std::size_t max_count) {
  if (key.empty())
    return true;
  for (auto& a : attrs) {
    if (short_equal(a.key, key)) {
      a.value.assign(value);
      return true;
    }
  }
  if (attrs.size() >= max_count)
    return false;
  // Built in place: a temporary Attribute moved in cost a fifth of setting a span attribute.
  auto& added = attrs.emplace_back();
  added.key.assign(key);
  added.value.assign(value);
  return true;
}

}  // namespace detail

namespace {

template <class Range>
void set_custom_tags_impl(const Range& tags) noexcept {
  // A copy of the pointer, not a reference to it: modify_current replaces (and may free) the
  // frame, and holding it keeps the span alive.
  // NOLINTNEXTLINE(performance-unnecessary-copy-initialization)
  const auto before = detail::current_frame_ptr();
  auto* const span = before ? before->span : nullptr;
  detail::modify_current([&tags](detail::Frame& f) {
    for (const auto& t : tags)
      detail::upsert_user(f.tags, t.key, ValueView(t.value));
  });
  try {
    for (const auto& t : tags)
      detail::add_to_span(span, t.key, ValueView(t.value));
  } catch (...) {
    detail::report_internal_error("context", "could not add custom tags to the span");
  }
}

template <class Range>
void add_log_context_impl(const Range& fields) noexcept {
  detail::modify_current([&fields](detail::Frame& f) {
    for (const auto& t : fields)
      detail::upsert_user(f.log_context, t.key, ValueView(t.value));
  });
}

}  // namespace

void set_custom_tags(std::initializer_list<Field> tags) noexcept {
  set_custom_tags_impl(tags);
}
void set_custom_tags(const Attributes& tags) noexcept {
  set_custom_tags_impl(tags);
}

void add_span_attribute(std::string_view key, ValueView value) noexcept {
  try {
    detail::add_to_span(detail::current_frame().span, key, value);
  } catch (...) {
    detail::report_internal_error("context", "could not add a span attribute");
  }
}

void add_log_context(std::initializer_list<Field> fields) noexcept {
  add_log_context_impl(fields);
}
void add_log_context(const Attributes& fields) noexcept {
  add_log_context_impl(fields);
}

void clear_custom_context() noexcept {
  const auto& cur = detail::current_frame();
  if (cur.tags.empty() && cur.log_context.empty())
    return;
  detail::modify_current([](detail::Frame& f) {
    f.tags.clear();
    f.log_context.clear();
  });
}

Scope::Scope() noexcept : saved_(detail::current_frame_ptr()), owner_(detail::current_slot()) {}

Scope::~Scope() {
  if (owner_ != detail::current_slot()) {
    detail::report_internal_error("context", "o11y::Scope closed on another thread; ignored");
    return;
  }
  detail::exchange_current_frame(std::move(saved_));
}

Context Context::current() noexcept {
  return Context(detail::current_frame_ptr());
}

Context::Attachment Context::attach() const noexcept {
  return Attachment(frame_);
}

Context::Attachment::Attachment(std::shared_ptr<const detail::Frame> frame) noexcept
    : saved_(detail::exchange_current_frame(std::move(frame))), owner_(detail::current_slot()) {}

Context::Attachment::~Attachment() {
  if (owner_ != detail::current_slot()) {
    detail::report_internal_error("context",
                                  "o11y::Context::Attachment destroyed on another thread; ignored");
    return;
  }
  detail::exchange_current_frame(std::move(saved_));
}

Attributes Context::custom_tags() const {
  return frame_ ? frame_->tags : Attributes{};
}

Attributes Context::log_context() const {
  return frame_ ? frame_->log_context : Attributes{};
}

std::string Context::trace_id() const {
  if (!frame_ || !frame_->span)
    return {};
  return frame_->span->data.context.trace_id.to_hex();
}

std::string Context::span_id() const {
  if (!frame_ || !frame_->span)
    return {};
  return frame_->span->data.context.span_id.to_hex();
}

}  // namespace o11y
