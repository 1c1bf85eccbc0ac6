#pragma once

// What every integration sets on its spans: convention attributes under keys whose hash and
// interned form are computed once (detail::KnownKey), not per request.

#include "context/span_state.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

inline void set(Span& span, const KnownKey& key, ValueView value) noexcept {
  SpanAccess::set_attribute(span, key, value);
}

}  // namespace o11y::detail
