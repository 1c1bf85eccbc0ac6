#pragma once

// The internal context API that logging, metrics and the HTTP integration read.

#include <initializer_list>
#include <memory>

#include "o11y/value.hpp"

namespace o11y::detail {

struct SpanState;

/// One immutable frame of context. Frames are shared (copy-on-write): every change makes a new
/// frame and swaps the calling thread's current pointer, so a reader on another thread that
/// holds a snapshot never sees it change.
///
/// A span and the frame that start_span() makes current for it share one allocation (see
/// SpanState), so a frame's span is a plain pointer: it stays valid as long as the frame does.
/// The frame inside a span's allocation keeps it alive by being in it; any other frame naming a
/// span holds `span_owner`. Copy frames with derive_frame(), which keeps that true.
struct Frame {
  Attributes tags;                         ///< custom tags: span attributes and log fields
  Attributes log_context;                  ///< log-only fields
  SpanState* span = nullptr;               ///< the active local span, or null
  std::shared_ptr<const void> span_owner;  ///< keeps `span` alive; null in the span's own frame
};

/// A copy of *from (null: the empty frame) that keeps its span alive by itself.
[[nodiscard]] inline Frame derive_frame(const std::shared_ptr<const Frame>& from) {
  if (!from)
    return {};
  Frame copy = *from;
  if (copy.span != nullptr && !copy.span_owner)
    copy.span_owner = from;  // *from lives in the span's allocation, so it owns the span
  return copy;
}

/// The calling thread's current frame as a plain pointer (null: the empty frame), kept equal
/// to current_frame_ptr().get(). Trivially destructible and constant-initialised, so other
/// translation units read it inline without a TLS wrapper call: metric hot paths check it for
/// a recording span on every add.
extern thread_local constinit const Frame* t_frame;  // NOLINT(*-avoid-non-const-global-*)

/// The frame with nothing in it: what current_frame() is when nothing was ever set.
[[nodiscard]] const Frame& empty_frame() noexcept;
/// The calling thread's current frame (an empty one when nothing was ever set). The reference
/// stays valid until this thread changes its context. Inline: every log call reads it.
[[nodiscard]] inline const Frame& current_frame() noexcept {
  return t_frame != nullptr ? *t_frame : empty_frame();
}
/// The calling thread's current frame pointer; null means the empty frame.
[[nodiscard]] const std::shared_ptr<const Frame>& current_frame_ptr() noexcept;
/// Installs a frame as the calling thread's current one and returns the previous one.
std::shared_ptr<const Frame> exchange_current_frame(std::shared_ptr<const Frame> frame) noexcept;
/// Identity of the calling thread's context slot, used to notice RAII objects closed on a
/// different thread than the one that opened them.
[[nodiscard]] const void* current_slot() noexcept;

/// Sets key=value in attrs: replaces an existing key in place, else appends. Empty keys are
/// ignored. Returns false when the key was new and attrs already held max_count entries.
bool upsert(Attributes& attrs, std::string_view key, ValueView value,
            std::size_t max_count = static_cast<std::size_t>(-1));

/// upsert() for what users record (span and event attributes, tags, log context, bound
/// fields): secret keys are redacted and, when enabled, personal data masked on the way in.
bool upsert_user(Attributes& attrs, std::string_view key, ValueView value,
                 std::size_t max_count = static_cast<std::size_t>(-1));

}  // namespace o11y::detail
