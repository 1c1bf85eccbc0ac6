// Exits 0 only when the installed library behaves: a span, a tag, a traceparent out, and a log
// line from each form of a call (the event() form is a template of the installed headers).
#include <cstdio>
#include <map>
#include <o11y/o11y.hpp>
#include <string>

int main() {
  o11y::Config cfg;
  cfg.service_name = "consumer";
  cfg.tracing.sample_rate = 1.0;  // under ctest stdout is no terminal: production, 1%
  o11y::init(cfg);
  auto memory = std::make_shared<o11y::InMemorySpanProcessor>();
  o11y::add_span_processor(memory);
  std::map<std::string, std::string> headers;
  static constexpr auto kConsumerRan = o11y::event("consumer_ran", "ok", "attempt");
  const o11y::logging::LogCapture capture;
  {
    auto span = o11y::start_span("consumer_work");
    o11y::set_custom_tags({{"tenant_id", "acme"}});
    o11y::propagation::inject(headers);
    o11y::get_logger("consumer").info("consumer_ran", {{"ok", true}});
    o11y::get_logger("consumer").info<kConsumerRan>({true, 2});
  }
  const auto spans = memory->spans();
  const auto lines = capture.lines_with_event("consumer_ran");
  const bool ok = spans.size() == 1 && spans[0]->name == "consumer_work" &&
                  spans[0]->attributes.size() == 1 && headers["traceparent"].size() == 55 &&
                  lines.size() == 2 &&
                  lines[1].find("\"ok\":true,\"attempt\":2") != std::string::npos;
  std::printf("consumer: %s traceparent=%s\n", ok ? "ok" : "FAILED",
              headers["traceparent"].c_str());
  o11y::shutdown();
  return ok ? 0 : 1;
}
