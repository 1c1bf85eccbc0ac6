#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include "metrics/family.hpp"
#include "metrics/foreign.hpp"
#include "o11y/prometheus.hpp"

namespace o11y::metrics {
namespace {

using detail::ForeignFamily;

class O11yCollectable final : public prometheus::Collectable {
 public:
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    for (const detail::Family* f : detail::all_families()) {
      prometheus::MetricFamily mf;
      mf.help = f->help;
      switch (f->type) {
        case detail::MetricType::Counter:
          mf.name = f->base_name + "_total";
          mf.type = prometheus::MetricType::Counter;
          break;
        case detail::MetricType::Gauge:
          mf.name = f->base_name;
          mf.type = prometheus::MetricType::Gauge;
          break;
        case detail::MetricType::Histogram:
          mf.name = f->base_name;
          mf.type = prometheus::MetricType::Histogram;
          break;
      }
      for (const detail::Series* s : f->all_series()) {
        prometheus::ClientMetric m;
        for (std::size_t i = 0; i < f->label_names.size(); ++i) {
          m.label.push_back({f->label_names[i], s->values[i]});
        }
        if (f->type == detail::MetricType::Counter) {
          m.counter.value = detail::counter_value(*s);
        } else if (f->type == detail::MetricType::Gauge) {
          m.gauge.value = detail::load_double(s->cells[0]);
        } else {
          std::uint64_t cumulative = 0;
          for (std::size_t b = 0; b <= f->buckets.size(); ++b) {
            cumulative += s->cells[b].load(std::memory_order_relaxed);
            m.histogram.bucket.push_back(
                {cumulative,
                 b < f->buckets.size() ? f->buckets[b] : std::numeric_limits<double>::infinity()});
          }
          m.histogram.sample_count = cumulative;
          m.histogram.sample_sum = detail::load_double(s->cells[f->buckets.size() + 1]);
        }
        mf.metric.push_back(std::move(m));
      }
      out.push_back(std::move(mf));
    }
    return out;
  }
};

ForeignFamily::Kind kind_of(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter:
      return ForeignFamily::Kind::Counter;
    case prometheus::MetricType::Gauge:
      return ForeignFamily::Kind::Gauge;
    case prometheus::MetricType::Summary:
      return ForeignFamily::Kind::Summary;
    case prometheus::MetricType::Histogram:
      return ForeignFamily::Kind::Histogram;
    case prometheus::MetricType::Untyped:
      break;
  }
  return ForeignFamily::Kind::Untyped;
}

std::vector<ForeignFamily> convert(const std::vector<prometheus::MetricFamily>& families) {
  std::vector<ForeignFamily> out;
  for (const auto& mf : families) {
    ForeignFamily f;
    f.name = mf.name;
    f.help = mf.help;
    f.kind = kind_of(mf.type);
    for (const auto& m : mf.metric) {
      ForeignFamily::Sample s;
      for (const auto& l : m.label)
        s.labels.emplace_back(l.name, l.value);
      s.value = f.kind == ForeignFamily::Kind::Counter ? m.counter.value
                : f.kind == ForeignFamily::Kind::Gauge ? m.gauge.value
                                                       : m.untyped.value;
      if (f.kind == ForeignFamily::Kind::Histogram) {
        s.count = m.histogram.sample_count;
        s.sum = m.histogram.sample_sum;
        for (const auto& b : m.histogram.bucket)
          s.buckets.emplace_back(b.upper_bound, b.cumulative_count);
      } else if (f.kind == ForeignFamily::Kind::Summary) {
        s.count = m.summary.sample_count;
        s.sum = m.summary.sample_sum;
        for (const auto& q : m.summary.quantile)
          s.quantiles.emplace_back(q.quantile, q.value);
      }
      f.samples.push_back(std::move(s));
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

std::shared_ptr<prometheus::Collectable> collectable() {
  static const auto kOurs = std::make_shared<O11yCollectable>();
  return kOurs;
}

void expose(const std::shared_ptr<prometheus::Collectable>& collectable) {
  if (!collectable)
    return;
  const std::weak_ptr<prometheus::Collectable> weak = collectable;
  detail::add_foreign_source(collectable, [weak]() -> std::vector<ForeignFamily> {
    if (auto c = weak.lock())
      return convert(c->Collect());
    return {};
  });
}

}  // namespace o11y::metrics
