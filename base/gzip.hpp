#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace o11y::detail {

/// How hard gzip() works: Fast for a response a scraper waits on, Default for a batch an
/// export thread sends.
enum class GzipLevel : std::uint8_t { Fast, Default };

/// in, gzip-compressed (the gzip wrapper HTTP's Content-Encoding: gzip means, not raw zlib),
/// into out. False, with out unspecified, when zlib fails. Throws only std::bad_alloc.
bool gzip(std::string_view in, std::string& out, GzipLevel level);

}  // namespace o11y::detail
