// The one place the environment is read: every O11Y_* and OTEL_* variable is parsed here into
// a Config (section by section), for init() and for a module used before init().
#include "config/environment.hpp"

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "base/env.hpp"
#include "config/resource_attributes.hpp"
#include "o11y/config.hpp"

namespace o11y {
namespace {

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

// The signal's own OTEL_EXPORTER_OTLP_<SIGNAL>_<name>, else OTEL_EXPORTER_OTLP_<name>, with
// the name of the variable that was set.
std::optional<std::pair<std::string, std::string>> otlp_env(std::string_view signal,
                                                            const std::string& name) {
  const std::string own = "OTEL_EXPORTER_OTLP_" + std::string(signal) + "_" + name;
  for (const auto& full : {own, "OTEL_EXPORTER_OTLP_" + name}) {
    if (auto v = detail::env(full.c_str()))
      return std::pair{full, std::move(*v)};
  }
  return std::nullopt;
}

// What one signal's OTLP exporter reads from the environment.
struct OtlpFields {
  std::string& endpoint;
  std::map<std::string, std::string>& headers;
  bool& gzip;
  OtlpEncoding& encoding;
  std::chrono::milliseconds& timeout;
};

// signal: "TRACES" or "LOGS"; path: what OTEL_EXPORTER_OTLP_ENDPOINT is extended with.
void apply_otlp_env(std::string_view signal, std::string_view path, OtlpFields f) {
  const std::string own_endpoint = "OTEL_EXPORTER_OTLP_" + std::string(signal) + "_ENDPOINT";
  if (auto v = detail::env(own_endpoint.c_str())) {
    f.endpoint = std::move(*v);
  } else if (auto base = detail::env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    while (!base->empty() && base->back() == '/')
      base->pop_back();
    f.endpoint = *base + std::string(path);
  }
  if (auto h = otlp_env(signal, "HEADERS")) {
    Attributes parsed;
    if (!detail::parse_resource_attributes(h->second, parsed)) {
      // The value is not echoed: headers carry credentials.
      detail::report_bad_env(h->first, "(not shown)", "comma-separated key=value pairs",
                             "the well-formed entries only");
    }
    for (const auto& a : parsed)
      f.headers[a.key] = a.value.to_string();
  }
  if (auto v = otlp_env(signal, "COMPRESSION")) {
    if (v->second == "gzip" || v->second == "none") {
      f.gzip = v->second == "gzip";
    } else {
      detail::report_bad_env(v->first, v->second, "gzip or none", f.gzip ? "gzip" : "none");
    }
  }
  if (auto v = otlp_env(signal, "PROTOCOL")) {
    if (v->second == "http/json") {
      f.encoding = OtlpEncoding::Json;
    } else if (v->second == "http/protobuf") {
      f.encoding = OtlpEncoding::Protobuf;
    } else {
      detail::report_bad_env(v->first, v->second, "http/json or http/protobuf",
                             f.encoding == OtlpEncoding::Json ? "http/json" : "http/protobuf");
    }
  }
  const std::string own_timeout = "OTEL_EXPORTER_OTLP_" + std::string(signal) + "_TIMEOUT";
  if (detail::env(own_timeout.c_str())) {
    apply_millis(own_timeout.c_str(), f.timeout);
  } else {
    apply_millis("OTEL_EXPORTER_OTLP_TIMEOUT", f.timeout);
  }
}

// OTEL_TRACES_EXPORTER or OTEL_LOGS_EXPORTER: otlp, console or none.
template <class Exporter>
void apply_exporter(const char* name, Exporter& field) {
  const auto v = detail::env(name);
  if (!v)
    return;
  if (*v == "otlp") {
    field = Exporter::Otlp;
  } else if (*v == "console") {
    field = Exporter::Console;
  } else if (*v == "none") {
    field = Exporter::None;
  } else {
    detail::report_bad_env(
        name, *v, "otlp, console or none",
        field == Exporter::Auto ? std::string("the default") : std::string(to_string(field)));
  }
}

void apply_batch_env(const char* prefix, BatchOptions& b) {
  const std::string p(prefix);
  apply_size((p + "_MAX_QUEUE_SIZE").c_str(), b.max_queue_size);
  apply_size((p + "_MAX_EXPORT_BATCH_SIZE").c_str(), b.max_export_batch_size);
  apply_millis((p + "_SCHEDULE_DELAY").c_str(), b.schedule_delay);
  apply_millis((p + "_EXPORT_TIMEOUT").c_str(), b.export_timeout);
}

void apply_metrics_export_env(MetricsConfig& m) {
  apply_exporter("OTEL_METRICS_EXPORTER", m.exporter);
  apply_otlp_env("METRICS", "/v1/metrics",
                 {m.otlp_endpoint, m.otlp_headers, m.otlp_gzip, m.otlp_encoding, m.otlp_timeout});
  apply_millis("OTEL_METRIC_EXPORT_INTERVAL", m.export_interval);
  apply_millis("OTEL_METRIC_EXPORT_TIMEOUT", m.export_timeout);
  constexpr const char* kTemporality = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
  if (auto v = detail::env(kTemporality)) {
    std::string lower = *v;
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "cumulative") {
      m.temporality = MetricsTemporality::Cumulative;
    } else if (lower == "delta" || lower == "lowmemory") {
      // lowmemory is delta for synchronous counters and histograms, which is all o11y has.
      m.temporality = MetricsTemporality::Delta;
    } else {
      detail::report_bad_env(kTemporality, *v, "cumulative, delta or lowmemory",
                             m.temporality == MetricsTemporality::Delta ? "delta" : "cumulative");
    }
  }
}

void apply_tracing_export_env(TracingConfig& t) {
  apply_exporter("OTEL_TRACES_EXPORTER", t.exporter);
  apply_otlp_env("TRACES", "/v1/traces",
                 {t.otlp_endpoint, t.otlp_headers, t.otlp_gzip, t.otlp_encoding, t.otlp_timeout});
  apply_batch_env("OTEL_BSP", t.batch);
}

}  // namespace

namespace detail {
void apply_logs_export_env(LoggingConfig& l) {
  apply_exporter("OTEL_LOGS_EXPORTER", l.exporter);
  apply_otlp_env("LOGS", "/v1/logs",
                 {l.otlp_endpoint, l.otlp_headers, l.otlp_gzip, l.otlp_encoding, l.otlp_timeout});
  apply_batch_env("OTEL_BLRP", l.batch);
}
}  // namespace detail

std::string_view to_string(Environment environment) noexcept {
  switch (environment) {
    case Environment::Development:
      return "development";
    case Environment::Production:
      return "production";
    case Environment::Auto:
      break;
  }
  return "";
}

std::string_view to_string(MetricsExporter exporter) noexcept {
  switch (exporter) {
    case MetricsExporter::Otlp:
      return "otlp";
    case MetricsExporter::Console:
      return "console";
    case MetricsExporter::None:
      return "none";
    case MetricsExporter::Auto:
      break;
  }
  return "";
}

std::string_view to_string(LogsExporter exporter) noexcept {
  switch (exporter) {
    case LogsExporter::Otlp:
      return "otlp";
    case LogsExporter::Console:
      return "console";
    case LogsExporter::None:
      return "none";
    case LogsExporter::Auto:
      break;
  }
  return "";
}

std::string_view to_string(TracesExporter exporter) noexcept {
  switch (exporter) {
    case TracesExporter::Otlp:
      return "otlp";
    case TracesExporter::Console:
      return "console";
    case TracesExporter::None:
      return "none";
    case TracesExporter::Auto:
      break;
  }
  return "";
}

Config Config::with_environment(Config c) {
  if (auto v = detail::env("O11Y_SERVICE_NAME")) {
    c.service_name = std::move(*v);
  } else {
    apply_string("OTEL_SERVICE_NAME", c.service_name);
  }
  apply_string("O11Y_SERVICE_VERSION", c.service_version);
  if (auto v = detail::env("O11Y_ENVIRONMENT")) {
    if (*v == "development") {
      c.environment = Environment::Development;
    } else if (*v == "production") {
      c.environment = Environment::Production;
    } else {
      detail::report_bad_env("O11Y_ENVIRONMENT", *v, "development or production",
                             c.environment == Environment::Auto
                                 ? std::string("auto-detection")
                                 : std::string(to_string(c.environment)));
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
  apply_metrics_export_env(c.metrics);

  if (auto dir = detail::multiproc_dir_from_environment())
    c.metrics.multiproc_dir = std::move(*dir);
  c.db = detail::apply_db_env(c.db);
  return c;
}

DbConfig detail::apply_db_env(DbConfig c) {
  apply_bool("O11Y_DB_SQLCOMMENTER", c.sqlcommenter);
  apply_millis("O11Y_DB_SLOW_QUERY_MS", c.slow_query);
  apply_size("O11Y_DB_N_PLUS_ONE_THRESHOLD", c.n_plus_one_threshold);
  return c;
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

}  // namespace o11y
