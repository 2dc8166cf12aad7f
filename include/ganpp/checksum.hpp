// CRC-32 (zlib's polynomial) of byte ranges of any length: the checksum of checkpoints, prepared datasets and
// data fingerprints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ganpp {

/// The CRC-32 of `crc`'s bytes followed by `size` more bytes at `data` (start with crc = 0).
uint32_t crc32_update(uint32_t crc, const void* data, size_t size);

/// The CRC-32 of `bytes`.
inline uint32_t crc32_of(std::string_view bytes) { return crc32_update(0, bytes.data(), bytes.size()); }

}  // namespace ganpp
