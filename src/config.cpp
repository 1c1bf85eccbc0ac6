#include "o11y/config.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>

#include "context/env.hpp"
#include "context/frame.hpp"
#include "context/tracer.hpp"
#include "logging/pipeline.hpp"
#include "o11y/trace.hpp"

#ifndef O11Y_VERSION
#define O11Y_VERSION "0.0.0"
#endif

namespace o11y {
namespace {

constexpr double kDevelopmentSampleRate = 1.0;
constexpr double kProductionSampleRate = 0.01;

struct Global {
  std::mutex mu;
  Config config;
  bool atexit_registered = false;
};

Global& global() {
  static auto* g = new Global();  // NOLINT: outlives every static that may log or end spans
  return *g;
}

void apply_string(const char* name, std::string& field) {
  if (auto v = detail::env(name))
    field = std::move(*v);
}

void apply_bool(const char* name, bool& field, bool invert = false) {
  const auto v = detail::env(name);
  if (!v)
    return;
  if (auto b = detail::parse_bool(*v)) {
    field = invert ? !*b : *b;
  } else {
    detail::report_bad_env(name, *v, "true or false", field != invert ? "true" : "false");
  }
}

std::string random_instance_id() {
  // A UUID v4 in text form, from the trace id generator (random, reseeded after fork()).
  const auto id = TraceId::generate();
  auto hex = id.to_hex();
  hex[12] = '4';
  hex[16] = "89ab"[(hex[16] - '0') & 3];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string default_service_name() {
  // OpenTelemetry's default: unknown_service:<executable name>.
  return std::string("unknown_service:") + program_invocation_short_name;
}

Resource build_resource(const Config& c) {
  Resource r;
  auto& a = r.attributes;
  detail::upsert(a, "telemetry.sdk.name", "o11y");
  detail::upsert(a, "telemetry.sdk.language", "cpp");
  detail::upsert(a, "telemetry.sdk.version", O11Y_VERSION);
  detail::upsert(a, "service.instance.id", random_instance_id());
  detail::upsert(a, "deployment.environment", c.environment);
  for (const auto& attr : c.resource_attributes) {
    detail::upsert(a, attr.key, ValueView(attr.value));
  }
  // The service name settings win over a service.name inside the resource attributes.
  if (!c.service_name.empty()) {
    detail::upsert(a, "service.name", c.service_name);
  } else {
    bool has_name = false;
    for (const auto& attr : a)
      has_name = has_name || attr.key == "service.name";
    if (!has_name)
      detail::upsert(a, "service.name", default_service_name());
  }
  if (!c.service_version.empty())
    detail::upsert(a, "service.version", c.service_version);
  return r;
}

}  // namespace

Config Config::with_environment(Config c) {
  if (auto v = detail::env("O11Y_SERVICE_NAME")) {
    c.service_name = std::move(*v);
  } else {
    apply_string("OTEL_SERVICE_NAME", c.service_name);
  }
  apply_string("O11Y_SERVICE_VERSION", c.service_version);
  if (auto v = detail::env("O11Y_ENVIRONMENT")) {
    if (*v == "development" || *v == "production") {
      c.environment = *v;
    } else {
      detail::report_bad_env("O11Y_ENVIRONMENT", *v, "development or production",
                             c.environment.empty() ? "auto-detection" : c.environment);
    }
  }
  if (auto v = detail::env("OTEL_RESOURCE_ATTRIBUTES")) {
    if (!detail::parse_resource_attributes(*v, c.resource_attributes)) {
      detail::report_bad_env("OTEL_RESOURCE_ATTRIBUTES", *v,
                             "comma-separated key=value pairs, values percent-encoded",
                             "the well-formed entries only");
    }
  }

  c.logging = detail::apply_logging_env(std::move(c.logging));

  apply_bool("O11Y_TRACING_ENABLED", c.tracing.enabled);
  apply_bool("OTEL_SDK_DISABLED", c.tracing.enabled, /*invert=*/true);
  const char* rate_name = "O11Y_TRACING_SAMPLE_RATE";
  auto rate = detail::env(rate_name);
  if (!rate) {
    rate_name = "OTEL_TRACES_SAMPLER_ARG";
    rate = detail::env(rate_name);
  }
  if (rate) {
    if (auto r = detail::parse_double_in(*rate, 0.0, 1.0)) {
      c.tracing.sample_rate = *r;
    } else {
      detail::report_bad_env(
          rate_name, *rate, "a number from 0 to 1",
          c.tracing.sample_rate ? std::to_string(*c.tracing.sample_rate) : "the default rate");
    }
  }
  if (auto v = detail::env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    c.tracing.otlp_endpoint = std::move(*v);
  } else if (auto base = detail::env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    while (!base->empty() && base->back() == '/')
      base->pop_back();
    c.tracing.otlp_endpoint = *base + "/v1/traces";
  }

  if (auto v = detail::env("O11Y_MULTIPROC_DIR")) {
    c.metrics.multiproc_dir = std::move(*v);
  } else {
    apply_string("PROMETHEUS_MULTIPROC_DIR", c.metrics.multiproc_dir);
  }
  return c;
}

void init(const Config& config) {
  Config c = Config::with_environment(config);
  if (c.environment.empty())
    c.environment = ::isatty(STDOUT_FILENO) ? "development" : "production";
  const bool dev = c.environment == "development";
  set_sample_rate(
      c.tracing.sample_rate.value_or(dev ? kDevelopmentSampleRate : kProductionSampleRate));
  detail::set_tracing_enabled(c.tracing.enabled);
  set_resource(build_resource(c));
  detail::LoggingSetup logging;
  logging.config = c.logging;
  logging.stdout_is_terminal = ::isatty(STDOUT_FILENO) != 0;
  detail::configure_logging(logging);

  auto& g = global();
  std::lock_guard lock(g.mu);
  g.config = std::move(c);
  if (!g.atexit_registered) {
    g.atexit_registered = std::atexit([] { shutdown(); }) == 0;
  }
}

void shutdown() noexcept {
  detail::flush_logging();
  force_flush_spans();
  detail::shutdown_span_processors();
}

Config current_config() {
  auto& g = global();
  std::lock_guard lock(g.mu);
  return g.config;
}

}  // namespace o11y
