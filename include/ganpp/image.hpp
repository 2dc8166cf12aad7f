// Image output: tiling a batch into a grid and encoding PNG, JPEG or BMP (stb_image_write), written atomically.
#pragma once

#include <optional>
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

/// The formats an image file can be written in; a file's extension chooses one.
enum class ImageFormat { png, jpeg, bmp };

/// The format `path`'s extension names (.png, .jpg, .jpeg, .bmp, in any case), or nullopt.
std::optional<ImageFormat> image_format_of(const std::string& path);

/// Encodes one image [C, H, W] in [-1, 1] (C = 1 or 3) as PNG, JPEG (quality 95) or BMP bytes.
std::string encode_image(const torch::Tensor& image, ImageFormat format);

/// Encodes and writes an image atomically in the format of its extension; throws UsageError when the extension
/// names no format, RuntimeError naming the path on failure.
void write_image(const std::string& path, const torch::Tensor& image);

}  // namespace ganpp
