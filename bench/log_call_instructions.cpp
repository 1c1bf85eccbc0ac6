// The API example's async log call (4 fields, 2 custom tags, an active span), `argv[1]` times,
// flushed every 100 calls (`argv[2]` "event": in its event() form): for counting the instructions
// one call takes on the caller's thread, which, unlike its time, does not depend on what else this
// machine runs. scripts/log_call_instructions.sh runs it under callgrind twice and prints the
// difference.
#include <cstdlib>
#include <filesystem>
#include <o11y/o11y.hpp>
#include <string>

#include "log_file_setup.hpp"

constexpr auto kOrderPlaced =
    o11y::event("order_placed", "order_id", "amount", "currency", "customer");

// Each form in a function of its own, so that callgrind counts the whole call: building the
// arguments, the level check and Logger's work (as for quill's call).
[[gnu::noinline]] void fields_call(const o11y::Logger& log, int i, const std::string& customer) {
  log.info("order_placed",
           {{"order_id", i}, {"amount", 49.99}, {"currency", "EUR"}, {"customer", customer}});
}
[[gnu::noinline]] void event_call(const o11y::Logger& log, int i, const std::string& customer) {
  log.info<kOrderPlaced>({i, 49.99, "EUR", customer});
}

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string path = o11y_bench::init_logging_to_file(
      "log_call_instructions", "o11y_log_call_instructions.log", /*async=*/true);
  auto log = o11y::get_logger("orders.views");
  const std::string customer = "acme";
  const o11y::Scope scope;
  auto span = o11y::start_span("request");
  o11y::set_custom_tags({{"tenant_id", "acme"}, {"feature", "checkout_v2"}});
  const bool event_form = argc > 2 && std::string(argv[2]) == "event";
  for (int i = 0; i < calls; ++i) {
    if (event_form) {
      event_call(log, i, customer);
    } else {
      fields_call(log, i, customer);
    }
    if (i % 100 == 99)
      o11y::logging::flush();
  }
  span.end();
  std::filesystem::remove(path);
  return 0;
}
