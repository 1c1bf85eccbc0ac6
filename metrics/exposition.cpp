// Prometheus text format 0.0.4 and OpenMetrics 1.0, written directly from the families:
// prometheus-cpp's serializer is ~5x slower here and has neither OpenMetrics nor exemplars.
#include <atomic>
#include <charconv>
#include <cmath>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "base/gzip.hpp"
#include "base/internal_error.hpp"
#include "base/shortest.hpp"
#include "base/utf8.hpp"
#include "metrics/exposed_names.hpp"
#include "metrics/family.hpp"
#include "metrics/foreign.hpp"
#include "metrics/mp_format.hpp"
#include "metrics/mp_reader.hpp"
#include "metrics/process_metrics.hpp"
#include "o11y/trace.hpp"

namespace o11y {
namespace detail {
namespace {

using metrics::Format;

void put_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[kShortestBound];
    out.append(buf, write_shortest(buf, v));
  }
}

void put_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Bucket bounds as the Python and Go clients print them: "0.005", "1.0", "+Inf". Keeping
// ".0" on whole numbers makes our le values match theirs in mixed fleets.
void put_bound(std::string& out, double v) {
  const auto start = out.size();
  put_number(out, v);
  if (out.find_first_of(".eInN", start) == std::string::npos)
    out += ".0";
}

// Label values and HELP text: backslash, newline (and in label values the double quote)
// escaped; invalid UTF-8 replaced, since both formats require UTF-8.
void put_escaped(std::string& out, std::string_view s, bool quote) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = p[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else if (c < 0x80U) {
      out.push_back(static_cast<char>(c));
    } else {
      const std::size_t len = utf8_sequence_length(p + i, s.size() - i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      out.append(s.data() + i, len);
      i += len;
      continue;
    }
    ++i;
  }
}

// {name="value",...}: value escaped, the extra pair (le, quantile) last and never escaped.
template <class NameAt, class ValueAt>
void put_label_set(std::string& out, std::size_t n, NameAt name_at, ValueAt value_at,
                   std::string_view extra_name, std::string_view extra_value) {
  if (n == 0 && extra_name.empty())
    return;
  out.push_back('{');
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0)
      out.push_back(',');
    out += name_at(i);
    out += "=\"";
    put_escaped(out, value_at(i), true);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (n > 0)
      out.push_back(',');
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out.push_back('"');
  }
  out.push_back('}');
}

void put_labels(std::string& out, const Family& f, const Series& s,
                std::string_view extra_name = {}, std::string_view extra_value = {}) {
  put_label_set(
      out, f.label_names.size(),
      [&](std::size_t i) -> std::string_view { return f.label_names[i]; },
      [&](std::size_t i) -> std::string_view { return s.values[i]; }, extra_name, extra_value);
}

void put_exemplar(std::string& out, const Exemplar& e) {
  Exemplar::Snapshot snap{};
  if (!e.read(snap))
    return;
  char ids[48];
  TraceId{snap.trace_hi, snap.trace_lo}.write_hex(ids);
  SpanId{snap.span}.write_hex(ids + 32);
  out += " # {trace_id=\"";
  out.append(ids, 32);
  out += "\",span_id=\"";
  out.append(ids + 32, 16);
  out += "\"} ";
  put_number(out, snap.value);
  out.push_back(' ');
  // Seconds with millisecond precision (whole milliseconds first, so the text stays short).
  const auto ms = snap.time_ns / 1'000'000;
  put_number(out, static_cast<double>(ms) / 1000.0);
}

void put_header(std::string& out, const Family& f, Format fmt) {
  const bool om = fmt == Format::OpenMetrics;
  const std::string& name = (om || f.type != MetricType::Counter) ? f.base_name : f.name;
  const std::string text_counter = f.base_name + "_total";
  const std::string& shown = (!om && f.type == MetricType::Counter) ? text_counter : name;
  const char* type = f.type == MetricType::Counter ? "counter"
                     : f.type == MetricType::Gauge ? "gauge"
                                                   : "histogram";
  out += "# HELP ";
  out += shown;
  out.push_back(' ');
  put_escaped(out, f.help, om);
  out += "\n# TYPE ";
  out += shown;
  out.push_back(' ');
  out += type;
  out.push_back('\n');
  if (om && !f.unit.empty()) {
    out += "# UNIT ";
    out += shown;
    out.push_back(' ');
    out += f.unit;
    out.push_back('\n');
  }
}

void render_family(std::string& out, const Family& f, Format fmt) {
  const auto series = f.all_series();
  const bool om = fmt == Format::OpenMetrics;
  put_header(out, f, fmt);
  for (const Series* s : series) {
    switch (f.type) {
      case MetricType::Counter:
        out += f.base_name;
        out += "_total";
        put_labels(out, f, *s);
        out.push_back(' ');
        put_number(out, counter_value(*s));
        if (const Exemplar* ex = s->exemplars.load(std::memory_order_acquire); om && ex != nullptr)
          put_exemplar(out, ex[0]);
        out.push_back('\n');
        break;
      case MetricType::Gauge:
        out += f.base_name;
        put_labels(out, f, *s);
        out.push_back(' ');
        put_number(out, load_double(s->cells[0]));
        out.push_back('\n');
        break;
      case MetricType::Histogram: {
        std::uint64_t cumulative = 0;
        std::string le;
        for (std::size_t i = 0; i <= f.buckets.size(); ++i) {
          cumulative += s->cells[i].load(std::memory_order_relaxed);
          le.clear();
          if (i < f.buckets.size()) {
            put_bound(le, f.buckets[i]);
          } else {
            le = "+Inf";
          }
          out += f.base_name;
          out += "_bucket";
          put_labels(out, f, *s, "le", le);
          out.push_back(' ');
          put_uint(out, cumulative);
          if (const Exemplar* ex = s->exemplars.load(std::memory_order_acquire);
              om && ex != nullptr)
            put_exemplar(out, ex[i]);
          out.push_back('\n');
        }
        out += f.base_name;
        out += "_count";
        put_labels(out, f, *s);
        out.push_back(' ');
        put_uint(out, cumulative);
        out.push_back('\n');
        out += f.base_name;
        out += "_sum";
        put_labels(out, f, *s);
        out.push_back(' ');
        put_number(out, load_double(s->cells[f.buckets.size() + 1]));
        out.push_back('\n');
        break;
      }
    }
  }
}

void put_pairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& labels,
               std::string_view extra_name = {}, std::string_view extra_value = {}) {
  put_label_set(
      out, labels.size(), [&](std::size_t i) -> std::string_view { return labels[i].first; },
      [&](std::size_t i) -> std::string_view { return labels[i].second; }, extra_name, extra_value);
}

void put_sample(std::string& out, std::string_view name, const ForeignFamily::Sample& s,
                std::string_view extra_name, std::string_view extra_value, double value) {
  out += name;
  put_pairs(out, s.labels, extra_name, extra_value);
  out.push_back(' ');
  put_number(out, value);
  out.push_back('\n');
}

// A family from another library, by the same rules as ours. In OpenMetrics a counter's
// family name drops _total and its sample gains it; in text it keeps the name it was given.
void render_foreign(std::string& out, const ForeignFamily& f, Format fmt) {
  using Kind = ForeignFamily::Kind;
  const bool om = fmt == Format::OpenMetrics;
  std::string family = f.name;
  std::string sample = f.name;
  if (om && f.kind == Kind::Counter) {
    if (family.ends_with("_total"))
      family.resize(family.size() - 6);
    sample = family + "_total";
  }
  const char* type = f.kind == Kind::Counter     ? "counter"
                     : f.kind == Kind::Gauge     ? "gauge"
                     : f.kind == Kind::Summary   ? "summary"
                     : f.kind == Kind::Histogram ? "histogram"
                     : om                        ? "unknown"
                                                 : "untyped";
  out += "# HELP " + family + " ";
  put_escaped(out, f.help, om);
  out += "\n# TYPE " + family + " " + type + "\n";
  for (const auto& s : f.samples) {
    switch (f.kind) {
      case Kind::Counter:
      case Kind::Gauge:
      case Kind::Untyped:
        put_sample(out, sample, s, {}, {}, s.value);
        break;
      case Kind::Summary:
        for (const auto& [q, v] : s.quantiles) {
          std::string qs;
          put_number(qs, q);
          put_sample(out, f.name, s, "quantile", qs, v);
        }
        put_sample(out, f.name + "_count", s, {}, {}, static_cast<double>(s.count));
        put_sample(out, f.name + "_sum", s, {}, {}, s.sum);
        break;
      case Kind::Histogram:
        for (const auto& [bound, cumulative] : s.buckets) {
          std::string le;
          put_bound(le, bound);
          put_sample(out, f.name + "_bucket", s, "le", le, static_cast<double>(cumulative));
        }
        put_sample(out, f.name + "_count", s, {}, {}, static_cast<double>(s.count));
        put_sample(out, f.name + "_sum", s, {}, {}, s.sum);
        break;
    }
  }
}

struct ForeignSources {
  std::mutex mu;
  std::vector<std::pair<std::weak_ptr<void>, std::function<std::vector<ForeignFamily>()>>> sources;
};

ForeignSources& foreign_sources() {
  static auto* s = new ForeignSources();  // NOLINT: lives as long as any render
  return *s;
}

// One unlabelled family the library renders itself.
void put_single(std::string& out, Format fmt, std::string_view base, const char* type,
                const char* help, double v, bool counter) {
  const bool om = fmt == Format::OpenMetrics;
  const std::string sample = std::string(base) + (counter ? "_total" : "");
  const std::string& header = (counter && om) ? std::string(base) : sample;
  out += "# HELP " + header + " " + help + "\n# TYPE " + header + " " + type + "\n";
  out += sample + " ";
  put_number(out, v);
  out.push_back('\n');
}

void render_process(std::string& out, Format fmt) {
  const auto p = read_process_metrics();
  if (!p)
    return;
  for (const auto& one : process_samples(*p))
    put_single(out, fmt, one.base, one.counter ? "counter" : "gauge", one.help, one.value,
               one.counter);
}

ExposedKind exposed_kind(ForeignFamily::Kind k) noexcept {
  using Kind = ForeignFamily::Kind;
  switch (k) {
    case Kind::Counter:
      return ExposedKind::Counter;
    case Kind::Gauge:
      return ExposedKind::Gauge;
    case Kind::Summary:
      return ExposedKind::Summary;
    case Kind::Histogram:
      return ExposedKind::Histogram;
    case Kind::Untyped:
      break;
  }
  return ExposedKind::Untyped;
}

// Another library's families join ours only where their names are free: the registry refuses
// a clashing declaration of ours and knows every name it holds, but cannot see into a
// prometheus-cpp Registry, so the foreign families are checked against it and each other.
void render_foreign_checked(std::string& out, Format fmt) {
  for (const auto& f : checked_foreign())
    render_foreign(out, f, fmt);
}

}  // namespace

namespace {
struct SkippedFamilies {
  std::atomic<std::uint64_t> count{0};
  std::mutex mu;
  std::set<std::string, std::less<>> reported;
};
SkippedFamilies& skipped_families() {
  static auto* s = new SkippedFamilies();  // NOLINT: lives as long as any scrape
  return *s;
}
}  // namespace

void skip_clashing_family(const std::string& key, const std::string& why) noexcept {
  auto& s = skipped_families();
  s.count.fetch_add(1, std::memory_order_relaxed);
  try {
    std::lock_guard lock(s.mu);
    if (!s.reported.insert(key).second)
      return;
  } catch (...) {
    return;  // out of memory: counted, not reported
  }
  report_internal_error("metrics", why);
}

std::uint64_t families_skipped() noexcept {
  return skipped_families().count.load(std::memory_order_relaxed);
}

std::string render_families(const std::vector<const Family*>& families, metrics::Format fmt,
                            bool with_extras) {
  if (fmt == metrics::Format::Protobuf)
    return render_protobuf(families, with_extras);
  std::string out;
  out.reserve(std::size_t{64} * 1024);
  for (const Family* f : families)
    render_family(out, *f, fmt);
  if (with_extras) {
    render_process(out, fmt);
    render_foreign_checked(out, fmt);
    put_single(out, fmt, "o11y_metric_families_skipped", "counter", kSkippedFamiliesHelp,
               static_cast<double>(families_skipped()), true);
  }
  if (fmt == metrics::Format::OpenMetrics)
    out += "# EOF\n";
  return out;
}

void add_foreign_source(std::weak_ptr<void> owner,
                        std::function<std::vector<ForeignFamily>()> collect) {
  auto& s = foreign_sources();
  std::lock_guard lock(s.mu);
  s.sources.emplace_back(std::move(owner), std::move(collect));
}

std::vector<ProcessSample> process_samples(const ProcessMetrics& p) {
  return {
      {"process_cpu_seconds", true, "Total user and system CPU time spent in seconds.",
       p.cpu_seconds},
      {"process_virtual_memory_bytes", false, "Virtual memory size in bytes.",
       p.virtual_memory_bytes},
      {"process_resident_memory_bytes", false, "Resident memory size in bytes.",
       p.resident_memory_bytes},
      {"process_start_time_seconds", false,
       "Start time of the process since unix epoch in seconds.", p.start_time_seconds},
      {"process_open_fds", false, "Number of open file descriptors.", p.open_fds},
      {"process_max_fds", false, "Maximum number of open file descriptors.", p.max_fds},
  };
}

// Another library's families join ours only where their names are free: the registry refuses
// a clashing declaration of ours and knows every name it holds, but cannot see into a
// prometheus-cpp Registry, so the foreign families are checked against it and each other.
std::vector<ForeignFamily> checked_foreign() {
  auto foreign = collect_foreign();
  std::vector<ForeignFamily> out;
  NameClaims taken;  // the foreign families kept so far
  for (auto& f : foreign) {
    const auto kind = exposed_kind(f.kind);
    std::string base = f.name;
    if (kind == ExposedKind::Counter && base.size() > 6 && base.ends_with("_total"))
      base.resize(base.size() - 6);
    const ExposedNames names(kind, base);
    std::string at;
    std::optional<NameClaims::Owner> clash = default_registry_clash(names, at);
    if (!clash) {
      if (const auto* other = taken.clash(names, at))
        clash = *other;
    }
    if (clash) {
      skip_clashing_family("foreign " + f.name + " " + clash->declared,
                           "prometheus-cpp family " + ExposedNames::describe(kind, f.name, base) +
                               " left out of the scrape: \"" + at + "\" is already exposed by " +
                               ExposedNames::describe(clash->kind, clash->declared, clash->base));
      continue;
    }
    taken.claim(kind, f.name, base);
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<ForeignFamily> collect_foreign() {
  std::vector<std::function<std::vector<ForeignFamily>()>> live;
  {
    auto& s = foreign_sources();
    std::lock_guard lock(s.mu);
    std::erase_if(s.sources, [](const auto& src) { return src.first.expired(); });
    for (const auto& src : s.sources)
      live.push_back(src.second);
  }
  std::vector<ForeignFamily> out;
  for (const auto& collect : live) {
    auto fams = collect();
    std::move(fams.begin(), fams.end(), std::back_inserter(out));
  }
  return out;
}

}  // namespace detail

namespace metrics {

std::string render(Format format) {
  // Multiprocess: the directory holds every process's values, this one's included.
  if (multiprocess_enabled())
    return detail::render_directory(detail::mp::configured_dir(), format);
  return detail::render_families(detail::all_families(), format, true);
}

std::string render_directory(std::string_view dir, Format format) {
  return detail::render_directory(std::string(dir), format);
}

std::string_view content_type(Format format) noexcept {
  switch (format) {
    case Format::OpenMetrics:
      return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case Format::Protobuf:
      return "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
             "encoding=delimited";
    case Format::Text:
      break;
  }
  return "text/plain; version=0.0.4; charset=utf-8";
}

Format negotiate(std::string_view accept) noexcept {
  // Media ranges separated by ',', parameters by ';'. A range without q has q=1.
  double openmetrics = 0;
  double protobuf = 0;
  std::size_t pos = 0;
  while (pos < accept.size()) {
    const auto comma = accept.find(',', pos);
    const auto range =
        accept.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? accept.size() : comma + 1;
    const bool om = range.find("application/openmetrics-text") != std::string_view::npos;
    const bool pb =
        range.find("application/vnd.google.protobuf") != std::string_view::npos &&
        range.find("proto=io.prometheus.client.MetricFamily") != std::string_view::npos &&
        range.find("encoding=delimited") != std::string_view::npos;
    if (!om && !pb)
      continue;
    double q = 1.0;
    if (const auto at = range.find("q="); at != std::string_view::npos) {
      const auto digits = range.substr(at + 2);
      std::from_chars(digits.data(), digits.data() + digits.size(), q);
    }
    (om ? openmetrics : protobuf) = std::max(om ? openmetrics : protobuf, q);
  }
  if (protobuf > 0 && protobuf >= openmetrics)
    return Format::Protobuf;
  return openmetrics > 0 ? Format::OpenMetrics : Format::Text;
}

Response handle_scrape(std::string_view accept, std::string_view accept_encoding) noexcept {
  Response r;
  try {
    const Format fmt = negotiate(accept);
    r.content_type = std::string(content_type(fmt));
    r.body = render(fmt);
    if (accept_encoding.find("gzip") != std::string_view::npos) {
      std::string zipped;
      if (detail::gzip(r.body, zipped, detail::GzipLevel::Fast)) {
        r.body = std::move(zipped);
        r.content_encoding = "gzip";
      }
    }
  } catch (...) {
    // Never a stack trace, a path or an exception text in the body.
    r = Response{500, "text/plain; charset=utf-8", "", "internal error\n"};
  }
  return r;
}

}  // namespace metrics
}  // namespace o11y
