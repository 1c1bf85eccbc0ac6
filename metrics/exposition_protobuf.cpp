// Prometheus' protobuf exposition (io/prometheus/client/metrics.proto): one length-delimited
// MetricFamily after another. The one format that carries native histograms; Prometheus asks
// for it when started with --enable-feature=native-histograms.
#include <cmath>
#include <limits>
#include <string>

#include "metrics/exposed_names.hpp"
#include "metrics/family.hpp"
#include "metrics/foreign.hpp"
#include "metrics/process_metrics.hpp"
#include "o11y/trace.hpp"
#include "otlp/protobuf.hpp"

namespace o11y::detail {
namespace {

using otlp::Pb;

// Field numbers of io.prometheus.client, by message.
namespace field {
namespace metric_family {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kHelp = 2;
constexpr std::uint32_t kType = 3;
constexpr std::uint32_t kMetric = 4;
}  // namespace metric_family
namespace metric {
constexpr std::uint32_t kLabel = 1;
constexpr std::uint32_t kGauge = 2;
constexpr std::uint32_t kCounter = 3;
constexpr std::uint32_t kSummary = 4;
constexpr std::uint32_t kUntyped = 5;
constexpr std::uint32_t kHistogram = 7;
}  // namespace metric
namespace label_pair {
constexpr std::uint32_t kName = 1;
constexpr std::uint32_t kValue = 2;
}  // namespace label_pair
namespace value {  // Gauge, Untyped and Counter keep their value in field 1
constexpr std::uint32_t kValue = 1;
constexpr std::uint32_t kCounterExemplar = 2;
}  // namespace value
namespace summary {
constexpr std::uint32_t kSampleCount = 1;
constexpr std::uint32_t kSampleSum = 2;
constexpr std::uint32_t kQuantile = 3;
}  // namespace summary
namespace quantile {
constexpr std::uint32_t kQuantile = 1;
constexpr std::uint32_t kValue = 2;
}  // namespace quantile
namespace histogram {
constexpr std::uint32_t kSampleCount = 1;
constexpr std::uint32_t kSampleSum = 2;
constexpr std::uint32_t kBucket = 3;
constexpr std::uint32_t kSchema = 5;
constexpr std::uint32_t kZeroThreshold = 6;
constexpr std::uint32_t kZeroCount = 7;
constexpr std::uint32_t kNegativeSpan = 9;
constexpr std::uint32_t kNegativeDelta = 10;
constexpr std::uint32_t kPositiveSpan = 12;
constexpr std::uint32_t kPositiveDelta = 13;
constexpr std::uint32_t kExemplars = 16;  ///< native histograms' own, each with a timestamp
}  // namespace histogram
namespace bucket {
constexpr std::uint32_t kCumulativeCount = 1;
constexpr std::uint32_t kUpperBound = 2;
constexpr std::uint32_t kExemplar = 3;
}  // namespace bucket
namespace bucket_span {
constexpr std::uint32_t kOffset = 1;
constexpr std::uint32_t kLength = 2;
}  // namespace bucket_span
namespace exemplar {
constexpr std::uint32_t kLabel = 1;
constexpr std::uint32_t kValue = 2;
constexpr std::uint32_t kTimestamp = 3;
}  // namespace exemplar
namespace timestamp {
constexpr std::uint32_t kSeconds = 1;
constexpr std::uint32_t kNanos = 2;
}  // namespace timestamp
}  // namespace field

// MetricType.
constexpr std::uint64_t kCounter = 0;
constexpr std::uint64_t kGauge = 1;
constexpr std::uint64_t kSummary = 2;
constexpr std::uint64_t kUntyped = 3;
constexpr std::uint64_t kHistogram = 4;

using otlp::zigzag;

void label_pair(Pb& pb, std::string_view name, std::string_view value) {
  pb.message(field::metric::kLabel, [&](Pb& l) {
    l.string(field::label_pair::kName, name);
    l.string(field::label_pair::kValue, value);
  });
}

void put_exemplar(Pb& pb, std::uint32_t f, const Exemplar::Snapshot& e) {
  char ids[48];
  TraceId{e.trace_hi, e.trace_lo}.write_hex(ids);
  SpanId{e.span}.write_hex(ids + 32);
  pb.message(f, [&](Pb& x) {
    x.message(field::exemplar::kLabel, [&](Pb& l) {
      l.string(field::label_pair::kName, "trace_id");
      l.string(field::label_pair::kValue, std::string_view(ids, 32));
    });
    x.message(field::exemplar::kLabel, [&](Pb& l) {
      l.string(field::label_pair::kName, "span_id");
      l.string(field::label_pair::kValue, std::string_view(ids + 32, 16));
    });
    x.dbl(field::exemplar::kValue, e.value);
    x.message(field::exemplar::kTimestamp, [&](Pb& t) {
      t.uint(field::timestamp::kSeconds, e.time_ns / 1'000'000'000U);
      t.uint(field::timestamp::kNanos, e.time_ns % 1'000'000'000U);
    });
  });
}

// Spans of consecutive indices, then the counts as deltas from one bucket to the next.
void sparse_buckets(Pb& pb, std::uint32_t span_field, std::uint32_t delta_field,
                    const std::vector<std::pair<int, std::uint64_t>>& buckets) {
  std::size_t i = 0;
  std::int64_t next = 0;  // the index after the previous span
  while (i < buckets.size()) {
    std::size_t j = i + 1;
    // In 64 bits: a bucket index read from a multiprocess file may be INT_MAX.
    while (j < buckets.size() &&
           std::int64_t{buckets[j].first} == std::int64_t{buckets[j - 1].first} + 1)
      ++j;
    const std::int64_t offset = buckets[i].first - (i == 0 ? 0 : next);
    pb.message(span_field, [&](Pb& s) {
      s.uint(field::bucket_span::kOffset, zigzag(offset));
      s.uint(field::bucket_span::kLength, j - i);
    });
    next = std::int64_t{buckets[j - 1].first} + 1;
    i = j;
  }
  if (buckets.empty())
    return;
  pb.message(delta_field, [&](Pb& packed) {
    // Deltas modulo 2^64, as a reader adding them up in 64 bits gets the counts back: a count
    // read from a corrupt multiprocess file can be any 64-bit value, and a signed difference
    // overflowed.
    std::uint64_t previous = 0;
    for (const auto& [index, count] : buckets) {
      packed.varint(zigzag(static_cast<std::int64_t>(count - previous)));
      previous = count;
    }
  });
}

void native_histogram(Pb& h, const NativeBuckets::Snapshot& n) {
  h.uint(field::histogram::kSchema, zigzag(n.schema));
  h.dbl(field::histogram::kZeroThreshold, n.zero_threshold);
  h.uint(field::histogram::kZeroCount, n.zero_count);
  sparse_buckets(h, field::histogram::kNegativeSpan, field::histogram::kNegativeDelta, n.negative);
  if (n.positive.empty() && n.negative.empty()) {
    // An empty span marks a native histogram that has no observations yet.
    h.message(field::histogram::kPositiveSpan, [](Pb&) {});
    return;
  }
  sparse_buckets(h, field::histogram::kPositiveSpan, field::histogram::kPositiveDelta, n.positive);
}

void series_labels(Pb& m, const Family& f, const Series& s) {
  for (std::size_t i = 0; i < f.label_names.size() && i < s.values.size(); ++i)
    label_pair(m, f.label_names[i], s.values[i]);
}

void own_family(Pb& fam, const Family& f) {
  const auto series = f.all_series();
  const bool counter = f.type == MetricType::Counter;
  fam.string(field::metric_family::kName, counter ? f.base_name + "_total" : f.base_name);
  fam.string(field::metric_family::kHelp, f.help);
  fam.uint(field::metric_family::kType, counter                       ? kCounter
                                        : f.type == MetricType::Gauge ? kGauge
                                                                      : kHistogram);
  for (const Series* s : series) {
    const Exemplar* ex = s->exemplars.load(std::memory_order_acquire);
    Exemplar::Snapshot snap{};
    fam.message(field::metric_family::kMetric, [&](Pb& m) {
      series_labels(m, f, *s);
      switch (f.type) {
        case MetricType::Counter:
          m.message(field::metric::kCounter, [&](Pb& c) {
            c.dbl(field::value::kValue, counter_value(*s));
            if (ex != nullptr && ex[0].read(snap))
              put_exemplar(c, field::value::kCounterExemplar, snap);
          });
          break;
        case MetricType::Gauge:
          m.message(field::metric::kGauge,
                    [&](Pb& g) { g.dbl(field::value::kValue, load_double(s->cells[0])); });
          break;
        case MetricType::Histogram:
          m.message(field::metric::kHistogram, [&](Pb& h) {
            const std::size_t nb = f.buckets.size();
            std::uint64_t cumulative = 0;
            if (s->native) {
              const auto n = s->native->snapshot();
              h.uint(field::histogram::kSampleCount, n.count());
              h.dbl(field::histogram::kSampleSum, load_double(s->cells[nb + 1]));
              native_histogram(h, n);
              // Its exemplars are the classic buckets' slots (one, +Inf, when it has none):
              // a scraper that reads only native histograms finds them here.
              for (std::size_t i = 0; ex != nullptr && i <= nb; ++i) {
                if (ex[i].read(snap))
                  put_exemplar(h, field::histogram::kExemplars, snap);
              }
              if (nb == 0)
                return;  // no classic buckets beside it
            } else {
              for (std::size_t i = 0; i <= nb; ++i)
                cumulative += s->cells[i].load(std::memory_order_relaxed);
              h.uint(field::histogram::kSampleCount, cumulative);
              h.dbl(field::histogram::kSampleSum, load_double(s->cells[nb + 1]));
              cumulative = 0;
            }
            for (std::size_t i = 0; i <= nb; ++i) {
              cumulative += s->cells[i].load(std::memory_order_relaxed);
              h.message(field::histogram::kBucket, [&](Pb& b) {
                b.uint(field::bucket::kCumulativeCount, cumulative);
                b.dbl(field::bucket::kUpperBound,
                      i < nb ? f.buckets[i] : std::numeric_limits<double>::infinity());
                if (ex != nullptr && ex[i].read(snap))
                  put_exemplar(b, field::bucket::kExemplar, snap);
              });
            }
          });
          break;
      }
    });
  }
}

void foreign_family(Pb& fam, const ForeignFamily& f) {
  using Kind = ForeignFamily::Kind;
  const bool counter = f.kind == Kind::Counter;
  fam.string(field::metric_family::kName,
             counter && !f.name.ends_with("_total") ? f.name + "_total" : f.name);
  fam.string(field::metric_family::kHelp, f.help);
  fam.uint(field::metric_family::kType, counter                     ? kCounter
                                        : f.kind == Kind::Gauge     ? kGauge
                                        : f.kind == Kind::Summary   ? kSummary
                                        : f.kind == Kind::Histogram ? kHistogram
                                                                    : kUntyped);
  for (const auto& s : f.samples) {
    fam.message(field::metric_family::kMetric, [&](Pb& m) {
      for (const auto& [name, value] : s.labels)
        label_pair(m, name, value);
      switch (f.kind) {
        case Kind::Counter:
          m.message(field::metric::kCounter, [&](Pb& c) { c.dbl(field::value::kValue, s.value); });
          break;
        case Kind::Gauge:
          m.message(field::metric::kGauge, [&](Pb& g) { g.dbl(field::value::kValue, s.value); });
          break;
        case Kind::Untyped:
          m.message(field::metric::kUntyped, [&](Pb& u) { u.dbl(field::value::kValue, s.value); });
          break;
        case Kind::Summary:
          m.message(field::metric::kSummary, [&](Pb& q) {
            q.uint(field::summary::kSampleCount, s.count);
            q.dbl(field::summary::kSampleSum, s.sum);
            for (const auto& qv : s.quantiles) {
              q.message(field::summary::kQuantile, [&](Pb& one) {
                one.dbl(field::quantile::kQuantile, qv.first);
                one.dbl(field::quantile::kValue, qv.second);
              });
            }
          });
          break;
        case Kind::Histogram:
          m.message(field::metric::kHistogram, [&](Pb& h) {
            h.uint(field::histogram::kSampleCount, s.count);
            h.dbl(field::histogram::kSampleSum, s.sum);
            for (const auto& bucket : s.buckets) {
              h.message(field::histogram::kBucket, [&](Pb& b) {
                b.uint(field::bucket::kCumulativeCount, bucket.second);
                b.dbl(field::bucket::kUpperBound, bucket.first);
              });
            }
          });
          break;
      }
    });
  }
}

void single(Pb& fam, std::string_view base, bool counter, const char* help, double v) {
  fam.string(field::metric_family::kName, counter ? std::string(base) + "_total" : base);
  fam.string(field::metric_family::kHelp, help);
  fam.uint(field::metric_family::kType, counter ? kCounter : kGauge);
  fam.message(field::metric_family::kMetric, [&](Pb& m) {
    m.message(counter ? field::metric::kCounter : field::metric::kGauge,
              [&](Pb& c) { c.dbl(field::value::kValue, v); });
  });
}

// Appends one family, length-delimited.
template <class Body>
void delimited(Buffer& out, Buffer& scratch, Body&& body) {
  scratch.clear();
  Pb fam(scratch);
  body(fam);
  Pb framing(out);
  framing.varint(scratch.size());
  framing.raw(std::string_view(scratch.data(), scratch.size()));
}

}  // namespace

std::string render_protobuf(const std::vector<const Family*>& families, bool with_extras) {
  Buffer out;
  Buffer scratch;
  for (const Family* f : families) {
    if (!f->all_series().empty())
      delimited(out, scratch, [&](Pb& fam) { own_family(fam, *f); });
  }
  if (with_extras) {
    if (const auto p = read_process_metrics()) {
      for (const auto& one : process_samples(*p)) {
        delimited(out, scratch,
                  [&](Pb& fam) { single(fam, one.base, one.counter, one.help, one.value); });
      }
    }
    for (const auto& f : checked_foreign())
      delimited(out, scratch, [&](Pb& fam) { foreign_family(fam, f); });
    delimited(out, scratch, [&](Pb& fam) {
      single(fam, "o11y_metric_families_skipped", true, kSkippedFamiliesHelp,
             static_cast<double>(families_skipped()));
    });
  }
  return {out.data(), out.size()};
}

}  // namespace o11y::detail
