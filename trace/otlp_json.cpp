// OTLP/JSON trace encoding, from the opentelemetry-proto definitions (trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto) and the OTLP/JSON mapping rules: ids
// as hex, enums as integers, 64-bit integers as decimal strings, lowerCamelCase keys.
#include <cmath>
#include <cstring>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "otlp/json.hpp"
#include "trace/otlp.hpp"
#include "trace/otlp_common.hpp"

namespace o11y::otlp {
namespace {

void put_span(Buffer& out, const SpanData& s) {
  put(out, "{\"traceId\":");
  put_hex(out, s.context.trace_id);
  put(out, ",\"spanId\":");
  put_hex(out, s.context.span_id);
  if (!s.context.trace_state.empty()) {
    put(out, ",\"traceState\":");
    put_string(out, s.context.trace_state);
  }
  if (s.parent_span_id.valid()) {
    put(out, ",\"parentSpanId\":");
    put_hex(out, s.parent_span_id);
  }
  put(out, ",\"flags\":");
  detail::append_number(out, span_flags(s));
  put(out, ",\"name\":");
  put_string(out, s.name);
  put(out, ",\"kind\":");
  detail::append_number(out, kind_number(s.kind));
  put(out, ",\"startTimeUnixNano\":");
  put_quoted_number(out, s.start_time_ns);
  put(out, ",\"endTimeUnixNano\":");
  put_quoted_number(out, s.end_time_ns);
  out.push_back(',');
  put_attributes(out, s.attributes);
  if (s.dropped_attributes != 0) {
    put(out, ",\"droppedAttributesCount\":");
    detail::append_number(out, s.dropped_attributes);
  }
  if (!s.events.empty()) {
    put(out, ",\"events\":[");
    bool first = true;
    for (const auto& e : s.events) {
      if (!first)
        out.push_back(',');
      first = false;
      put(out, "{\"timeUnixNano\":");
      put_quoted_number(out, e.time_ns);
      put(out, ",\"name\":");
      put_string(out, e.name);
      out.push_back(',');
      put_attributes(out, e.attributes);
      out.push_back('}');
    }
    out.push_back(']');
  }
  if (s.dropped_events != 0) {
    put(out, ",\"droppedEventsCount\":");
    detail::append_number(out, s.dropped_events);
  }
  if (!s.links.empty()) {
    put(out, ",\"links\":[");
    bool first = true;
    for (const auto& l : s.links) {
      if (!first)
        out.push_back(',');
      first = false;
      put(out, "{\"traceId\":");
      put_hex(out, l.context.trace_id);
      put(out, ",\"spanId\":");
      put_hex(out, l.context.span_id);
      if (!l.context.trace_state.empty()) {
        put(out, ",\"traceState\":");
        put_string(out, l.context.trace_state);
      }
      out.push_back(',');
      put_attributes(out, l.attributes);
      put(out, ",\"flags\":");
      detail::append_number(out,
                            l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
      out.push_back('}');
    }
    out.push_back(']');
  }
  put(out, ",\"status\":{");
  if (!s.status_description.empty()) {
    put(out, "\"message\":");
    put_string(out, s.status_description);
  }
  if (s.status != StatusCode::Unset) {
    if (!s.status_description.empty())
      out.push_back(',');
    put(out, "\"code\":");
    detail::append_number(out, status_number(s.status));
  }
  put(out, "}}");
}

}  // namespace

std::string span_json_line(const SpanData& span) {
  Buffer out;
  put_span(out, span);
  if (span.resource) {
    for (const auto& a : span.resource->attributes) {
      if (a.key == "service.name") {
        out.resize(out.size() - 1);  // reopen the span object
        put(out, ",\"serviceName\":");
        put_string(out, a.value.to_string());
        out.push_back('}');
        break;
      }
    }
  }
  return {out.data(), out.size()};
}

void encode_json_to(SpanBatch spans, detail::Buffer& out) {
  out.clear();
  put(out, "{\"resourceSpans\":[");
  bool first_group = true;
  for (const auto& g : group(spans)) {
    if (!first_group)
      out.push_back(',');
    first_group = false;
    put(out, "{\"resource\":{");
    put_attributes(out, g.first != nullptr ? g.first->attributes : Attributes{});
    put(out, "},\"scopeSpans\":[{\"scope\":{\"name\":");
    put_string(out, kScopeName);
    put(out, ",\"version\":");
    put_string(out, O11Y_VERSION);
    put(out, "},\"spans\":[");
    bool first = true;
    for (const auto* s : g.second) {
      if (!first)
        out.push_back(',');
      first = false;
      put_span(out, *s);
    }
    put(out, "]}]}");
  }
  put(out, "]}");
}

std::string encode_json(SpanBatch spans) {
  Buffer out;
  encode_json_to(spans, out);
  return {out.data(), out.size()};
}

}  // namespace o11y::otlp
