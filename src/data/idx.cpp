// IDX reader (the MNIST / Fashion-MNIST file format), gzipped or plain; zlib unpacks the gzipped ones.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

// zlib's inflate state, ended however the read ends.
struct Inflater {
  z_stream stream{};
  Inflater() {
    if (inflateInit2(&stream, /*windowBits=*/16 + MAX_WBITS) != Z_OK) throw RuntimeError("cannot initialise zlib");
  }
  ~Inflater() { inflateEnd(&stream); }
};

// The content of a gzip file: its members (gzip allows several, concatenated) and nothing after the last, as a
// raw IDX file may hold nothing after its data.
std::string gunzip(const std::string& path, const std::string& packed) {
  Inflater z;
  std::string out;
  std::vector<char> buffer(1 << 16);
  size_t fed = 0;  // bytes of `packed` handed to zlib so far
  while (true) {
    if (z.stream.avail_in == 0 && fed < packed.size()) {
      const size_t n = std::min<size_t>(packed.size() - fed, 1 << 30);
      z.stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data() + fed));
      z.stream.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    z.stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.stream.avail_out = static_cast<uInt>(buffer.size());
    const int status = inflate(&z.stream, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - z.stream.avail_out);
    if (status == Z_STREAM_END) {
      const size_t at = fed - z.stream.avail_in;  // the first byte after this member
      if (at == packed.size()) return out;
      if (packed.size() - at >= 2 && uint8_t(packed[at]) == 0x1f && uint8_t(packed[at + 1]) == 0x8b) {
        inflateReset(&z.stream);  // another member follows
        continue;
      }
      throw RuntimeError("IDX file '" + abbreviate(path) + "' is corrupt: " + std::to_string(packed.size() - at) +
                         " bytes follow its gzip stream; re-download it");
    }
    if (status == Z_BUF_ERROR && z.stream.avail_in == 0 && fed == packed.size())
      throw RuntimeError("IDX file '" + abbreviate(path) + "' is truncated (gzip stream ends early); re-download it");
    if (status != Z_OK)
      throw RuntimeError("IDX file '" + abbreviate(path) + "' is corrupt (" +
                         (z.stream.msg ? z.stream.msg : "gzip stream damaged") + "); re-download or re-extract it");
  }
}

// The bytes of an IDX file, unpacked when it is gzipped (by its magic number, whatever its name).
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot open IDX file '" + abbreviate(path) + "': " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw RuntimeError("cannot read IDX file '" + abbreviate(path) + "': " + std::strerror(errno));
  const std::string bytes = buffer.str();
  const bool gzipped = bytes.size() >= 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b;
  return gzipped ? gunzip(path, bytes) : bytes;
}

uint32_t big_endian(const std::string& b, size_t offset) {
  return (uint32_t(uint8_t(b[offset])) << 24) | (uint32_t(uint8_t(b[offset + 1])) << 16) |
         (uint32_t(uint8_t(b[offset + 2])) << 8) | uint32_t(uint8_t(b[offset + 3]));
}

}  // namespace

std::vector<uint8_t> read_idx_file(const std::string& path, int expected_dims, std::vector<int64_t>& dims) {
  const std::string bytes = read_all(path);
  if (bytes.size() < 4)
    throw RuntimeError("IDX file '" + abbreviate(path) + "' is truncated: " + std::to_string(bytes.size()) +
                       " bytes, not even a header");
  // Magic: two zero bytes, type 0x08 (unsigned byte), number of dimensions.
  if (bytes[0] != 0 || bytes[1] != 0 || uint8_t(bytes[2]) != 0x08 || int(bytes[3]) != expected_dims)
    throw RuntimeError("'" + abbreviate(path) + "' is not an IDX file of unsigned bytes with " +
                       std::to_string(expected_dims) + " dimensions (bad magic number)");
  const size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  if (bytes.size() < header) throw RuntimeError("IDX file '" + abbreviate(path) + "' is truncated inside its header");
  dims.clear();
  size_t count = 1;
  for (int i = 0; i < expected_dims; ++i) {
    dims.push_back(big_endian(bytes, 4 + 4 * i));
    count *= static_cast<size_t>(dims.back());
  }
  if (bytes.size() - header != count)
    throw RuntimeError("IDX file '" + abbreviate(path) + "' is " +
                       (bytes.size() - header < count ? "truncated" : "corrupt") + ": header promises " +
                       std::to_string(count) + " bytes of data, file holds " + std::to_string(bytes.size() - header));
  return std::vector<uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
}

}  // namespace ganpp
