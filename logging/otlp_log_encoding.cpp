#include "logging/otlp_log_encoding.hpp"

#include <algorithm>

#include "context/span_state.hpp"
#include "logging/renderer.hpp"
#include "otlp/fields.hpp"
#include "otlp/json.hpp"
#include "otlp/protobuf.hpp"
#include "otlp/scope.hpp"

namespace o11y::detail {
namespace {

namespace field = otlp::field;

const SpanContext* span_of(const Record& r) noexcept {
  return r.frame != nullptr && r.frame->span != nullptr ? &r.frame->span->data.context : nullptr;
}

// The attributes beyond the call's fields, as (key, value) pairs in the order both encodings
// write them.
template <class Put>
void fixed_attributes(const Record& r, Put&& put) {
  put("code.file.path", ValueView(r.file));
  put("code.line.number", ValueView(std::int64_t{r.line}));
  if (!r.exception_type.empty()) {
    put("exception.type", ValueView(r.exception_type));
    put("exception.message", ValueView(r.exception_message));
  }
}

}  // namespace

int severity_number(Level level) noexcept {
  switch (level) {
    case Level::Debug:
      return 5;
    case Level::Info:
      return 9;
    case Level::Warning:
      return 13;
    case Level::Error:
      return 17;
    case Level::Critical:
    case Level::Off:
      break;
  }
  return 21;
}

LogRequestEncoder::LogRequestEncoder(OtlpEncoding encoding, RenderLimits limits)
    : encoding_(encoding), limits_(limits) {}

LogRequestEncoder::Scope& LogRequestEncoder::scope(std::string_view name) {
  // A handful of loggers in a batch: a linear search beats hashing them.
  auto it = std::find_if(scopes_.begin(), scopes_.end(),
                         [name](const Scope& s) { return s.name == name; });
  if (it != scopes_.end())
    return *it;
  auto& s = scopes_.emplace_back();
  s.name.assign(name);
  return s;
}

void LogRequestEncoder::add(const Record& r) {
  Scope& s = scope(r.logger);
  if (encoding_ == OtlpEncoding::Json) {
    add_json(r, s.records);
  } else {
    add_protobuf(r, s.records);
  }
  ++count_;
}

void LogRequestEncoder::add_protobuf(const Record& r, Buffer& out) {
  otlp::Pb scope_body(out);
  scope_body.message(field::scope_logs::kLogRecords, [&](otlp::Pb& pb) {
    pb.fixed64(field::log_record::kTimeUnixNano, r.time_ns);
    pb.uint(field::log_record::kSeverityNumber,
            static_cast<std::uint64_t>(severity_number(r.level)));
    pb.string(field::log_record::kSeverityText, to_string(r.level));
    pb.message(field::log_record::kBody,
               [&](otlp::Pb& v) { otlp::any_value_pb(v, ValueView(r.event)); });
    const std::size_t dropped =
        for_each_user_field(r, limits_, [&](std::string_view k, std::string_view sfx, ValueView v) {
          if (sfx.empty()) {
            otlp::key_value_pb(pb, field::log_record::kAttributes, k, v);
          } else {
            key_.assign(k).append(sfx);
            otlp::key_value_pb(pb, field::log_record::kAttributes, key_, v);
          }
        });
    fixed_attributes(r, [&](std::string_view k, ValueView v) {
      otlp::key_value_pb(pb, field::log_record::kAttributes, k, v);
    });
    pb.uint(field::log_record::kDroppedAttributesCount, dropped);
    if (const SpanContext* ctx = span_of(r)) {
      pb.fixed32(field::log_record::kFlags, ctx->flags);
      pb.bytes(field::log_record::kTraceId, otlp::trace_id_bytes(ctx->trace_id).view());
      pb.bytes(field::log_record::kSpanId, otlp::span_id_bytes(ctx->span_id).view());
    }
    pb.fixed64(field::log_record::kObservedTimeUnixNano, r.time_ns);
    pb.string(field::log_record::kEventName, r.event);
  });
}

void LogRequestEncoder::add_json(const Record& r, Buffer& out) {
  using otlp::put;
  if (out.size() != 0)
    out.push_back(',');
  put(out, "{\"timeUnixNano\":");
  otlp::put_quoted_number(out, r.time_ns);
  put(out, ",\"observedTimeUnixNano\":");
  otlp::put_quoted_number(out, r.time_ns);
  put(out, ",\"severityNumber\":");
  append_number(out, severity_number(r.level));
  put(out, ",\"severityText\":");
  otlp::put_string(out, to_string(r.level));
  put(out, ",\"body\":");
  otlp::put_any_value(out, ValueView(r.event));
  put(out, ",\"attributes\":[");
  bool first = true;
  const auto one = [&](std::string_view k, ValueView v) {
    if (!first)
      out.push_back(',');
    first = false;
    otlp::put_key_value(out, k, v);
  };
  const std::size_t dropped =
      for_each_user_field(r, limits_, [&](std::string_view k, std::string_view sfx, ValueView v) {
        if (sfx.empty()) {
          one(k, v);
        } else {
          key_.assign(k).append(sfx);
          one(key_, v);
        }
      });
  fixed_attributes(r, one);
  out.push_back(']');
  if (dropped != 0) {
    put(out, ",\"droppedAttributesCount\":");
    append_number(out, dropped);
  }
  if (const SpanContext* ctx = span_of(r)) {
    put(out, ",\"flags\":");
    append_number(out, ctx->flags);
    put(out, ",\"traceId\":");
    otlp::put_hex(out, ctx->trace_id);
    put(out, ",\"spanId\":");
    otlp::put_hex(out, ctx->span_id);
  }
  put(out, ",\"eventName\":");
  otlp::put_string(out, r.event);
  out.push_back('}');
}

void LogRequestEncoder::finish(const Resource* resource, Buffer& out) {
  out.clear();
  if (encoding_ == OtlpEncoding::Json) {
    using otlp::put;
    put(out, "{\"resourceLogs\":[{\"resource\":{");
    otlp::put_attributes(out, resource != nullptr ? resource->attributes : Attributes{});
    put(out, "},\"scopeLogs\":[");
    bool first = true;
    for (const auto& s : scopes_) {
      if (s.records.size() == 0)
        continue;
      if (!first)
        out.push_back(',');
      first = false;
      put(out, "{\"scope\":{\"name\":");
      otlp::put_string(out, s.name);
      put(out, ",\"version\":");
      otlp::put_string(out, O11Y_VERSION);
      put(out, "},\"logRecords\":[");
      out.append(s.records.data(), s.records.data() + s.records.size());
      put(out, "]}");
    }
    put(out, "]}]}");
  } else {
    otlp::Pb request(out);
    request.message(field::export_logs_service_request::kResourceLogs, [&](otlp::Pb& rl) {
      rl.message(field::resource_logs::kResource, [&](otlp::Pb& res) {
        if (resource != nullptr)
          otlp::attributes_pb(res, field::resource::kAttributes, resource->attributes);
      });
      for (const auto& s : scopes_) {
        if (s.records.size() == 0)
          continue;
        rl.message(field::resource_logs::kScopeLogs, [&](otlp::Pb& sl) {
          sl.message(field::scope_logs::kScope, [&](otlp::Pb& scope) {
            scope.string(field::instrumentation_scope::kName, s.name);
            scope.string(field::instrumentation_scope::kVersion, O11Y_VERSION);
          });
          sl.raw(std::string_view(s.records.data(), s.records.size()));
        });
      }
    });
  }
  // Scopes are kept with their buffers for the next batch, unless there are many (loggers
  // named per request, say).
  constexpr std::size_t kKeptScopes = 64;
  if (scopes_.size() > kKeptScopes) {
    scopes_.clear();
  } else {
    for (auto& s : scopes_)
      s.records.clear();
  }
  count_ = 0;
}

}  // namespace o11y::detail
