#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace o11y::detail {

/// What kind of family a name belongs to, for the clash rules. Foreign families (prometheus-cpp)
/// can also be summaries and untyped.
enum class ExposedKind : std::uint8_t { Counter, Gauge, Histogram, Summary, Untyped };

/// The names one family occupies in a scrape, in either text format: its family (metadata)
/// name and every sample name its type may emit, whether it emits it today or not. Two
/// families whose sets meet make an exposition a validating parser rejects whole (promtool:
/// "second HELP line"; prometheus_client's OpenMetrics parser: "Clashing name"), so a second
/// family that would meet an existing one is refused or left out.
///
/// `base` is the family name without a counter's "_total" (OpenMetrics' family name).
class ExposedNames {
 public:
  ExposedNames(ExposedKind kind, std::string_view base) {
    static constexpr std::array<std::string_view, 2> kCounter = {"_total", "_created"};
    static constexpr std::array<std::string_view, 4> kHistogram = {"_bucket", "_count", "_sum",
                                                                   "_created"};
    static constexpr std::array<std::string_view, 3> kSummary = {"_count", "_sum", "_created"};
    names_[n_++] = std::string(base);
    auto add = [&](const auto& suffixes) {
      for (auto s : suffixes)
        names_[n_++] = std::string(base) + std::string(s);
    };
    switch (kind) {
      case ExposedKind::Counter:
        add(kCounter);
        break;
      case ExposedKind::Histogram:
        add(kHistogram);
        break;
      case ExposedKind::Summary:
        add(kSummary);
        break;
      case ExposedKind::Gauge:
      case ExposedKind::Untyped:
        break;
    }
  }

  [[nodiscard]] const std::string* begin() const noexcept { return names_.data(); }
  [[nodiscard]] const std::string* end() const noexcept { return names_.data() + n_; }

  /// "counter", "gauge", ... as both formats' TYPE lines say (untyped: the text format's word).
  [[nodiscard]] static std::string_view type_word(ExposedKind kind) noexcept {
    switch (kind) {
      case ExposedKind::Counter:
        return "counter";
      case ExposedKind::Gauge:
        return "gauge";
      case ExposedKind::Histogram:
        return "histogram";
      case ExposedKind::Summary:
        return "summary";
      case ExposedKind::Untyped:
        break;
    }
    return "untyped";
  }

  /// How a family shows in each format, for error messages: `counter "x_total" (text format
  /// family x_total; OpenMetrics family x, sample x_total)`.
  [[nodiscard]] static std::string describe(ExposedKind kind, std::string_view declared,
                                            std::string_view base) {
    std::string out(type_word(kind));
    out += " \"";
    out += declared;
    out += "\" (text format family ";
    if (kind == ExposedKind::Counter) {
      out += base;
      out += "_total; OpenMetrics family ";
      out += base;
      out += ", sample ";
      out += base;
      out += "_total)";
    } else {
      out += base;
      out += "; OpenMetrics family ";
      out += base;
      out += ")";
    }
    return out;
  }

 private:
  std::array<std::string, 5> names_;
  std::size_t n_ = 0;
};

/// Families the library itself renders beside the registry's: the process metrics and the
/// scrape's own health. Their names are taken from the start, so no declaration can clash.
struct LibraryFamily {
  ExposedKind kind;
  std::string_view base;
};
inline constexpr std::array<LibraryFamily, 9> kLibraryFamilies = {{
    {ExposedKind::Counter, "process_cpu_seconds"},
    {ExposedKind::Gauge, "process_virtual_memory_bytes"},
    {ExposedKind::Gauge, "process_resident_memory_bytes"},
    {ExposedKind::Gauge, "process_start_time_seconds"},
    {ExposedKind::Gauge, "process_open_fds"},
    {ExposedKind::Gauge, "process_max_fds"},
    {ExposedKind::Counter, "o11y_multiproc_files_skipped"},
    {ExposedKind::Gauge, "o11y_multiproc_files"},
    {ExposedKind::Counter, "o11y_metric_families_skipped"},
}};

/// Who holds each exposed name of one scrape (or one registry): a family declared there or one
/// the library renders itself. The first to claim a name keeps it. Not thread-safe.
class NameClaims {
 public:
  struct Owner {
    ExposedKind kind;
    std::string declared;  ///< the name as declared (a counter's with "_total")
    std::string base;
  };

  /// Claims every name of the library's own families.
  NameClaims() { claim_library_families(); }

  /// Forgets every claim but the library's.
  void reset() {
    owners_.clear();
    claim_library_families();
  }

  /// Claims every name of a family; names another family holds keep their owner.
  void claim(ExposedKind kind, std::string_view declared, std::string_view base) {
    for (const auto& n : ExposedNames(kind, base))
      owners_.try_emplace(n, Owner{kind, std::string(declared), std::string(base)});
  }

  /// The owner of the first of these names that is already held (and that name in `at`);
  /// null when all are free.
  [[nodiscard]] const Owner* clash(const ExposedNames& names, std::string& at) const {
    for (const auto& n : names) {
      if (auto it = owners_.find(n); it != owners_.end()) {
        at = n;
        return &it->second;
      }
    }
    return nullptr;
  }

 private:
  void claim_library_families();

  std::unordered_map<std::string, Owner> owners_;
};

inline void NameClaims::claim_library_families() {
  for (const auto& lib : kLibraryFamilies) {
    const std::string base(lib.base);
    claim(lib.kind, lib.kind == ExposedKind::Counter ? base + "_total" : base, base);
  }
}

inline constexpr const char* kSkippedFamiliesHelp =
    "Metric families left out of a scrape because their names clash with another family's";

/// Leaves a family out of a scrape because its names clash: counts it (rendered as
/// o11y_metric_families_skipped_total) and reports `why` on stderr the first time `key` is
/// seen in this process. Thread-safe; never throws.
void skip_clashing_family(const std::string& key, const std::string& why) noexcept;
/// How many families scrapes of this process have left out so far.
[[nodiscard]] std::uint64_t families_skipped() noexcept;

}  // namespace o11y::detail
