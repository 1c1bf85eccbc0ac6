#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "context/redact.hpp"
#include "logging/field_plan.hpp"

namespace o11y::detail {

template <class Visit>
std::size_t for_each_user_field(const Record& r, const RenderLimits& limits, Visit&& visit) {
  std::vector<FieldPlan::Entry> big;  // for a line with more keys than a kept plan holds
  const FieldPlan::Entry* plan = FieldPlan::entries_for(r, big);
  std::size_t at = 0;
  std::size_t visited = 0;
  std::size_t dropped = 0;
  std::string masked;  // holds a masked value while it is visited
  // Inlined by force: GCC outlined it when redact() became inline, at 190 instructions a line.
  auto one = [&](std::string_view key, ValueView value, bool call_field)
      __attribute__((always_inline)) {
    const FieldPlan::Entry& e = plan[at++];
    if (visited >= limits.max_fields) {
      ++dropped;
      return;
    }
    ++visited;
    if (call_field)
      value = redact(e.traits, value, masked);
    visit(key, FieldPlan::kSuffixes[e.suffix], value);
  };
  for (const auto& f : r.fields)
    one(f.key, f.value, true);
  if (r.bound != nullptr) {
    for (const auto& a : *r.bound)
      one(a.key, ValueView(a.value), false);
  }
  if (r.frame != nullptr) {
    for (const auto& a : r.frame->tags)
      one(a.key, ValueView(a.value), false);
    for (const auto& a : r.frame->log_context)
      one(a.key, ValueView(a.value), false);
  }
  return dropped;
}

}  // namespace o11y::detail
