#include "logging/field_plan.hpp"

#include <algorithm>
#include <memory>
#include <unordered_set>

#include "base/words.hpp"
#include "logging/renderer.hpp"

namespace o11y::detail {
namespace {

// The sources in walk order, numbered as their suffixes in FieldPlan::kSuffixes.
constexpr std::uint8_t kCall = 1;
constexpr std::uint8_t kBound = 2;
constexpr std::uint8_t kTag = 3;
constexpr std::uint8_t kContext = 4;

// Calls f(source, key) for each key of the record, in for_each_user_field()'s order; stops at
// the first f that returns false, and returns whether none did.
template <class F>
bool each_key(const Record& r, F&& f) {
  if (!std::ranges::all_of(r.fields, [&](const Field& field) { return f(kCall, field.key); }))
    return false;
  const auto attributes = [&](std::uint8_t source, const Attributes& as) {
    return std::ranges::all_of(
        as, [&](const Attribute& a) { return f(source, std::string_view(a.key)); });
  };
  if (r.bound != nullptr && !attributes(kBound, *r.bound))
    return false;
  if (r.frame != nullptr)
    return attributes(kTag, r.frame->tags) && attributes(kContext, r.frame->log_context);
  return true;
}

std::array<std::size_t, 4> counts_of(const Record& r) noexcept {
  return {r.fields.size(), r.bound != nullptr ? r.bound->size() : 0,
          r.frame != nullptr ? r.frame->tags.size() : 0,
          r.frame != nullptr ? r.frame->log_context.size() : 0};
}

// The keys already given to a line. Small lines (the usual case) use a fixed array; a line with
// many fields switches to a hash set.
class SeenKeys {
 public:
  [[nodiscard]] bool contains(std::string_view k) const {
    if (big_)
      return big_->count(k) > 0;
    for (std::size_t i = 0; i < n_; ++i) {
      if (short_equal(keys_[i], k))
        return true;
    }
    return false;
  }
  void add(std::string_view k) {
    if (!big_ && n_ < keys_.size()) {
      keys_[n_++] = k;
      return;
    }
    if (!big_)
      big_ = std::make_unique<std::unordered_set<std::string_view>>(keys_.begin(), keys_.end());
    big_->insert(k);
  }

 private:
  std::array<std::string_view, 32> keys_{};
  std::size_t n_ = 0;
  std::unique_ptr<std::unordered_set<std::string_view>> big_;
};

// Works out the decisions for r's keys into `out` (one per key).
void decide(const Record& r, FieldPlan::Entry* out) {
  SeenKeys seen;
  std::size_t i = 0;
  each_key(r, [&](std::uint8_t source, std::string_view key) {
    FieldPlan::Entry e;
    // Bound fields, tags and log context were redacted when they were stored; a call's own
    // fields are redacted as they are rendered.
    if (source == kCall)
      e.traits = key_traits(key);
    if (is_reserved_key(key) || seen.contains(key)) {
      e.suffix = source;
    } else {
      seen.add(key);
    }
    out[i++] = e;
    return true;
  });
}

}  // namespace

bool FieldPlan::fits(const Record& r, std::uint64_t version) const noexcept {
  if (!valid_ || version != version_ || counts_of(r) != counts_)
    return false;
  std::size_t i = 0;
  std::size_t begin = 0;
  return each_key(r, [&](std::uint8_t /*source*/, std::string_view key) {
    const std::size_t end = ends_[i++];
    const bool same = short_equal(std::string_view(keys_.data() + begin, end - begin), key);
    begin = end;
    return same;
  });
}

const FieldPlan::Entry* FieldPlan::entries_for(const Record& r, std::vector<Entry>& big) {
  // Constant-initialised and trivially destructible: no guard, no destructor at thread exit.
  thread_local constinit FieldPlan plan{};
  const std::uint64_t version = redaction_version();
  if (plan.fits(r, version)) [[likely]]
    return plan.entries_.data();
  const auto counts = counts_of(r);
  const std::size_t n = counts[0] + counts[1] + counts[2] + counts[3];
  // The keys are copied into the kept plan as they fit; one that does not leaves the line to a
  // plan of its own.
  plan.valid_ = false;  // until built whole
  std::size_t at = 0;
  std::size_t i = 0;
  const bool kept =
      n <= kMaxKeys && each_key(r, [&](std::uint8_t /*source*/, std::string_view key) {
        if (key.size() > kMaxKeyBytes - at)
          return false;
        std::copy(key.begin(), key.end(), plan.keys_.begin() + static_cast<std::ptrdiff_t>(at));
        at += key.size();
        plan.ends_[i++] = static_cast<std::uint16_t>(at);
        return true;
      });
  if (!kept) {
    big.resize(n);
    decide(r, big.data());
    return big.data();
  }
  decide(r, plan.entries_.data());
  plan.counts_ = counts;
  plan.version_ = version;
  plan.valid_ = true;
  return plan.entries_.data();
}

}  // namespace o11y::detail
