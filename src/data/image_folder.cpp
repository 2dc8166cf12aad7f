// Image-folder datasets: PNG/JPEG/BMP decoded by stb_image, centre-cropped and resized by stb_image_resize.
// Subfolders are classes (sorted names; an empty one is an error); without subfolders the images are unlabelled.
// probe_image_folder reads only the headers (the size and channels of a folder of samples, for eval).
#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <filesystem>
#include <optional>
#include <thread>

#include <stb_image.h>
#include <stb_image_resize.h>

#include "image_folder.hpp"

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind('.', 0) == 0) continue;  // hidden files and folders
    if (want_dirs ? it->is_directory() : (it->is_regular_file() && is_image_file(it->path())))
      out.push_back(it->path());
  }
  if (ec) throw RuntimeError("cannot list folder '" + abbreviate(dir.string()) + "': " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> list_image_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& f : sorted_entries(dir, /*want_dirs=*/false)) files.push_back(f.string());
  for (const auto& sub : sorted_entries(dir, /*want_dirs=*/true))
    for (const auto& f : sorted_entries(sub, /*want_dirs=*/false)) files.push_back(f.string());
  return files;
}

namespace {

// stb_image's luma of an RGB pixel (what stbi_load gives when asked for one channel).
uint8_t luma(int r, int g, int b) { return static_cast<uint8_t>((r * 77 + g * 150 + b * 29) >> 8); }

// An image with an alpha channel (grey+alpha or RGBA, `rgba` as RGBA) composited onto `background`:
// out = (v·a + bg·(255 − a)) / 255, rounded, then reduced to `channels` (1: stb's luma).
std::vector<uint8_t> composite(const uint8_t* rgba, size_t count, const std::array<uint8_t, 3>& background,
                               int channels) {
  std::vector<uint8_t> out(count * channels);
  for (size_t i = 0; i < count; ++i) {
    const int a = rgba[4 * i + 3];
    int rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = (rgba[4 * i + c] * a + background[c] * (255 - a) + 127) / 255;
    if (channels == 1)
      out[i] = luma(rgb[0], rgb[1], rgb[2]);
    else
      for (int c = 0; c < 3; ++c) out[3 * i + c] = static_cast<uint8_t>(rgb[c]);
  }
  return out;
}

[[noreturn]] void cannot_decode(const fs::path& file) {
  throw RuntimeError("cannot decode image '" + abbreviate(file.string()) + "': " + stbi_failure_reason() +
                     "; remove or replace the file");
}

// The pixels of `file` as `channels` channels (HWC), alpha composited onto `background` where the file has it.
// The file is read once; stb_image decodes it from memory.
std::vector<uint8_t> decode_image(const fs::path& file, int channels,
                                  const std::optional<std::array<uint8_t, 3>>& background, int& width, int& height) {
  const std::string bytes = read_file(file.string());
  if (bytes.size() > size_t(INT32_MAX))
    throw RuntimeError("image '" + abbreviate(file.string()) + "' is larger than 2 GB; remove or replace the file");
  const auto* encoded = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int file_channels = 0;
  if (!stbi_info_from_memory(encoded, length, &width, &height, &file_channels)) cannot_decode(file);
  // No real PNG, JPEG or BMP holds more than about a thousand pixels per byte (deflate's limit is 1032:1); a
  // header that declares far more is damaged or forged, and stb_image would spend seconds decoding nothing.
  constexpr double kMaxPixelsPerByte = 4096;
  if (width <= 0 || height <= 0 || double(width) * height > kMaxPixelsPerByte * double(bytes.size()))
    throw RuntimeError("image '" + abbreviate(file.string()) + "' is damaged: its header declares " +
                       std::to_string(width) + "x" + std::to_string(height) + " pixels, more than its " +
                       std::to_string(bytes.size()) + " bytes can hold; remove or replace the file");
  // Grey+alpha and RGBA images are composited (unless the background is "none": alpha dropped, as stb does).
  const bool alpha = background && (file_channels == 2 || file_channels == 4);
  const int declared_width = width, declared_height = height;
  unsigned char* data = stbi_load_from_memory(encoded, length, &width, &height, &file_channels, alpha ? 4 : channels);
  if (!data) cannot_decode(file);
  if (width != declared_width || height != declared_height) {
    stbi_image_free(data);
    throw RuntimeError("image '" + abbreviate(file.string()) +
                       "' is damaged: its header and its data disagree on "
                       "its size; remove or replace the file");
  }
  const size_t count = static_cast<size_t>(width) * height;
  std::vector<uint8_t> out = alpha ? composite(data, count, *background, channels)
                                   : std::vector<uint8_t>(data, data + count * channels);
  stbi_image_free(data);
  return out;
}

// One image of `file` at `size`² × `channels`, CHW, into `out`.
void decode_into(const fs::path& file, int size, int channels, const std::optional<std::array<uint8_t, 3>>& background,
                 uint8_t* out) {
  int width = 0, height = 0;
  const std::vector<uint8_t> decoded = decode_image(file, channels, background, width, height);
  const std::vector<uint8_t> hwc = resize_center_crop(decoded.data(), width, height, channels, size);
  const size_t plane = static_cast<size_t>(size) * size;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < channels; ++c) out[c * plane + i] = hwc[i * channels + c];
}

}  // namespace

std::vector<uint8_t> resize_center_crop(const uint8_t* pixels, int width, int height, int channels, int size) {
  const int side = std::min(width, height);
  const int x0 = (width - side) / 2, y0 = (height - side) / 2;
  const uint8_t* start = pixels + (static_cast<size_t>(y0) * width + x0) * channels;
  std::vector<uint8_t> out(static_cast<size_t>(size) * size * channels);
  if (side == size) {
    for (int y = 0; y < size; ++y)
      std::copy_n(start + static_cast<size_t>(y) * width * channels, static_cast<size_t>(size) * channels,
                  out.data() + static_cast<size_t>(y) * size * channels);
    return out;
  }
  if (!stbir_resize_uint8(start, side, side, width * channels, out.data(), size, size, 0, channels))
    throw RuntimeError("image resize failed");
  return out;
}

ImageFolderListing list_image_folder(const DataConfig& config) {
  const fs::path root(config.path);
  ImageFolderListing listing;
  listing.root = root.string();

  std::vector<fs::path> class_dirs, empty_dirs;
  for (const auto& dir : sorted_entries(root, /*want_dirs=*/true))
    (sorted_entries(dir, /*want_dirs=*/false).empty() ? empty_dirs : class_dirs).push_back(dir);
  const auto loose = sorted_entries(root, /*want_dirs=*/false);
  if (!class_dirs.empty() && !loose.empty())
    throw RuntimeError("image folder '" + abbreviate(root.string()) + "' mixes images (" +
                       loose.front().filename().string() + ") with class subfolders (" +
                       class_dirs.front().filename().string() +
                       "); put every image in a class subfolder, or use a folder without subfolders");
  // A class without images would still be a class of the model, one it never sees.
  if (!class_dirs.empty() && !empty_dirs.empty())
    throw RuntimeError("class subfolder '" + abbreviate(empty_dirs.front().string()) +
                       "' holds no images (.png, .jpg, .jpeg, .bmp), but every subfolder of an image folder is a "
                       "class; add images to it or remove it");

  const auto limit = static_cast<size_t>(config.limit > 0 ? config.limit : INT64_MAX);
  auto add_files = [&](const std::vector<fs::path>& files, int64_t label) {
    for (const auto& f : files) {
      if (listing.files.size() >= limit) return;
      listing.files.push_back(f.string());
      listing.labels.push_back(label);
    }
  };
  if (class_dirs.empty()) {
    add_files(loose, 0);
  } else {
    for (size_t c = 0; c < class_dirs.size(); ++c) {
      listing.classes.push_back(class_dirs[c].filename().string());
      add_files(sorted_entries(class_dirs[c], false), static_cast<int64_t>(c));
    }
  }
  if (listing.files.empty())
    throw RuntimeError("no images found in '" + abbreviate(root.string()) +
                       "' (looked for .png, .jpg, .jpeg, .bmp, directly or one subfolder per class)");
  return listing;
}

int worker_count(int threads, int64_t jobs) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, jobs)));
}

void decode_image_folder(const ImageFolderListing& listing, int64_t begin, int64_t end, const DataConfig& config,
                         uint8_t* out, int threads) {
  const int size = static_cast<int>(config.image_size);
  const int channels = static_cast<int>(config.channels);
  const auto background = background_rgb(config);
  const size_t image_bytes = static_cast<size_t>(size) * size * channels;
  // Each worker takes the next file in order; every file has its place in `out`, so the bytes do not depend on
  // which worker decodes it. After a failure no later file is started, and the first failing file is reported.
  std::atomic<int64_t> next{begin};
  std::atomic<int64_t> first_failed{end};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(end - begin));
  auto work = [&] {
    for (int64_t i = next++; i < end && i < first_failed.load(); i = next++) {
      try {
        decode_into(listing.files[static_cast<size_t>(i)], size, channels, background,
                    out + static_cast<size_t>(i - begin) * image_bytes);
      } catch (...) {
        errors[static_cast<size_t>(i - begin)] = std::current_exception();
        for (int64_t f = first_failed.load(); i < f && !first_failed.compare_exchange_weak(f, i);) {
        }
      }
    }
  };
  const int workers = worker_count(threads, end - begin);
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_failed.load() < end) std::rethrow_exception(errors[static_cast<size_t>(first_failed.load() - begin)]);
}

Dataset load_image_folder(const DataConfig& config, int threads) {
  const ImageFolderListing listing = list_image_folder(config);
  const auto n = static_cast<int64_t>(listing.files.size());
  Dataset data;
  data.source = "image folder " + listing.root;
  data.classes = listing.classes;
  data.images = torch::empty({n, config.channels, config.image_size, config.image_size}, torch::kUInt8);
  decode_image_folder(listing, 0, n, config, data.images.data_ptr<uint8_t>(), threads);
  if (!data.classes.empty()) data.labels = torch::tensor(listing.labels, torch::kInt64);
  return data;
}

void probe_image_folder(const std::string& dir, int64_t& size, int64_t& channels) {
  if (!fs::is_directory(dir))
    throw RuntimeError("image folder '" + abbreviate(dir) + "' does not exist or is not a folder");
  const std::vector<std::string> files = list_image_files(dir);
  if (files.empty())
    throw RuntimeError("no images found in '" + abbreviate(dir) +
                       "' (looked for .png, .jpg, .jpeg, .bmp, directly or one "
                       "subfolder per class)");
  size = 0;
  channels = 0;
  for (const auto& f : files) {
    int w = 0, h = 0, c = 0;
    if (!stbi_info(f.c_str(), &w, &h, &c))
      throw RuntimeError("cannot decode image '" + abbreviate(f) + "': " + stbi_failure_reason() +
                         "; remove or replace the file");
    if (w != h)
      throw RuntimeError("image '" + abbreviate(f) + "' is " + std::to_string(w) + "x" + std::to_string(h) +
                         "; eval scores square images of one size (as ganpp sample --dir writes them)");
    if (size == 0) {
      size = w;
      channels = c <= 2 ? 1 : 3;
    } else if (w != size) {
      throw RuntimeError("image '" + abbreviate(f) + "' is " + std::to_string(w) + "x" + std::to_string(h) + ", but '" +
                         abbreviate(files.front()) + "' is " + std::to_string(size) + "x" + std::to_string(size) +
                         "; every image of the folder must have the same size");
    }
  }
}

}  // namespace ganpp
