#pragma once

#include <string>

#include "base/text.hpp"
#include "o11y/export.hpp"
#include "o11y/trace.hpp"

namespace o11y::otlp {

/// One span as its OTLP/JSON object on one line, plus "serviceName": the console exporter's
/// line.
[[nodiscard]] std::string span_json_line(const SpanData& span);

/// encode_json() into `out` (cleared first). The exporter keeps one buffer for every batch:
/// a fresh one grew by reallocation, was copied once more into a std::string and page-faulted
/// its way to 500 KB per batch, most of the export thread's time.
void encode_json_to(SpanBatch spans, detail::Buffer& out);
/// encode_protobuf() into `out` (cleared first), for the same reason.
void encode_protobuf_to(SpanBatch spans, detail::Buffer& out);

}  // namespace o11y::otlp
