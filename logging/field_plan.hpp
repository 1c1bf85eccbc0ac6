#pragma once

#include <array>
#include <cstdint>
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
/// The kept plan has a fixed size and lives in constant-initialised thread-local storage: no
/// allocation, and nothing to destroy at thread exit, so a line logged from a thread_local
/// destructor still finds it. A line with more keys or longer ones gets a plan of its own.
/// Not thread-safe: each thread uses its own (entries_for()).
class FieldPlan {
 public:
  /// The suffixes, by Entry::suffix: none, then one per source of fields.
  static constexpr std::array<std::string_view, 5> kSuffixes = {"", "_field", "_bound", "_tag",
                                                                "_context"};
  struct Entry {
    std::uint8_t suffix = 0;  ///< index into kSuffixes
    KeyTraits traits;         ///< a call field's; unused for the other sources
  };

  /// The decisions for r's keys, in for_each_user_field()'s order (call fields, bound fields,
  /// tags, log context): the calling thread's kept plan, rebuilt when r's keys or the
  /// redaction rules differ from the ones it was built for, valid until the thread's next
  /// call; or, for a line too big to keep, in `big`. Throws only std::bad_alloc (`big`).
  static const Entry* entries_for(const Record& r, std::vector<Entry>& big);

  static constexpr std::size_t kMaxKeys = 32;
  static constexpr std::size_t kMaxKeyBytes = 512;

 private:
  [[nodiscard]] bool fits(const Record& r, std::uint64_t version) const noexcept;

  bool valid_ = false;
  std::uint64_t version_ = 0;                   ///< redaction_version() it was built under
  std::array<std::size_t, 4> counts_{};         ///< keys per source
  std::array<char, kMaxKeyBytes> keys_{};       ///< every key, back to back
  std::array<std::uint16_t, kMaxKeys> ends_{};  ///< where each key ends in keys_
  std::array<Entry, kMaxKeys> entries_{};
};

}  // namespace o11y::detail
