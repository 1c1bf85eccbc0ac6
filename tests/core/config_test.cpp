#include <gtest/gtest.h>

#include <cstdlib>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/trace.hpp>
#include <string>
#include <vector>

namespace o11y {
namespace {

// Sets environment variables for one test and removes them afterwards.
class EnvTest : public ::testing::Test {
 protected:
  void set(const char* name, const char* value) {
    ::setenv(name, value, 1);
    names_.push_back(name);
  }
  void TearDown() override {
    for (const auto* n : names_)
      ::unsetenv(n);
  }

 private:
  std::vector<const char*> names_;
};

const Value* find(const Attributes& attrs, std::string_view key) {
  for (const auto& a : attrs) {
    if (a.key == key)
      return &a.value;
  }
  return nullptr;
}

using ConfigEnv = EnvTest;

TEST_F(ConfigEnv, EnvironmentOverridesCodeWhichOverridesDefaults) {
  Config code;
  code.service_name = "from_code";
  code.service_version = "1.0";
  EXPECT_EQ(Config::with_environment(code).service_name, "from_code");
  set("O11Y_SERVICE_NAME", "from_env");
  const auto c = Config::with_environment(code);
  EXPECT_EQ(c.service_name, "from_env");
  EXPECT_EQ(c.service_version, "1.0");
}

TEST_F(ConfigEnv, OtelServiceNameIsTheFallback) {
  set("OTEL_SERVICE_NAME", "otel_name");
  EXPECT_EQ(Config::with_environment({}).service_name, "otel_name");
  set("O11Y_SERVICE_NAME", "ours");
  EXPECT_EQ(Config::with_environment({}).service_name, "ours");
}

TEST_F(ConfigEnv, MalformedSampleRateIsReportedAndTheDefaultKept) {
  set("O11Y_TRACING_SAMPLE_RATE", "lots");
  Config code;
  code.tracing.sample_rate = 0.5;
  ::testing::internal::CaptureStderr();
  const auto c = Config::with_environment(code);
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.tracing.sample_rate, 0.5);
  EXPECT_NE(err.find("O11Y_TRACING_SAMPLE_RATE=\"lots\""), std::string::npos) << err;
  EXPECT_NE(err.find("0 to 1"), std::string::npos) << err;
}

TEST_F(ConfigEnv, MalformedValueIsReportedOnlyOnce) {
  set("O11Y_LOGGING_FORMAT", "xml");
  ::testing::internal::CaptureStderr();
  (void)Config::with_environment({});
  (void)Config::with_environment({});
  const auto err = ::testing::internal::GetCapturedStderr();
  const auto first = err.find("O11Y_LOGGING_FORMAT");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(err.find("O11Y_LOGGING_FORMAT", first + 1), std::string::npos) << err;
}

TEST_F(ConfigEnv, SampleRateFallsBackToTheOtelVariableAndRejectsOutOfRange) {
  set("OTEL_TRACES_SAMPLER_ARG", "0.25");
  EXPECT_EQ(Config::with_environment({}).tracing.sample_rate, 0.25);
  set("O11Y_TRACING_SAMPLE_RATE", "1.5");
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(Config::with_environment({}).tracing.sample_rate.has_value());
  (void)::testing::internal::GetCapturedStderr();
}

TEST_F(ConfigEnv, OtelSdkDisabledTurnsTracingOff) {
  set("OTEL_SDK_DISABLED", "true");
  EXPECT_FALSE(Config::with_environment({}).tracing.enabled);
}

TEST_F(ConfigEnv, ResourceAttributesArePercentDecodedAndBadEntriesSkipped) {
  set("OTEL_RESOURCE_ATTRIBUTES", "team=pay%20ments,region=eu-west-1,broken,bad=%zz");
  ::testing::internal::CaptureStderr();
  const auto c = Config::with_environment({});
  const auto err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(c.resource_attributes.size(), 2U);
  EXPECT_EQ(*find(c.resource_attributes, "team"), Value("pay ments"));
  EXPECT_EQ(*find(c.resource_attributes, "region"), Value("eu-west-1"));
  EXPECT_NE(err.find("OTEL_RESOURCE_ATTRIBUTES"), std::string::npos);
}

TEST_F(ConfigEnv, OtlpTracesEndpointWinsOverTheBaseEndpoint) {
  set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/");
  EXPECT_EQ(Config::with_environment({}).tracing.otlp_endpoint, "http://127.0.0.1:4318/v1/traces");
  set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9999/x");
  EXPECT_EQ(Config::with_environment({}).tracing.otlp_endpoint, "http://127.0.0.1:9999/x");
}

TEST_F(ConfigEnv, OtlpExportSettingsPreferTheTracesSpecificVariables) {
  set("OTEL_TRACES_EXPORTER", "otlp");
  set("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-tenant=base");
  set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=acme");
  set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
  set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf");
  set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
  set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
  set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10");
  set("OTEL_BSP_SCHEDULE_DELAY", "200");
  set("OTEL_BSP_EXPORT_TIMEOUT", "3000");
  const auto t = Config::with_environment({}).tracing;
  EXPECT_EQ(t.exporter, TracesExporter::Otlp);
  EXPECT_EQ(t.otlp_headers, (std::map<std::string, std::string>{{"x-tenant", "acme"}}));
  EXPECT_TRUE(t.otlp_gzip);
  EXPECT_EQ(t.otlp_encoding, OtlpEncoding::Protobuf);
  EXPECT_EQ(t.otlp_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(t.batch.max_queue_size, 100U);
  EXPECT_EQ(t.batch.max_export_batch_size, 10U);
  EXPECT_EQ(t.batch.schedule_delay, std::chrono::milliseconds(200));
  EXPECT_EQ(t.batch.export_timeout, std::chrono::milliseconds(3000));
}

TEST_F(ConfigEnv, LogsExportDefaultsAreOpenTelemetrysBatchLogRecordProcessor) {
  const auto l = Config::with_environment({}).logging;
  EXPECT_EQ(l.exporter, LogsExporter::Auto);
  EXPECT_TRUE(l.otlp_endpoint.empty());
  EXPECT_EQ(l.batch.schedule_delay, std::chrono::milliseconds(1000));
  EXPECT_EQ(l.batch.max_queue_size, 2048U);
  EXPECT_EQ(l.batch.max_export_batch_size, 512U);
  EXPECT_EQ(l.batch.export_timeout, std::chrono::milliseconds(30000));
}

TEST_F(ConfigEnv, LogsExportSettingsPreferTheLogsSpecificVariables) {
  set("OTEL_LOGS_EXPORTER", "otlp");
  set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/");
  set("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=base");
  set("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-tenant=logs");
  set("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip");
  set("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json");
  set("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "1500");
  set("OTEL_BLRP_MAX_QUEUE_SIZE", "100");
  set("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "10");
  set("OTEL_BLRP_SCHEDULE_DELAY", "200");
  set("OTEL_BLRP_EXPORT_TIMEOUT", "3000");
  auto c = Config::with_environment({});
  const auto& l = c.logging;
  EXPECT_EQ(l.exporter, LogsExporter::Otlp);
  EXPECT_EQ(l.otlp_endpoint, "http://127.0.0.1:4318/v1/logs");
  EXPECT_EQ(l.otlp_headers, (std::map<std::string, std::string>{{"x-tenant", "logs"}}));
  EXPECT_TRUE(l.otlp_gzip);
  EXPECT_EQ(l.otlp_encoding, OtlpEncoding::Json);
  EXPECT_EQ(l.otlp_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(l.batch.max_queue_size, 100U);
  EXPECT_EQ(l.batch.max_export_batch_size, 10U);
  EXPECT_EQ(l.batch.schedule_delay, std::chrono::milliseconds(200));
  EXPECT_EQ(l.batch.export_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(c.tracing.otlp_headers, (std::map<std::string, std::string>{{"x-tenant", "base"}}))
      << "the logs variables are the logs exporter's only";
  EXPECT_FALSE(c.tracing.otlp_gzip);
  set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://127.0.0.1:9999/logs");
  EXPECT_EQ(Config::with_environment({}).logging.otlp_endpoint, "http://127.0.0.1:9999/logs");
}

TEST_F(ConfigEnv, MetricsExportSettingsPreferTheMetricsSpecificVariables) {
  const auto defaults = Config::with_environment({}).metrics;
  EXPECT_EQ(defaults.exporter, MetricsExporter::Auto);
  EXPECT_EQ(defaults.export_interval, std::chrono::milliseconds(60000));
  EXPECT_EQ(defaults.export_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(defaults.temporality, MetricsTemporality::Cumulative);
  set("OTEL_METRICS_EXPORTER", "otlp");
  set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
  set("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json");
  set("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip");
  set("OTEL_METRIC_EXPORT_INTERVAL", "15000");
  set("OTEL_METRIC_EXPORT_TIMEOUT", "5000");
  set("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta");
  const auto m = Config::with_environment({}).metrics;
  EXPECT_EQ(m.exporter, MetricsExporter::Otlp);
  EXPECT_EQ(m.otlp_endpoint, "http://127.0.0.1:4318/v1/metrics");
  EXPECT_EQ(m.otlp_encoding, OtlpEncoding::Json);
  EXPECT_TRUE(m.otlp_gzip);
  EXPECT_EQ(m.export_interval, std::chrono::milliseconds(15000));
  EXPECT_EQ(m.export_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(m.temporality, MetricsTemporality::Delta);
  set("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory");
  EXPECT_EQ(Config::with_environment({}).metrics.temporality, MetricsTemporality::Delta);
  set("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "sometimes");
  const auto problems = environment_problems();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
            std::string::npos)
      << problems[0];
}

TEST_F(ConfigEnv, AnUnknownLogsExporterIsReportedAndTheDefaultKept) {
  set("OTEL_LOGS_EXPORTER", "zipkin");
  const auto problems = environment_problems();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("OTEL_LOGS_EXPORTER"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("zipkin"), std::string::npos) << problems[0];
  EXPECT_EQ(Config::with_environment({}).logging.exporter, LogsExporter::Auto);
}

TEST_F(ConfigEnv, MalformedExportSettingsAreReportedWithoutEchoingHeaders) {
  set("OTEL_TRACES_EXPORTER", "zipkin");
  set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
  set("OTEL_BSP_MAX_QUEUE_SIZE", "-3");
  set("OTEL_EXPORTER_OTLP_HEADERS", "authorization=secret-token,garbage");
  ::testing::internal::CaptureStderr();
  const auto t = Config::with_environment({}).tracing;
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(t.exporter, TracesExporter::Auto);
  EXPECT_EQ(t.otlp_encoding, OtlpEncoding::Protobuf);  // the default kept
  EXPECT_EQ(t.batch.max_queue_size, 2048U);
  EXPECT_EQ(t.otlp_headers.at("authorization"), "secret-token");  // the good pair is kept
  EXPECT_NE(err.find("OTEL_TRACES_EXPORTER=\"zipkin\""), std::string::npos) << err;
  EXPECT_NE(err.find("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\""), std::string::npos) << err;
  EXPECT_NE(err.find("OTEL_BSP_MAX_QUEUE_SIZE"), std::string::npos) << err;
  EXPECT_NE(err.find("OTEL_EXPORTER_OTLP_HEADERS"), std::string::npos) << err;
  EXPECT_EQ(err.find("secret-token"), std::string::npos) << "headers carry credentials";
}

TEST_F(ConfigEnv, InitWithTheConsoleExporterWritesFinishedSpansToStdout) {
  Config cfg;
  cfg.tracing.exporter = TracesExporter::Console;
  cfg.tracing.sample_rate = 1.0;
  init(cfg);
  ::testing::internal::CaptureStdout();
  { auto s = start_span("console-span"); }
  EXPECT_TRUE(force_flush_spans());
  const auto out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("\"name\":\"console-span\""), std::string::npos) << out;
  cfg.tracing.exporter = TracesExporter::None;
  init(cfg);
  shutdown();
}

TEST_F(ConfigEnv, MultiprocDirPrefersOurVariable) {
  set("PROMETHEUS_MULTIPROC_DIR", "/tmp/prom");
  EXPECT_EQ(Config::with_environment({}).metrics.multiproc_dir, "/tmp/prom");
  set("O11Y_MULTIPROC_DIR", "/tmp/ours");
  EXPECT_EQ(Config::with_environment({}).metrics.multiproc_dir, "/tmp/ours");
}

using Init = EnvTest;

TEST_F(Init, BuildsTheResourceFromConfigAndEnvironment) {
  set("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,team=payments");
  Config cfg;
  cfg.service_name = "orders";
  cfg.service_version = "2.1.0";
  cfg.environment = Environment::Production;
  init(cfg);
  const auto res = resource();
  ASSERT_NE(res, nullptr);
  EXPECT_EQ(*find(res->attributes, "service.name"), Value("orders"));
  EXPECT_EQ(*find(res->attributes, "service.version"), Value("2.1.0"));
  EXPECT_EQ(*find(res->attributes, "team"), Value("payments"));
  EXPECT_EQ(*find(res->attributes, "deployment.environment"), Value("production"));
  EXPECT_EQ(*find(res->attributes, "telemetry.sdk.language"), Value("cpp"));
  ASSERT_NE(find(res->attributes, "service.instance.id"), nullptr);
  EXPECT_EQ(current_config().service_name, "orders");
  shutdown();
}

TEST_F(Init, DefaultSampleRateIsFullInDevelopmentAndOnePercentInProduction) {
  Config cfg;
  cfg.environment = Environment::Development;
  init(cfg);
  EXPECT_DOUBLE_EQ(sample_rate(), 1.0);
  cfg.environment = Environment::Production;
  init(cfg);
  EXPECT_DOUBLE_EQ(sample_rate(), 0.01);
  cfg.tracing.sample_rate = 0.3;
  init(cfg);
  EXPECT_DOUBLE_EQ(sample_rate(), 0.3);
  set_sample_rate(1.0);
  shutdown();
}

TEST_F(Init, TracingDisabledStillPropagatesButRecordsNothing) {
  Config cfg;
  cfg.tracing.enabled = false;
  init(cfg);
  auto memory = std::make_shared<InMemorySpanProcessor>();
  add_span_processor(memory);
  {
    auto s = start_span("off");
    EXPECT_FALSE(s.is_recording());
    EXPECT_EQ(current_trace_id().size(), 32U);
  }
  EXPECT_TRUE(memory->spans().empty());
  remove_span_processor(memory);
  cfg.tracing.enabled = true;
  init(cfg);
  shutdown();
}

TEST_F(Init, IgnoringTheEnvironmentAppliesExactlyTheConfigGiven) {
  set("O11Y_SERVICE_NAME", "from_env");
  Config cfg;
  cfg.service_name = "from_code";
  cfg.environment = Environment::Production;
  init(cfg, EnvironmentUse::Ignore);
  EXPECT_EQ(*find(resource()->attributes, "service.name"), Value("from_code"));
  EXPECT_EQ(current_config().service_name, "from_code");
  init(cfg);
  EXPECT_EQ(*find(resource()->attributes, "service.name"), Value("from_env"));
  shutdown();
}

TEST_F(ConfigEnv, EnvironmentConfigCollectsProblemsInsteadOfPrintingThem) {
  set("O11Y_TRACING_SAMPLE_RATE", "lots");
  set("O11Y_SERVICE_NAME", "env_name");
  std::vector<std::string> problems;
  ::testing::internal::CaptureStderr();
  const auto c = environment_config(&problems);
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.service_name, "env_name");
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("O11Y_TRACING_SAMPLE_RATE"), std::string::npos);
  EXPECT_EQ(err, "");
}

TEST_F(Init, ServiceNameDefaultsToUnknownServiceWithTheProgramName) {
  init({});
  const auto res = resource();
  const auto* name = find(res->attributes, "service.name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->to_string().rfind("unknown_service:", 0), 0U) << name->to_string();
  shutdown();
}

}  // namespace
}  // namespace o11y

namespace o11y {
namespace {

TEST_F(ConfigEnv, LoggerLevelsFromTheEnvironmentMergeWithThoseFromCode) {
  Config code;
  code.logging.levels = {{"orders", Level::Debug}, {"orders.payments", Level::Info}};
  set("O11Y_LOGGING_LEVELS", "orders.payments=warning, inventory=error");
  const auto c = Config::with_environment(code);
  EXPECT_EQ(c.logging.levels.size(), 3U);
  EXPECT_EQ(c.logging.levels.at("orders"), Level::Debug);             // kept from code
  EXPECT_EQ(c.logging.levels.at("orders.payments"), Level::Warning);  // environment wins
  EXPECT_EQ(c.logging.levels.at("inventory"), Level::Error);          // added
}

TEST_F(ConfigEnv, MalformedLoggerLevelsKeepTheGoodPairsAndSaySo) {
  set("O11Y_LOGGING_LEVELS", "orders=debug,broken,pay=loud");
  ::testing::internal::CaptureStderr();
  const auto c = Config::with_environment({});
  const auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.logging.levels.size(), 1U);
  EXPECT_NE(err.find("O11Y_LOGGING_LEVELS"), std::string::npos);
}

TEST_F(ConfigEnv, LoggingEnvironmentSettingsAreRead) {
  set("O11Y_LOGGING_FORMAT", "json");
  set("O11Y_LOGGING_LEVEL", "warning");
  set("O11Y_LOGGING_FILE_PATH", "/tmp/x.log");
  set("O11Y_LOGGING_ASYNC", "true");
  set("O11Y_LOGGING_ASYNC_POLICY", "drop");
  set("O11Y_LOGGING_STDOUT", "false");
  const auto c = Config::with_environment({});
  EXPECT_FALSE(c.logging.stdout_output);
  EXPECT_EQ(c.logging.format, LogFormat::Json);
  EXPECT_EQ(c.logging.level, Level::Warning);
  EXPECT_EQ(c.logging.file_path, "/tmp/x.log");
  EXPECT_TRUE(c.logging.async);
  EXPECT_TRUE(c.logging.async_drop_when_full);
}

TEST_F(ConfigEnv, DatabaseSettingsAreReadAndMalformedOnesReported) {
  set("O11Y_DB_SQLCOMMENTER", "false");
  set("O11Y_DB_SLOW_QUERY_MS", "250");
  set("O11Y_DB_N_PLUS_ONE_THRESHOLD", "12");
  auto c = Config::with_environment({});
  EXPECT_FALSE(c.db.sqlcommenter);
  EXPECT_EQ(c.db.slow_query, std::chrono::milliseconds(250));
  EXPECT_EQ(c.db.n_plus_one_threshold, 12U);

  set("O11Y_DB_SLOW_QUERY_MS", "slow");
  set("O11Y_DB_N_PLUS_ONE_THRESHOLD", "0");
  std::vector<std::string> problems;
  c = environment_config(&problems);
  EXPECT_EQ(c.db.slow_query, std::chrono::milliseconds(500));
  EXPECT_EQ(c.db.n_plus_one_threshold, 5U);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_NE(problems[0].find("O11Y_DB_SLOW_QUERY_MS"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("O11Y_DB_N_PLUS_ONE_THRESHOLD"), std::string::npos) << problems[1];
}

}  // namespace
}  // namespace o11y
