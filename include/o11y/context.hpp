#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "o11y/value.hpp"

namespace o11y {

namespace detail {
struct Frame;
}  // namespace detail

/// Sets tags on the current context: they become attributes of the active span (if any), of
/// every span started later in this scope, and fields of every log line written in it.
///
/// A later value for the same key replaces the earlier one. Thread-safe: it changes only the
/// calling thread's current frame (and the active span, which is internally synchronised).
/// Never throws; empty keys are ignored.
void set_custom_tags(std::initializer_list<Field> tags) noexcept;
/// As above, for tags built at run time.
void set_custom_tags(const Attributes& tags) noexcept;

/// Adds one attribute to the active span only (no log line carries it). No-op without a span.
void add_span_attribute(std::string_view key, ValueView value) noexcept;

/// Adds fields to every log line written in the current context; spans do not see them.
void add_log_context(std::initializer_list<Field> fields) noexcept;
/// As above, for fields built at run time.
void add_log_context(const Attributes& fields) noexcept;

/// Removes the custom tags and log context of the current context. The active span, and the
/// attributes already set on it, are kept.
void clear_custom_context() noexcept;

/// An RAII frame: whatever set_custom_tags / add_log_context do while it is open is undone
/// when it closes, also when it closes by an exception.
///
/// Open and close it on the same thread. Not copyable or movable. Never throws.
class Scope {
 public:
  Scope() noexcept;
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  Scope(Scope&&) = delete;
  Scope& operator=(Scope&&) = delete;

 private:
  std::shared_ptr<const detail::Frame> saved_;
  const void* owner_;
};

/// A snapshot of a thread's context: custom tags, log context and the active span.
///
/// Immutable and cheap to copy (one reference count), so it can be captured by value into a
/// lambda and attached on another thread. Thread-safe. Never throws.
class Context {
 public:
  /// RAII token returned by attach(): while it lives, this thread's context is the snapshot;
  /// its destruction restores what was current before. Destroy it on the attaching thread.
  class [[nodiscard]] Attachment {
   public:
    ~Attachment();
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;
    Attachment(Attachment&&) = delete;
    Attachment& operator=(Attachment&&) = delete;

   private:
    friend class Context;
    explicit Attachment(std::shared_ptr<const detail::Frame> frame) noexcept;
    std::shared_ptr<const detail::Frame> saved_;
    const void* owner_;
  };

  /// The empty context: no tags, no span.
  Context() noexcept = default;
  /// Snapshot of the calling thread's current context.
  static Context current() noexcept;
  /// Makes this snapshot the calling thread's context until the returned token is destroyed.
  [[nodiscard]] Attachment attach() const noexcept;

  /// The custom tags of the snapshot.
  [[nodiscard]] Attributes custom_tags() const;
  /// The log-only fields of the snapshot.
  [[nodiscard]] Attributes log_context() const;
  /// 32 lowercase hex digits of the active span's trace id, or "" without a span.
  [[nodiscard]] std::string trace_id() const;
  /// 16 lowercase hex digits of the active span's id, or "" without a span.
  [[nodiscard]] std::string span_id() const;

 private:
  explicit Context(std::shared_ptr<const detail::Frame> frame) noexcept
      : frame_(std::move(frame)) {}
  std::shared_ptr<const detail::Frame> frame_;
};

}  // namespace o11y
