#pragma once

// The default registry's families as an OTLP ExportMetricsServiceRequest
// (metrics/v1/metrics.proto): counters as monotonic Sums, gauges as Gauges, histograms as
// explicit-bucket Histograms, with exemplars.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/text.hpp"
#include "metrics/family.hpp"
#include "o11y/export.hpp"
#include "o11y/trace.hpp"

namespace o11y::detail {

/// One series' values at one moment.
struct MetricPoint {
  std::vector<std::string> label_values;  ///< in the family's label order
  double value = 0;                       ///< counter, gauge
  std::vector<std::uint64_t> buckets;     ///< histogram: per bucket, not cumulative, +Inf last
  double sum = 0;
  std::uint64_t count = 0;
  /// The last exemplar of the series (counter) or of each bucket (histogram); seq 0 = none.
  std::vector<Exemplar::Snapshot> exemplars;
  std::vector<bool> has_exemplar;
  /// A native histogram's sparse buckets (then `buckets` holds only the total count).
  std::optional<NativeBuckets::Snapshot> native;
  /// When the series was created (unix ns); 0 when unknown (the exporter's start is used).
  std::uint64_t start_ns = 0;
};

/// One family's points, read from its cells.
struct MetricFamilyPoints {
  std::string name;  ///< the exposition name (a counter without "_total")
  std::string help;
  std::string unit;
  MetricType type = MetricType::Counter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  bool native = false;  ///< a native histogram: sent as an ExponentialHistogram
  std::vector<MetricPoint> points;
};

/// Every series of these families, now; with_start: the series' creation times mean
/// something (not for the families a directory's aggregate builds). Throws only
/// std::bad_alloc.
[[nodiscard]] std::vector<MetricFamilyPoints> collect_points(
    const std::vector<const Family*>& families, bool with_start = true);

/// Encodes points, cumulative or as deltas since the previous call. One object per exporter;
/// one thread at a time. Throws only std::bad_alloc.
class MetricRequestEncoder {
 public:
  MetricRequestEncoder(OtlpEncoding encoding, bool delta, std::uint64_t start_ns);
  /// The request for `families` at time_ns. Delta: counters and histograms carry what was
  /// recorded since the last call (from its time), and the call's values become the base.
  void encode(std::vector<MetricFamilyPoints>& families, const Resource* resource,
              std::uint64_t time_ns, Buffer& out);

 private:
  struct Previous {
    double value = 0;
    std::vector<std::uint64_t> buckets;
    double sum = 0;
    std::uint64_t count = 0;
    std::optional<NativeBuckets::Snapshot> native;
  };
  void to_delta(const MetricFamilyPoints& f, MetricPoint& p);
  void encode_protobuf(const std::vector<MetricFamilyPoints>& families, const Resource* resource,
                       std::uint64_t time_ns, Buffer& out) const;
  void encode_json(const std::vector<MetricFamilyPoints>& families, const Resource* resource,
                   std::uint64_t time_ns, Buffer& out) const;

  OtlpEncoding encoding_;
  bool delta_;
  std::uint64_t start_ns_;
  std::unordered_map<std::string, Previous> previous_;
  std::string key_;
};

}  // namespace o11y::detail
