#pragma once

// Field numbers of the opentelemetry-proto messages the OTLP exporters write
// (collector/{trace,logs}/v1/*_service.proto, trace/v1/trace.proto, logs/v1/logs.proto,
// common/v1/common.proto, resource/v1/resource.proto). One namespace per message, named after
// it. The Node decoder in the integration tests (OpenTelemetry JS's generated types) checks
// every one of them.

#include <cstdint>

namespace o11y::otlp::field {

using Number = std::uint32_t;

namespace export_trace_service_request {
inline constexpr Number kResourceSpans = 1;
}
namespace resource_spans {
inline constexpr Number kResource = 1;
inline constexpr Number kScopeSpans = 2;
}  // namespace resource_spans
namespace resource {
inline constexpr Number kAttributes = 1;
}
namespace scope_spans {
inline constexpr Number kScope = 1;
inline constexpr Number kSpans = 2;
}  // namespace scope_spans
namespace instrumentation_scope {
inline constexpr Number kName = 1;
inline constexpr Number kVersion = 2;
}  // namespace instrumentation_scope
namespace span {
inline constexpr Number kTraceId = 1;
inline constexpr Number kSpanId = 2;
inline constexpr Number kTraceState = 3;
inline constexpr Number kParentSpanId = 4;
inline constexpr Number kName = 5;
inline constexpr Number kKind = 6;
inline constexpr Number kStartTimeUnixNano = 7;
inline constexpr Number kEndTimeUnixNano = 8;
inline constexpr Number kAttributes = 9;
inline constexpr Number kDroppedAttributesCount = 10;
inline constexpr Number kEvents = 11;
inline constexpr Number kDroppedEventsCount = 12;
inline constexpr Number kLinks = 13;
inline constexpr Number kStatus = 15;
inline constexpr Number kFlags = 16;
}  // namespace span
namespace event {
inline constexpr Number kTimeUnixNano = 1;
inline constexpr Number kName = 2;
inline constexpr Number kAttributes = 3;
}  // namespace event
namespace link {
inline constexpr Number kTraceId = 1;
inline constexpr Number kSpanId = 2;
inline constexpr Number kTraceState = 3;
inline constexpr Number kAttributes = 4;
inline constexpr Number kFlags = 6;
}  // namespace link
namespace status {
inline constexpr Number kMessage = 2;
inline constexpr Number kCode = 3;
}  // namespace status
namespace key_value {
inline constexpr Number kKey = 1;
inline constexpr Number kValue = 2;
}  // namespace key_value
namespace any_value {
inline constexpr Number kStringValue = 1;
inline constexpr Number kBoolValue = 2;
inline constexpr Number kIntValue = 3;
inline constexpr Number kDoubleValue = 4;
}  // namespace any_value

namespace export_logs_service_request {
inline constexpr Number kResourceLogs = 1;
}
namespace resource_logs {
inline constexpr Number kResource = 1;
inline constexpr Number kScopeLogs = 2;
}  // namespace resource_logs
namespace scope_logs {
inline constexpr Number kScope = 1;
inline constexpr Number kLogRecords = 2;
}  // namespace scope_logs
namespace log_record {
inline constexpr Number kTimeUnixNano = 1;
inline constexpr Number kSeverityNumber = 2;
inline constexpr Number kSeverityText = 3;
inline constexpr Number kBody = 5;
inline constexpr Number kAttributes = 6;
inline constexpr Number kDroppedAttributesCount = 7;
inline constexpr Number kFlags = 8;
inline constexpr Number kTraceId = 9;
inline constexpr Number kSpanId = 10;
inline constexpr Number kObservedTimeUnixNano = 11;
inline constexpr Number kEventName = 12;
}  // namespace log_record

}  // namespace o11y::otlp::field
