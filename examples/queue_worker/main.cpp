// queue_worker: one trace across two processes that share nothing but a queue. The producer
// serialises its context into each message (traceparent/tracestate in a string map, the Celery
// pattern); the consumer, a fork()ed process reading a pipe, continues it with a CONSUMER span
// linked to the producer. Finished spans are printed as JSON lines (the console exporter), so
// both processes' spans can be seen sharing one trace id.
//
//   queue_worker [MESSAGES]      (default 3)
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <o11y/o11y.hpp>
#include <string>

namespace {

o11y::Config config(const char* service) {
  o11y::Config cfg;
  cfg.service_name = service;
  cfg.tracing.exporter = o11y::TracesExporter::Console;
  cfg.tracing.sample_rate = 1.0;
  cfg.tracing.batch.schedule_delay = std::chrono::milliseconds(100);
  return cfg;
}

void consume(FILE* queue) {
  o11y::init(config("queue_consumer"));
  auto log = o11y::get_logger();
  char line[4096];
  while (std::fgets(line, sizeof line, queue) != nullptr) {
    const auto message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.contains("headers"))
      continue;
    const auto headers = message["headers"].get<std::map<std::string, std::string>>();
    auto span = o11y::propagation::start_consumer_span("process order", headers);
    o11y::set_custom_tags({{"order_id", message.value("order_id", 0)}});
    log.info("order_processed", {{"queue", "orders"}});
  }
  o11y::shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 3;
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("pipe");
    return 1;
  }
  const pid_t consumer = ::fork();
  if (consumer == 0) {
    ::close(fds[1]);
    FILE* in = ::fdopen(fds[0], "r");
    consume(in);
    std::fclose(in);
    ::_exit(0);
  }
  ::close(fds[0]);
  FILE* out = ::fdopen(fds[1], "w");
  o11y::init(config("queue_producer"));
  auto log = o11y::get_logger();
  for (int i = 1; i <= messages; ++i) {
    auto span = o11y::start_span("send order", {.kind = o11y::SpanKind::Producer});
    nlohmann::json message{{"order_id", i}, {"headers", o11y::propagation::to_carrier()}};
    std::fprintf(out, "%s\n", message.dump().c_str());
    std::fflush(out);
    log.info("order_enqueued", {{"order_id", i}});
  }
  std::fclose(out);  // end of queue: the consumer finishes
  int status = 0;
  ::waitpid(consumer, &status, 0);
  o11y::shutdown();
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
