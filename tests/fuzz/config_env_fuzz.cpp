// Configuration from arbitrary environment values: never crashes or throws; every problem is
// reported, not acted on.
#include <cstdlib>
#include <o11y/config.hpp>
#include <string>

#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const char* const kNames[] = {
      "O11Y_SERVICE_NAME",           "O11Y_ENVIRONMENT",
      "OTEL_RESOURCE_ATTRIBUTES",    "O11Y_TRACING_SAMPLE_RATE",
      "OTEL_TRACES_EXPORTER",        "OTEL_EXPORTER_OTLP_HEADERS",
      "OTEL_BSP_MAX_QUEUE_SIZE",     "OTEL_EXPORTER_OTLP_TIMEOUT",
      "O11Y_LOGGING_LEVELS",         "O11Y_LOGGING_FORMAT",
      "O11Y_LOGGING_FILE_MAX_BYTES", "O11Y_REDACT_KEYS",
      "O11Y_METRICS_MAX_SERIES",     "OTEL_EXPORTER_OTLP_ENDPOINT"};
  o11y::fuzz::Pieces in(data, size);
  for (const char* name : kNames) {
    if (in.empty()) {
      ::unsetenv(name);
      continue;
    }
    const std::string value(in.next('\0'));
    if (value.find('\0') == std::string::npos)
      ::setenv(name, value.c_str(), 1);
  }
  try {
    (void)o11y::environment_problems();
  } catch (...) {
    __builtin_trap();
  }
  return 0;
}
