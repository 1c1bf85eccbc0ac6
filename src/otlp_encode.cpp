// OTLP trace encodings, from the opentelemetry-proto definitions (trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto) and the OTLP/JSON mapping rules: ids
// as hex, enums as integers, 64-bit integers as decimal strings, lowerCamelCase keys.
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "o11y/export.hpp"
#include "src/otlp.hpp"

#ifndef O11Y_VERSION
#define O11Y_VERSION "0.0.0"
#endif

namespace o11y::otlp {
namespace {

constexpr const char* kScopeName = "o11y";

// Span.flags: the W3C trace flags in bits 0-7, then whether the parent's remoteness is known
// (bit 8) and whether it was remote (bit 9).
constexpr std::uint32_t kHasIsRemote = 0x100;
constexpr std::uint32_t kIsRemote = 0x200;

int kind_number(SpanKind k) {
  // SPAN_KIND_UNSPECIFIED is 0; ours start at INTERNAL = 1.
  return static_cast<int>(k) + 1;
}

int status_number(StatusCode c) {
  return static_cast<int>(c);  // UNSET 0, OK 1, ERROR 2 in both
}

std::uint32_t span_flags(const SpanData& s) {
  return s.context.flags | kHasIsRemote | (s.parent_remote ? kIsRemote : 0U);
}

/// Spans grouped by the resource they carry, in first-seen order.
std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> group(SpanBatch spans) {
  std::vector<std::pair<const Resource*, std::vector<const SpanData*>>> groups;
  for (const auto& s : spans) {
    if (!s)
      continue;
    const Resource* r = s->resource.get();
    auto it =
        std::find_if(groups.begin(), groups.end(), [r](const auto& g) { return g.first == r; });
    if (it == groups.end()) {
      groups.emplace_back(r, std::vector<const SpanData*>{});
      it = std::prev(groups.end());
    }
    it->second.push_back(s.get());
  }
  return groups;
}

// ---- JSON -------------------------------------------------------------------------------

using Json = nlohmann::ordered_json;

Json any_value(const Value& v) {
  Json out = Json::object();
  std::visit(
      [&out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          // An empty AnyValue: OTLP's representation of null.
        } else if constexpr (std::is_same_v<T, bool>) {
          out["boolValue"] = x;
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out["intValue"] = std::to_string(x);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          // Above INT64_MAX (smaller ones are stored as int64): intValue would wrap.
          out["stringValue"] = std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isnan(x)) {
            out["doubleValue"] = "NaN";
          } else if (std::isinf(x)) {
            out["doubleValue"] = x > 0 ? "Infinity" : "-Infinity";
          } else {
            out["doubleValue"] = x;
          }
        } else {
          out["stringValue"] = x;
        }
      },
      v.storage());
  return out;
}

Json attributes_json(const Attributes& attrs) {
  Json out = Json::array();
  for (const auto& a : attrs)
    out.push_back(Json{{"key", a.key}, {"value", any_value(a.value)}});
  return out;
}

Json span_json(const SpanData& s) {
  Json j;
  j["traceId"] = s.context.trace_id.to_hex();
  j["spanId"] = s.context.span_id.to_hex();
  if (!s.context.trace_state.empty())
    j["traceState"] = s.context.trace_state;
  if (s.parent_span_id.valid())
    j["parentSpanId"] = s.parent_span_id.to_hex();
  j["flags"] = span_flags(s);
  j["name"] = s.name;
  j["kind"] = kind_number(s.kind);
  j["startTimeUnixNano"] = std::to_string(s.start_time_ns);
  j["endTimeUnixNano"] = std::to_string(s.end_time_ns);
  j["attributes"] = attributes_json(s.attributes);
  if (s.dropped_attributes != 0)
    j["droppedAttributesCount"] = s.dropped_attributes;
  if (!s.events.empty()) {
    Json events = Json::array();
    for (const auto& e : s.events) {
      events.push_back(Json{{"timeUnixNano", std::to_string(e.time_ns)},
                            {"name", e.name},
                            {"attributes", attributes_json(e.attributes)}});
    }
    j["events"] = std::move(events);
  }
  if (s.dropped_events != 0)
    j["droppedEventsCount"] = s.dropped_events;
  if (!s.links.empty()) {
    Json links = Json::array();
    for (const auto& l : s.links) {
      Json lj{{"traceId", l.context.trace_id.to_hex()}, {"spanId", l.context.span_id.to_hex()}};
      if (!l.context.trace_state.empty())
        lj["traceState"] = l.context.trace_state;
      lj["attributes"] = attributes_json(l.attributes);
      lj["flags"] = l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U);
      links.push_back(std::move(lj));
    }
    j["links"] = std::move(links);
  }
  Json status = Json::object();
  if (!s.status_description.empty())
    status["message"] = s.status_description;
  if (s.status != StatusCode::Unset)
    status["code"] = status_number(s.status);
  j["status"] = std::move(status);
  return j;
}

std::string dump(const Json& j) {
  // Replace, never throw, on invalid UTF-8 in a user's attribute.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---- protobuf ---------------------------------------------------------------------------

enum class Wire : std::uint8_t { Varint = 0, Fixed64 = 1, Len = 2, Fixed32 = 5 };

class Pb {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void tag(std::uint32_t field, Wire w) {
    varint((std::uint64_t{field} << 3) | static_cast<unsigned>(w));
  }
  void uint(std::uint32_t field, std::uint64_t v) {
    if (v == 0)
      return;  // proto3 default: not on the wire
    tag(field, Wire::Varint);
    varint(v);
  }
  void sint64_as_int64(std::uint32_t field, std::int64_t v) {
    tag(field, Wire::Varint);
    varint(static_cast<std::uint64_t>(v));  // int64: two's complement, ten bytes if negative
  }
  void boolean(std::uint32_t field, bool b) {
    tag(field, Wire::Varint);
    varint(b ? 1 : 0);
  }
  void fixed64(std::uint32_t field, std::uint64_t v) {
    tag(field, Wire::Fixed64);
    for (int i = 0; i < 8; ++i)
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void fixed32(std::uint32_t field, std::uint32_t v) {
    tag(field, Wire::Fixed32);
    for (int i = 0; i < 4; ++i)
      out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void dbl(std::uint32_t field, double d) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    fixed64(field, bits);
  }
  void bytes(std::uint32_t field, std::string_view b) {
    tag(field, Wire::Len);
    varint(b.size());
    out_.append(b);
  }
  void string(std::uint32_t field, std::string_view s) {
    if (!s.empty())
      bytes(field, s);
  }
  /// A nested message: written by `body` into a scratch encoder, then length-prefixed.
  template <class Body>
  void message(std::uint32_t field, Body&& body) {
    Pb inner;
    body(inner);
    bytes(field, inner.out_);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string big_endian(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

std::string trace_id_bytes(const TraceId& id) {
  return big_endian(id.hi) + big_endian(id.lo);
}

void any_value_pb(Pb& pb, const Value& v) {
  std::visit(
      [&pb](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
        } else if constexpr (std::is_same_v<T, bool>) {
          pb.boolean(2, x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          pb.sint64_as_int64(3, x);
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          pb.bytes(1, std::to_string(x));
        } else if constexpr (std::is_same_v<T, double>) {
          pb.dbl(4, x);
        } else {
          pb.bytes(1, x);
        }
      },
      v.storage());
}

void attributes_pb(Pb& pb, std::uint32_t field, const Attributes& attrs) {
  for (const auto& a : attrs) {
    pb.message(field, [&a](Pb& kv) {
      kv.string(1, a.key);
      kv.message(2, [&a](Pb& v) { any_value_pb(v, a.value); });
    });
  }
}

void span_pb(Pb& pb, const SpanData& s) {
  pb.bytes(1, trace_id_bytes(s.context.trace_id));
  pb.bytes(2, big_endian(s.context.span_id.value));
  pb.string(3, s.context.trace_state);
  if (s.parent_span_id.valid())
    pb.bytes(4, big_endian(s.parent_span_id.value));
  pb.string(5, s.name);
  pb.uint(6, static_cast<std::uint64_t>(kind_number(s.kind)));
  pb.fixed64(7, s.start_time_ns);
  pb.fixed64(8, s.end_time_ns);
  attributes_pb(pb, 9, s.attributes);
  pb.uint(10, s.dropped_attributes);
  for (const auto& e : s.events) {
    pb.message(11, [&e](Pb& ev) {
      ev.fixed64(1, e.time_ns);
      ev.string(2, e.name);
      attributes_pb(ev, 3, e.attributes);
    });
  }
  pb.uint(12, s.dropped_events);
  for (const auto& l : s.links) {
    pb.message(13, [&l](Pb& lk) {
      lk.bytes(1, trace_id_bytes(l.context.trace_id));
      lk.bytes(2, big_endian(l.context.span_id.value));
      lk.string(3, l.context.trace_state);
      attributes_pb(lk, 4, l.attributes);
      lk.fixed32(6, l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
    });
  }
  pb.message(15, [&s](Pb& st) {
    st.string(2, s.status_description);
    st.uint(3, static_cast<std::uint64_t>(status_number(s.status)));
  });
  pb.fixed32(16, span_flags(s));
}

}  // namespace

std::string span_json_line(const SpanData& span) {
  Json j = span_json(span);
  if (span.resource) {
    for (const auto& a : span.resource->attributes) {
      if (a.key == "service.name")
        j["serviceName"] = a.value.to_string();
    }
  }
  return dump(j);
}

std::string encode_json(SpanBatch spans) {
  Json resource_spans = Json::array();
  for (const auto& [resource, members] : group(spans)) {
    Json list = Json::array();
    for (const auto* s : members)
      list.push_back(span_json(*s));
    Json rs;
    rs["resource"] = Json{{"attributes", resource != nullptr ? attributes_json(resource->attributes)
                                                             : Json::array()}};
    rs["scopeSpans"] =
        Json::array({Json{{"scope", Json{{"name", kScopeName}, {"version", O11Y_VERSION}}},
                          {"spans", std::move(list)}}});
    resource_spans.push_back(std::move(rs));
  }
  return dump(Json{{"resourceSpans", std::move(resource_spans)}});
}

std::string encode_protobuf(SpanBatch spans) {
  Pb request;
  for (const auto& g : group(spans)) {
    // clang 14 cannot capture structured bindings: plain names for the lambdas.
    const Resource* resource = g.first;
    const auto& members = g.second;
    request.message(1, [&](Pb& rs) {
      rs.message(1, [&](Pb& res) {
        if (resource != nullptr)
          attributes_pb(res, 1, resource->attributes);
      });
      rs.message(2, [&](Pb& ss) {
        ss.message(1, [](Pb& scope) {
          scope.string(1, kScopeName);
          scope.string(2, O11Y_VERSION);
        });
        for (const auto* s : members)
          ss.message(2, [s](Pb& sp) { span_pb(sp, *s); });
      });
    });
  }
  return request.take();
}

}  // namespace o11y::otlp
