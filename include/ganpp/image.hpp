// Image output: tiling a batch into a grid and encoding PNGs (stb_image_write), written atomically.
#pragma once

#include <string>

#include <torch/torch.h>

namespace ganpp {

/// Tiles images [N, C, H, W] in [-1, 1] into one image [C, H', W'] with `nrow` images per row and
/// `padding` pixels of `pad_value` between and around them.
torch::Tensor make_grid(const torch::Tensor& images, int64_t nrow, int64_t padding = 2, double pad_value = -1.0);

/// Converts one image [C, H, W] in [-1, 1] to interleaved 8-bit pixels (HWC), rounding to nearest.
std::string to_pixels(const torch::Tensor& image);

/// Encodes one image [C, H, W] in [-1, 1] (C = 1 or 3) as PNG bytes.
std::string encode_png(const torch::Tensor& image);

/// Encodes and writes a PNG atomically; throws RuntimeError naming the path on failure.
void write_png(const std::string& path, const torch::Tensor& image);

}  // namespace ganpp
