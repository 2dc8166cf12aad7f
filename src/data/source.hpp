// The kinds of data that data.path names and, for all but prepared files, an ImageSource: the images in dataset
// order with their classes and labels, a fingerprint, the state of the files (for the cache), and a decoder of
// ranges of images. Internal to the data module: the in-memory loader, prepared datasets and the cache share it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/prepared.hpp"

namespace ganpp {

enum class SourceKind { idx, image_folder, zip, npy, npz, prepared };

/// What `config.path` is: an IDX folder (holding either split), an image folder, a .zip of images, a .npy array,
/// a .npz archive or a prepared file. RuntimeError naming the path when it does not exist or is none of these.
SourceKind source_kind(const DataConfig& config);

/// "IDX", "image folder", "zip", "npy", "npz" or "prepared dataset" (as prepared files record their source).
std::string kind_name(SourceKind kind);

/// The images of a source in dataset order, data.limit applied.
struct ImageSource {
  SourceKind kind = SourceKind::image_folder;
  std::string description;           ///< "image folder PATH", "zip PATH", ... (for messages and Dataset::source)
  int64_t count = 0;                 ///< images (after data.limit)
  std::vector<std::string> classes;  ///< empty when unlabelled
  std::vector<int64_t> labels;       ///< one per image; empty when unlabelled
  std::string fingerprint;           ///< data_fingerprint() of the source
  std::string state;  ///< its files as "name\tsize\tmtime" lines: whether a cache of it is stale ("" for IDX)
  /// Writes images [begin, end) to `out`: uint8 CHW of image_size² × channels each, alpha composited onto
  /// data.background, with `threads` threads (0: all cores). The bytes do not depend on the thread count; the
  /// error of the first failing image (in order) is thrown, naming it.
  std::function<void(int64_t begin, int64_t end, uint8_t* out, int threads)> decode;
};

/// The source at `config.path` (not a prepared file: those need no decoding). RuntimeError naming what is wrong.
ImageSource open_source(const DataConfig& config);
ImageSource open_idx(const DataConfig& config);           // dataset.cpp
ImageSource open_image_folder(const DataConfig& config);  // image_folder.cpp
ImageSource open_zip(const DataConfig& config);           // zip_source.cpp
ImageSource open_array(const DataConfig& config);         // npy.cpp: .npy and .npz

/// Every image of `source` decoded into memory.
Dataset decode_all(const ImageSource& source, const DataConfig& config, int threads);

/// Writes `source` as a prepared file (see prepare_dataset).
PreparedInfo prepare_source(const ImageSource& source, const DataConfig& config, const std::string& out,
                            const PrepareOptions& options);

/// Runs fn(i, worker) for every i in [begin, end) on `threads` workers (0: all cores), numbered from 0, each
/// taking the next index. After a failure no later index starts; the error of the first failing index is
/// rethrown.
void parallel_for(int64_t begin, int64_t end, int threads, const std::function<void(int64_t, int)>& fn);

/// Threads to use for `threads` (0: all cores) and `jobs` independent jobs.
int worker_count(int threads, int64_t jobs);

/// Whether a file name is an image ganpp decodes (.png, .jpg, .jpeg, .bmp, any case).
bool is_image_name(const std::string& name);

/// The encoded image `bytes` (PNG, JPEG or BMP) named `name` in messages, decoded into `out` as by
/// ImageSource::decode.
void decode_encoded_image(const std::string& bytes, const std::string& name, const DataConfig& config, uint8_t* out);

/// HWC pixels with `channels` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) into `out` as by ImageSource::decode:
/// converted to data.channels (alpha composited onto data.background, or dropped when it is "none"; RGB to grey
/// with stb_image's luma), the shorter side resized to data.image_size and the centre square cropped.
void finish_image(const uint8_t* pixels, int width, int height, int channels, const DataConfig& config, uint8_t* out);

/// `file`'s name relative to the folder `root` it was listed in, with '/' separators ("cat/x.png").
std::string relative_name(const std::string& file, const std::string& root);

/// The fingerprint of images from their relative names and sizes (image folders and zips: the same images give
/// the same fingerprint in either).
std::string names_and_sizes_fingerprint(const std::vector<std::pair<std::string, uint64_t>>& names_and_sizes);

/// A whole file mapped read-only, unmapped when the last owner lets go.
struct MappedFile {
  const uint8_t* data = nullptr;
  size_t size = 0;
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
};

/// Maps `path` (its first `length` bytes; 0: all of it); RuntimeError naming it when it cannot be.
std::shared_ptr<const MappedFile> map_file(const std::string& path, size_t length = 0);

/// Failures to write a prepared file (as opposed to failures of the data being prepared).
class WriteError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// One "name\tsize\tmtime" line of ImageSource::state for the file at `path`; RuntimeError when it cannot be read.
std::string file_state_line(const std::string& path, const std::string& name, uint64_t* size = nullptr);

}  // namespace ganpp
