// A zip archive read through libzip (stored and deflated entries): its files and their bytes. One ZipArchive
// per thread: libzip handles are not shared between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct zip;

namespace ganpp {

class ZipArchive {
 public:
  struct Entry {
    std::string name;   ///< path inside the archive, '/' separated
    uint64_t size = 0;  ///< uncompressed bytes
    uint32_t crc = 0;   ///< CRC-32 of the uncompressed bytes
    uint64_t index = 0;
  };

  /// Opens `path`; RuntimeError naming it when it is missing, not a zip or damaged.
  explicit ZipArchive(const std::string& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  /// The files of the archive (not its folders), in the archive's order.
  const std::vector<Entry>& entries() const { return entries_; }

  /// The uncompressed bytes of `entry` (checked against its CRC-32); RuntimeError naming the archive and the
  /// entry when it cannot be read (damaged, encrypted, an unsupported compression).
  std::string read(const Entry& entry) const;

  const std::string& path() const { return path_; }

 private:
  struct zip* zip_ = nullptr;
  std::string path_;
  std::vector<Entry> entries_;
};

}  // namespace ganpp
