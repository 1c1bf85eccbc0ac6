// OTLP/JSON trace encoding, from the opentelemetry-proto definitions (trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto) and the OTLP/JSON mapping rules: ids
// as hex, enums as integers, 64-bit integers as decimal strings, lowerCamelCase keys.
#include <cmath>
#include <cstring>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "trace/otlp.hpp"
#include "trace/otlp_common.hpp"

namespace o11y::otlp {
namespace {

// ---- JSON -------------------------------------------------------------------------------
// Written directly into one buffer: this runs on the export thread for every span, and
// building a DOM first cost more CPU than the rest of the pipeline together.

using detail::Buffer;

void put(Buffer& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}
// The keys and punctuation of the encoding, copied with a fixed size (inlined): through put()
// each one was a memcpy call, and they are most of the bytes of a span.
template <std::size_t N>
void put(Buffer& out, const char (&literal)[N]) {
  const std::size_t old = out.size();
  out.resize(old + N - 1);
  std::memcpy(out.data() + old, literal, N - 1);
}

void put_string(Buffer& out, std::string_view s) {
  const std::size_t old = out.size();
  if (s.size() <= 16) {  // most keys and values: copied inline when they need no escaping
    out.resize(old + 18);
    char* p = out.data() + old;
    *p++ = '"';
    if (char* end = detail::copy_if_plain_short(p, s)) {
      *end++ = '"';
      out.resize(static_cast<std::size_t>(end - out.data()));
      return;
    }
    out.resize(old);
  }
  out.push_back('"');
  detail::append_json_escaped(out, s);  // invalid UTF-8 replaced, never thrown on
  out.push_back('"');
}

void put_quoted_number(Buffer& out, std::uint64_t v) {
  out.push_back('"');
  detail::append_number(out, v);
  out.push_back('"');
}

/// A trace or span id as a quoted string of its 32 or 16 hex digits.
template <class Id, std::size_t Digits>
void put_hex_id(Buffer& out, const Id& id) {
  char hex[Digits];  // NOLINT(*-avoid-c-arrays)
  id.write_hex(hex);
  out.push_back('"');
  out.append(hex, hex + Digits);
  out.push_back('"');
}

void put_hex(Buffer& out, const TraceId& id) {
  put_hex_id<TraceId, 32>(out, id);
}

void put_hex(Buffer& out, const SpanId& id) {
  put_hex_id<SpanId, 16>(out, id);
}

void put_any_value(Buffer& out, const Value& v) {
  out.push_back('{');
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          // An empty AnyValue: OTLP's representation of null.
        } else if constexpr (std::is_same_v<T, bool>) {
          put(out, x ? "\"boolValue\":true" : "\"boolValue\":false");
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          put(out, "\"intValue\":\"");
          detail::append_number(out, x);
          out.push_back('"');
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          // Above INT64_MAX (smaller ones are stored as int64): intValue would wrap.
          put(out, "\"stringValue\":\"");
          detail::append_number(out, x);
          out.push_back('"');
        } else if constexpr (std::is_same_v<T, double>) {
          put(out, "\"doubleValue\":");
          if (std::isnan(x)) {
            put(out, "\"NaN\"");
          } else if (std::isinf(x)) {
            put(out, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
          } else {
            detail::append_number(out, x);
          }
        } else {
          put(out, "\"stringValue\":");
          put_string(out, x);
        }
      },
      v.storage());
  out.push_back('}');
}

void put_attributes(Buffer& out, const Attributes& attrs) {
  put(out, "\"attributes\":[");
  bool first = true;
  for (const auto& a : attrs) {
    if (!first)
      out.push_back(',');
    first = false;
    put(out, "{\"key\":");
    put_string(out, a.key);
    put(out, ",\"value\":");
    put_any_value(out, a.value);
    out.push_back('}');
  }
  out.push_back(']');
}

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
