#pragma once

// The aggregate of a multiprocess directory: every process's series folded into one set of
// families (counters and histograms summed, gauges combined by their mode), with the rules
// that keep the result a valid exposition. Its buffers survive clear(), so a scrape allocates
// per family and per series it renders, never per record it reads.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/family.hpp"

namespace o11y::detail::mp {

/// A family as one file declares it. A counter's name is its base name (no "_total"), as
/// Python names them, so counters of both clients merge.
struct FamilyMeta {
  std::string name;
  std::string help;
  MetricType type = MetricType::Counter;
  GaugeMode mode = GaugeMode::All;
  std::vector<std::string> labels;
  std::vector<double> buckets;
  /// A native histogram (a NativeFamily record): its schema, bucket limit and zero threshold.
  bool native = false;
  int schema = 0;
  std::size_t max_buckets = 0;
  double zero_threshold = 0;

  [[nodiscard]] bool same_native(const FamilyMeta& o) const {
    return native == o.native && (!native || (schema == o.schema && max_buckets == o.max_buckets &&
                                              zero_threshold == o.zero_threshold));
  }
  [[nodiscard]] bool same_shape(const FamilyMeta& o) const {
    return type == o.type && mode == o.mode && labels == o.labels && buckets == o.buckets &&
           same_native(o);
  }
  /// Cells one series of it has in a file (Family::cell_count()).
  [[nodiscard]] std::size_t cells() const {
    if (type == MetricType::Histogram)
      return buckets.size() + (native ? 4 : 2);
    return type == MetricType::Gauge &&
                   (mode == GaugeMode::MostRecent || mode == GaugeMode::LiveMostRecent)
               ? 2
               : 1;
  }
  /// Exemplar slots one series of it has: counters one, histograms one per bucket.
  [[nodiscard]] std::size_t exemplar_slots() const {
    if (type == MetricType::Counter)
      return 1;
    return type == MetricType::Histogram ? buckets.size() + 1 : 0;
  }
};

[[nodiscard]] inline bool is_live_mode(GaugeMode m) noexcept {
  return m == GaugeMode::LiveAll || m == GaugeMode::LiveMin || m == GaugeMode::LiveMax ||
         m == GaugeMode::LiveSum || m == GaugeMode::LiveMostRecent;
}

/// Folds series into families. Label values are kept as views: whatever they point into (the
/// files' mappings) must outlive the render() or archive() that reads them. Not thread-safe:
/// one scrape at a time per object. Throws only std::bad_alloc.
class Aggregate {
 public:
  static constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

  /// A scrape leaves out families whose names clash and counts them; a compaction keeps every
  /// family it can (the archive is data, not an exposition) and only reports shape conflicts.
  enum class Purpose : std::uint8_t { Scrape, Compact };
  explicit Aggregate(Purpose purpose) : purpose_(purpose) { clear(); }

  /// How one file's family maps onto the aggregate.
  struct Binding {
    std::uint32_t family = kNone;  ///< kNone: its series are left out
    bool reorder = false;          ///< the file lists the same labels in another order
    std::array<std::uint8_t, kMaxLabels> from{};  ///< aggregate label i is the file's from[i]
  };

  /// Empties the aggregate for the next scrape, keeping its buffers.
  void clear();

  /// Binds a file's family (pid: the process that wrote it, for messages). The first file to
  /// declare a name owns it. A later family of another shape under that name, or whose exposed
  /// names meet another family's, is left out: counted in o11y_metric_families_skipped_total
  /// (once per scrape) and reported (once per process).
  [[nodiscard]] Binding bind(const FamilyMeta& meta, int pid);

  /// Adds one series: label values in the file's order, the file's raw cells (read with
  /// atomic loads: the writer may be updating them). `live` says whether the writer still runs
  /// unmarked; live-mode gauges of others are left out, and so is a series whose values or
  /// cells are not as many as its family declares. `start_ns` (0: unknown) is when the
  /// file's values began: a series starts at the earliest of its files'. Returns the series,
  /// or kNone.
  std::uint32_t add(const Binding& b, std::span<const std::string_view> values,
                    std::span<const std::uint64_t> raw, int pid, bool live,
                    std::uint64_t start_ns = 0);

  /// Adds n to a native histogram series' bucket `index` at `schema` (lowering the schema of
  /// what the series holds when it is lower).
  void add_native(std::uint32_t series, int schema, int index, bool negative, std::uint64_t n);

  /// Offers an exemplar for one slot of a series; the latest one wins.
  void add_exemplar(std::uint32_t series, std::size_t slot, const Exemplar::Snapshot& snap);

  /// The exposition of the aggregate and of the scrape's own health.
  [[nodiscard]] std::string render(metrics::Format fmt, std::uint64_t files_read,
                                   std::uint64_t files_skipped_total) const;

  /// The same families as render() writes, in its order, handed to `use` while they live
  /// (for an OTLP export of the aggregate).
  void with_families(std::uint64_t files_read, std::uint64_t files_skipped_total,
                     const std::function<void(const std::vector<const Family*>&)>& use) const;

  /// The compaction archive (file bytes) holding the aggregate, listing `absorbed`.
  [[nodiscard]] std::string archive(const std::vector<std::string>& absorbed) const;

 private:
  struct Fam {
    FamilyMeta meta;
    bool per_pid = false;     ///< a gauge of mode all/liveall: one series per process
    std::size_t nvalues = 0;  ///< labels, plus pid when per_pid
    std::size_t ncells = 0;   ///< cells of one aggregate series
    std::vector<std::uint32_t> series;
  };
  struct Ser {
    std::uint64_t hash;
    std::uint32_t family;
    std::uint32_t values;     ///< first of nvalues in values_
    std::uint32_t cells;      ///< first of ncells in cells_
    std::uint32_t exemplars;  ///< first of exemplar_slots() in exemplars_, or kNone
    std::uint32_t native;     ///< its sparse buckets in natives_, or kNone
    double time;              ///< most-recent gauges: when the value was set
    std::uint64_t start_ns;   ///< the earliest start of the files it came from, 0: unknown
    bool has;                 ///< a gauge value was combined in
  };

  std::uint32_t find_or_insert(std::uint32_t family, const std::string_view* key, std::size_t n,
                               std::uint64_t hash);
  void grow_table();
  /// The families' indices in name order, as render() and archive() write them.
  [[nodiscard]] std::vector<std::uint32_t> families_by_name() const;
  /// kNone, reported and counted, when a name of meta's is taken; else 0.
  std::uint32_t claim_names(const FamilyMeta& meta, ExposedKind kind, int pid);
  [[nodiscard]] std::string_view pid_text(int pid);
  void left_out(const std::string& key, const std::string& why);

  Purpose purpose_;
  std::vector<Fam> families_;
  std::unordered_map<std::string, std::uint32_t> by_name_;  ///< kNone: left out this scrape
  NameClaims claims_;                                       ///< scrapes only
  std::vector<std::string> counted_;  ///< names already counted as left out this scrape

  std::vector<Ser> series_;
  std::vector<std::uint32_t> slots_;  ///< open addressing: series index + 1, 0 when empty
  std::vector<std::string_view> values_;
  std::vector<double> cells_;
  std::vector<std::optional<Exemplar::Snapshot>> exemplars_;
  /// A native histogram series' buckets: (index * 2 + negative, count) at one schema, the
  /// lowest any file had; repeated keys are summed when rendered or archived.
  struct NativeAcc {
    int schema = 0;
    std::vector<std::pair<int, std::uint64_t>> buckets;
  };
  std::vector<NativeAcc> natives_;
  /// A native series' buckets merged by key and sorted.
  [[nodiscard]] static std::vector<std::pair<int, std::uint64_t>> merged_native(const NativeAcc& a);
  std::deque<std::string> pid_texts_;
  int last_pid_ = -1;
  std::uint64_t earliest_start_ns_ = 0;  ///< of every file added, 0: none known
  std::string_view last_pid_text_;
};

}  // namespace o11y::detail::mp
