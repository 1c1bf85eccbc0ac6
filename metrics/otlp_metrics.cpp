#include "metrics/otlp_metrics.hpp"

#include <cmath>
#include <cstring>
#include <map>

#include "otlp/fields.hpp"
#include "otlp/json.hpp"
#include "otlp/protobuf.hpp"
#include "otlp/scope.hpp"

namespace o11y::detail {
namespace {

namespace field = otlp::field;

TraceId trace_of(const Exemplar::Snapshot& e) noexcept {
  return TraceId{e.trace_hi, e.trace_lo};
}

using otlp::put_double;

void attributes_json(Buffer& out, const MetricFamilyPoints& f, const MetricPoint& p) {
  otlp::put(out, "\"attributes\":[");
  for (std::size_t i = 0; i < f.label_names.size() && i < p.label_values.size(); ++i) {
    if (i > 0)
      out.push_back(',');
    otlp::put_key_value(out, f.label_names[i], ValueView(p.label_values[i]));
  }
  out.push_back(']');
}

void exemplars_json(Buffer& out, const MetricPoint& p) {
  otlp::put(out, ",\"exemplars\":[");
  bool first = true;
  for (std::size_t i = 0; i < p.exemplars.size(); ++i) {
    if (!p.has_exemplar[i])
      continue;
    const auto& e = p.exemplars[i];
    if (!first)
      out.push_back(',');
    first = false;
    otlp::put(out, "{\"timeUnixNano\":");
    otlp::put_quoted_number(out, e.time_ns);
    otlp::put(out, ",\"asDouble\":");
    put_double(out, e.value);
    otlp::put(out, ",\"spanId\":");
    otlp::put_hex(out, SpanId{e.span});
    otlp::put(out, ",\"traceId\":");
    otlp::put_hex(out, trace_of(e));
    out.push_back('}');
  }
  out.push_back(']');
}

void exemplars_pb(otlp::Pb& pb, std::uint32_t f, const MetricPoint& p) {
  for (std::size_t i = 0; i < p.exemplars.size(); ++i) {
    if (!p.has_exemplar[i])
      continue;
    const auto& e = p.exemplars[i];
    pb.message(f, [&](otlp::Pb& ex) {
      ex.fixed64(field::exemplar::kTimeUnixNano, e.time_ns);
      ex.dbl(field::exemplar::kAsDouble, e.value);
      ex.bytes(field::exemplar::kSpanId, otlp::span_id_bytes(SpanId{e.span}).view());
      ex.bytes(field::exemplar::kTraceId, otlp::trace_id_bytes(trace_of(e)).view());
    });
  }
}

void attributes_pb(otlp::Pb& pb, std::uint32_t f, const MetricFamilyPoints& fam,
                   const MetricPoint& p) {
  for (std::size_t i = 0; i < fam.label_names.size() && i < p.label_values.size(); ++i)
    otlp::key_value_pb(pb, f, fam.label_names[i], ValueView(p.label_values[i]));
}

// A packed repeated fixed64 or double: the little-endian words, one after another.
template <class T>
std::string packed(const std::vector<T>& values) {
  std::string out(values.size() * 8, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &values[i], 8);
    for (std::size_t b = 0; b < 8; ++b)
      out[i * 8 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return out;
}

// Buckets at `schema` from buckets at a finer one (equal or higher).
std::vector<std::pair<int, std::uint64_t>> at_schema(
    const std::vector<std::pair<int, std::uint64_t>>& buckets, int from, int to) {
  std::map<int, std::uint64_t> out;
  for (const auto& [index, count] : buckets)
    out[lowered_index(index, from, to)] += count;
  return {out.begin(), out.end()};
}

void subtract_buckets(std::vector<std::pair<int, std::uint64_t>>& now,
                      const std::vector<std::pair<int, std::uint64_t>>& before) {
  std::map<int, std::uint64_t> base(before.begin(), before.end());
  std::vector<std::pair<int, std::uint64_t>> out;
  for (const auto& [index, count] : now) {
    const auto it = base.find(index);
    const std::uint64_t d = it == base.end() ? count : count - std::min(count, it->second);
    if (d > 0)
      out.emplace_back(index, d);
  }
  now = std::move(out);
}

// Ends up cumulative minus what `before` held. The schema only ever goes down, so `before`
// is brought to the current one.
void subtract_native(NativeBuckets::Snapshot& now, const NativeBuckets::Snapshot& before) {
  subtract_buckets(now.positive, at_schema(before.positive, before.schema, now.schema));
  subtract_buckets(now.negative, at_schema(before.negative, before.schema, now.schema));
  now.zero_count -= std::min(now.zero_count, before.zero_count);
}

// OTLP's bucket i holds (base^i, base^(i+1)], Prometheus' index i+1: dense counts from the
// first used bucket to the last.
struct Dense {
  int offset = 0;
  std::vector<std::uint64_t> counts;
};
Dense dense(const std::vector<std::pair<int, std::uint64_t>>& buckets) {
  Dense d;
  if (buckets.empty())
    return d;
  d.offset = buckets.front().first - 1;
  const auto first = static_cast<std::int64_t>(buckets.front().first);
  d.counts.assign(static_cast<std::size_t>(buckets.back().first - first + 1), 0);
  for (const auto& [index, count] : buckets)
    d.counts[static_cast<std::size_t>(index - first)] = count;
  return d;
}

void exponential_buckets_pb(otlp::Pb& pb, std::uint32_t f,
                            const std::vector<std::pair<int, std::uint64_t>>& buckets) {
  if (buckets.empty())
    return;
  const Dense d = dense(buckets);
  pb.message(f, [&](otlp::Pb& b) {
    b.uint(field::exponential_buckets::kOffset, otlp::zigzag(d.offset));
    b.message(field::exponential_buckets::kBucketCounts, [&](otlp::Pb& packed) {
      for (const auto c : d.counts)
        packed.varint(c);
    });
  });
}

void exponential_buckets_json(Buffer& out, const char* key,
                              const std::vector<std::pair<int, std::uint64_t>>& buckets) {
  const Dense d = dense(buckets);
  otlp::put(out, ",\"");
  otlp::put(out, key);
  otlp::put(out, "\":{\"offset\":");
  append_number(out, d.offset);
  otlp::put(out, ",\"bucketCounts\":[");
  for (std::size_t i = 0; i < d.counts.size(); ++i) {
    if (i > 0)
      out.push_back(',');
    otlp::put_quoted_number(out, d.counts[i]);
  }
  otlp::put(out, "]}");
}

}  // namespace

std::vector<MetricFamilyPoints> collect_points(const std::vector<const Family*>& families,
                                               bool with_start) {
  std::vector<MetricFamilyPoints> out;
  out.reserve(families.size());
  for (const Family* f : families) {
    auto& fp = out.emplace_back();
    fp.name = f->base_name;
    fp.help = f->help;
    fp.unit = f->unit;
    fp.type = f->type;
    fp.label_names = f->label_names;
    fp.bounds = f->buckets;
    fp.native = f->native;
    for (const Series* s : f->all_series()) {
      auto& p = fp.points.emplace_back();
      p.label_values = s->values;
      p.start_ns = with_start ? s->created_ns : 0;
      const Exemplar* ex = s->exemplars.load(std::memory_order_acquire);
      if (ex != nullptr) {
        p.exemplars.resize(f->exemplar_count());
        p.has_exemplar.resize(p.exemplars.size(), false);
        for (std::size_t i = 0; i < p.exemplars.size(); ++i)
          p.has_exemplar[i] = ex[i].read(p.exemplars[i]);
      }
      switch (f->type) {
        case MetricType::Counter:
          p.value = counter_value(*s);
          break;
        case MetricType::Gauge:
          p.value = load_double(s->cells[0]);
          break;
        case MetricType::Histogram:
          p.buckets.resize(f->buckets.size() + 1);
          for (std::size_t i = 0; i < p.buckets.size(); ++i) {
            p.buckets[i] = s->cells[i].load(std::memory_order_relaxed);
            p.count += p.buckets[i];
          }
          p.sum = load_double(s->cells[f->buckets.size() + 1]);
          if (s->native)
            p.native = s->native->snapshot();
          break;
      }
    }
  }
  return out;
}

MetricRequestEncoder::MetricRequestEncoder(OtlpEncoding encoding, bool delta,
                                           std::uint64_t start_ns)
    : encoding_(encoding), delta_(delta), start_ns_(start_ns) {}

void MetricRequestEncoder::to_delta(const MetricFamilyPoints& f, MetricPoint& p) {
  key_.assign(f.name);
  for (const auto& v : p.label_values)
    key_.append(1, '\0').append(v);
  Previous& prev = previous_[key_];
  if (f.type == MetricType::Counter) {
    const double now = p.value;
    p.value = now - prev.value;
    prev.value = now;
  } else if (f.type == MetricType::Histogram) {
    prev.buckets.resize(p.buckets.size(), 0);
    for (std::size_t i = 0; i < p.buckets.size(); ++i) {
      const auto now = p.buckets[i];
      p.buckets[i] = now - prev.buckets[i];
      prev.buckets[i] = now;
    }
    const double sum = p.sum;
    p.sum = sum - prev.sum;
    prev.sum = sum;
    const auto count = p.count;
    p.count = count - prev.count;
    prev.count = count;
    if (p.native) {
      const NativeBuckets::Snapshot now = *p.native;
      if (prev.native)
        subtract_native(*p.native, *prev.native);
      prev.native = now;
    }
  }
}

void MetricRequestEncoder::encode(std::vector<MetricFamilyPoints>& families,
                                  const Resource* resource, std::uint64_t time_ns, Buffer& out) {
  const std::uint64_t start = start_ns_;
  if (delta_) {
    for (auto& f : families) {
      for (auto& p : f.points)
        to_delta(f, p);
    }
    start_ns_ = time_ns;  // the next deltas start where these end
  }
  // Cumulative points start when their series was created; deltas at the previous export,
  // or at the series' creation when it came later. Unknown: when the exporter started.
  for (auto& f : families) {
    for (auto& p : f.points) {
      p.start_ns = p.start_ns == 0 ? start : delta_ ? std::max(start, p.start_ns) : p.start_ns;
      p.start_ns = std::min(p.start_ns, time_ns);
    }
  }
  if (encoding_ == OtlpEncoding::Json) {
    encode_json(families, resource, time_ns, out);
  } else {
    encode_protobuf(families, resource, time_ns, out);
  }
}

void MetricRequestEncoder::encode_protobuf(const std::vector<MetricFamilyPoints>& families,
                                           const Resource* resource, std::uint64_t time_ns,
                                           Buffer& out) const {
  out.clear();
  const std::uint64_t temporality =
      delta_ ? field::kTemporalityDelta : field::kTemporalityCumulative;
  otlp::Pb request(out);
  request.message(field::export_metrics_service_request::kResourceMetrics, [&](otlp::Pb& rm) {
    rm.message(field::resource_metrics::kResource, [&](otlp::Pb& res) {
      if (resource != nullptr)
        otlp::attributes_pb(res, field::resource::kAttributes, resource->attributes);
    });
    rm.message(field::resource_metrics::kScopeMetrics, [&](otlp::Pb& sm) {
      sm.message(field::scope_metrics::kScope, [](otlp::Pb& scope) {
        scope.string(field::instrumentation_scope::kName, otlp::kScopeName);
        scope.string(field::instrumentation_scope::kVersion, O11Y_VERSION);
      });
      for (const auto& f : families) {
        if (f.points.empty())
          continue;
        sm.message(field::scope_metrics::kMetrics, [&](otlp::Pb& m) {
          m.string(field::metric::kName, f.name);
          m.string(field::metric::kDescription, f.help);
          m.string(field::metric::kUnit, f.unit);
          const auto number_points = [&](otlp::Pb& body, std::uint32_t points_field,
                                         bool with_start) {
            for (const auto& p : f.points) {
              body.message(points_field, [&](otlp::Pb& dp) {
                if (with_start)
                  dp.fixed64(field::number_data_point::kStartTimeUnixNano, p.start_ns);
                dp.fixed64(field::number_data_point::kTimeUnixNano, time_ns);
                dp.dbl(field::number_data_point::kAsDouble, p.value);
                exemplars_pb(dp, field::number_data_point::kExemplars, p);
                attributes_pb(dp, field::number_data_point::kAttributes, f, p);
              });
            }
          };
          switch (f.type) {
            case MetricType::Counter:
              m.message(field::metric::kSum, [&](otlp::Pb& sum) {
                number_points(sum, field::sum::kDataPoints, true);
                sum.uint(field::sum::kAggregationTemporality, temporality);
                sum.boolean(field::sum::kIsMonotonic, true);
              });
              break;
            case MetricType::Gauge:
              m.message(field::metric::kGauge,
                        [&](otlp::Pb& g) { number_points(g, field::gauge::kDataPoints, false); });
              break;
            case MetricType::Histogram:
              if (f.native) {
                m.message(field::metric::kExponentialHistogram, [&](otlp::Pb& h) {
                  namespace dp = field::exponential_histogram_data_point;
                  for (const auto& p : f.points) {
                    if (!p.native)
                      continue;
                    const auto& n = *p.native;
                    h.message(field::exponential_histogram::kDataPoints, [&](otlp::Pb& d) {
                      attributes_pb(d, dp::kAttributes, f, p);
                      d.fixed64(dp::kStartTimeUnixNano, p.start_ns);
                      d.fixed64(dp::kTimeUnixNano, time_ns);
                      d.fixed64(dp::kCount, n.count());
                      d.dbl(dp::kSum, p.sum);
                      d.uint(dp::kScale, otlp::zigzag(n.schema));
                      d.fixed64(dp::kZeroCount, n.zero_count);
                      exponential_buckets_pb(d, dp::kPositive, n.positive);
                      exponential_buckets_pb(d, dp::kNegative, n.negative);
                      exemplars_pb(d, dp::kExemplars, p);
                      d.dbl(dp::kZeroThreshold, n.zero_threshold);
                    });
                  }
                  h.uint(field::exponential_histogram::kAggregationTemporality, temporality);
                });
                break;
              }
              m.message(field::metric::kHistogram, [&](otlp::Pb& h) {
                for (const auto& p : f.points) {
                  h.message(field::histogram::kDataPoints, [&](otlp::Pb& dp) {
                    dp.fixed64(field::histogram_data_point::kStartTimeUnixNano, p.start_ns);
                    dp.fixed64(field::histogram_data_point::kTimeUnixNano, time_ns);
                    dp.fixed64(field::histogram_data_point::kCount, p.count);
                    dp.dbl(field::histogram_data_point::kSum, p.sum);
                    dp.bytes(field::histogram_data_point::kBucketCounts, packed(p.buckets));
                    if (!f.bounds.empty())
                      dp.bytes(field::histogram_data_point::kExplicitBounds, packed(f.bounds));
                    exemplars_pb(dp, field::histogram_data_point::kExemplars, p);
                    attributes_pb(dp, field::histogram_data_point::kAttributes, f, p);
                  });
                }
                h.uint(field::histogram::kAggregationTemporality, temporality);
              });
              break;
          }
        });
      }
    });
  });
}

void MetricRequestEncoder::encode_json(const std::vector<MetricFamilyPoints>& families,
                                       const Resource* resource, std::uint64_t time_ns,
                                       Buffer& out) const {
  using otlp::put;
  out.clear();
  const int temporality = delta_ ? 1 : 2;
  put(out, "{\"resourceMetrics\":[{\"resource\":{");
  otlp::put_attributes(out, resource != nullptr ? resource->attributes : Attributes{});
  put(out, "},\"scopeMetrics\":[{\"scope\":{\"name\":");
  otlp::put_string(out, otlp::kScopeName);
  put(out, ",\"version\":");
  otlp::put_string(out, O11Y_VERSION);
  put(out, "},\"metrics\":[");
  bool first_metric = true;
  for (const auto& f : families) {
    if (f.points.empty())
      continue;
    if (!first_metric)
      out.push_back(',');
    first_metric = false;
    put(out, "{\"name\":");
    otlp::put_string(out, f.name);
    if (!f.help.empty()) {
      put(out, ",\"description\":");
      otlp::put_string(out, f.help);
    }
    if (!f.unit.empty()) {
      put(out, ",\"unit\":");
      otlp::put_string(out, f.unit);
    }
    const auto times = [&](const MetricPoint& p, bool with_start) {
      if (with_start) {
        put(out, ",\"startTimeUnixNano\":");
        otlp::put_quoted_number(out, p.start_ns);
      }
      put(out, ",\"timeUnixNano\":");
      otlp::put_quoted_number(out, time_ns);
    };
    const auto number_points = [&](bool with_start) {
      put(out, "\"dataPoints\":[");
      bool first = true;
      for (const auto& p : f.points) {
        if (!first)
          out.push_back(',');
        first = false;
        out.push_back('{');
        attributes_json(out, f, p);
        times(p, with_start);
        put(out, ",\"asDouble\":");
        put_double(out, p.value);
        exemplars_json(out, p);
        out.push_back('}');
      }
      out.push_back(']');
    };
    switch (f.type) {
      case MetricType::Counter:
        put(out, ",\"sum\":{");
        number_points(true);
        put(out, ",\"aggregationTemporality\":");
        append_number(out, temporality);
        put(out, ",\"isMonotonic\":true}");
        break;
      case MetricType::Gauge:
        put(out, ",\"gauge\":{");
        number_points(false);
        out.push_back('}');
        break;
      case MetricType::Histogram:
        if (f.native) {
          put(out, ",\"exponentialHistogram\":{\"dataPoints\":[");
          bool first = true;
          for (const auto& p : f.points) {
            if (!p.native)
              continue;
            const auto& n = *p.native;
            if (!first)
              out.push_back(',');
            first = false;
            out.push_back('{');
            attributes_json(out, f, p);
            times(p, true);
            put(out, ",\"count\":");
            otlp::put_quoted_number(out, n.count());
            put(out, ",\"sum\":");
            put_double(out, p.sum);
            put(out, ",\"scale\":");
            append_number(out, n.schema);
            put(out, ",\"zeroCount\":");
            otlp::put_quoted_number(out, n.zero_count);
            put(out, ",\"zeroThreshold\":");
            put_double(out, n.zero_threshold);
            if (!n.positive.empty())
              exponential_buckets_json(out, "positive", n.positive);
            if (!n.negative.empty())
              exponential_buckets_json(out, "negative", n.negative);
            exemplars_json(out, p);
            out.push_back('}');
          }
          put(out, "],\"aggregationTemporality\":");
          append_number(out, temporality);
          out.push_back('}');
          break;
        }
        {
          put(out, ",\"histogram\":{\"dataPoints\":[");
          bool first = true;
          for (const auto& p : f.points) {
            if (!first)
              out.push_back(',');
            first = false;
            out.push_back('{');
            attributes_json(out, f, p);
            times(p, true);
            put(out, ",\"count\":");
            otlp::put_quoted_number(out, p.count);
            put(out, ",\"sum\":");
            put_double(out, p.sum);
            put(out, ",\"bucketCounts\":[");
            for (std::size_t i = 0; i < p.buckets.size(); ++i) {
              if (i > 0)
                out.push_back(',');
              otlp::put_quoted_number(out, p.buckets[i]);
            }
            put(out, "],\"explicitBounds\":[");
            for (std::size_t i = 0; i < f.bounds.size(); ++i) {
              if (i > 0)
                out.push_back(',');
              put_double(out, f.bounds[i]);
            }
            out.push_back(']');
            exemplars_json(out, p);
            out.push_back('}');
          }
          put(out, "],\"aggregationTemporality\":");
          append_number(out, temporality);
          out.push_back('}');
          break;
        }
    }
    out.push_back('}');
  }
  put(out, "]}]}]}");
}

}  // namespace o11y::detail
