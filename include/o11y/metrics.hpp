#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace o11y {

struct OtlpOptions;  // <o11y/export.hpp>

/// Thrown for every misuse of the metrics API: an invalid metric or label name, a missing,
/// extra or misspelt label, a wrong number of label values, invalid buckets, a negative
/// counter increment, re-declaring a name with another shape. The message names the metric
/// and the offending label.
class MetricError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// How multiprocess mode combines a gauge across processes (prometheus_client's modes). In a
/// single process every mode reads the same.
enum class GaugeMode : std::uint8_t {
  All,             ///< one series per process, with a pid label
  LiveAll,         ///< the same, live processes only
  Min,             ///< the minimum across processes
  LiveMin,         ///< the minimum across live processes
  Max,             ///< the maximum across processes
  LiveMax,         ///< the maximum across live processes
  Sum,             ///< the sum across processes
  LiveSum,         ///< the sum across live processes
  MostRecent,      ///< the value set last, by any process
  LiveMostRecent,  ///< the value set last by a live process
};

/// One label of a recorded value, by name: `{{"status", "success"}, {"method", "card"}}`.
struct Label {
  std::string_view name;
  std::string_view value;
};

namespace detail {
struct Family;
struct Series;
struct RegistryImpl;
}  // namespace detail

/// How a histogram buckets what it records: classic buckets with fixed upper bounds (a list
/// converts implicitly: `{0.1, 0.5, 1}`; none means the Prometheus defaults, .005 to 10), or
/// sparse base-2 exponential buckets, a Prometheus native histogram (exponential()). A value.
class Buckets {
 public:
  /// The Prometheus default bounds.
  Buckets() = default;
  Buckets(std::vector<double> bounds) : bounds_(std::move(bounds)) {}  // NOLINT: implicit
  Buckets(std::initializer_list<double> bounds) : bounds_(bounds) {}   // NOLINT: implicit

  /// A native histogram: each power of two is split into 2^schema buckets (schema -4..8; 3
  /// gives buckets about 9% wide). Values within zero_threshold of zero count in the zero
  /// bucket. When more than max_buckets are in use, the schema is lowered (halving the
  /// resolution) until they fit again. Exposed in Prometheus' protobuf format to scrapers that
  /// ask for it (Prometheus with --enable-feature=native-histograms) and over OTLP as an
  /// ExponentialHistogram; the text formats show its count and sum. The declaration throws
  /// MetricError for a schema outside -4..8, max_buckets 0 or a negative threshold. In
  /// multiprocess mode the buckets live in the process's file, and a scrape adds up every
  /// process's at the lowest schema any of them reached.
  [[nodiscard]] static Buckets exponential(int schema = 3, std::size_t max_buckets = 160,
                                           double zero_threshold = 2.938735877055719e-39) {
    Buckets b;
    b.native_ = true;
    b.schema_ = schema;
    b.max_buckets_ = max_buckets;
    b.zero_threshold_ = zero_threshold;
    return b;
  }

  /// These exponential buckets with classic bounds beside them, for scrapers that cannot
  /// read native histograms (the text formats, Prometheus without the feature flag).
  [[nodiscard]] Buckets with_classic(std::vector<double> bounds) const {
    Buckets b = *this;
    b.bounds_ = std::move(bounds);
    return b;
  }

  [[nodiscard]] const std::vector<double>& bounds() const noexcept { return bounds_; }
  [[nodiscard]] bool native() const noexcept { return native_; }
  [[nodiscard]] int schema() const noexcept { return schema_; }
  [[nodiscard]] std::size_t max_buckets() const noexcept { return max_buckets_; }
  [[nodiscard]] double zero_threshold() const noexcept { return zero_threshold_; }

 private:
  std::vector<double> bounds_;
  bool native_ = false;
  int schema_ = 3;
  std::size_t max_buckets_ = 160;
  double zero_threshold_ = 0;
};

namespace metrics {
class Registry;
}  // namespace metrics

/// A counter family with declared label names. Cheap to copy (a pointer); the family lives
/// for the whole process, so handles may be kept in statics.
///
/// Thread-safe. add() throws MetricError for a negative or NaN increment or labels that do not
/// match the declaration; nothing else throws.
class Counter {
 public:
  /// A pre-bound child: one series, no label lookup on add(). Cheap to copy.
  class Child {
   public:
    void add(double value = 1.0) const;
    [[nodiscard]] double value() const noexcept;

   private:
    friend class Counter;
    Child(detail::Family* family, detail::Series* series) noexcept
        : family_(family), series_(series) {}
    detail::Family* family_;
    detail::Series* series_;
  };

  void add(double value, std::initializer_list<Label> labels = {}) const;
  /// The child for these label values, in declaration order.
  [[nodiscard]] Child labels(std::initializer_list<std::string_view> values) const;
  /// The current value of one series (0 when it was never recorded).
  [[nodiscard]] double value(std::initializer_list<Label> labels = {}) const;

 private:
  friend Counter counter(std::string_view, std::string_view,
                         std::initializer_list<std::string_view>, std::string_view);
  friend class metrics::Registry;
  explicit Counter(detail::Family* family) noexcept : family_(family) {}
  detail::Family* family_;
};

/// A gauge family with declared label names. Same contract as Counter; gauges go down too.
class Gauge {
 public:
  class Child {
   public:
    void set(double value) const noexcept;
    void add(double value) const noexcept;
    [[nodiscard]] double value() const noexcept;

   private:
    friend class Gauge;
    Child(detail::Family* family, detail::Series* series) noexcept
        : family_(family), series_(series) {}
    detail::Family* family_;
    detail::Series* series_;
  };

  void set(double value, std::initializer_list<Label> labels = {}) const;
  void add(double value, std::initializer_list<Label> labels = {}) const;
  [[nodiscard]] Child labels(std::initializer_list<std::string_view> values) const;
  [[nodiscard]] double value(std::initializer_list<Label> labels = {}) const;

 private:
  friend Gauge gauge(std::string_view, std::string_view, std::initializer_list<std::string_view>,
                     GaugeMode, std::string_view);
  friend class metrics::Registry;
  explicit Gauge(detail::Family* family) noexcept : family_(family) {}
  detail::Family* family_;
};

/// A histogram family with declared label names and fixed buckets. Same contract as Counter.
class Histogram {
 public:
  /// Records the seconds elapsed (steady clock) between its construction and destruction.
  class [[nodiscard]] Timer {
   public:
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    Timer(Timer&&) = delete;
    Timer& operator=(Timer&&) = delete;

   private:
    friend class Histogram;
    Timer(detail::Family* family, detail::Series* series) noexcept;
    detail::Family* family_;
    detail::Series* series_;
    std::chrono::steady_clock::time_point start_;
  };

  class Child {
   public:
    void record(double value) const noexcept;
    [[nodiscard]] Timer time() const noexcept;

   private:
    friend class Histogram;
    Child(detail::Family* family, detail::Series* series) noexcept
        : family_(family), series_(series) {}
    detail::Family* family_;
    detail::Series* series_;
  };

  void record(double value, std::initializer_list<Label> labels = {}) const;
  [[nodiscard]] Timer time(std::initializer_list<Label> labels = {}) const;
  [[nodiscard]] Child labels(std::initializer_list<std::string_view> values) const;
  /// Count and sum of one series.
  [[nodiscard]] std::uint64_t count(std::initializer_list<Label> labels = {}) const;
  [[nodiscard]] double sum(std::initializer_list<Label> labels = {}) const;

 private:
  friend Histogram histogram(std::string_view, std::string_view,
                             std::initializer_list<std::string_view>, const Buckets&,
                             std::string_view);
  friend class metrics::Registry;
  explicit Histogram(detail::Family* family) noexcept : family_(family) {}
  detail::Family* family_;
};

/// Declares (or finds) a counter. The name may end in _total (the exposition adds it when it
/// does not). Declaring the same name again with the same shape returns the same family, so
/// statics in several files work; another shape throws MetricError. unit, when given, must
/// end the name (OpenMetrics), e.g. "bytes" for "sent_bytes_total".
[[nodiscard]] Counter counter(std::string_view name, std::string_view help,
                              std::initializer_list<std::string_view> label_names = {},
                              std::string_view unit = {});
[[nodiscard]] Gauge gauge(std::string_view name, std::string_view help,
                          std::initializer_list<std::string_view> label_names = {},
                          GaugeMode mode = GaugeMode::All, std::string_view unit = {});
/// Buckets: strictly increasing finite upper bounds (+Inf is added); empty means the
/// Prometheus defaults, .005 to 10 seconds; Buckets::exponential() makes a native histogram.
[[nodiscard]] Histogram histogram(std::string_view name, std::string_view help,
                                  std::initializer_list<std::string_view> label_names = {},
                                  const Buckets& buckets = {}, std::string_view unit = {});

namespace metrics {

/// The Prometheus client default buckets.
[[nodiscard]] const std::vector<double>& default_buckets();

enum class Format : std::uint8_t {
  Text,         ///< Prometheus text format 0.0.4
  OpenMetrics,  ///< OpenMetrics 1.0, with exemplars
  /// Prometheus' length-delimited protobuf (io.prometheus.client.MetricFamily): the only
  /// format that carries native histograms.
  Protobuf,
};

/// Every family of the default registry, process metrics included, in the given format.
[[nodiscard]] std::string render(Format format = Format::Text);

/// A set of metric families of its own, beside the default one that o11y::counter() and the
/// other free functions declare in and render(), serve() and push() expose: for a test that
/// wants metrics no other test has touched, or an embedder that renders some families apart.
/// Its values live in this process (never in the multiprocess directory), it is not fork-aware
/// (make it in the process that uses it), and only its own render() shows it. The handles it
/// gives out must not outlive it.
///
/// Thread-safe. Declarations follow the free functions' rules and throw MetricError as they do.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  Registry(Registry&&) = delete;
  Registry& operator=(Registry&&) = delete;

  [[nodiscard]] Counter counter(std::string_view name, std::string_view help,
                                std::initializer_list<std::string_view> label_names = {},
                                std::string_view unit = {});
  [[nodiscard]] Gauge gauge(std::string_view name, std::string_view help,
                            std::initializer_list<std::string_view> label_names = {},
                            GaugeMode mode = GaugeMode::All, std::string_view unit = {});
  [[nodiscard]] Histogram histogram(std::string_view name, std::string_view help,
                                    std::initializer_list<std::string_view> label_names = {},
                                    const Buckets& buckets = {}, std::string_view unit = {});

  /// This registry's families (no process metrics) in the given format.
  [[nodiscard]] std::string render(Format format = Format::Text) const;

 private:
  std::unique_ptr<detail::RegistryImpl> impl_;
};

/// The Content-Type header value for a format.
[[nodiscard]] std::string_view content_type(Format format) noexcept;

/// The format a scraper asked for in its Accept header: protobuf when it lists
/// application/vnd.google.protobuf with proto=io.prometheus.client.MetricFamily and
/// encoding=delimited at a q no lower than OpenMetrics'; else OpenMetrics when it lists
/// application/openmetrics-text (with a non-zero q); text otherwise.
[[nodiscard]] Format negotiate(std::string_view accept_header) noexcept;

/// What a /metrics handler answers, for use from any HTTP server.
struct Response {
  int status = 200;
  std::string content_type;
  std::string content_encoding;  ///< "gzip" or empty
  std::string body;
};

/// Renders a /metrics response for the request's Accept and Accept-Encoding headers (gzip
/// when accepted). Never throws: a failure becomes a 500 with a generic body.
[[nodiscard]] Response handle_scrape(std::string_view accept,
                                     std::string_view accept_encoding) noexcept;

/// Who may scrape, and how many at once. A plain struct.
struct EndpointOptions {
  /// HTTP basic auth: both set means every request must carry them.
  std::string basic_auth_user = {};
  std::string basic_auth_password = {};
  /// A bearer token ("Authorization: Bearer <token>"); either credential is accepted when
  /// both kinds are configured.
  std::string bearer_token = {};
  /// Scrapes served at the same time; more get 503 with Retry-After, so a scrape storm cannot
  /// take the service's CPU.
  int max_concurrent_scrapes = 4;
};

/// A running /metrics HTTP endpoint (HTTP/1.1, keep-alive). Stops when destroyed.
class Endpoint {
 public:
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  Endpoint(Endpoint&&) noexcept;
  Endpoint& operator=(Endpoint&&) noexcept;

  /// The port actually bound (useful with port 0).
  [[nodiscard]] int port() const noexcept;

 private:
  struct Impl;
  friend Endpoint serve(std::string_view, const EndpointOptions&);
  explicit Endpoint(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// Serves GET /metrics on address "host:port" (default loopback; port 0 picks a free one).
/// Error responses carry no paths, exception texts or stack traces.
/// Throws MetricError for a malformed address and std::runtime_error if it cannot bind.
[[nodiscard]] Endpoint serve(std::string_view address = "127.0.0.1:9464",
                             const EndpointOptions& options = {});

/// Whether this process writes to a multiprocess directory: O11Y_MULTIPROC_DIR (else
/// PROMETHEUS_MULTIPROC_DIR, else Config::metrics.multiproc_dir given to init()) was set when
/// metrics were first used. Then render(), serve() and push() aggregate every process's file
/// in that directory.
[[nodiscard]] bool multiprocess_enabled();

/// Exports every series now over OTLP, when init() configured a metrics exporter
/// (Config::metrics.exporter, OTEL_METRICS_EXPORTER), and waits for the collector's answer, at
/// most `timeout` (and the export timeout). True when it was accepted or there is no exporter.
/// Thread-safe; never throws.
bool force_flush(std::chrono::milliseconds timeout = std::chrono::seconds(30)) noexcept;

/// Sends the aggregate of a multiprocess directory (what render_directory() shows) to an OTLP
/// endpoint once, as cumulative points: what `o11y export --dir` does, for a sidecar beside a
/// pre-fork server written in another language. options.endpoint is the full URL (.../v1/
/// metrics); options.timeout bounds the whole export, retries included. True when the
/// collector accepted it; a failure is reported on stderr. Corrupt files are skipped as in a
/// scrape. Throws std::invalid_argument for an endpoint that is not an http(s) URL.
[[nodiscard]] bool export_directory(std::string_view dir, const OtlpOptions& options);

/// Marks an exited worker's files: its live-mode gauges leave the aggregate, its counters and
/// histograms stay. Then compacts (see compact()): files of processes that have really
/// exited are merged into the archive. Exited processes are also noticed without it (pid
/// and start time are in each file, so a reused pid is not mistaken for the old process).
/// Never throws.
void mark_process_dead(int pid);

/// Merges the files of exited processes into one archive file in the directory (the
/// configured one when dir is empty) and removes them, so the directory stops growing while
/// counters never go backwards. Safe while workers run and while others scrape: one
/// compaction at a time (a lock file), the archive is replaced atomically, and readers skip
/// the files it lists until they are gone. Per-process gauges (all, liveall) of exited
/// processes are dropped. Only files of processes that no longer exist are absorbed.
/// mark_process_dead() runs it. Returns the number of files absorbed; never throws.
std::size_t compact(std::string_view dir = {});

/// The aggregate of a multiprocess directory in a format (what `o11y metrics --dir` prints).
/// Unreadable or corrupt files are skipped, counted and reported; never throws for them.
[[nodiscard]] std::string render_directory(std::string_view dir, Format format = Format::Text);

/// Pushes every family to a Prometheus Pushgateway (e.g. "http://127.0.0.1:9091"), replacing
/// the job's group. Returns the HTTP status (200 or 202 on success, negative when the
/// gateway could not be reached). Never throws for network errors.
int push(std::string_view gateway_url, std::string_view job,
         const std::map<std::string, std::string>& grouping = {});

}  // namespace metrics
}  // namespace o11y
