// CRC-32 (zlib's polynomial) of byte ranges of any length: the checksum of checkpoints, prepared datasets and
// data fingerprints; and the little-endian integers of the headers that carry them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ganpp {

/// The CRC-32 of `crc`'s bytes followed by `size` more bytes at `data` (start with crc = 0).
uint32_t crc32_update(uint32_t crc, const void* data, size_t size);

/// The CRC-32 of `bytes`.
inline uint32_t crc32_of(std::string_view bytes) { return crc32_update(0, bytes.data(), bytes.size()); }

/// Writes the low `bytes` bytes of `v` at `at`, little-endian.
inline void store_le(char* at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

/// The `bytes`-byte little-endian integer at `at`.
inline uint64_t load_le(const char* at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(at[i])) << (8 * i);
  return v;
}

}  // namespace ganpp
