// Tests of image output: grid tiling, [-1, 1] to 8-bit conversion, PNG encoding and atomic writes.
#include <gtest/gtest.h>

#include <stb_image.h>

#include <filesystem>
#include <string>

#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/image.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

using test::TempDir;

// A value in [-1, 1] that to_pixels maps back to exactly `p`.
float from_pixel(int p) { return static_cast<float>(p / 127.5 - 1.0); }

// An image [C, H, W] whose pixel values are (13x + 29y + 71c + 5) % 256, as [-1, 1] floats.
torch::Tensor patterned_image(int64_t c, int64_t h, int64_t w) {
  torch::Tensor img = torch::empty({c, h, w});
  auto a = img.accessor<float, 3>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[k][y][x] = from_pixel(static_cast<int>((13 * x + 29 * y + 71 * k + 5) % 256));
  return img;
}

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(ImageTest, GridShape) {
  const torch::Tensor images = torch::rand({10, 3, 5, 7}) * 2 - 1;
  const torch::Tensor grid = make_grid(images, /*nrow=*/4, /*padding=*/2);
  // 10 images, 4 per row: 3 rows.
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{3, 3 * (5 + 2) + 2, 4 * (7 + 2) + 2}));
}

TEST_F(ImageTest, GridPlacesEveryImageAndPads) {
  const int64_t h = 5, w = 7, pad = 2, nrow = 4;
  // Image i is filled with a distinct value inside (-1, 1).
  const torch::Tensor images =
      (torch::arange(10, torch::kFloat32) / 10.0 - 0.45).view({10, 1, 1, 1}).expand({10, 3, h, w}).contiguous();
  const torch::Tensor grid = make_grid(images, nrow, pad);
  for (int64_t i = 0; i < 10; ++i) {
    const int64_t y = pad + (i / nrow) * (h + pad), x = pad + (i % nrow) * (w + pad);
    EXPECT_TRUE(torch::equal(grid.narrow(1, y, h).narrow(2, x, w), images[i])) << "image " << i;
  }
  // Padding (default -1) around and between tiles, and the two empty slots of the last row.
  EXPECT_EQ(grid[0][0][0].item<float>(), -1.0f);
  EXPECT_EQ(grid[1][pad + h][pad].item<float>(), -1.0f);  // between rows
  EXPECT_EQ(grid[2][pad][pad + w].item<float>(), -1.0f);  // between columns
  const int64_t last_row_y = pad + 2 * (h + pad), empty_x = pad + 2 * (w + pad);
  EXPECT_TRUE(grid.narrow(1, last_row_y, h).narrow(2, empty_x, 2 * w + pad).eq(-1.0).all().item<bool>());
  // Pixels that are padding: total minus 10 tiles.
  const int64_t padding_pixels = grid.size(1) * grid.size(2) - 10 * h * w;
  EXPECT_EQ(grid[0].eq(-1.0).sum().item<int64_t>(), padding_pixels);
}

TEST_F(ImageTest, GridCustomPaddingValueAndFewImages) {
  const torch::Tensor images = torch::zeros({2, 1, 3, 3});
  const torch::Tensor grid = make_grid(images, /*nrow=*/8, /*padding=*/1, /*pad_value=*/0.5);
  // Fewer images than nrow: one row of two, not eight columns.
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{1, 3 + 2, 2 * 4 + 1}));
  EXPECT_EQ(grid[0][0][0].item<float>(), 0.5f);
  EXPECT_EQ(grid[0][1][1].item<float>(), 0.0f);
}

TEST_F(ImageTest, ToPixelsMapping) {
  const torch::Tensor image = torch::tensor({-1.0f, 1.0f, 0.0f, 0.5f, -2.0f, 3.0f}).view({1, 2, 3});
  const std::string pixels = to_pixels(image);
  ASSERT_EQ(pixels.size(), 6u);
  EXPECT_EQ(uint8_t(pixels[0]), 0);
  EXPECT_EQ(uint8_t(pixels[1]), 255);
  EXPECT_EQ(uint8_t(pixels[2]), 128);  // 127.5 rounds to 128
  EXPECT_EQ(uint8_t(pixels[3]), 191);  // 191.25
  EXPECT_EQ(uint8_t(pixels[4]), 0);    // clamped
  EXPECT_EQ(uint8_t(pixels[5]), 255);  // clamped
}

TEST_F(ImageTest, ToPixelsInterleavesChannels) {
  // [C=3, H=1, W=2] -> HWC: r0 g0 b0 r1 g1 b1.
  const torch::Tensor image = torch::tensor({from_pixel(10), from_pixel(11), from_pixel(20), from_pixel(21),
                                             from_pixel(30), from_pixel(31)})
                                  .view({3, 1, 2});
  const std::string pixels = to_pixels(image);
  ASSERT_EQ(pixels.size(), 6u);
  const int expected[6] = {10, 20, 30, 11, 21, 31};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(uint8_t(pixels[i]), expected[i]) << i;
}

TEST_F(ImageTest, ToPixelsRoundTripsEveryLevel) {
  torch::Tensor levels = torch::empty({1, 1, 256});
  for (int p = 0; p < 256; ++p) levels[0][0][p] = from_pixel(p);
  const std::string pixels = to_pixels(levels);
  for (int p = 0; p < 256; ++p) EXPECT_EQ(uint8_t(pixels[p]), p);
}

void expect_png_round_trip(int64_t channels) {
  const int64_t h = 6, w = 9;
  const torch::Tensor image = patterned_image(channels, h, w);
  const std::string png = encode_png(image);
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  int width = 0, height = 0, file_channels = 0;
  unsigned char* data = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()),
                                              static_cast<int>(png.size()), &width, &height, &file_channels, 0);
  ASSERT_NE(data, nullptr) << stbi_failure_reason();
  EXPECT_EQ(width, w);
  EXPECT_EQ(height, h);
  EXPECT_EQ(file_channels, channels);
  int mismatches = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < channels; ++c) {
        const int expected = static_cast<int>((13 * x + 29 * y + 71 * c + 5) % 256);
        if (data[(y * w + x) * channels + c] != expected) ++mismatches;
      }
  stbi_image_free(data);
  EXPECT_EQ(mismatches, 0);
}

TEST_F(ImageTest, PngRoundTripGray) { expect_png_round_trip(1); }

TEST_F(ImageTest, PngRoundTripRgb) { expect_png_round_trip(3); }

TEST_F(ImageTest, PngRejectsOtherChannelCounts) {
  EXPECT_THROW(encode_png(torch::zeros({2, 4, 4})), RuntimeError);
  EXPECT_THROW(encode_png(torch::zeros({4, 4, 4})), RuntimeError);
}

TEST_F(ImageTest, WritePngIsAtomic) {
  const TempDir tmp("png");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/grid.png";
  const torch::Tensor image = patterned_image(3, 4, 5);
  write_png(path, image);
  ASSERT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + kTempSuffix));
  EXPECT_EQ(test::slurp(path), encode_png(image));
  // Overwriting leaves one file and no temporary either.
  write_png(path, patterned_image(1, 4, 5));
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().filename().string(), "grid.png");
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(test::slurp(path), encode_png(patterned_image(1, 4, 5)));
}

TEST_F(ImageTest, WritePngToMissingFolderNamesPath) {
  const std::string path = "/nonexistent/ganpp-folder/x.png";
  try {
    write_png(path, patterned_image(1, 2, 2));
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ganpp
