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
#include "integrations/work_unit.hpp"
#include "logging/pipeline.hpp"
#include "metrics/family.hpp"
#include "metrics/metric_export.hpp"
#include "metrics/mp_format.hpp"
#include "o11y/export.hpp"
#include "o11y/trace.hpp"
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
  detail::upsert(a, "deployment.environment", to_string(c.environment));
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

/// The processor init() installed for the configured exporter, or null.
std::shared_ptr<SpanProcessor> make_export_processor(const TracingConfig& t) {
  TracesExporter kind = t.exporter;
  if (kind == TracesExporter::Auto)
    kind = t.otlp_endpoint.empty() ? TracesExporter::None : TracesExporter::Otlp;
  if (kind == TracesExporter::None || !t.enabled)
    return nullptr;
  std::unique_ptr<SpanExporter> exporter;
  if (kind == TracesExporter::Console) {
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
  if (c.environment == Environment::Auto)
    c.environment = ::isatty(STDOUT_FILENO) ? Environment::Development : Environment::Production;
  const bool dev = c.environment == Environment::Development;
  set_sample_rate(
      c.tracing.sample_rate.value_or(dev ? kDevelopmentSampleRate : kProductionSampleRate));
  detail::set_tracing_enabled(c.tracing.enabled);
  detail::set_redaction(c.redaction.keys, c.redaction.mask_pii);
  detail::set_series_limit(c.metrics.max_series_per_metric);
  detail::set_db_config(c.db);
  set_resource(build_resource(c));
  detail::LoggingSetup logging;
  logging.config = c.logging;
  logging.stdout_is_terminal = ::isatty(STDOUT_FILENO) != 0;
  detail::configure_logging(logging);

  auto processor = make_export_processor(c.tracing);
  std::unique_ptr<detail::MetricExport> metric_export;
  if (const auto ms = detail::metric_export_setup(c.metrics); ms.kind != MetricsExporter::None) {
    try {
      metric_export = std::make_unique<detail::MetricExport>(ms);
    } catch (const std::invalid_argument& e) {
      detail::report_internal_error("config", std::string(e.what()) + "; metrics are not exported");
    }
  }

  auto& g = global();
  std::lock_guard lock(g.mu);
  if (g.export_processor) {
    remove_span_processor(g.export_processor);
    g.export_processor->shutdown();
  }
  g.export_processor = processor;
  detail::install_metric_export(std::move(metric_export));
  if (processor)
    add_span_processor(std::move(processor));
  g.config = std::move(c);
  if (!g.atexit_registered) {
    g.atexit_registered = std::atexit([] { shutdown(); }) == 0;
  }
}

void shutdown() noexcept {
  detail::flush_logging();
  (void)detail::flush_log_export(std::chrono::milliseconds::max());
  detail::shutdown_metric_export();
  force_flush_spans();
  detail::shutdown_span_processors();
}

Config current_config() {
  auto& g = global();
  std::lock_guard lock(g.mu);
  return g.config;
}

}  // namespace o11y
