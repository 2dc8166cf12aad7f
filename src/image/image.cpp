// Grid tiling and PNG, JPEG or BMP encoding of generated images.
#include "ganpp/image.hpp"

#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"

namespace ganpp {

torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t padding, double pad_value) {
  TORCH_CHECK(images.dim() == 4, "make_grid expects [N, C, H, W]");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min(nrow, n);
  const int64_t rows = (n + cols - 1) / cols;
  torch::Tensor grid = torch::full({c, rows * (h + padding) + padding, cols * (w + padding) + padding}, pad_value,
                                   images.options());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = padding + (i / cols) * (h + padding), x = padding + (i % cols) * (w + padding);
    grid.narrow(1, y, h).narrow(2, x, w).copy_(images[i]);
  }
  return grid;
}

std::string to_pixels(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 3, "to_pixels expects [C, H, W]");
  const torch::Tensor hwc = image.detach()
                                .to(torch::kCPU, torch::kFloat32)
                                .add(1.0)
                                .mul(127.5)
                                .round()
                                .clamp(0, 255)
                                .to(torch::kUInt8)
                                .permute({1, 2, 0})
                                .contiguous();
  return std::string(reinterpret_cast<const char*>(hwc.data_ptr<uint8_t>()), static_cast<size_t>(hwc.numel()));
}

std::optional<ImageFormat> image_format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") return ImageFormat::png;
  if (ext == ".jpg" || ext == ".jpeg") return ImageFormat::jpeg;
  if (ext == ".bmp") return ImageFormat::bmp;
  return std::nullopt;
}

std::string encode_image(const torch::Tensor& image, ImageFormat format) {
  static const char* const kNames[] = {"PNG", "JPEG", "BMP"};
  const char* name = kNames[static_cast<int>(format)];
  const int c = static_cast<int>(image.size(0)), h = static_cast<int>(image.size(1)),
            w = static_cast<int>(image.size(2));
  if (c != 1 && c != 3)
    throw RuntimeError(std::string("cannot write a ") + name + " with " + std::to_string(c) + " channels");
  const std::string pixels = to_pixels(image);
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  int ok = 0;
  switch (format) {
    case ImageFormat::png: ok = stbi_write_png_to_func(append, &out, w, h, c, pixels.data(), w * c); break;
    case ImageFormat::jpeg: ok = stbi_write_jpg_to_func(append, &out, w, h, c, pixels.data(), /*quality=*/95); break;
    case ImageFormat::bmp: ok = stbi_write_bmp_to_func(append, &out, w, h, c, pixels.data()); break;
  }
  if (!ok)
    throw RuntimeError(std::string(name) + " encoding failed for a " + std::to_string(w) + "x" + std::to_string(h) +
                       " image");
  return out;
}

std::string encode_png(const torch::Tensor& image) { return encode_image(image, ImageFormat::png); }

void write_png(const std::string& path, const torch::Tensor& image) { write_file_atomic(path, encode_png(image)); }

void write_image(const std::string& path, const torch::Tensor& image) {
  const auto format = image_format_of(path);
  if (!format)
    throw UsageError("cannot write image '" + abbreviate(path) +
                     "': its extension names no image format; use .png, .jpg, .jpeg or .bmp");
  write_file_atomic(path, encode_image(image, *format));
}

}  // namespace ganpp
