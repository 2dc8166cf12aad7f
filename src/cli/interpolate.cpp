// `ganpp interpolate`: latent walks as a strip image (one row per walk), optionally one PNG per frame and an
// animated GIF; the latents are saved next to each output.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/gif.hpp"
#include "ganpp/image.hpp"
#include "ganpp/sample.hpp"

namespace ganpp::cli {
namespace {

// The most frames (walks x frames per walk) one call generates: a bound on memory and time well above any strip
// or GIF one looks at (README: Sampling and interpolation).
constexpr int64_t kMaxInterpolateFrames = 10000;

struct InterpolateFlags {
  std::string checkpoint;
  std::string out;
  int64_t points = 2;
  int64_t steps = 8;
  std::string mode = "slerp";
  int64_t rows = 1;
  uint64_t seed = 0;
  std::string frames;
  std::string gif;
  double fps = 10;
  std::string cls;
  std::vector<std::string> class_walk;
  DeviceFlags device;
};

// Refuses, before any work, outputs in a format their extension does not name and outputs that overwrite
// one another.
void check_output_paths(const InterpolateFlags& f) {
  if (!f.gif.empty() && same_path(f.gif, f.out))
    throw UsageError("--gif and --out name the same file '" + abbreviate(f.out) +
                     "': the GIF would overwrite the strip; give them different names");
  if (!f.frames.empty() && (same_path(f.frames, f.out) || (!f.gif.empty() && same_path(f.frames, f.gif))))
    throw UsageError("--frames '" + abbreviate(f.frames) +
                     "' names the file of --out or --gif; give the frames a folder of their own");
  check_image_path("--out", f.out);
  std::string gif_ext = std::filesystem::path(f.gif).extension().string();
  std::transform(gif_ext.begin(), gif_ext.end(), gif_ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!f.gif.empty() && gif_ext != ".gif")
    throw UsageError("--gif '" + abbreviate(f.gif) + "' must end in .gif (it is written as a GIF)");
}

int run_interpolate(InterpolateFlags& f) {
  if (!f.class_walk.empty() && !f.cls.empty()) throw UsageError("--class-walk and --class exclude each other");
  if (f.class_walk.size() == 1) throw UsageError("--class-walk needs at least two classes, e.g. --class-walk 0,7");
  check_output_paths(f);
  const int64_t stops = f.class_walk.empty() ? f.points : static_cast<int64_t>(f.class_walk.size());
  const int64_t total = f.rows * walk_frames(stops, f.steps);
  if (total > kMaxInterpolateFrames)
    throw UsageError("--rows " + std::to_string(f.rows) + " x " + std::to_string(walk_frames(stops, f.steps)) +
                     " frames per walk ((" + (f.class_walk.empty() ? "--points" : "classes of --class-walk") +
                     " - 1) x (--steps - 1) + 1) = " + std::to_string(total) + " frames, more than the " +
                     std::to_string(kMaxInterpolateFrames) + " interpolate generates at most; lower --rows, " +
                     (f.class_walk.empty() ? "--points" : "--class-walk") + " or --steps");
  const torch::Device device = f.device.setup();
  const LoadedGenerator loaded = load_generator(f.checkpoint, device);
  torch::Tensor z, labels;
  int64_t per_walk = walk_frames(f.points, f.steps);
  if (!f.class_walk.empty()) {
    // Between classes at a fixed latent per walk: the label moves, z stays.
    std::vector<int64_t> classes;
    for (const auto& c : f.class_walk) classes.push_back(resolve_class(c, loaded));
    const auto weights = class_walk_weights(classes, conditional_classes(loaded.config), f.steps);
    per_walk = weights.size(0);
    z = random_latents(f.rows, loaded.config.model.z_dim, f.seed).repeat_interleave(per_walk, /*dim=*/0);
    labels = weights.repeat({f.rows, 1});
  } else {
    z = walk_latents(f.rows, f.points, f.steps, f.mode == "lerp" ? WalkMode::lerp : WalkMode::slerp,
                     loaded.config.model.z_dim, f.seed);
    // Conditional models: every frame of a latent walk has one class, --class or walk k's class k mod C.
    if (conditional_classes(loaded.config) > 0) {
      const int64_t cls = f.cls.empty() ? -1 : resolve_class(f.cls, loaded);
      labels = sample_labels(loaded, f.rows, cls).repeat_interleave(per_walk);
    } else if (!f.cls.empty()) {
      resolve_class(f.cls, loaded);  // explains that the model is unconditional
    }
  }
  const auto images = generate(*loaded.g, z, labels, device);
  write_image(f.out, make_grid(images, per_walk));
  spdlog::info("wrote {} ({} walk(s) of {} frames, {})", f.out, f.rows, per_walk,
               f.class_walk.empty() ? f.mode : "between classes at fixed latents");
  write_latents(latents_path(f.out, /*is_folder=*/false), z, labels);
  if (!f.frames.empty()) {
    // Frames of a class walk mix classes: no single class to name in the file.
    write_image_files(f.frames, images, f.class_walk.empty() ? labels : torch::Tensor());
    spdlog::info("wrote {} frames to {}", images.size(0), f.frames);
    write_latents(latents_path(f.frames, /*is_folder=*/true), z, labels);
  }
  if (!f.gif.empty()) {
    const int delay_cs = static_cast<int>(std::lround(100.0 / f.fps));
    write_gif(f.gif, walk_animation(images, f.rows, per_walk), std::max(delay_cs, 1));
    spdlog::info("wrote {} ({} frames at {} fps, every walk in each frame)", f.gif, per_walk, f.fps);
    if (latents_path(f.gif, false) != latents_path(f.out, false)) write_latents(latents_path(f.gif, false), z, labels);
  }
  return 0;
}

}  // namespace

Command add_interpolate(CLI::App& app) {
  auto flags = std::make_shared<InterpolateFlags>();
  CLI::App* cmd = app.add_subcommand("interpolate", "walk the latent space between random points");
  cmd->add_option("--checkpoint", flags->checkpoint, "checkpoint file, or a run directory (its latest)")->required();
  cmd->add_option("--out", flags->out,
                  "strip image, one row per walk: PNG, JPEG or BMP by the extension (.png, .jpg, .jpeg, .bmp)")
      ->required();
  cmd->add_option("--points", flags->points, "random latents each walk visits (walks x frames per walk: at most 10000)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--steps", flags->steps, "frames per segment, both ends included")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--mode", flags->mode, "slerp or lerp")
      ->capture_default_str()
      ->check(CLI::IsMember({"slerp", "lerp"}));
  cmd->add_option("--rows", flags->rows, "number of walks")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", flags->seed, "latent seed")->capture_default_str();
  cmd->add_option("--class", flags->cls,
                  "conditional models: walk within this class (index or class name); default: walk k shows class k");
  cmd->add_option("--class-walk", flags->class_walk,
                  "conditional models: keep each walk's latent fixed and move the label through these classes "
                  "(indices or names, comma-separated, e.g. 0,7,9), --steps frames per segment; --points and "
                  "--mode are then unused")
      ->delimiter(',');
  cmd->add_option("--frames", flags->frames, "also write one PNG per frame into this folder");
  cmd->add_option("--gif", flags->gif, "also write an animated GIF: frame k shows every walk's k-th image");
  cmd->add_option("--fps", flags->fps, "frames per second of the GIF")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 100.0));
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return run_interpolate(*flags); }};
}

}  // namespace ganpp::cli
