// Image-folder datasets: PNG/JPEG/BMP decoded by stb_image, converted to the configured channels, centre-cropped
// and resized by stb_image_resize. Subfolders are classes (sorted names; an empty one is an error); without
// subfolders the images are unlabelled. probe_image_folder reads only the headers (the size and channels of a
// folder of samples, for eval).
#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <optional>

#include <stb_image.h>
#include <stb_image_resize.h>

#include "source.hpp"

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

bool is_image_file(const fs::path& p) { return is_image_name(p.filename().string()); }

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

bool is_image_name(const std::string& name) {
  std::string ext = fs::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

namespace {

// stb_image's luma of an RGB pixel (what stbi_load gives when asked for one channel).
uint8_t luma(int r, int g, int b) { return static_cast<uint8_t>((r * 77 + g * 150 + b * 29) >> 8); }

// `count` pixels of `in` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) as `out` channels (1 or 3): alpha
// composited onto `background`, out = (v·a + bg·(255 − a)) / 255 rounded, or dropped without one; grey repeated
// for RGB; RGB reduced to grey by stb's luma. The same bytes as stb_image's own conversions where it has them.
std::vector<uint8_t> convert_channels(const uint8_t* px, size_t count, int in, int out,
                                      const std::optional<std::array<uint8_t, 3>>& background) {
  std::vector<uint8_t> converted(count * static_cast<size_t>(out));
  const bool alpha = in == 2 || in == 4;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = px + i * static_cast<size_t>(in);
    int rgb[3] = {p[0], in >= 3 ? p[1] : p[0], in >= 3 ? p[2] : p[0]};
    if (alpha && background) {
      const int a = p[in - 1];
      for (int c = 0; c < 3; ++c) rgb[c] = (rgb[c] * a + (*background)[c] * (255 - a) + 127) / 255;
    }
    uint8_t* o = converted.data() + i * static_cast<size_t>(out);
    if (out == 3) {
      for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>(rgb[c]);
    } else {
      o[0] = in >= 3 || (alpha && background) ? luma(rgb[0], rgb[1], rgb[2]) : static_cast<uint8_t>(rgb[0]);
    }
  }
  return converted;
}

[[noreturn]] void cannot_decode(const std::string& name) {
  throw RuntimeError("cannot decode image '" + abbreviate(name) + "': " + stbi_failure_reason() +
                     "; remove or replace the file");
}

// Frees stb_image's pixels however the scope ends.
struct StbPixels {
  unsigned char* data = nullptr;
  ~StbPixels() { stbi_image_free(data); }
};

}  // namespace

void decode_encoded_image(const std::string& bytes, const std::string& name, const DataConfig& config, uint8_t* out) {
  if (bytes.size() > size_t(INT32_MAX))
    throw RuntimeError("image '" + abbreviate(name) + "' is larger than 2 GB; remove or replace the file");
  const auto* encoded = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(encoded, length, &width, &height, &channels)) cannot_decode(name);
  // No real PNG, JPEG or BMP holds more than about a thousand pixels per byte (deflate's limit is 1032:1); a
  // header that declares far more is damaged or forged, and stb_image would spend seconds decoding nothing.
  constexpr double kMaxPixelsPerByte = 4096;
  if (width <= 0 || height <= 0 || double(width) * height > kMaxPixelsPerByte * double(bytes.size()))
    throw RuntimeError("image '" + abbreviate(name) + "' is damaged: its header declares " + std::to_string(width) +
                       "x" + std::to_string(height) + " pixels, more than its " + std::to_string(bytes.size()) +
                       " bytes can hold; remove or replace the file");
  // stb_image converts to the channels wanted itself (a JPEG's luma is its Y plane), except where alpha is to be
  // composited: then it gives RGBA.
  const bool composite = background_rgb(config) && (channels == 2 || channels == 4);
  const int requested = composite ? 4 : static_cast<int>(config.channels);
  const int declared_width = width, declared_height = height;
  StbPixels pixels{stbi_load_from_memory(encoded, length, &width, &height, &channels, requested)};
  if (!pixels.data) cannot_decode(name);
  if (width != declared_width || height != declared_height)
    throw RuntimeError("image '" + abbreviate(name) +
                       "' is damaged: its header and its data disagree on its size; remove or replace the file");
  finish_image(pixels.data, width, height, requested, config, out);
}

void finish_image(const uint8_t* pixels, int width, int height, int channels, const DataConfig& config, uint8_t* out) {
  const int size = static_cast<int>(config.image_size), wanted = static_cast<int>(config.channels);
  const size_t count = static_cast<size_t>(width) * height;
  std::vector<uint8_t> converted;
  if (channels != wanted) {
    converted = convert_channels(pixels, count, channels, wanted, background_rgb(config));
    pixels = converted.data();
  }
  const std::vector<uint8_t> hwc = resize_center_crop(pixels, width, height, wanted, size);
  const size_t plane = static_cast<size_t>(size) * size;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < wanted; ++c) out[c * plane + i] = hwc[i * wanted + c];
}

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

ImageSource open_image_folder(const DataConfig& config) {
  const fs::path root(config.path);
  auto files = std::make_shared<std::vector<std::string>>();
  ImageSource source;
  source.kind = SourceKind::image_folder;
  source.description = "image folder " + root.string();

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

  // Every image counts for the fingerprint and the state (a change anywhere in the folder); data.limit takes the
  // first ones.
  const auto limit = static_cast<size_t>(config.limit > 0 ? config.limit : INT64_MAX);
  std::vector<std::pair<std::string, uint64_t>> names_and_sizes;
  auto add_files = [&](const std::vector<fs::path>& class_files, int64_t label) {
    for (const auto& f : class_files) {
      uint64_t bytes = 0;
      const std::string name = relative_name(f.string(), config.path);
      source.state += file_state_line(f.string(), name, &bytes);
      names_and_sizes.emplace_back(name, bytes);
      if (files->size() >= limit) continue;
      files->push_back(f.string());
      if (!class_dirs.empty()) source.labels.push_back(label);
    }
  };
  if (class_dirs.empty()) {
    add_files(loose, 0);
  } else {
    for (size_t c = 0; c < class_dirs.size(); ++c) {
      source.classes.push_back(class_dirs[c].filename().string());
      add_files(sorted_entries(class_dirs[c], false), static_cast<int64_t>(c));
    }
  }
  if (files->empty())
    throw RuntimeError("no images found in '" + abbreviate(root.string()) +
                       "' (looked for .png, .jpg, .jpeg, .bmp, directly or one subfolder per class)");
  source.count = static_cast<int64_t>(files->size());
  source.fingerprint = names_and_sizes_fingerprint(names_and_sizes);
  source.decode = [files, config](int64_t begin, int64_t end, uint8_t* out, int threads) {
    const auto image_bytes = static_cast<size_t>(config.channels * config.image_size * config.image_size);
    parallel_for(begin, end, threads, [&](int64_t i, int) {
      const std::string& file = (*files)[static_cast<size_t>(i)];
      decode_encoded_image(read_file(file), file, config, out + static_cast<size_t>(i - begin) * image_bytes);
    });
  };
  return source;
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
