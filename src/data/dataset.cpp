// Dataset dispatch (an IDX folder, a prepared file, or a source decoded through the cache), IDX folders, the
// [-1, 1] scale of pixels, and seeded subsets.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "source.hpp"

#include "ganpp/checksum.hpp"
#include "ganpp/data.hpp"
#include "ganpp/data_cache.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
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

// A CRC-32 of every IDX file of the folder (both splits, images and labels), by name and content.
std::string idx_fingerprint(const std::string& folder) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && e.path().filename().string().find("-ubyte") != std::string::npos)
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  uint32_t crc = 0;
  for (const auto& f : files) {
    const std::string name = f.filename().string(), bytes = read_file(f.string());
    crc = crc32_update(crc32_update(crc, name.data(), name.size()), bytes.data(), bytes.size());
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "idx:%zu:%08lx", files.size(), static_cast<unsigned long>(crc));
  return buf;
}

Dataset load_idx_folder(const DataConfig& config) {
  const fs::path dir(config.path);
  const std::string prefix = idx_prefix(config.split);
  const std::string images_path = find_idx(dir, prefix, "images");
  if (images_path.empty())
    throw RuntimeError("IDX folder '" + abbreviate(config.path) + "' has no " + prefix +
                       "-images-idx3-ubyte[.gz] for data.split '" + spelling(config.split) + "'");
  std::vector<int64_t> dims;
  std::vector<uint8_t> pixels = read_idx_file(images_path, 3, dims);
  int64_t n = dims[0];
  const int64_t h = dims[1], w = dims[2];
  if (n == 0) throw RuntimeError("IDX file '" + abbreviate(images_path) + "' holds no images");
  if (config.limit > 0) n = std::min(n, config.limit);

  Dataset data;
  data.source = images_path;
  data.fingerprint = idx_fingerprint(config.path);
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

ImageSource open_idx(const DataConfig& config) {
  auto data = std::make_shared<Dataset>(load_idx_folder(config));
  ImageSource source;
  source.kind = SourceKind::idx;
  source.description = data->source;
  source.count = data->size();
  source.classes = data->classes;
  if (data->labels.defined())
    source.labels.assign(data->labels.data_ptr<int64_t>(), data->labels.data_ptr<int64_t>() + source.count);
  source.fingerprint = data->fingerprint;
  source.decode = [data](int64_t begin, int64_t end, uint8_t* out, int) {
    const auto image_bytes = static_cast<size_t>(data->images[0].numel());
    std::memcpy(out, data->images.data_ptr<uint8_t>() + begin * image_bytes, (end - begin) * image_bytes);
  };
  return source;
}

Dataset load_dataset(const DataConfig& config) {
  switch (source_kind(config)) {
    case SourceKind::prepared: return open_prepared(config);
    case SourceKind::idx: return load_idx_folder(config);
    default: break;
  }
  const std::string cache = cache_folder(config);
  return cache.empty() ? decode_all(open_source(config), config, /*threads=*/0) : load_through_cache(config, cache);
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
