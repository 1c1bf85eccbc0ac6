#pragma once

// The multiprocess file format (docs/multiprocess-format.md). One file per process.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace o11y::detail::mp {

inline constexpr std::string_view kExtension = ".o11ymp";  // never matched by Python's *.db
inline constexpr char kMagic[8] = {'O', '1', '1', 'Y', 'M', 'P', '\0', '\1'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kByteOrderMark = 0x01020304;  // read back as 0x04030201 elsewhere
inline constexpr std::size_t kHeaderBytes = 64;

/// Header at offset 0. Every field is written once at creation, except `used` (the length of
/// the complete records after the header, published with a release store after each record)
/// and `flags` (bit 0: marked dead by mark_process_dead).
struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t byte_order;
  std::uint32_t pid;
  std::uint32_t flags;
  std::uint64_t start_ticks;  ///< process start time, clock ticks after boot (/proc/PID/stat 22)
  std::uint64_t used;
  std::uint64_t created_unix_ns;
  std::uint64_t reserved[2];
};
static_assert(sizeof(Header) == kHeaderBytes);

inline constexpr std::uint32_t kFlagDead = 1;

/// Record kinds. A record is [u32 kind][u32 bytes, header included, multiple of 8][payload].
/// Absorbed appears in the archive only: the files whose values it already holds.
/// Exemplars holds a series' exemplar slots, appended the first time it sees one.
/// NativeFamily follows the Family record of a native histogram: its schema, bucket limit and
/// zero threshold. NativeTable holds one table of a native histogram series' sparse buckets.
enum class RecordKind : std::uint32_t {
  Family = 1,
  Series = 2,
  Absorbed = 3,
  Exemplars = 4,
  NativeFamily = 5,
  NativeTable = 6
};

/// NativeFamily: [kind][bytes][u32 family id][i32 schema][u32 max buckets][u32 0][f64 zero
/// threshold].
inline constexpr std::size_t kNativeFamilyBytes = 32;
/// NativeTable: [kind][bytes][u32 series ordinal][i32 schema][u32 capacity][u32 0], then the
/// table (native_table_bytes(capacity)).
inline constexpr std::size_t kNativeTableHeaderBytes = 24;
/// Tables larger than this are not ours: a reader rejects the record.
inline constexpr std::uint32_t kMaxNativeCapacity = 1U << 20;

/// An exemplar slot: u64 sequence (odd while being written), trace id high and low, span id,
/// value (f64 bits), Unix time in ns.
inline constexpr std::size_t kExemplarBytes = 48;

/// Where compaction keeps the values of processes that have exited.
inline constexpr std::string_view kArchiveName = "archive.o11ymp";

/// Record encoding, shared by the live writer and the archive. *_size gives the bytes a
/// record takes; write_* fills exactly that many at p and returns where its cells start.
[[nodiscard]] inline std::size_t pad8(std::size_t n) {
  return (n + 7) & ~std::size_t{7};
}

[[nodiscard]] inline std::size_t family_record_size(std::string_view name, std::string_view help,
                                                    std::span<const std::string> labels,
                                                    std::size_t nbuckets) {
  std::size_t n = 8 + 4 + 4 + 4 + 4 + name.size() + 4 + help.size();
  for (const auto& l : labels)
    n += 4 + l.size();
  return pad8(n) + 8 * nbuckets;
}

inline void put_u32(char*& p, std::uint32_t v) {
  std::memcpy(p, &v, 4);
  p += 4;
}
inline void put_string(char*& p, std::string_view s) {
  put_u32(p, static_cast<std::uint32_t>(s.size()));
  if (!s.empty())
    std::memcpy(p, s.data(), s.size());
  p += s.size();
}

/// shape: bits 0-7 type, 8-15 gauge mode, 16-31 label count.
inline void write_family_record(char* rec, std::size_t bytes, std::uint32_t id, std::uint32_t shape,
                                std::string_view name, std::string_view help,
                                std::span<const std::string> labels,
                                std::span<const double> buckets) {
  char* p = rec;
  put_u32(p, static_cast<std::uint32_t>(RecordKind::Family));
  put_u32(p, static_cast<std::uint32_t>(bytes));
  put_u32(p, id);
  put_u32(p, shape);
  put_u32(p, static_cast<std::uint32_t>(buckets.size()));
  put_string(p, name);
  put_string(p, help);
  for (const auto& l : labels)
    put_string(p, l);
  p = rec + pad8(static_cast<std::size_t>(p - rec));
  if (!buckets.empty())
    std::memcpy(p, buckets.data(), 8 * buckets.size());
}

inline void write_native_family_record(char* rec, std::uint32_t family_id, int schema,
                                       std::size_t max_buckets, double zero_threshold) {
  char* p = rec;
  put_u32(p, static_cast<std::uint32_t>(RecordKind::NativeFamily));
  put_u32(p, static_cast<std::uint32_t>(kNativeFamilyBytes));
  put_u32(p, family_id);
  put_u32(p, static_cast<std::uint32_t>(schema));
  put_u32(p, static_cast<std::uint32_t>(std::min<std::size_t>(max_buckets, UINT32_MAX)));
  put_u32(p, 0);
  std::memcpy(p, &zero_threshold, 8);
}

/// Writes a NativeTable header; the table follows at rec + kNativeTableHeaderBytes.
inline void write_native_table_header(char* rec, std::size_t bytes, std::uint32_t series,
                                      int schema, std::uint32_t capacity) {
  char* p = rec;
  put_u32(p, static_cast<std::uint32_t>(RecordKind::NativeTable));
  put_u32(p, static_cast<std::uint32_t>(bytes));
  put_u32(p, series);
  put_u32(p, static_cast<std::uint32_t>(schema));
  put_u32(p, capacity);
  put_u32(p, 0);
}

template <class Values>
[[nodiscard]] std::size_t series_cells_offset(const Values& values) {
  std::size_t n = 8 + 4 + 4;
  for (const auto& v : values)
    n += 4 + std::string_view(v).size();
  return pad8(n);
}

/// Writes the series header and label values; the caller fills the ncells cells after it.
template <class Values>
char* write_series_record(char* rec, std::size_t bytes, std::uint32_t family_id, std::size_t ncells,
                          const Values& values) {
  char* p = rec;
  put_u32(p, static_cast<std::uint32_t>(RecordKind::Series));
  put_u32(p, static_cast<std::uint32_t>(bytes));
  put_u32(p, family_id);
  put_u32(p, static_cast<std::uint32_t>(ncells));
  for (const auto& v : values)
    put_string(p, v);
  return rec + series_cells_offset(values);
}

/// This process's start time in clock ticks after boot, 0 if unknown.
[[nodiscard]] std::uint64_t process_start_ticks(int pid);

/// The multiprocess directory ("" for single-process mode): O11Y_MULTIPROC_DIR, else
/// PROMETHEUS_MULTIPROC_DIR, unless init() set Config::metrics.multiproc_dir before the first
/// metric was declared.
[[nodiscard]] std::string configured_dir();
/// The directory, fixed from now on: the first declaration chooses where every cell lives.
[[nodiscard]] const std::string& freeze_configured_dir();
/// Makes dir the directory, unless it is already fixed to another one: then false, with the
/// one in effect in in_effect.
bool set_configured_dir(const std::string& dir, std::string& in_effect);

}  // namespace o11y::detail::mp
