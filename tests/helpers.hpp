// Test helpers: temporary folders, tiny IDX and image-folder datasets, and running the real binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ganpp::test {

/// A fresh empty folder under the system temp dir, unique per call.
std::string temp_dir(const std::string& tag);

/// Writes train- (and t10k-) images/labels IDX files with `n` images of size x size and `classes` labels.
/// Images are deterministic patterns of the seed; `gzip` writes .gz files.
void write_idx_dataset(const std::string& dir, int64_t n, int64_t size = 28, int64_t classes = 10, bool gzip = false,
                       uint64_t seed = 0);

/// Writes one IDX file from raw bytes and a header (for corrupt-file tests).
void write_bytes(const std::string& path, const std::string& bytes);

/// Writes an image folder with one subfolder per class (or none when class_names is empty), PNG files.
void write_image_folder(const std::string& dir, const std::vector<std::string>& class_names, int per_class, int size,
                        int channels);

struct CommandResult {
  int code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs the ganpp binary with `args` (shell-quoted here), capturing stdout, stderr and the exit code.
CommandResult run_ganpp(const std::vector<std::string>& args);

/// Reads a whole file.
std::string slurp(const std::string& path);

/// The path of a file under the source tree (configs/..., data/...).
std::string source_path(const std::string& relative);

}  // namespace ganpp::test
