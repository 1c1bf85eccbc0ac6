#pragma once

// OTLP/JSON as the encoders write it (traces, logs, metrics): written directly into one
// buffer, since building a DOM first cost more CPU than the rest of the export. The mapping
// rules: ids as hex, enums as integers, 64-bit integers as decimal strings, lowerCamelCase.

#include <cmath>
#include <cstring>
#include <string_view>

#include "base/text.hpp"
#include "o11y/trace.hpp"
#include "o11y/value.hpp"

namespace o11y::otlp {

using detail::Buffer;

inline void put(Buffer& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}
// The keys and punctuation of the encoding, copied with a fixed size (inlined): through put()
// each one was a memcpy call, and they are most of the bytes of a span.
template <std::size_t N>
inline void put(Buffer& out, const char (&literal)[N]) {
  const std::size_t old = out.size();
  out.resize(old + N - 1);
  std::memcpy(out.data() + old, literal, N - 1);
}

inline void put_string(Buffer& out, std::string_view s) {
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

/// A double as the proto3 JSON mapping writes it: NaN and the infinities as strings.
inline void put_double(Buffer& out, double x) {
  if (std::isnan(x)) {
    put(out, "\"NaN\"");
  } else if (std::isinf(x)) {
    put(out, x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    detail::append_number(out, x);
  }
}

inline void put_quoted_number(Buffer& out, std::uint64_t v) {
  out.push_back('"');
  detail::append_number(out, v);
  out.push_back('"');
}

/// A trace or span id as a quoted string of its 32 or 16 hex digits.
template <class Id, std::size_t Digits>
inline void put_hex_id(Buffer& out, const Id& id) {
  char hex[Digits];  // NOLINT(*-avoid-c-arrays)
  id.write_hex(hex);
  out.push_back('"');
  out.append(hex, hex + Digits);
  out.push_back('"');
}

inline void put_hex(Buffer& out, const TraceId& id) {
  put_hex_id<TraceId, 32>(out, id);
}

inline void put_hex(Buffer& out, const SpanId& id) {
  put_hex_id<SpanId, 16>(out, id);
}

inline void put_any_value(Buffer& out, ValueView v) {
  out.push_back('{');
  switch (v.kind()) {
    case ValueView::Kind::Null:
      break;  // an empty AnyValue: OTLP's null
    case ValueView::Kind::Bool:
      put(out, v.as_bool() ? "\"boolValue\":true" : "\"boolValue\":false");
      break;
    case ValueView::Kind::Int:
      put(out, "\"intValue\":\"");
      detail::append_number(out, v.as_int());
      out.push_back('"');
      break;
    case ValueView::Kind::Uint:
      // Above INT64_MAX (smaller ones are Int): intValue would wrap.
      put(out, "\"stringValue\":\"");
      detail::append_number(out, v.as_uint());
      out.push_back('"');
      break;
    case ValueView::Kind::Double: {
      const double x = v.as_double();
      put(out, "\"doubleValue\":");
      put_double(out, x);
      break;
    }
    case ValueView::Kind::String:
      put(out, "\"stringValue\":");
      put_string(out, v.as_string());
      break;
  }
  out.push_back('}');
}

/// One KeyValue object.
inline void put_key_value(Buffer& out, std::string_view key, ValueView value) {
  put(out, "{\"key\":");
  put_string(out, key);
  put(out, ",\"value\":");
  put_any_value(out, value);
  out.push_back('}');
}

inline void put_attributes(Buffer& out, const Attributes& attrs) {
  put(out, "\"attributes\":[");
  bool first = true;
  for (const auto& a : attrs) {
    if (!first)
      out.push_back(',');
    first = false;
    put_key_value(out, a.key, ValueView(a.value));
  }
  out.push_back(']');
}

}  // namespace o11y::otlp
