#pragma once

#include <concepts>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "o11y/trace.hpp"

/// W3C Trace Context (Level 2) propagation: `traceparent` and `tracestate` in and out.
namespace o11y::propagation {

inline constexpr std::string_view kTraceparent = "traceparent";
inline constexpr std::string_view kTracestate = "tracestate";

/// Parses header values. An invalid traceparent gives an invalid SpanContext (a new trace
/// starts); an invalid tracestate (a bad member, more than 32 members) is discarded whole, as
/// the W3C test suite requires, and a repeated key keeps its first value. `tracestate` may be
/// several header values already joined with ','. Never throws.
[[nodiscard]] SpanContext extract_values(std::string_view traceparent, std::string_view tracestate,
                                         int traceparent_count = 1) noexcept;

/// The traceparent header value for a context ("00-<trace>-<span>-<flags>"), "" when invalid.
[[nodiscard]] std::string format_traceparent(const SpanContext& ctx);

namespace detail {
/// ASCII case-insensitive equality, for header names.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

template <class C>
concept HeaderRange = requires(const C& c) {
  { c.begin()->first } -> std::convertible_to<std::string_view>;
  { c.begin()->second } -> std::convertible_to<std::string_view>;
};

template <class C>
concept AssignableCarrier = requires(C& c, std::string k, std::string v) {
  c.insert_or_assign(std::move(k), std::move(v));
};
template <class C>
concept IndexableCarrier = requires(C& c, std::string k, std::string v) {
  c[std::move(k)] = std::move(v);
};
}  // namespace detail

/// Extracts the caller's span context from any map-like container of string to string
/// (std::map, std::unordered_map, a multimap of headers such as httplib::Headers). Header
/// names match case-insensitively; several tracestate headers are combined in order; several
/// traceparent headers make the traceparent invalid. Never throws.
template <detail::HeaderRange Headers>
[[nodiscard]] SpanContext extract(const Headers& headers) noexcept {
  std::string_view traceparent;
  std::string tracestate;
  int traceparent_count = 0;
  try {
    for (const auto& [name, value] : headers) {
      const std::string_view n(name);
      if (detail::iequals(n, kTraceparent)) {
        ++traceparent_count;
        traceparent = std::string_view(value);
      } else if (detail::iequals(n, kTracestate)) {
        if (!tracestate.empty())
          tracestate.push_back(',');
        tracestate.append(std::string_view(value));
      }
    }
  } catch (...) {
    return {};
  }
  return extract_values(traceparent, tracestate, traceparent_count);
}

/// Writes traceparent (and tracestate when non-empty) for ctx into the carrier. An invalid
/// context writes nothing.
template <class Carrier>
requires detail::AssignableCarrier<Carrier> || detail::IndexableCarrier<Carrier>
void inject(const SpanContext& ctx, Carrier& carrier) {
  if (!ctx.valid())
    return;
  auto put = [&carrier](std::string_view k, std::string v) {
    if constexpr (detail::AssignableCarrier<Carrier>) {
      carrier.insert_or_assign(std::string(k), std::move(v));
    } else {
      carrier[std::string(k)] = std::move(v);
    }
  };
  put(kTraceparent, format_traceparent(ctx));
  if (!ctx.trace_state.empty())
    put(kTracestate, ctx.trace_state);
}

/// Writes the current span's traceparent (and tracestate) into the carrier; nothing when no
/// span is active.
template <class Carrier>
requires detail::AssignableCarrier<Carrier> || detail::IndexableCarrier<Carrier>
void inject(Carrier& carrier) {
  inject(current_span_context(), carrier);
}

/// The current span's context as a string map to carry in a message (a queue job, a record):
/// traceparent and tracestate. Empty when no span is active.
[[nodiscard]] inline std::map<std::string, std::string> to_carrier() {
  std::map<std::string, std::string> carrier;
  inject(carrier);
  return carrier;
}

/// Starts the CONSUMER span that processes a message: a child of the producer's span found in
/// the carrier (so producer and consumer share one trace) and linked to it, as messaging
/// conventions ask. Without a valid context in the carrier, a new trace. Never throws.
template <detail::HeaderRange Carrier>
[[nodiscard]] Span start_consumer_span(std::string_view name, const Carrier& carrier) noexcept {
  const auto producer = extract(carrier);
  SpanOptions options{.kind = SpanKind::Consumer, .parent = producer};
  if (producer.valid()) {
    try {
      options.links.push_back({producer, {}});
    } catch (...) {
      // Without the link the span is still the producer's child: nothing is lost.
    }
  }
  return start_span(name, std::move(options));
}

}  // namespace o11y::propagation
