// The `o11y` command-line tool: check a deployment's configuration, and read, serve and
// compact a multiprocess metrics directory.
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <o11y/config.hpp>
#include <o11y/export.hpp>
#include <o11y/log.hpp>
#include <o11y/metrics.hpp>
#include <o11y/trace.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "metric_lint.hpp"
#include "stack.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

constexpr const char* kUsageText = R"(usage: o11y <command> [options]

commands:
  check [--json] [--metrics-url URL] [--no-span]
        Verify the configuration in the environment, the multiprocess directory and the OTLP
        endpoints (sending one test span, one test log record and the tool's own metrics),
        and lint the metric names served at URL.
        Exit 0 when all is well, 1 otherwise.
  metrics --dir DIR [--format text|openmetrics]
        Print the aggregate of a multiprocess directory.
  serve --dir DIR [--listen 127.0.0.1:9464]
        Serve that aggregate at http://ADDRESS/metrics until interrupted.
  export --dir DIR [--endpoint URL]
        Send that aggregate to an OTLP/HTTP endpoint once.
  compact --dir DIR
        Merge the files of exited processes into the directory's archive.
  stack start --app-url HOST:PORT | stop | status | logs [--follow]
        A local Prometheus (with o11y's rules) and Pushgateway for development.

Run `o11y <command> --help` for one command.
)";

/// The options after the command: `--name value` pairs and `--flag`s.
struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> flags;
  std::string error;

  [[nodiscard]] bool has(const std::string& flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
  [[nodiscard]] std::optional<std::string> get(const std::string& name) const {
    const auto it = values.find(name);
    if (it == values.end())
      return std::nullopt;
    return it->second;
  }
};

Args parse(int argc, char** argv, const std::vector<std::string>& with_value,
           const std::vector<std::string>& flags, int first = 2) {
  Args a;
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];  // NOLINT(*-pointer-arithmetic)
    if (std::find(with_value.begin(), with_value.end(), arg) != with_value.end()) {
      if (i + 1 >= argc) {
        a.error = arg + " needs a value";
        return a;
      }
      a.values[arg] = argv[++i];  // NOLINT(*-pointer-arithmetic)
    } else if (std::find(flags.begin(), flags.end(), arg) != flags.end() || arg == "--help" ||
               arg == "-h") {
      a.flags.push_back(arg == "-h" ? "--help" : arg);
    } else {
      a.error = "unknown option \"" + arg + "\"";
      return a;
    }
  }
  return a;
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "o11y " << command << ": " << message << "\n(see o11y " << command << " --help)\n";
  return kUsage;
}

bool is_directory(const std::string& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// ---- check ------------------------------------------------------------------------------

struct Finding {
  std::string check;
  bool ok = true;
  std::string detail;
};

std::vector<std::string> check_directory(const std::string& dir) {
  std::vector<std::string> problems;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    problems.push_back(dir + " does not exist (create it before the workers start)");
    return problems;
  }
  if (S_ISLNK(st.st_mode))
    problems.push_back(dir + " is a symbolic link; point the variable at the real directory");
  else if (!S_ISDIR(st.st_mode))
    problems.push_back(dir + " is not a directory");
  if (S_ISDIR(st.st_mode) && ::access(dir.c_str(), W_OK | X_OK) != 0)
    problems.push_back(dir + " is not writable by this user");
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0)
    problems.push_back(dir + " is world-writable: any local user could plant or replace files");
  if (st.st_uid != ::getuid())
    problems.push_back(dir + " belongs to another user (uid " + std::to_string(st.st_uid) + ")");
  return problems;
}

/// "http://host:port/path" -> client base and path.
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos)
    return {url, "/metrics"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

void say(const Args& args, const std::string& what) {
  if (!args.has("--json"))
    std::cerr << what << std::flush;
}

void check_configuration(const std::vector<std::string>& problems, std::vector<Finding>& findings) {
  findings.push_back({"configuration", problems.empty(),
                      problems.empty() ? "every O11Y_* and OTEL_* variable set is valid" : ""});
  for (const auto& p : problems)
    findings.push_back({"configuration", false, p});
}

void check_multiproc_dir(const o11y::Config& config, std::vector<Finding>& findings) {
  const auto& dir = config.metrics.multiproc_dir;
  if (dir.empty()) {
    findings.push_back({"multiprocess directory", true,
                        "not configured: metrics stay in each process (set O11Y_MULTIPROC_DIR "
                        "for pre-fork servers)"});
  } else {
    const auto dir_problems = check_directory(dir);
    findings.push_back({"multiprocess directory", dir_problems.empty(),
                        dir_problems.empty() ? dir + " is a writable directory of ours" : ""});
    for (const auto& p : dir_problems)
      findings.push_back({"multiprocess directory", false, p});
  }
}

// Sends one span, as the configured exporter would, and says whether the endpoint took it.
void check_otlp(const Args& args, const o11y::Config& config, std::vector<Finding>& findings) {
  const auto& t = config.tracing;
  const std::string exporter(t.exporter != o11y::TracesExporter::Auto ? to_string(t.exporter)
                             : t.otlp_endpoint.empty()                ? "none"
                                                                      : "otlp");
  if (exporter != "otlp") {
    findings.push_back({"otlp endpoint", true,
                        "spans are not exported over OTLP (exporter " + exporter +
                            "; set OTEL_EXPORTER_OTLP_ENDPOINT to export)"});
  } else if (args.has("--no-span")) {
    findings.push_back({"otlp endpoint", true, "not contacted (--no-span)"});
  } else {
    const std::string endpoint =
        t.otlp_endpoint.empty() ? o11y::OtlpOptions{}.endpoint : t.otlp_endpoint;
    say(args, "sending a test span to " + endpoint + " ...\n");
    {
      // init() only for the resource (service name and the rest). The check must leave no
      // trace in the workers' directory and install no exporter of its own, so init() gets
      // exactly this, not the environment again.
      auto quiet_config = config;
      quiet_config.metrics.multiproc_dir.clear();
      quiet_config.tracing.exporter = o11y::TracesExporter::None;
      quiet_config.logging.exporter = o11y::LogsExporter::None;
      quiet_config.metrics.exporter = o11y::MetricsExporter::None;
      o11y::init(quiet_config, o11y::EnvironmentUse::Ignore);
    }
    auto span = std::make_shared<o11y::SpanData>();
    span->context.trace_id = o11y::TraceId::generate();
    span->context.span_id = o11y::SpanId::generate();
    span->context.flags = o11y::kTraceFlagSampled;
    span->name = "o11y check";
    const auto now =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    span->start_time_ns = now;
    span->end_time_ns = now;
    span->resource = o11y::resource();
    std::string service = "unknown";
    if (span->resource) {
      for (const auto& a : span->resource->attributes) {
        if (a.key == "service.name")
          service = a.value.to_string();
      }
    }
    try {
      auto exp = o11y::make_otlp_http_exporter({.endpoint = endpoint,
                                                .headers = t.otlp_headers,
                                                .encoding = t.otlp_encoding,
                                                .gzip = t.otlp_gzip,
                                                .timeout = 5s,
                                                .max_retries = 0});
      const std::vector<std::shared_ptr<const o11y::SpanData>> batch{span};
      const bool sent = exp->export_spans(batch, std::chrono::steady_clock::now() + 5s) ==
                        o11y::ExportResult::Success;
      findings.push_back(
          {"otlp endpoint", sent,
           sent ? "test span \"o11y check\" accepted by " + endpoint + ": look for trace id " +
                      span->context.trace_id.to_hex() + " of service \"" + service +
                      "\" in your tracing backend"
                : endpoint + " did not accept a test span (the reason is on stderr)"});
    } catch (const std::exception& e) {
      findings.push_back({"otlp endpoint", false, e.what()});
    }
  }
}

double log_records_exported() {
  // The exporter's own count, from the library's public metrics: what the endpoint accepted.
  const std::string scrape = o11y::metrics::render();
  const std::string series = "\no11y_log_records_exported_total ";
  const auto at = scrape.find(series);
  return at == std::string::npos ? 0.0 : std::stod(scrape.substr(at + series.size()));
}

// Sends one log record through the configured log exporter and says whether the endpoint
// took it.
void check_otlp_logs(const Args& args, const o11y::Config& config, std::vector<Finding>& findings) {
  const auto& l = config.logging;
  const std::string exporter(l.exporter != o11y::LogsExporter::Auto ? to_string(l.exporter)
                             : l.otlp_endpoint.empty()              ? "none"
                                                                    : "otlp");
  if (exporter != "otlp") {
    findings.push_back({"otlp logs endpoint", true,
                        "log records are not exported over OTLP (exporter " + exporter +
                            "; set OTEL_EXPORTER_OTLP_ENDPOINT to export)"});
    return;
  }
  if (args.has("--no-span")) {
    findings.push_back({"otlp logs endpoint", true, "not contacted (--no-span)"});
    return;
  }
  const std::string endpoint =
      l.otlp_endpoint.empty() ? std::string("http://127.0.0.1:4318/v1/logs") : l.otlp_endpoint;
  say(args, "sending a test log record to " + endpoint + " ...\n");
  // Exactly this config, as for the span: no workers' directory, no span export, the record
  // on OTLP only, bounded waits.
  auto c = config;
  c.metrics.multiproc_dir.clear();
  c.tracing.exporter = o11y::TracesExporter::None;
  c.metrics.exporter = o11y::MetricsExporter::None;
  c.logging.stdout_output = false;
  c.logging.file_path.clear();
  c.logging.level = o11y::Level::Info;
  c.logging.levels.clear();
  c.logging.otlp_timeout = 5s;
  c.logging.batch.export_timeout = 5s;
  o11y::init(c, o11y::EnvironmentUse::Ignore);
  const double before = log_records_exported();
  const std::string check_id = o11y::TraceId::generate().to_hex();
  o11y::get_logger("o11y.check").info("o11y_check", {{"check_id", check_id}});
  o11y::logging::flush();
  const bool sent = log_records_exported() > before;
  findings.push_back({"otlp logs endpoint", sent,
                      sent ? "test log record \"o11y_check\" accepted by " + endpoint +
                                 ": look for check_id " + check_id + " in your logs backend"
                           : endpoint + " did not accept a test log record (the reason is on "
                                        "stderr)"});
}

// Exports the process's metrics once through the configured metrics exporter and says
// whether the endpoint took them.
void check_otlp_metrics(const Args& args, const o11y::Config& config,
                        std::vector<Finding>& findings) {
  const auto& m = config.metrics;
  const std::string exporter(m.exporter != o11y::MetricsExporter::Auto ? to_string(m.exporter)
                             : m.otlp_endpoint.empty()                 ? "none"
                                                                       : "otlp");
  if (exporter != "otlp") {
    findings.push_back({"otlp metrics endpoint", true,
                        "metrics are not exported over OTLP (exporter " + exporter +
                            "; set OTEL_EXPORTER_OTLP_ENDPOINT to export)"});
    return;
  }
  if (args.has("--no-span")) {
    findings.push_back({"otlp metrics endpoint", true, "not contacted (--no-span)"});
    return;
  }
  const std::string endpoint =
      m.otlp_endpoint.empty() ? std::string("http://127.0.0.1:4318/v1/metrics") : m.otlp_endpoint;
  say(args, "sending this process's metrics to " + endpoint + " ...\n");
  auto c = config;
  c.metrics.multiproc_dir.clear();
  c.tracing.exporter = o11y::TracesExporter::None;
  c.logging.exporter = o11y::LogsExporter::None;
  c.logging.stdout_output = false;
  c.logging.file_path.clear();
  c.metrics.export_timeout = 5s;
  c.metrics.otlp_timeout = 5s;
  o11y::init(c, o11y::EnvironmentUse::Ignore);
  const bool sent = o11y::metrics::force_flush(5s);
  findings.push_back({"otlp metrics endpoint", sent,
                      sent ? "an export of this process's metrics was accepted by " + endpoint
                           : endpoint + " did not accept an export of metrics (the reason is "
                                        "on stderr)"});
}

void check_metric_names(const Args& args, std::vector<Finding>& findings) {
  if (const auto url = args.get("--metrics-url")) {
    say(args, "fetching " + *url + " ...\n");
    const auto [base, path] = split_url(*url);
    httplib::Client cli(base);
    cli.set_connection_timeout(5s);
    cli.set_read_timeout(10s);
    const auto res = cli.Get(path, {{"Accept", "text/plain"}});
    if (!res) {
      findings.push_back({"metric names", false,
                          *url + " could not be fetched: " + httplib::to_string(res.error())});
    } else if (res->status != 200) {
      findings.push_back(
          {"metric names", false, *url + " answered " + std::to_string(res->status)});
    } else {
      const auto lint = o11y::tool::lint_exposition(res->body);
      findings.push_back(
          {"metric names", lint.empty(),
           lint.empty() ? "every metric name at " + *url + " follows the naming guide" : ""});
      for (const auto& l : lint)
        findings.push_back({"metric names", false, l});
    }
  }
}

int report(const Args& args, const std::vector<Finding>& findings) {
  bool all_ok = true;
  for (const auto& f : findings)
    all_ok = all_ok && f.ok;
  if (args.has("--json")) {
    nlohmann::json j;
    j["ok"] = all_ok;
    j["checks"] = nlohmann::json::array();
    for (const auto& f : findings) {
      if (!f.detail.empty())
        j["checks"].push_back({{"check", f.check}, {"ok", f.ok}, {"detail", f.detail}});
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& f : findings) {
      if (!f.detail.empty())
        std::cout << (f.ok ? "  ok    " : "  FAIL  ") << f.check << ": " << f.detail << "\n";
    }
    std::cout << (all_ok ? "all checks passed\n" : "some checks failed\n");
  }
  o11y::shutdown();
  return all_ok ? kOk : kFailed;
}

int check(const Args& args) {
  std::vector<Finding> findings;
  std::vector<std::string> problems;
  const o11y::Config config = o11y::environment_config(&problems);
  check_configuration(problems, findings);
  check_multiproc_dir(config, findings);
  check_otlp(args, config, findings);
  check_otlp_logs(args, config, findings);
  check_otlp_metrics(args, config, findings);
  check_metric_names(args, findings);
  return report(args, findings);
}

// ---- metrics, serve, compact --------------------------------------------------------------

std::optional<std::string> directory_arg(const Args& args, const std::string& command,
                                         int& status) {
  auto dir = args.get("--dir");
  if (!dir) {
    status = usage_error(command, "--dir DIR is required");
    return std::nullopt;
  }
  if (!is_directory(*dir)) {
    std::cerr << "o11y " << command << ": " << *dir << " is not a directory\n";
    status = kFailed;
    return std::nullopt;
  }
  return dir;
}

int metrics_command(const Args& args) {
  int status = kOk;
  const auto dir = directory_arg(args, "metrics", status);
  if (!dir)
    return status;
  const auto format = args.get("--format").value_or("text");
  if (format != "text" && format != "openmetrics")
    return usage_error("metrics", "--format must be text or openmetrics, not \"" + format + "\"");
  std::cout << o11y::metrics::render_directory(
      *dir, format == "text" ? o11y::metrics::Format::Text : o11y::metrics::Format::OpenMetrics);
  return kOk;
}

int serve_command(const Args& args) {
  int status = kOk;
  const auto dir = directory_arg(args, "serve", status);
  if (!dir)
    return status;
  const auto listen = args.get("--listen").value_or("127.0.0.1:9464");
  const auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (...) {
      port = -1;
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535)
    return usage_error("serve", "--listen must be HOST:PORT, not \"" + listen + "\"");
  const auto host = listen.substr(0, colon);

  // Signals are taken by one thread with sigwait, which may then stop the server safely.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  httplib::Server server;
  server.Get("/metrics", [&dir](const httplib::Request& req, httplib::Response& res) {
    const auto format = o11y::metrics::negotiate(req.get_header_value("Accept"));
    res.set_content(o11y::metrics::render_directory(*dir, format),
                    std::string(o11y::metrics::content_type(format)));
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("metrics at /metrics\n", "text/plain");
  });
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    std::cerr << "o11y serve: cannot listen on " << listen << "\n";
    return kFailed;
  }
  std::atomic<bool> done{false};
  std::thread signals([set, &done, &server] {
    // Polls so that it also ends when the server stops for another reason.
    const timespec tick{0, 200'000'000};
    while (!done.load()) {
      if (sigtimedwait(&set, nullptr, &tick) > 0) {
        server.stop();
        return;
      }
    }
  });
  std::cout << "serving the aggregate of " << *dir << " at http://" << host << ":" << port
            << "/metrics" << std::endl;
  server.listen_after_bind();
  done.store(true);
  signals.join();
  return kOk;
}

// The endpoint as given, with /v1/metrics added when it has no path (as for
// OTEL_EXPORTER_OTLP_ENDPOINT).
std::string metrics_url(const std::string& endpoint) {
  const auto scheme = endpoint.find("://");
  const auto path = endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos)
    return endpoint + "/v1/metrics";
  if (path == endpoint.size() - 1)
    return endpoint + "v1/metrics";
  return endpoint;
}

int export_command(const Args& args) {
  int status = kOk;
  const auto dir = directory_arg(args, "export", status);
  if (!dir)
    return status;
  // Defaults from OTEL_EXPORTER_OTLP_[METRICS_]* and OTEL_SERVICE_NAME, as in the service.
  std::vector<std::string> problems;
  o11y::Config config = o11y::environment_config(&problems);
  for (const auto& p : problems)
    std::cerr << "o11y export: " << p << "\n";
  const auto& m = config.metrics;
  o11y::OtlpOptions options;
  options.endpoint = m.otlp_endpoint.empty() ? "http://127.0.0.1:4318/v1/metrics" : m.otlp_endpoint;
  options.headers = m.otlp_headers;
  options.encoding = m.otlp_encoding;
  options.gzip = m.otlp_gzip;
  options.timeout = m.otlp_timeout;
  if (const auto e = args.get("--endpoint"))
    options.endpoint = metrics_url(*e);
  if (const auto p = args.get("--protocol")) {
    if (*p != "http/protobuf" && *p != "http/json")
      return usage_error("export",
                         "--protocol must be http/protobuf or http/json, not \"" + *p + "\"");
    options.encoding = *p == "http/json" ? o11y::OtlpEncoding::Json : o11y::OtlpEncoding::Protobuf;
  }
  if (args.has("--gzip"))
    options.gzip = true;
  if (const auto t = args.get("--timeout")) {
    int seconds = 0;
    try {
      seconds = std::stoi(*t);
    } catch (...) {
      seconds = 0;
    }
    if (seconds <= 0)
      return usage_error("export", "--timeout must be a positive number of seconds");
    options.timeout = std::chrono::seconds(seconds);
  }
  // Only the resource (service.name, ...) is wanted from init(): every output off.
  config.metrics.multiproc_dir.clear();
  config.metrics.exporter = o11y::MetricsExporter::None;
  config.tracing.exporter = o11y::TracesExporter::None;
  config.logging.exporter = o11y::LogsExporter::None;
  config.logging.stdout_output = false;
  config.logging.file_path.clear();
  o11y::init(config, o11y::EnvironmentUse::Ignore);
  bool sent = false;
  try {
    sent = o11y::metrics::export_directory(*dir, options);
  } catch (const std::invalid_argument& e) {
    o11y::shutdown();
    return usage_error("export", e.what());
  }
  o11y::shutdown();
  if (!sent) {
    std::cerr << "o11y export: " << options.endpoint << " did not accept the aggregate of " << *dir
              << "\n";
    return kFailed;
  }
  std::cout << "exported the aggregate of " << *dir << " to " << options.endpoint << "\n";
  return kOk;
}

int compact_command(const Args& args) {
  int status = kOk;
  const auto dir = directory_arg(args, "compact", status);
  if (!dir)
    return status;
  const auto n = o11y::metrics::compact(*dir);
  std::cout << "absorbed " << n << " file" << (n == 1 ? "" : "s") << " of exited processes into "
            << *dir << "\n";
  return kOk;
}

/// One subcommand: the options it takes, its --help text and what it runs.
struct Command {
  const char* name;
  std::vector<std::string> with_value;
  std::vector<std::string> flags;
  const char* help;
  int (*run)(const Args&);
};

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"check",
       {"--metrics-url"},
       {"--json", "--no-span"},
       "usage: o11y check [--json] [--metrics-url URL] [--no-span]\n\n"
       "Checks, in order: the O11Y_* and OTEL_* variables in the environment; the\n"
       "multiprocess directory (exists, writable, not world-writable, ours); the OTLP\n"
       "endpoints, by sending one test span, one test log record and one export of\n"
       "metrics (skip all three with --no-span); and, with\n"
       "--metrics-url, the metric names a running process serves.\n"
       "Exit status: 0 all passed, 1 a check failed, 2 bad arguments.\n",
       check},
      {"metrics",
       {"--dir", "--format"},
       {},
       "usage: o11y metrics --dir DIR [--format text|openmetrics]\n\n"
       "Prints the aggregate of every process's file in DIR. Corrupt files are\n"
       "skipped and reported on stderr.\n",
       metrics_command},
      {"serve",
       {"--dir", "--listen"},
       {},
       "usage: o11y serve --dir DIR [--listen 127.0.0.1:9464]\n\n"
       "Serves the aggregate of DIR at http://ADDRESS/metrics (content negotiated:\n"
       "OpenMetrics when the scraper asks for it) until SIGINT or SIGTERM. For\n"
       "pre-fork servers whose workers cannot serve HTTP themselves.\n",
       serve_command},
      {"export",
       {"--dir", "--endpoint", "--protocol", "--timeout"},
       {"--gzip"},
       "usage: o11y export --dir DIR [--endpoint URL] [--protocol http/protobuf|http/json]\n"
       "                   [--gzip] [--timeout SECONDS]\n\n"
       "Sends the aggregate of DIR to an OTLP/HTTP endpoint once, as cumulative metrics\n"
       "(a sidecar for a pre-fork server in another language: run it on a timer). The\n"
       "endpoint gets /v1/metrics when it has no path. Defaults come from\n"
       "OTEL_EXPORTER_OTLP_[METRICS_]{ENDPOINT,PROTOCOL,COMPRESSION,HEADERS,TIMEOUT} and\n"
       "the resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.\n"
       "Exit status: 0 accepted, 1 not accepted (the reason is on stderr), 2 bad arguments.\n",
       export_command},
      {"compact",
       {"--dir"},
       {},
       "usage: o11y compact --dir DIR\n\n"
       "Merges the files of processes that have exited into DIR's archive and removes\n"
       "them; counters and histograms keep their totals. Safe while workers run.\n",
       compact_command}};
  return kCommands;
}

}  // namespace

constexpr const char* kStackHelp =
    "usage: o11y stack start --app-url HOST:PORT [--master-url HOST:PORT]\n"
    "                        [--prometheus-port 9090] [--pushgateway-port 9091]\n"
    "                        [--scrape-interval 5s] [--rules-dir DIR]\n"
    "       o11y stack stop | status | logs [--follow]\n\n"
    "For local development only. Starts Debian's Prometheus (exemplar storage and native\n"
    "histograms on, o11y's recording and alerting rules loaded, scraping the app and the\n"
    "multiprocess master) and Pushgateway as background processes listening on 127.0.0.1,\n"
    "their configuration, data, logs and pids in $O11Y_STACK_DIR, else\n"
    "${XDG_STATE_HOME:-~/.local/state}/o11y/stack. Refuses to start when a port is taken.\n"
    "stop ends them; status says whether they run (exit 1 when not); logs prints their logs.\n"
    "In production, run Prometheus (or an OpenTelemetry Collector) as your platform does and\n"
    "load monitoring/rules from the installed share/o11y.\n";

int parse_port(const Args& args, const std::string& name, int fallback, bool& ok) {
  const auto v = args.get(name);
  if (!v)
    return fallback;
  char* end = nullptr;
  const long p = std::strtol(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0' || p <= 0 || p > 65535) {
    ok = false;
    return fallback;
  }
  return static_cast<int>(p);
}

int stack_command(int argc, char** argv) {
  const std::string action = argc > 2 ? argv[2] : "";  // NOLINT(*-pointer-arithmetic)
  if (action.empty() || action == "--help" || action == "-h") {
    (action.empty() ? std::cerr : std::cout) << kStackHelp;
    return action.empty() ? kUsage : kOk;
  }
  const auto args = parse(argc, argv,
                          {"--app-url", "--master-url", "--prometheus-port", "--pushgateway-port",
                           "--scrape-interval", "--rules-dir"},
                          {"--follow"}, 3);
  if (!args.error.empty())
    return usage_error("stack", args.error);
  if (args.has("--help")) {
    std::cout << kStackHelp;
    return kOk;
  }
  o11y::tool::StackOptions o;
  bool ok = true;
  o.app_url = args.get("--app-url").value_or("");
  o.master_url = args.get("--master-url").value_or("");
  o.prometheus_port = parse_port(args, "--prometheus-port", o.prometheus_port, ok);
  o.pushgateway_port = parse_port(args, "--pushgateway-port", o.pushgateway_port, ok);
  o.scrape_interval = args.get("--scrape-interval").value_or(o.scrape_interval);
  o.rules_dir = args.get("--rules-dir").value_or("");
  o.follow = args.has("--follow");
  if (!ok)
    return usage_error("stack", "ports are numbers from 1 to 65535");
  if (action == "start" && o.app_url.empty())
    return usage_error("stack", "start needs --app-url HOST:PORT");
  return o11y::tool::stack(action, o, argv[0]);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsageText;
    return kUsage;
  }
  const std::string name = argv[1];  // NOLINT(*-pointer-arithmetic)
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << kUsageText;
    return kOk;
  }
  if (name == "stack")
    return stack_command(argc, argv);
  for (const auto& command : commands()) {
    if (name != command.name)
      continue;
    const auto args = parse(argc, argv, command.with_value, command.flags);
    if (!args.error.empty())
      return usage_error(name, args.error);
    if (args.has("--help")) {
      std::cout << command.help;
      return kOk;
    }
    return command.run(args);
  }
  std::cerr << "o11y: unknown command \"" << name << "\"\n\n" << kUsageText;
  return kUsage;
}
