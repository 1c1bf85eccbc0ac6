#include "base/gzip.hpp"

#include <zlib.h>

namespace o11y::detail {

bool gzip(std::string_view in, std::string& out, GzipLevel level) {
  constexpr int kGzipWindowBits = 15 + 16;  // a 15-bit window, with the gzip wrapper
  constexpr int kMemLevel = 8;
  z_stream zs{};
  if (deflateInit2(&zs, level == GzipLevel::Fast ? Z_BEST_SPEED : Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                   kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  try {
    out.resize(deflateBound(&zs, static_cast<uLong>(in.size())));
  } catch (...) {
    deflateEnd(&zs);
    throw;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // NOLINT: zlib's API
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());  // NOLINT: zlib's API
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

}  // namespace o11y::detail
