// Animated GIF output through giflib: frames of generated images (latent walks) as one looping file.
#pragma once

#include <string>

#include <torch/torch.h>

namespace ganpp {

/// Encodes frames [F, C, H, W] in [-1, 1] (C = 1 or 3) as an animated GIF that loops forever and shows each
/// frame for `delay_cs` hundredths of a second. Grayscale uses a 256-level gray palette, so pixels are exactly
/// those of the PNGs. RGB uses one 256-colour palette for all frames, chosen by giflib's median-cut
/// GifQuantizeBuffer over every frame at once (so colours do not flicker between frames).
std::string encode_gif(const torch::Tensor& frames, int delay_cs);

/// encode_gif, written atomically; throws RuntimeError naming the path on failure.
void write_gif(const std::string& path, const torch::Tensor& frames, int delay_cs);

}  // namespace ganpp
