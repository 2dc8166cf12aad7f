// Training data: IDX files (MNIST layout, gzipped or not), image folders (a subfolder per class), .zip archives
// of images (stylegan2-ada's dataset format, or a zipped image folder), .npy/.npz uint8 arrays, and prepared
// files (prepared.hpp; the others but IDX are prepared into a cache, data_cache.hpp), as uint8 in memory or
// memory-mapped; and a resumable shuffled stream of batches scaled to [-1, 1].
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

/// Images in memory, as loaded: uint8 [N, C, H, W] on the CPU, with optional labels.
struct Dataset {
  torch::Tensor images;              ///< uint8 [N, C, H, W]
  torch::Tensor labels;              ///< int64 [N]; undefined when the data has no labels
  std::vector<std::string> classes;  ///< class names (folder names, or "0".."9" for IDX); empty if unlabelled
  std::string source;                ///< what was read, for messages
  std::string fingerprint;           ///< data_fingerprint() of what was read

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

/// Loads `config.path` (IDX folder, image folder, .zip, .npy, .npz or prepared file), resized to image_size and
/// converted to `channels`. All but IDX folders and prepared files go through the cache of data.cache (decoded
/// in memory when it is "off"). Throws RuntimeError naming the file for missing, empty, unreadable or corrupt
/// data.
Dataset load_dataset(const DataConfig& config);

/// A fingerprint of the data at `config.path` that tells whether it changed since a run started, cheap and the
/// same after a copy to another machine: a CRC-32 of the IDX files' bytes for an IDX folder; of the images'
/// relative names and sizes for an image folder or a .zip (the same for a folder and a zip of it); of the file's
/// name and size for a .npy, of its arrays' names, sizes and CRC-32s for a .npz; for a prepared file, the
/// fingerprint of the data it was prepared from (so a run may switch between a source and its prepared file).
/// RuntimeError when it cannot be read.
std::string data_fingerprint(const DataConfig& config);

/// Whether `path` is an IDX folder holding the images of `split` ("train" or "test").
bool has_idx_split(const std::string& path, DataSplit split);

/// Reads one IDX file (plain or gzip); returns the raw bytes after validating the header against
/// the expected magic and the file length. `dims` receives the dimension sizes.
std::vector<uint8_t> read_idx_file(const std::string& path, int expected_dims, std::vector<int64_t>& dims);

/// The image files (.png, .jpg, .jpeg, .bmp; hidden ones skipped) directly in `dir`, then in each of its
/// subfolders, each list sorted by name. Throws RuntimeError when the folder cannot be listed.
std::vector<std::string> list_image_files(const std::string& dir);

/// Resizes an 8-bit image (HWC) so that its shorter side is `size`, then crops the centre square.
std::vector<uint8_t> resize_center_crop(const uint8_t* pixels, int width, int height, int channels, int size);

/// The side and channels of the images in a folder (directly or in class subfolders), checking that every
/// image decodes its header and has the same square size. RuntimeError naming the first bad file.
void probe_image_folder(const std::string& dir, int64_t& size, int64_t& channels);

/// uint8 pixels (any shape, on any device) as float32 in [-1, 1] (x / 127.5 - 1) on the same device: the scale
/// that training batches, the classifier and feature networks take.
torch::Tensor pixels_to_signed_range(const torch::Tensor& pixels);

/// Indices of `n` of `total` rows drawn without replacement from a private stream of `seed` (all of them, in order,
/// when there are at most `n`).
torch::Tensor random_subset_indices(int64_t total, int64_t n, uint64_t seed);

/// The rows of `images` that random_subset_indices picks (all of them when there are at most `n`).
torch::Tensor random_subset(const torch::Tensor& images, int64_t n, uint64_t seed);

/// Datasets up to this size live on the GPU during training.
inline constexpr int64_t kDeviceDataLimit = int64_t(2) << 30;

/// One batch on the training device: images float [B, C, H, W] in [-1, 1]; labels int64 [B] or undefined.
struct Batch {
  torch::Tensor images;
  torch::Tensor labels;
};

/// Throws RuntimeError when the data holds fewer images than one batch.
void check_batch_fits(const Dataset& data, int64_t batch_size);

/// Where a DataStream stands: `epoch` passes completed, `position` batches drawn in the current pass.
struct DataPosition {
  int64_t epoch = 0;
  int64_t position = 0;
};

/// Shuffled batches without replacement, last partial batch dropped. The order of each epoch is a
/// function of (seed, epoch) alone, so a DataPosition is all a checkpoint needs to resume the stream.
/// Horizontal flips draw from LibTorch's default generator (part of the checkpointed RNG state), in next().
/// On a GPU the images are copied to the device once when they fit in kDeviceDataLimit bytes (batches are then
/// gathered there). Otherwise a background thread gathers the next batches' uint8 images from the host
/// (memory-mapped) data, into pinned memory on a GPU, while the current step runs; it draws no random number,
/// so batches and positions are the same as without it.
/// In data-parallel training each rank's stream yields its rows (batch_shard()) of the same global batches of
/// `batch_size` images. With the environment variable GANPP_TRACE set (a test hook), each batch's rows are printed
/// to stderr.
class DataStream {
 public:
  DataStream(const Dataset& data, int64_t batch_size, uint64_t seed, bool hflip, torch::Device device);
  ~DataStream();
  DataStream(const DataStream&) = delete;
  DataStream& operator=(const DataStream&) = delete;

  Batch next();
  DataPosition position() const { return pos_; }
  void seek(DataPosition pos);
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  /// The images the stream draws from (e.g. the reference of evaluations during training).
  const Dataset& dataset() const { return data_; }

  /// Batches the background thread gathers ahead of the one in use.
  static constexpr size_t kPrefetch = 2;

 private:
  struct Gathering;
  class Gatherer;

  const torch::Tensor& order(int64_t epoch);
  /// The rows of the batch at `pos` (which must not be at the end of an epoch).
  torch::Tensor rows(DataPosition pos);
  static DataPosition following(DataPosition pos, int64_t batches_per_epoch);
  void gather_ahead();

  const Dataset& data_;
  torch::Tensor images_;  ///< the images where batches are gathered: data_.images (contiguous), or a device copy
  torch::Tensor labels_;
  int64_t batch_size_;        ///< the global batch
  int64_t local_batch_ = 0;   ///< this rank's rows of it
  int64_t shard_offset_ = 0;  ///< the first of them
  bool trace_rows_ = false;
  uint64_t seed_;
  bool hflip_;
  torch::Device device_;
  int64_t batches_per_epoch_;
  DataPosition pos_;
  std::vector<std::pair<int64_t, torch::Tensor>> orders_;  ///< permutations of the epochs in use
  std::unique_ptr<Gatherer> gatherer_;                     ///< null when batches are gathered on the device
  std::vector<std::shared_ptr<Gathering>> ahead_;          ///< batches being gathered, in order
  DataPosition ahead_end_;                                 ///< the position after the last of them
};

}  // namespace ganpp
