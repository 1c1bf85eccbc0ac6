// quill's log call on the same four values as o11y_log_call_instructions, `argv[1]` times,
// flushed every 100 calls: the peer's side of scripts/log_call_instructions.sh --quill.
// The call sits in a function of its own so that callgrind can count just the caller's part.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "quill/Backend.h"
#include "quill/Frontend.h"
#include "quill/LogMacros.h"
#include "quill/Logger.h"
#include "quill/sinks/FileSink.h"

[[gnu::noinline]] void quill_call(quill::Logger* logger, int i, const std::string& customer) {
  LOG_INFO(logger, "order_placed order_id={} amount={} currency={} customer={}", i, 49.99, "EUR",
           customer);
}

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 1000;
  const auto path = std::filesystem::temp_directory_path() / "quill_call_instructions.log";
  quill::Backend::start();
  auto sink = quill::Frontend::create_or_get_sink<quill::FileSink>(path.string());
  quill::Logger* logger = quill::Frontend::create_or_get_logger("bench", std::move(sink));
  const std::string customer = "acme";
  for (int i = 0; i < calls; ++i) {
    quill_call(logger, i, customer);
    if (i % 100 == 99)
      logger->flush_log();
  }
  quill::Backend::stop();
  std::filesystem::remove(path);
  return 0;
}
