// Prepared datasets: an image folder or an IDX split decoded once (in parallel) into one file that training
// memory-maps. Layout (little-endian): "GANPPDAT", u32 format version, u32 CRC-32 of the header (the version and
// every byte from offset 16 to the data), u64 length of the JSON description, u64 offset of the data; the JSON
// description (shape, count, classes, source, its fingerprint, the image settings); one u32 CRC-32 per chunk of
// the data; zero padding to a 4096-byte boundary; then the data: uint8 images [N, C, H, W], and, for labelled
// data, int64 labels [N] at the next 8-byte boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"

namespace ganpp {

/// The format version this ganpp writes and reads.
inline constexpr uint32_t kPreparedVersion = 1;

/// The file name extension `ganpp data prepare` gives prepared datasets.
inline constexpr const char* kPreparedExtension = ".ganppdata";

/// What a prepared file's header says.
struct PreparedInfo {
  std::string path;
  int64_t count = 0, channels = 0, size = 0;
  bool labelled = false;
  std::vector<std::string> classes;
  std::string source;        ///< the folder it was prepared from
  std::string source_kind;   ///< "image folder" or "IDX"
  std::string fingerprint;   ///< data_fingerprint() of the source when it was prepared
  std::string source_state;  ///< the cache's record of the source's file list, sizes and times ("" if not a cache)
  std::string background;    ///< data.background it was decoded with (image folders)
  std::string split;         ///< data.split it was read from (IDX)
  int64_t limit = 0;         ///< data.limit it was prepared with (0 = all)
  std::string created_by;    ///< ganpp version
  uint64_t data_offset = 0, labels_offset = 0, payload_bytes = 0, chunk_bytes = 0;
  std::vector<uint32_t> chunk_crcs;

  uint64_t file_bytes() const { return data_offset + payload_bytes; }
};

/// Whether `path` is a regular file that starts like a prepared dataset.
bool is_prepared_file(const std::string& path);

/// Reads and checks a prepared file's header (magic, version, checksum, length): RuntimeError naming the file
/// and what to do when it is another kind of file, newer, damaged or truncated.
PreparedInfo read_prepared_header(const std::string& path);

/// The images of a prepared file, memory-mapped (nothing is copied: the page cache holds what fits), with
/// data.limit applied. RuntimeError when its header is bad or its image size, channels, background or split
/// differ from `config`'s.
Dataset open_prepared(const DataConfig& config);

/// Checks every chunk of a prepared file against its checksum; RuntimeError naming the first damaged chunk
/// (its bytes and images). `progress(done, total)` is called as bytes are checked.
PreparedInfo verify_prepared(const std::string& path,
                             const std::function<void(uint64_t, uint64_t)>& progress = nullptr);

/// How to prepare.
struct PrepareOptions {
  int threads = 0;           ///< decoding threads (0: all cores)
  std::string source_state;  ///< recorded in the header (the cache's staleness check)
  bool quiet = false;        ///< no progress lines
};

/// Decodes the image folder or IDX split of `config` (image_size, channels, background, split, limit) into
/// `out`, written to a temporary name and renamed: an existing `out` is replaced only by a complete file. The
/// file's bytes do not depend on the thread count. Logs progress with an ETA. Returns the new header.
PreparedInfo prepare_dataset(const DataConfig& config, const std::string& out, const PrepareOptions& options = {});

}  // namespace ganpp
