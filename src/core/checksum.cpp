// CRC-32 through zlib, fed in pieces: zlib takes lengths as uInt.
#include "ganpp/checksum.hpp"

#include <zlib.h>

#include <algorithm>

namespace ganpp {

uint32_t crc32_update(uint32_t crc, const void* data, size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  uLong c = crc;
  for (size_t at = 0; at < size;) {
    const size_t n = std::min<size_t>(size - at, size_t(1) << 30);
    c = crc32(c, bytes + at, static_cast<uInt>(n));
    at += n;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace ganpp
