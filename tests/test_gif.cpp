// Animated GIFs through giflib: decoded back with DGifSlurp, frame count, size, delay, looping and pixels.
#include <gif_lib.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "ganpp/gif.hpp"
#include "ganpp/image.hpp"

using namespace ganpp;

namespace {

// A decoded GIF, freed with the object.
struct Decoded {
  GifFileType* gif = nullptr;
  ~Decoded() {
    if (gif) DGifCloseFile(gif, nullptr);
  }
};

struct Reader {
  const std::string* bytes;
  size_t at = 0;
};

int read_bytes(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<Reader*>(gif->UserData);
  const size_t take = std::min(static_cast<size_t>(n), r->bytes->size() - r->at);
  std::memcpy(out, r->bytes->data() + r->at, take);
  r->at += take;
  return static_cast<int>(take);
}

void decode(const std::string& bytes, Decoded& out) {
  Reader reader{&bytes};
  int error = 0;
  out.gif = DGifOpen(&reader, read_bytes, &error);
  ASSERT_NE(out.gif, nullptr) << GifErrorString(error);
  ASSERT_EQ(DGifSlurp(out.gif), GIF_OK) << GifErrorString(out.gif->Error);
}

TEST(GifTest, GrayscaleFramesDecodeToTheExactPixelsWithDelayAndLoop) {
  const auto frames = torch::rand({3, 1, 5, 7}, torch::TensorOptions().dtype(torch::kFloat32)) * 2 - 1;
  Decoded d;
  decode(encode_gif(frames, /*delay_cs=*/8), d);
  ASSERT_EQ(d.gif->ImageCount, 3);
  EXPECT_EQ(d.gif->SWidth, 7);
  EXPECT_EQ(d.gif->SHeight, 5);
  ASSERT_NE(d.gif->SColorMap, nullptr);
  for (int k = 0; k < 3; ++k) {
    const SavedImage& image = d.gif->SavedImages[k];
    EXPECT_EQ(image.ImageDesc.Width, 7);
    EXPECT_EQ(image.ImageDesc.Height, 5);
    const std::string expected = to_pixels(frames[k]);
    for (int p = 0; p < 35; ++p) {
      const GifColorType c = d.gif->SColorMap->Colors[image.RasterBits[p]];
      ASSERT_EQ(c.Red, static_cast<uint8_t>(expected[p])) << "frame " << k << " pixel " << p;
      ASSERT_EQ(c.Green, c.Red);
      ASSERT_EQ(c.Blue, c.Red);
    }
    GraphicsControlBlock gcb;
    ASSERT_EQ(DGifSavedExtensionToGCB(d.gif, k, &gcb), GIF_OK);
    EXPECT_EQ(gcb.DelayTime, 8);
  }
  // The NETSCAPE2.0 looping extension comes with the first frame, loop count 0 (forever).
  const SavedImage& first = d.gif->SavedImages[0];
  bool loops = false;
  for (int i = 0; i + 1 < first.ExtensionBlockCount; ++i) {
    const ExtensionBlock& e = first.ExtensionBlocks[i];
    if (e.Function == APPLICATION_EXT_FUNC_CODE && e.ByteCount == 11 && std::memcmp(e.Bytes, "NETSCAPE2.0", 11) == 0) {
      const ExtensionBlock& sub = first.ExtensionBlocks[i + 1];
      loops = sub.ByteCount == 3 && sub.Bytes[0] == 1 && sub.Bytes[1] == 0 && sub.Bytes[2] == 0;
    }
  }
  EXPECT_TRUE(loops);
}

TEST(GifTest, RgbFramesShareOnePaletteCloseToTheColours) {
  // Six flat colours spread over frames: the median cut keeps each within its 5-bit histogram cell.
  const std::vector<std::array<double, 3>> colours = {{-1, -1, -1}, {1, 1, 1},   {1, -1, -1},
                                                      {-1, 1, -1},  {-1, -1, 1}, {0.5, 0.2, -0.4}};
  auto frames = torch::zeros({2, 3, 4, 6});
  for (int64_t k = 0; k < 2; ++k)
    for (int64_t x = 0; x < 6; ++x)
      for (int64_t ch = 0; ch < 3; ++ch) frames[k].select(0, ch).select(1, x).fill_(colours[(x + k) % 6][ch]);
  Decoded d;
  decode(encode_gif(frames, 10), d);
  ASSERT_EQ(d.gif->ImageCount, 2);
  for (int k = 0; k < 2; ++k) {
    const std::string expected = to_pixels(frames[k]);
    for (int p = 0; p < 24; ++p) {
      const GifColorType c = d.gif->SColorMap->Colors[d.gif->SavedImages[k].RasterBits[p]];
      EXPECT_NEAR(c.Red, static_cast<uint8_t>(expected[3 * p]), 8) << k << " " << p;
      EXPECT_NEAR(c.Green, static_cast<uint8_t>(expected[3 * p + 1]), 8) << k << " " << p;
      EXPECT_NEAR(c.Blue, static_cast<uint8_t>(expected[3 * p + 2]), 8) << k << " " << p;
    }
  }
}

TEST(GifTest, BadShapesAreErrors) {
  EXPECT_THROW(encode_gif(torch::zeros({2, 2, 4, 4}), 10), std::exception);
  EXPECT_THROW(encode_gif(torch::zeros({0, 1, 4, 4}), 10), std::exception);
}

}  // namespace
