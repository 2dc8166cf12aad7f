// `ganpp interpolate`: latent walks as a strip (one row per walk) and optionally one PNG per frame.
#include <filesystem>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/image.hpp"
#include "ganpp/sample.hpp"

namespace ganpp::cli {
namespace {

struct InterpolateFlags {
  std::string checkpoint;
  std::string out;
  int64_t points = 2;
  int64_t steps = 8;
  std::string mode = "slerp";
  int64_t rows = 1;
  uint64_t seed = 0;
  std::string frames;
  std::string cls;
  DeviceFlags device;
};

int run_interpolate(InterpolateFlags& f) {
  const torch::Device device = f.device.setup();
  const LoadedGenerator loaded = load_generator(f.checkpoint, device);
  const auto z = walk_latents(f.rows, f.points, f.steps, f.mode, loaded.config.model.z_dim, f.seed);
  const int64_t per_walk = walk_frames(f.points, f.steps);
  // Conditional models: every frame of a walk has one class, --class or walk k's class k mod C.
  torch::Tensor labels;
  if (conditional_classes(loaded.config) > 0) {
    const int64_t cls = f.cls.empty() ? -1 : resolve_class(f.cls, loaded);
    labels = sample_labels(loaded, f.rows, cls).repeat_interleave(per_walk);
  } else if (!f.cls.empty()) {
    resolve_class(f.cls, loaded);  // explains that the model is unconditional
  }
  const auto images = generate(*loaded.g, z, labels, device);
  write_png(f.out, make_grid(images, per_walk));
  spdlog::info("wrote {} ({} walk(s) of {} frames, {})", f.out, f.rows, per_walk, f.mode);
  if (!f.frames.empty()) {
    write_image_files(f.frames, images, labels);
    spdlog::info("wrote {} frames to {}", images.size(0), f.frames);
  }
  return 0;
}

}  // namespace

Command add_interpolate(CLI::App& app) {
  auto flags = std::make_shared<InterpolateFlags>();
  CLI::App* cmd = app.add_subcommand("interpolate", "walk the latent space between random points");
  cmd->add_option("--checkpoint", flags->checkpoint, "checkpoint file, or a run directory (its latest)")->required();
  cmd->add_option("--out", flags->out, "strip PNG: one row per walk")->required();
  cmd->add_option("--points", flags->points, "random latents each walk visits")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--steps", flags->steps, "frames per segment, both ends included")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--mode", flags->mode, "slerp or lerp")->capture_default_str()->check(CLI::IsMember({"slerp", "lerp"}));
  cmd->add_option("--rows", flags->rows, "number of walks")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", flags->seed, "latent seed")->capture_default_str();
  cmd->add_option("--class", flags->cls,
                  "conditional models: walk within this class (index or class name); default: walk k shows class k");
  cmd->add_option("--frames", flags->frames, "also write one PNG per frame into this folder");
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return run_interpolate(*flags); }};
}

}  // namespace ganpp::cli
