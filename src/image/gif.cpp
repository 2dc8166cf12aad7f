// Animated GIF encoding with giflib (see gif.hpp): palette, frames with delays, the looping extension.
#include "ganpp/gif.hpp"

#include <gif_lib.h>

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

  // Written record by record from our own buffers: giflib's SavedImage path (EGifSpew) does not free the
  // frames, their extension blocks or the palette it is given, so every GIF would leak them.
  std::string out;
  int error = 0;
  GifFileType* gif = EGifOpen(&out, append_bytes, &error);
  if (!gif) fail("open", error);
  auto abandon = [&](const std::string& what) {
    const int code = gif->Error;
    EGifCloseFile(gif, nullptr);  // frees the file and the palette copy EGifPutScreenDesc made
    fail(what, code);
  };
  ColorMapObject* palette = GifMakeMapObject(256, colors.data());
  if (!palette) abandon("palette");
  EGifSetGifVersion(gif, true);  // GIF89a: the delays and the loop are extensions
  const int screen = EGifPutScreenDesc(gif, static_cast<int>(w), static_cast<int>(h), 8, 0, palette);
  GifFreeMapObject(palette);  // EGifPutScreenDesc keeps its own copy
  if (screen == GIF_ERROR) abandon("screen");
  // NETSCAPE2.0 application extension before the first frame: loop forever (count 0).
  static const GifByteType kApp[] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
  static const GifByteType kLoop[] = {1, 0, 0};
  if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
      EGifPutExtensionBlock(gif, sizeof(kApp), kApp) == GIF_ERROR ||
      EGifPutExtensionBlock(gif, sizeof(kLoop), kLoop) == GIF_ERROR || EGifPutExtensionTrailer(gif) == GIF_ERROR)
    abandon("loop extension");
  GraphicsControlBlock gcb{};
  gcb.DisposalMode = DISPOSE_DO_NOT;
  gcb.UserInputFlag = false;
  gcb.DelayTime = delay_cs;
  gcb.TransparentColor = NO_TRANSPARENT_COLOR;
  GifByteType delay[4];
  const int delay_size = static_cast<int>(EGifGCBToExtension(&gcb, delay));
  for (int64_t k = 0; k < f; ++k) {
    if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, delay_size, delay) == GIF_ERROR) abandon("frame delay");
    if (EGifPutImageDesc(gif, 0, 0, static_cast<int>(w), static_cast<int>(h), false, nullptr) == GIF_ERROR)
      abandon("frame");
    if (EGifPutLine(gif, indices.data() + k * w * h, static_cast<int>(w * h)) == GIF_ERROR) abandon("frame pixels");
  }
  if (EGifCloseFile(gif, &error) == GIF_ERROR) fail("write", error);  // writes the trailer; frees the file
  return out;
}

void write_gif(const std::string& path, const torch::Tensor& frames, int delay_cs) {
  write_file_atomic(path, encode_gif(frames, delay_cs));
}

}  // namespace ganpp
