// Image folders as a list of files in dataset order, decoded in parallel (image_folder.cpp): what the in-memory
// loader, prepared datasets and the cache share.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"

namespace ganpp {

/// The images of an image folder in dataset order: the files directly in it (unlabelled), or each class
/// subfolder's files (sorted names) in the order of the sorted subfolders; data.limit applied.
struct ImageFolderListing {
  std::string root;
  std::vector<std::string> files;
  std::vector<int64_t> labels;       ///< class index of each file (0 when unlabelled)
  std::vector<std::string> classes;  ///< subfolder names; empty when unlabelled
};

/// Lists `config.path`; RuntimeError for a folder without images, images mixed with class subfolders, or an
/// empty class subfolder.
ImageFolderListing list_image_folder(const DataConfig& config);

/// Decodes files [begin, end) of `listing` into `out`: uint8 CHW of image_size² × channels per image, alpha
/// composited onto data.background, with `threads` threads (0: all cores). The bytes do not depend on the
/// thread count; a file that fails ends it with the error naming the first failing file in order.
void decode_image_folder(const ImageFolderListing& listing, int64_t begin, int64_t end, const DataConfig& config,
                         uint8_t* out, int threads);

/// The whole folder decoded into memory with `threads` threads (0: all cores).
Dataset load_image_folder(const DataConfig& config, int threads);

/// `file`'s name relative to the folder `root` it was listed in, with '/' separators ("cat/x.png").
std::string relative_name(const std::string& file, const std::string& root);

/// The fingerprint of an image folder (see data_fingerprint) from its images' relative names and sizes.
std::string image_folder_fingerprint(const std::vector<std::pair<std::string, uint64_t>>& names_and_sizes);

/// Threads to use for `threads` (0: all cores) and `jobs` independent jobs.
int worker_count(int threads, int64_t jobs);

}  // namespace ganpp
