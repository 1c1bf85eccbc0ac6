// OTLP/protobuf trace encoding (ExportTraceServiceRequest), from the opentelemetry-proto
// definitions: trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto.
#include <cstring>
#include <string>
#include <variant>

#include "base/text.hpp"
#include "otlp/fields.hpp"
#include "otlp/protobuf.hpp"
#include "trace/otlp.hpp"
#include "trace/otlp_common.hpp"

namespace o11y::otlp {
namespace {

void span_pb(Pb& pb, const SpanData& s) {
  pb.bytes(field::span::kTraceId, trace_id_bytes(s.context.trace_id).view());
  pb.bytes(field::span::kSpanId, span_id_bytes(s.context.span_id).view());
  pb.string(field::span::kTraceState, s.context.trace_state);
  if (s.parent_span_id.valid())
    pb.bytes(field::span::kParentSpanId, span_id_bytes(s.parent_span_id).view());
  pb.string(field::span::kName, s.name);
  pb.uint(field::span::kKind, static_cast<std::uint64_t>(kind_number(s.kind)));
  pb.fixed64(field::span::kStartTimeUnixNano, s.start_time_ns);
  pb.fixed64(field::span::kEndTimeUnixNano, s.end_time_ns);
  attributes_pb(pb, field::span::kAttributes, s.attributes);
  pb.uint(field::span::kDroppedAttributesCount, s.dropped_attributes);
  for (const auto& e : s.events) {
    pb.message(field::span::kEvents, [&e](Pb& ev) {
      ev.fixed64(field::event::kTimeUnixNano, e.time_ns);
      ev.string(field::event::kName, e.name);
      attributes_pb(ev, field::event::kAttributes, e.attributes);
    });
  }
  pb.uint(field::span::kDroppedEventsCount, s.dropped_events);
  for (const auto& l : s.links) {
    pb.message(field::span::kLinks, [&l](Pb& lk) {
      lk.bytes(field::link::kTraceId, trace_id_bytes(l.context.trace_id).view());
      lk.bytes(field::link::kSpanId, span_id_bytes(l.context.span_id).view());
      lk.string(field::link::kTraceState, l.context.trace_state);
      attributes_pb(lk, field::link::kAttributes, l.attributes);
      lk.fixed32(field::link::kFlags,
                 l.context.flags | kHasIsRemote | (l.context.remote ? kIsRemote : 0U));
    });
  }
  pb.message(field::span::kStatus, [&s](Pb& st) {
    st.string(field::status::kMessage, s.status_description);
    st.uint(field::status::kCode, static_cast<std::uint64_t>(status_number(s.status)));
  });
  pb.fixed32(field::span::kFlags, span_flags(s));
}

}  // namespace

std::string encode_protobuf(SpanBatch spans) {
  Buffer out;
  encode_protobuf_to(spans, out);
  return {out.data(), out.size()};
}

void encode_protobuf_to(SpanBatch spans, detail::Buffer& out) {
  out.clear();
  Pb request(out);
  for (const auto& g : group(spans)) {
    // clang 14 cannot capture structured bindings: plain names for the lambdas.
    const Resource* resource = g.first;
    const auto& members = g.second;
    request.message(field::export_trace_service_request::kResourceSpans, [&](Pb& rs) {
      rs.message(field::resource_spans::kResource, [&](Pb& res) {
        if (resource != nullptr)
          attributes_pb(res, field::resource::kAttributes, resource->attributes);
      });
      rs.message(field::resource_spans::kScopeSpans, [&](Pb& ss) {
        ss.message(field::scope_spans::kScope, [](Pb& scope) {
          scope.string(field::instrumentation_scope::kName, kScopeName);
          scope.string(field::instrumentation_scope::kVersion, O11Y_VERSION);
        });
        for (const auto* s : members)
          ss.message(field::scope_spans::kSpans, [s](Pb& sp) { span_pb(sp, *s); });
      });
    });
  }
}

}  // namespace o11y::otlp
