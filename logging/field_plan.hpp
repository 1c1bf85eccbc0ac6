#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "context/redact.hpp"
#include "logging/record.hpp"

namespace o11y::detail {

/// What for_each_user_field() decides for each key of a line: the suffix that renames it (a
/// reserved key, or one an earlier field already used) and, for a call's own field, how its
/// value is redacted. A thread keeps the plan of the last line it walked, since a writer's
/// lines mostly come in runs from one call site under one context: checking that a line's
/// keys are those of the plan costs a comparison per key, where working the plan out costs a
/// lookup in the redaction cache per call field and a comparison with every earlier key.
///
/// Not thread-safe: each thread uses its own (of()). Building a plan may throw std::bad_alloc.
class FieldPlan {
 public:
  /// The suffixes, by Entry::suffix: none, then one per source of fields.
  static constexpr std::array<std::string_view, 5> kSuffixes = {"", "_field", "_bound", "_tag",
                                                                "_context"};
  struct Entry {
    std::uint8_t suffix = 0;  ///< index into kSuffixes
    KeyTraits traits;         ///< a call field's; unused for the other sources
  };

  /// The plan for r's keys, in for_each_user_field()'s order (call fields, bound fields, tags,
  /// log context): the calling thread's, rebuilt when r's keys or the redaction rules differ
  /// from the ones it was built for. Valid until the thread's next of(). From a thread_local
  /// destructor at thread exit, after the thread's plan was destroyed, the plan is built in
  /// `late`, which the caller keeps while it reads the plan.
  static const FieldPlan& of(const Record& r, std::unique_ptr<FieldPlan>& late);

  [[nodiscard]] const Entry* entries() const noexcept { return entries_.data(); }

 private:
  [[nodiscard]] bool fits(const Record& r, std::uint64_t version) const noexcept;
  void build(const Record& r, std::uint64_t version);

  bool valid_ = false;
  std::uint64_t version_ = 0;            ///< redaction_version() it was built under
  std::array<std::size_t, 4> counts_{};  ///< keys per source
  std::string keys_;                     ///< every key, back to back
  std::vector<std::uint32_t> ends_;      ///< where each key ends in keys_
  std::vector<Entry> entries_;
};

}  // namespace o11y::detail
