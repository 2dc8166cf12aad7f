// IDX reader (the MNIST / Fashion-MNIST file format), gzipped or plain; zlib reads both.
#include <zlib.h>

#include <filesystem>

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

std::string read_all(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw RuntimeError("cannot open IDX file '" + path + "': " + std::strerror(errno));
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      const std::string reason = gzerror(file, &code);
      gzclose(file);
      throw RuntimeError("IDX file '" + path + "' is corrupt (" + reason + "); re-download or re-extract it");
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  // A truncated gzip stream reads short without an error from gzread; gzclose reports it.
  const int status = gzclose(file);
  if (status != Z_OK && status != Z_BUF_ERROR)
    throw RuntimeError("IDX file '" + path + "' is corrupt (gzip stream damaged); re-download or re-extract it");
  if (status == Z_BUF_ERROR)
    throw RuntimeError("IDX file '" + path + "' is truncated (gzip stream ends early); re-download it");
  return bytes;
}

uint32_t big_endian(const std::string& b, size_t offset) {
  return (uint32_t(uint8_t(b[offset])) << 24) | (uint32_t(uint8_t(b[offset + 1])) << 16) |
         (uint32_t(uint8_t(b[offset + 2])) << 8) | uint32_t(uint8_t(b[offset + 3]));
}

}  // namespace

std::vector<uint8_t> read_idx_file(const std::string& path, int expected_dims, std::vector<int64_t>& dims) {
  const std::string bytes = read_all(path);
  if (bytes.size() < 4)
    throw RuntimeError("IDX file '" + path + "' is truncated: " + std::to_string(bytes.size()) +
                       " bytes, not even a header");
  // Magic: two zero bytes, type 0x08 (unsigned byte), number of dimensions.
  if (bytes[0] != 0 || bytes[1] != 0 || uint8_t(bytes[2]) != 0x08 || int(bytes[3]) != expected_dims)
    throw RuntimeError("'" + path + "' is not an IDX file of unsigned bytes with " + std::to_string(expected_dims) +
                       " dimensions (bad magic number)");
  const size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  if (bytes.size() < header) throw RuntimeError("IDX file '" + path + "' is truncated inside its header");
  dims.clear();
  size_t count = 1;
  for (int i = 0; i < expected_dims; ++i) {
    dims.push_back(big_endian(bytes, 4 + 4 * i));
    count *= static_cast<size_t>(dims.back());
  }
  if (bytes.size() - header != count)
    throw RuntimeError("IDX file '" + path + "' is " + (bytes.size() - header < count ? "truncated" : "corrupt") +
                       ": header promises " + std::to_string(count) + " bytes of data, file holds " +
                       std::to_string(bytes.size() - header));
  return std::vector<uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
}

}  // namespace ganpp
