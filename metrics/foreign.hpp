#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace o11y::detail {

/// A metric family from another library (a prometheus-cpp Registry), in a neutral form the
/// exposition writer renders with the same rules as ours.
struct ForeignFamily {
  enum class Kind : std::uint8_t { Counter, Gauge, Summary, Untyped, Histogram };
  struct Sample {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;         ///< counter, gauge, untyped
    std::uint64_t count = 0;  ///< summary, histogram
    double sum = 0;
    std::vector<std::pair<double, std::uint64_t>> buckets;  ///< upper bound, cumulative count
    std::vector<std::pair<double, double>> quantiles;       ///< quantile, value
  };
  std::string name;
  std::string help;
  Kind kind = Kind::Untyped;
  std::vector<Sample> samples;
};

/// Adds a source of foreign families to every render while owner lives.
void add_foreign_source(std::weak_ptr<void> owner,
                        std::function<std::vector<ForeignFamily>()> collect);

/// What every live source returns now.
[[nodiscard]] std::vector<ForeignFamily> collect_foreign();

/// collect_foreign() minus the families whose names clash with the default registry's or an
/// earlier foreign family's: those are counted and reported (skip_clashing_family()).
[[nodiscard]] std::vector<ForeignFamily> checked_foreign();

}  // namespace o11y::detail
