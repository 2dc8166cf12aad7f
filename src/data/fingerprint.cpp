// Data fingerprints (see data.hpp): whether a run's data changed between its start and a resume.
#include <zlib.h>

#include <cstdio>
#include <filesystem>

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

uLong crc_update(uLong crc, const std::string& bytes) {
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, size_t(1) << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
    at += n;
  }
  return crc;
}

std::string hex(uLong crc, size_t count, const char* kind) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s:%zu:%08lx", kind, count, static_cast<unsigned long>(crc));
  return buf;
}

}  // namespace

std::string data_fingerprint(const DataConfig& config) {
  uLong crc = crc32(0L, Z_NULL, 0);
  if (has_idx_split(config.path, DataSplit::train) || has_idx_split(config.path, DataSplit::test)) {
    // Every IDX file of the folder (both splits, images and labels), by name and content.
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(config.path))
      if (e.is_regular_file() && e.path().filename().string().find("-ubyte") != std::string::npos)
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) crc = crc_update(crc_update(crc, f.filename().string()), read_file(f.string()));
    return hex(crc, files.size(), "idx");
  }
  // Image folders: relative names and sizes (reading every image again would cost as much as decoding).
  const std::vector<std::string> files = list_image_files(config.path);
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    const std::string entry = fs::relative(f, config.path).generic_string() + "\n" + std::to_string(ec ? 0 : size) +
                              "\n";
    crc = crc_update(crc, entry);
  }
  return hex(crc, files.size(), "files");
}

}  // namespace ganpp
