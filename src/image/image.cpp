// Grid tiling and PNG encoding of generated images.
#include "ganpp/image.hpp"

#include <stb_image_write.h>

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

std::string encode_png(const torch::Tensor& image) {
  const int c = static_cast<int>(image.size(0)), h = static_cast<int>(image.size(1)),
            w = static_cast<int>(image.size(2));
  if (c != 1 && c != 3) throw RuntimeError("cannot write a PNG with " + std::to_string(c) + " channels");
  const std::string pixels = to_pixels(image);
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &out, w, h, c, pixels.data(), w * c))
    throw RuntimeError("PNG encoding failed for a " + std::to_string(w) + "x" + std::to_string(h) + " image");
  return out;
}

void write_png(const std::string& path, const torch::Tensor& image) { write_file_atomic(path, encode_png(image)); }

}  // namespace ganpp
