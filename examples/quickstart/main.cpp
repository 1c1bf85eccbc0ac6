// quickstart: the smallest useful o11y program. It configures the library, sets request tags
// once, opens a server span continuing a caller's W3C trace, logs structured events that carry
// the tags and the trace ids, and passes the trace on to an outgoing call. Spans are printed by
// an in-memory processor so you can see what was recorded.
#include <cstdio>
#include <map>
#include <o11y/o11y.hpp>
#include <string>

int main() {
  o11y::Config cfg;
  cfg.service_name = "quickstart";
  o11y::init(cfg);
  auto recorded = std::make_shared<o11y::InMemorySpanProcessor>();
  o11y::add_span_processor(recorded);

  // What an HTTP framework hands us: the caller's headers.
  const std::map<std::string, std::string> request_headers = {
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};

  auto log = o11y::get_logger();  // named after this file: "quickstart.main"
  std::map<std::string, std::string> outgoing;
  {
    o11y::Scope request;  // tags set below vanish when the request ends
    auto server = o11y::start_span(
        "GET /orders/{id}",
        {.kind = o11y::SpanKind::Server, .parent = o11y::propagation::extract(request_headers)});
    o11y::set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
    log.info("order_placed", {{"order_id", 123}, {"amount", 49.99}});
    {
      auto payment = o11y::start_span("process_payment");
      payment.set_attribute("payment.method", "card");
      payment.add_event("validated", {{"rule", "amount"}});
      o11y::propagation::inject(outgoing);  // the next service continues this trace
      log.warning("payment_slow", {{"duration_ms", 812.5}});
    }
  }

  o11y::logging::flush();
  std::printf("outgoing traceparent: %s\n", outgoing["traceparent"].c_str());
  for (const auto& span : recorded->spans()) {
    std::printf("span %-18s trace=%s span=%s parent=%s attributes=%zu\n", span->name.c_str(),
                span->context.trace_id.to_hex().c_str(), span->context.span_id.to_hex().c_str(),
                span->parent_span_id.to_hex().c_str(), span->attributes.size());
    for (const auto& a : span->attributes) {
      std::printf("    %s = %s\n", a.key.c_str(), a.value.to_string().c_str());
    }
  }
  o11y::shutdown();
  return 0;
}
