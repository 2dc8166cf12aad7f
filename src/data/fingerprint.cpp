// Data fingerprints (see data.hpp): whether a run's data changed between its start and a resume.
#include <cstdio>
#include <filesystem>

#include "ganpp/checksum.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/prepared.hpp"
#include "image_folder.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

uint32_t crc_update(uint32_t crc, const std::string& bytes) { return crc32_update(crc, bytes.data(), bytes.size()); }

std::string hex(uint32_t crc, size_t count, const char* kind) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s:%zu:%08lx", kind, count, static_cast<unsigned long>(crc));
  return buf;
}

}  // namespace

std::string data_fingerprint(const DataConfig& config) {
  // A prepared file stands for the data it was prepared from.
  if (is_prepared_file(config.path)) return read_prepared_header(config.path).fingerprint;
  uint32_t crc = 0;
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
  std::vector<std::pair<std::string, uint64_t>> names_and_sizes;
  for (const auto& f : list_image_files(config.path)) {
    std::error_code ec;
    const auto size = fs::file_size(f, ec);
    names_and_sizes.emplace_back(relative_name(f, config.path), ec ? 0 : size);
  }
  return image_folder_fingerprint(names_and_sizes);
}

std::string relative_name(const std::string& file, const std::string& root) {
  fs::path base(root);
  if (!base.has_filename()) base = base.parent_path();  // "data/" lists "data/cat/x.png"
  return fs::path(file).lexically_relative(base).generic_string();
}

std::string image_folder_fingerprint(const std::vector<std::pair<std::string, uint64_t>>& names_and_sizes) {
  uint32_t crc = 0;
  for (const auto& [name, size] : names_and_sizes) crc = crc_update(crc, name + "\n" + std::to_string(size) + "\n");
  return hex(crc, names_and_sizes.size(), "files");
}

}  // namespace ganpp
