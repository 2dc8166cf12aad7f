// Animated GIF encoding with giflib (see gif.hpp): palette, frames with delays, the looping extension.
#include "ganpp/gif.hpp"

#include <gif_lib.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/image.hpp"

namespace ganpp {
namespace {

int append_bytes(GifFileType* gif, const GifByteType* data, int size) {
  static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
  return size;
}

[[noreturn]] void fail(const std::string& what, int code) {
  throw RuntimeError("GIF encoding failed (" + what +
                     "): " + std::string(GifErrorString(code) ? GifErrorString(code) : "?"));
}

// Palette indices of every frame, one byte per pixel, frame after frame; fills `colors` (256 entries).
std::vector<GifByteType> palette_indices(const torch::Tensor& frames, std::vector<GifColorType>& colors) {
  const int64_t f = frames.size(0), c = frames.size(1), h = frames.size(2), w = frames.size(3);
  const int64_t pixels = h * w;
  std::vector<GifByteType> indices(static_cast<size_t>(f * pixels));
  colors.assign(256, GifColorType{0, 0, 0});
  if (c == 1) {
    for (int i = 0; i < 256; ++i) colors[i] = GifColorType{GifByteType(i), GifByteType(i), GifByteType(i)};
    for (int64_t k = 0; k < f; ++k) {
      const std::string gray = to_pixels(frames[k]);
      std::memcpy(indices.data() + k * pixels, gray.data(), static_cast<size_t>(pixels));
    }
    return indices;
  }
  // RGB: all frames as one tall image, so that one median-cut palette serves the whole animation.
  if (f * pixels > std::numeric_limits<int>::max())
    throw RuntimeError("GIF too large to quantise: " + std::to_string(f) + " frames of " + std::to_string(w) + "x" +
                       std::to_string(h));
  std::vector<GifByteType> r(indices.size()), g(indices.size()), b(indices.size());
  for (int64_t k = 0; k < f; ++k) {
    const std::string rgb = to_pixels(frames[k]);
    for (int64_t p = 0; p < pixels; ++p) {
      r[k * pixels + p] = static_cast<GifByteType>(rgb[3 * p]);
      g[k * pixels + p] = static_cast<GifByteType>(rgb[3 * p + 1]);
      b[k * pixels + p] = static_cast<GifByteType>(rgb[3 * p + 2]);
    }
  }
  int size = 256;
  if (GifQuantizeBuffer(static_cast<unsigned>(w), static_cast<unsigned>(f * h), &size, r.data(), g.data(), b.data(),
                        indices.data(), colors.data()) == GIF_ERROR)
    throw RuntimeError("GIF colour quantisation failed (out of memory?)");
  return indices;
}

}  // namespace

std::string encode_gif(const torch::Tensor& frames, int delay_cs) {
  TORCH_CHECK(frames.dim() == 4, "encode_gif expects [F, C, H, W]");
  const int64_t f = frames.size(0), c = frames.size(1), h = frames.size(2), w = frames.size(3);
  if (c != 1 && c != 3) throw RuntimeError("cannot write a GIF with " + std::to_string(c) + " channels");
  if (f == 0) throw RuntimeError("cannot write a GIF without frames");
  if (w > 65535 || h > 65535) throw RuntimeError("GIF frames are at most 65535 pixels wide and high");
  std::vector<GifColorType> colors;
  std::vector<GifByteType> indices = palette_indices(frames.cpu(), colors);

  std::string out;
  int error = 0;
  GifFileType* gif = EGifOpen(&out, append_bytes, &error);
  if (!gif) fail("open", error);
  gif->SWidth = static_cast<GifWord>(w);
  gif->SHeight = static_cast<GifWord>(h);
  gif->SColorResolution = 8;
  gif->SBackGroundColor = 0;
  gif->SColorMap = GifMakeMapObject(256, colors.data());
  auto abandon = [&](const std::string& what) {
    const int code = gif->Error;
    EGifCloseFile(gif, nullptr);  // frees the palette, frames and extension blocks
    fail(what, code);
  };
  if (!gif->SColorMap) abandon("palette");
  for (int64_t k = 0; k < f; ++k) {
    SavedImage* image = GifMakeSavedImage(gif, nullptr);
    if (!image) abandon("frame");
    image->ImageDesc = GifImageDesc{0, 0, static_cast<GifWord>(w), static_cast<GifWord>(h), false, nullptr};
    // giflib frees RasterBits with free() when the file is closed.
    image->RasterBits = static_cast<GifByteType*>(std::malloc(static_cast<size_t>(w * h)));
    if (!image->RasterBits) abandon("frame memory");
    std::memcpy(image->RasterBits, indices.data() + k * w * h, static_cast<size_t>(w * h));
    if (k == 0) {
      // NETSCAPE2.0 application extension before the first frame: loop forever (count 0).
      static const GifByteType kApp[] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
      static const GifByteType kLoop[] = {1, 0, 0};
      if (GifAddExtensionBlock(&image->ExtensionBlockCount, &image->ExtensionBlocks, APPLICATION_EXT_FUNC_CODE,
                               sizeof(kApp), const_cast<GifByteType*>(kApp)) == GIF_ERROR ||
          GifAddExtensionBlock(&image->ExtensionBlockCount, &image->ExtensionBlocks, CONTINUE_EXT_FUNC_CODE,
                               sizeof(kLoop), const_cast<GifByteType*>(kLoop)) == GIF_ERROR)
        abandon("loop extension");
    }
    GraphicsControlBlock gcb{};
    gcb.DisposalMode = DISPOSE_DO_NOT;
    gcb.UserInputFlag = false;
    gcb.DelayTime = delay_cs;
    gcb.TransparentColor = NO_TRANSPARENT_COLOR;
    if (EGifGCBToSavedExtension(&gcb, gif, static_cast<int>(k)) == GIF_ERROR) abandon("frame delay");
  }
  if (EGifSpew(gif) == GIF_ERROR) abandon("write");  // EGifSpew closes and frees the file when it succeeds
  return out;
}

void write_gif(const std::string& path, const torch::Tensor& frames, int delay_cs) {
  write_file_atomic(path, encode_gif(frames, delay_cs));
}

}  // namespace ganpp
