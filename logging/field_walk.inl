#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/words.hpp"
#include "context/redact.hpp"

namespace o11y::detail {

namespace field_walk {
// Remembers the keys already written. Small lines (the usual case) use a fixed array and no
// allocation; a line with many fields switches to a hash set.
class SeenKeys {
 public:
  bool contains(std::string_view k) const {
    if (big_)
      return big_->count(k) > 0;
    for (std::size_t i = 0; i < n_; ++i) {
      if (len_[i] == k.size() && short_equal(std::string_view(ptr_[i], len_[i]), k))
        return true;
    }
    return false;
  }
  void add(std::string_view k) {
    if (!big_ && n_ < kSmall) [[likely]] {
      ptr_[n_] = k.data();
      len_[n_++] = k.size();
      return;
    }
    add_to_set(k);
  }

 private:
  // Out of line, so that add() stays small enough to inline into every renderer's walk.
  [[gnu::noinline]] void add_to_set(std::string_view k) {
    if (!big_) {
      big_ = std::make_unique<std::unordered_set<std::string_view>>();
      for (std::size_t i = 0; i < n_; ++i)
        big_->emplace(ptr_[i], len_[i]);
    }
    big_->insert(k);
  }

  static constexpr std::size_t kSmall = 32;
  // Left uninitialised on purpose: only the first n_ entries are ever read.
  const char* ptr_[kSmall];  // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::size_t len_[kSmall];  // NOLINT(cppcoreguidelines-pro-type-member-init)
  std::size_t n_ = 0;
  std::unique_ptr<std::unordered_set<std::string_view>> big_;
};
}  // namespace field_walk

template <class Visit>
std::size_t for_each_user_field(const Record& r, const RenderLimits& limits, Visit&& visit) {
  field_walk::SeenKeys seen;
  std::size_t visited = 0;
  std::size_t dropped = 0;
  std::string masked;  // holds a masked value while it is visited
  // Inlined by force: GCC outlined it when redact() became inline, at 190 instructions a line.
  auto one = [&](std::string_view key, ValueView value, std::string_view suffix, bool call_field)
      __attribute__((always_inline)) {
    if (visited >= limits.max_fields) {
      ++dropped;
      return;
    }
    ++visited;
    // Bound fields, tags and log context were redacted when they were stored; a call's own
    // fields are checked here, and only they pay for the key's lookup.
    if (call_field)
      value = redact(key_traits(key), value, masked);
    if (is_reserved_key(key) || seen.contains(key)) {
      visit(key, suffix, value);
    } else {
      seen.add(key);
      visit(key, std::string_view(), value);
    }
  };
  for (const auto& f : r.fields)
    one(f.key, f.value, "_field", true);
  if (r.bound != nullptr) {
    for (const auto& a : *r.bound)
      one(a.key, ValueView(a.value), "_bound", false);
  }
  if (r.frame != nullptr) {
    for (const auto& a : r.frame->tags)
      one(a.key, ValueView(a.value), "_tag", false);
    for (const auto& a : r.frame->log_context)
      one(a.key, ValueView(a.value), "_context", false);
  }
  return dropped;
}

}  // namespace o11y::detail
