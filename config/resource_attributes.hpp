#pragma once

#include <string_view>

#include "o11y/value.hpp"

namespace o11y::detail {

/// OTEL_RESOURCE_ATTRIBUTES syntax: "k=v,k2=v2" with percent-encoded values. Appends good
/// entries to out; returns false if any entry was malformed (the good ones are still kept).
bool parse_resource_attributes(std::string_view s, Attributes& out);

}  // namespace o11y::detail
