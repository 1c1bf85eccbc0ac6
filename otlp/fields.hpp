#pragma once

// Field numbers of the opentelemetry-proto messages the OTLP exporters write
// (collector/{trace,logs,metrics}/v1/*_service.proto, trace/v1/trace.proto, logs/v1/logs.proto,
// metrics/v1/metrics.proto,
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

namespace export_metrics_service_request {
inline constexpr Number kResourceMetrics = 1;
}
namespace resource_metrics {
inline constexpr Number kResource = 1;
inline constexpr Number kScopeMetrics = 2;
}  // namespace resource_metrics
namespace scope_metrics {
inline constexpr Number kScope = 1;
inline constexpr Number kMetrics = 2;
}  // namespace scope_metrics
namespace metric {
inline constexpr Number kName = 1;
inline constexpr Number kDescription = 2;
inline constexpr Number kUnit = 3;
inline constexpr Number kGauge = 5;
inline constexpr Number kSum = 7;
inline constexpr Number kHistogram = 9;
inline constexpr Number kExponentialHistogram = 10;
}  // namespace metric
namespace gauge {
inline constexpr Number kDataPoints = 1;
}
namespace sum {
inline constexpr Number kDataPoints = 1;
inline constexpr Number kAggregationTemporality = 2;
inline constexpr Number kIsMonotonic = 3;
}  // namespace sum
namespace histogram {
inline constexpr Number kDataPoints = 1;
inline constexpr Number kAggregationTemporality = 2;
}  // namespace histogram
namespace number_data_point {
inline constexpr Number kStartTimeUnixNano = 2;
inline constexpr Number kTimeUnixNano = 3;
inline constexpr Number kAsDouble = 4;
inline constexpr Number kExemplars = 5;
inline constexpr Number kAttributes = 7;
}  // namespace number_data_point
namespace histogram_data_point {
inline constexpr Number kStartTimeUnixNano = 2;
inline constexpr Number kTimeUnixNano = 3;
inline constexpr Number kCount = 4;
inline constexpr Number kSum = 5;
inline constexpr Number kBucketCounts = 6;
inline constexpr Number kExplicitBounds = 7;
inline constexpr Number kExemplars = 8;
inline constexpr Number kAttributes = 9;
}  // namespace histogram_data_point
namespace exponential_histogram {
inline constexpr Number kDataPoints = 1;
inline constexpr Number kAggregationTemporality = 2;
}  // namespace exponential_histogram
namespace exponential_histogram_data_point {
inline constexpr Number kAttributes = 1;
inline constexpr Number kStartTimeUnixNano = 2;
inline constexpr Number kTimeUnixNano = 3;
inline constexpr Number kCount = 4;
inline constexpr Number kSum = 5;
inline constexpr Number kScale = 6;
inline constexpr Number kZeroCount = 7;
inline constexpr Number kPositive = 8;
inline constexpr Number kNegative = 9;
inline constexpr Number kExemplars = 11;
inline constexpr Number kZeroThreshold = 14;
}  // namespace exponential_histogram_data_point
namespace exponential_buckets {  // ExponentialHistogramDataPoint.Buckets
inline constexpr Number kOffset = 1;
inline constexpr Number kBucketCounts = 2;
}  // namespace exponential_buckets
namespace exemplar {
inline constexpr Number kTimeUnixNano = 2;
inline constexpr Number kAsDouble = 3;
inline constexpr Number kSpanId = 4;
inline constexpr Number kTraceId = 5;
}  // namespace exemplar
/// AggregationTemporality values.
inline constexpr std::uint64_t kTemporalityDelta = 1;
inline constexpr std::uint64_t kTemporalityCumulative = 2;

}  // namespace o11y::otlp::field
