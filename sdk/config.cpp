#include "o11y/config.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>

#include "base/env.hpp"
#include "base/internal_error.hpp"
#include "context/frame.hpp"
#include "context/redact.hpp"
#include "logging/pipeline.hpp"
#include "metrics/family.hpp"
#include "metrics/mp_format.hpp"
#include "o11y/export.hpp"
#include "o11y/trace.hpp"
#include "sdk/resource_attributes.hpp"
#include "trace/tracer.hpp"

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
  std::shared_ptr<SpanProcessor> export_processor;
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

/// The traces-specific OTEL_EXPORTER_OTLP_TRACES_<name>, else OTEL_EXPORTER_OTLP_<name>, with
/// the name of the variable that was set.
std::optional<std::pair<std::string, std::string>> otlp_env(const std::string& name) {
  for (const auto& full : {"OTEL_EXPORTER_OTLP_TRACES_" + name, "OTEL_EXPORTER_OTLP_" + name}) {
    if (auto v = detail::env(full.c_str()))
      return std::pair{full, std::move(*v)};
  }
  return std::nullopt;
}

void apply_millis(const char* name, std::chrono::milliseconds& field) {
  const auto v = detail::env(name);
  if (!v)
    return;
  constexpr double kMaxMillis = 86'400'000;  // a day: anything longer is a typo
  if (auto d = detail::parse_double_in(*v, 0, kMaxMillis)) {
    field = std::chrono::milliseconds(static_cast<std::int64_t>(*d));
  } else {
    detail::report_bad_env(name, *v, "milliseconds, 0 to 86400000", std::to_string(field.count()));
  }
}

void apply_size(const char* name, std::size_t& field) {
  const auto v = detail::env(name);
  if (!v)
    return;
  constexpr double kMaxSize = 1e7;
  if (auto d = detail::parse_double_in(*v, 1, kMaxSize);
      d && *d == static_cast<double>(static_cast<std::size_t>(*d))) {
    field = static_cast<std::size_t>(*d);
  } else {
    detail::report_bad_env(name, *v, "a whole number from 1 to 10000000", std::to_string(field));
  }
}

void apply_tracing_export_env(TracingConfig& t) {
  if (auto v = detail::env("OTEL_TRACES_EXPORTER")) {
    if (*v == "otlp" || *v == "console" || *v == "none") {
      t.exporter = *v;
    } else {
      detail::report_bad_env("OTEL_TRACES_EXPORTER", *v, "otlp, console or none",
                             t.exporter.empty() ? "the default" : t.exporter);
    }
  }
  if (auto v = detail::env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    t.otlp_endpoint = std::move(*v);
  } else if (auto base = detail::env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    while (!base->empty() && base->back() == '/')
      base->pop_back();
    t.otlp_endpoint = *base + "/v1/traces";
  }
  if (auto h = otlp_env("HEADERS")) {
    Attributes parsed;
    if (!detail::parse_resource_attributes(h->second, parsed)) {
      // The value is not echoed: headers carry credentials.
      detail::report_bad_env(h->first, "(not shown)", "comma-separated key=value pairs",
                             "the well-formed entries only");
    }
    for (const auto& a : parsed)
      t.otlp_headers[a.key] = a.value.to_string();
  }
  if (auto v = otlp_env("COMPRESSION")) {
    if (v->second == "gzip" || v->second == "none") {
      t.otlp_gzip = v->second == "gzip";
    } else {
      detail::report_bad_env(v->first, v->second, "gzip or none", t.otlp_gzip ? "gzip" : "none");
    }
  }
  if (auto v = otlp_env("PROTOCOL")) {
    if (v->second == "http/json") {
      t.otlp_encoding = OtlpEncoding::Json;
    } else if (v->second == "http/protobuf") {
      t.otlp_encoding = OtlpEncoding::Protobuf;
    } else {
      detail::report_bad_env(v->first, v->second, "http/json or http/protobuf",
                             t.otlp_encoding == OtlpEncoding::Json ? "http/json" : "http/protobuf");
    }
  }
  if (detail::env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")) {
    apply_millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", t.otlp_timeout);
  } else {
    apply_millis("OTEL_EXPORTER_OTLP_TIMEOUT", t.otlp_timeout);
  }
  apply_size("OTEL_BSP_MAX_QUEUE_SIZE", t.batch.max_queue_size);
  apply_size("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", t.batch.max_export_batch_size);
  apply_millis("OTEL_BSP_SCHEDULE_DELAY", t.batch.schedule_delay);
  apply_millis("OTEL_BSP_EXPORT_TIMEOUT", t.batch.export_timeout);
}

/// The processor init() installed for the configured exporter, or null.
std::shared_ptr<SpanProcessor> make_export_processor(const TracingConfig& t) {
  std::string kind = t.exporter;
  if (kind.empty())
    kind = t.otlp_endpoint.empty() ? "none" : "otlp";
  if (kind == "none" || !t.enabled)
    return nullptr;
  std::unique_ptr<SpanExporter> exporter;
  if (kind == "console") {
    exporter = make_console_span_exporter();
  } else {
    OtlpOptions o;
    if (!t.otlp_endpoint.empty())
      o.endpoint = t.otlp_endpoint;
    o.headers = t.otlp_headers;
    o.gzip = t.otlp_gzip;
    o.encoding = t.otlp_encoding;
    o.timeout = t.otlp_timeout;
    try {
      exporter = make_otlp_http_exporter(o);
    } catch (const std::invalid_argument& e) {
      detail::report_internal_error("config", std::string(e.what()) + "; spans are not exported");
      return nullptr;
    }
  }
  return std::make_shared<BatchSpanProcessor>(std::move(exporter), t.batch);
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
  apply_tracing_export_env(c.tracing);

  if (auto v = detail::env("O11Y_REDACT_KEYS")) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ')
        item.remove_suffix(1);
      if (!item.empty())
        c.redaction.keys.emplace_back(item);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  apply_bool("O11Y_MASK_PII", c.redaction.mask_pii);
  apply_size("O11Y_METRICS_MAX_SERIES", c.metrics.max_series_per_metric);

  if (auto v = detail::env("O11Y_MULTIPROC_DIR")) {
    c.metrics.multiproc_dir = std::move(*v);
  } else {
    apply_string("PROMETHEUS_MULTIPROC_DIR", c.metrics.multiproc_dir);
  }
  return c;
}

namespace {

// First in init(): the library's own metrics (the span processor's, say) must not be declared
// before the directory is, or they would fix the process in single-process mode.
void apply_multiproc_dir(const std::string& dir) {
  std::string in_effect;
  if (detail::mp::set_configured_dir(dir, in_effect))
    return;
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true)) {
    detail::report_internal_error(
        "config", "metrics.multiproc_dir \"" + dir +
                      "\" comes after the first metric was declared and is not applied: this "
                      "process stays " +
                      (in_effect.empty() ? std::string("in single-process mode")
                                         : "on \"" + in_effect + "\"") +
                      ". Call init() before declaring metrics, or set O11Y_MULTIPROC_DIR");
  }
}

}  // namespace

void init(const Config& config, EnvironmentUse environment) {
  Config c = environment == EnvironmentUse::Apply ? Config::with_environment(config) : config;
  apply_multiproc_dir(c.metrics.multiproc_dir);
  if (c.environment.empty())
    c.environment = ::isatty(STDOUT_FILENO) ? "development" : "production";
  const bool dev = c.environment == "development";
  set_sample_rate(
      c.tracing.sample_rate.value_or(dev ? kDevelopmentSampleRate : kProductionSampleRate));
  detail::set_tracing_enabled(c.tracing.enabled);
  detail::set_redaction(c.redaction.keys, c.redaction.mask_pii);
  detail::set_series_limit(c.metrics.max_series_per_metric);
  set_resource(build_resource(c));
  detail::LoggingSetup logging;
  logging.config = c.logging;
  logging.stdout_is_terminal = ::isatty(STDOUT_FILENO) != 0;
  detail::configure_logging(logging);

  auto processor = make_export_processor(c.tracing);

  auto& g = global();
  std::lock_guard lock(g.mu);
  if (g.export_processor) {
    remove_span_processor(g.export_processor);
    g.export_processor->shutdown();
  }
  g.export_processor = processor;
  if (processor)
    add_span_processor(std::move(processor));
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

std::vector<std::string> environment_problems() {
  std::vector<std::string> problems;
  (void)environment_config(&problems);
  return problems;
}

Config environment_config(std::vector<std::string>* problems) {
  if (problems == nullptr)
    return Config::with_environment({});
  const detail::EnvProblemCollector collect(*problems);
  return Config::with_environment({});
}

Config current_config() {
  auto& g = global();
  std::lock_guard lock(g.mu);
  return g.config;
}

}  // namespace o11y
