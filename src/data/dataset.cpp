// Dataset dispatch (IDX folder, image folder or prepared file), the [-1, 1] scale of pixels, and seeded subsets.
#include <filesystem>

#include "image_folder.hpp"

#include "ganpp/data.hpp"
#include "ganpp/data_cache.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/prepared.hpp"
#include "ganpp/rng.hpp"

namespace fs = std::filesystem;

namespace ganpp {

namespace {

constexpr uint64_t kReferenceStream = 0x52454653ULL;  // random_subset's draws, apart from every other stream

// MNIST-style sets name their test files "t10k".
std::string idx_prefix(DataSplit split) { return split == DataSplit::train ? "train" : "t10k"; }

// The IDX file of `kind` ("images" or "labels") for a split, under the names MNIST-style sets use.
std::string find_idx(const fs::path& dir, const std::string& prefix, const std::string& kind) {
  const std::string dims = kind == "images" ? "idx3" : "idx1";
  for (const char* sep : {"-", "."})
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = dir / (prefix + "-" + kind + sep + dims + "-ubyte" + ext);
      if (fs::exists(p)) return p.string();
    }
  return "";
}

Dataset load_idx_folder(const DataConfig& config, const std::string& images_path) {
  const fs::path dir(config.path);
  const std::string prefix = idx_prefix(config.split);
  std::vector<int64_t> dims;
  std::vector<uint8_t> pixels = read_idx_file(images_path, 3, dims);
  int64_t n = dims[0];
  const int64_t h = dims[1], w = dims[2];
  if (n == 0) throw RuntimeError("IDX file '" + abbreviate(images_path) + "' holds no images");
  if (config.limit > 0) n = std::min(n, config.limit);

  Dataset data;
  data.source = images_path;
  const int64_t size = config.image_size, channels = config.channels;
  torch::Tensor images;
  if (h == size && w == size) {
    images = torch::from_blob(pixels.data(), {n, 1, h, w}, torch::kUInt8).clone();
  } else {
    images = torch::empty({n, 1, size, size}, torch::kUInt8);
    auto* out = images.data_ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
      const auto r = resize_center_crop(pixels.data() + i * h * w, static_cast<int>(w), static_cast<int>(h), 1,
                                        static_cast<int>(size));
      std::copy(r.begin(), r.end(), out + i * size * size);
    }
  }
  data.images = channels == 1 ? images : images.repeat({1, channels, 1, 1}).contiguous();

  const std::string labels_path = find_idx(dir, prefix, "labels");
  if (!labels_path.empty()) {
    std::vector<int64_t> label_dims;
    std::vector<uint8_t> labels = read_idx_file(labels_path, 1, label_dims);
    if (label_dims[0] != dims[0])
      throw RuntimeError("IDX labels '" + abbreviate(labels_path) + "' hold " + std::to_string(label_dims[0]) +
                         " labels for " + std::to_string(dims[0]) + " images in '" + abbreviate(images_path) + "'");
    // Classes come from the whole file, so that data.limit does not change the class list.
    const int64_t num_classes = *std::max_element(labels.begin(), labels.end()) + 1;
    data.labels = torch::from_blob(labels.data(), {n}, torch::kUInt8).to(torch::kInt64);
    for (int64_t c = 0; c < num_classes; ++c) data.classes.push_back(std::to_string(c));
  }
  return data;
}

}  // namespace

bool has_idx_split(const std::string& path, DataSplit split) {
  return fs::is_directory(path) && !find_idx(fs::path(path), idx_prefix(split), "images").empty();
}

Dataset load_dataset(const DataConfig& config) {
  const fs::path dir(config.path);
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  if (ec)
    throw RuntimeError("data.path '" + abbreviate(config.path) + "' cannot be looked up (" + ec.message() +
                       "); point data.path at an IDX folder or an image folder");
  if (!exists)
    throw RuntimeError(
        "data.path '" + abbreviate(config.path) +
        "' does not exist; point data.path at an IDX folder or an image folder" +
        (config.path.rfind("/usr/share/datasets/", 0) == 0 ? " (Debian: apt-get install dataset-fashion-mnist)" : ""));
  if (!fs::is_directory(dir)) {
    if (is_prepared_file(config.path)) return open_prepared(config);
    throw RuntimeError("data.path '" + abbreviate(config.path) +
                       "' is neither a folder nor a prepared dataset; point it at an IDX folder, an image folder or "
                       "a file written by 'ganpp data prepare'");
  }
  const std::string prefix = idx_prefix(config.split);
  const std::string images = find_idx(dir, prefix, "images");
  if (!images.empty()) return load_idx_folder(config, images);
  const DataSplit other = config.split == DataSplit::train ? DataSplit::test : DataSplit::train;
  if (!find_idx(dir, idx_prefix(other), "images").empty())
    throw RuntimeError("IDX folder '" + abbreviate(config.path) + "' has no " + prefix +
                       "-images-idx3-ubyte[.gz] for data.split '" + spelling(config.split) + "'");
  const std::string cache = cache_folder(config);
  return cache.empty() ? load_image_folder(config, /*threads=*/0) : load_through_cache(config, cache);
}

void check_batch_fits(const Dataset& data, int64_t batch_size) {
  if (data.size() < batch_size)
    throw RuntimeError("the dataset (" + abbreviate(data.source) + ") has " + std::to_string(data.size()) +
                       " images, fewer than train.batch_size = " + std::to_string(batch_size) +
                       "; lower train.batch_size or raise data.limit");
}

torch::Tensor pixels_to_signed_range(const torch::Tensor& pixels) {
  TORCH_CHECK(pixels.scalar_type() == torch::kUInt8, "pixels_to_signed_range expects uint8 pixels");
  return pixels.to(torch::kFloat32).div_(127.5).sub_(1.0);  // a new tensor: the in-place steps never touch `pixels`
}

torch::Tensor random_subset_indices(int64_t total, int64_t n, uint64_t seed) {
  if (total <= n) return torch::arange(total, torch::kInt64);
  return torch::randperm(total, make_generator(seed, kReferenceStream), torch::kInt64).narrow(0, 0, n);
}

torch::Tensor random_subset(const torch::Tensor& images, int64_t n, uint64_t seed) {
  if (images.size(0) <= n) return images;
  return images.index_select(0, random_subset_indices(images.size(0), n, seed));
}

}  // namespace ganpp
