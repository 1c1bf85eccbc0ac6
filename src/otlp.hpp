#pragma once

#include <string>

#include "o11y/trace.hpp"

namespace o11y::otlp {

/// One span as its OTLP/JSON object on one line, plus "serviceName": the console exporter's
/// line.
[[nodiscard]] std::string span_json_line(const SpanData& span);

}  // namespace o11y::otlp
