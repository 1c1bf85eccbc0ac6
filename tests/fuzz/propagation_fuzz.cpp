// traceparent/tracestate extraction: never crashes, and whatever it accepts survives a round
// trip through format_traceparent unchanged.
#include <o11y/propagation.hpp>

#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  o11y::fuzz::Pieces in(data, size);
  const auto traceparent = in.next();
  const auto tracestate = in.next();
  const auto ctx = o11y::propagation::extract_values(traceparent, tracestate);
  if (ctx.valid()) {
    const auto again = o11y::propagation::extract_values(o11y::propagation::format_traceparent(ctx),
                                                         ctx.trace_state);
    if (again.trace_id != ctx.trace_id || again.span_id != ctx.span_id ||
        again.flags != ctx.flags || again.trace_state != ctx.trace_state)
      __builtin_trap();
  } else if (!ctx.trace_state.empty()) {
    __builtin_trap();  // no tracestate without a valid traceparent
  }
  return 0;
}
