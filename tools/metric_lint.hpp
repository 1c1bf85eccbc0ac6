#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace o11y::tool {

/// Problems with the metric names in a Prometheus text exposition, one message per finding
/// ("http_requests: counter metrics should have the _total suffix"), after Prometheus's
/// naming guide: snake_case, base units, _total on counters only, help text. Never throws
/// except std::bad_alloc; lines it cannot parse are findings too.
[[nodiscard]] std::vector<std::string> lint_exposition(std::string_view text);

}  // namespace o11y::tool
