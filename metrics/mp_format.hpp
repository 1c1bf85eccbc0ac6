#pragma once

// The multiprocess file format (docs/multiprocess-format.md). One file per process.

#include <cstdint>
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
enum class RecordKind : std::uint32_t { Family = 1, Series = 2 };

/// This process's start time in clock ticks after boot, 0 if unknown.
[[nodiscard]] std::uint64_t process_start_ticks(int pid);

/// The directory from O11Y_MULTIPROC_DIR, else PROMETHEUS_MULTIPROC_DIR, read once; "" if unset.
[[nodiscard]] const std::string& configured_dir();

}  // namespace o11y::detail::mp
