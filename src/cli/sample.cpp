// `ganpp sample`: a grid image (PNG, JPEG or BMP) and/or one PNG per sample from a checkpoint, with the latents saved
// next to them.
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/image.hpp"
#include "ganpp/pickle.hpp"
#include "ganpp/sample.hpp"

namespace ganpp::cli {
namespace {

struct SampleFlags {
  std::string checkpoint;
  int64_t n = 64;
  int64_t nrow = 8;
  uint64_t seed = 0;
  std::string grid;
  std::string dir;
  std::string tensors;
  std::string cls;
  bool per_class = false;
  DeviceFlags device;
};

int run_sample(SampleFlags& f) {
  if (f.per_class && !f.cls.empty()) throw UsageError("--per-class draws every class; drop --class");
  if (!f.grid.empty()) check_image_path("--grid", f.grid);
  if (!f.grid.empty() && !f.tensors.empty() && same_path(f.grid, f.tensors))
    throw UsageError("--grid and --tensors name the same file '" + abbreviate(f.grid) + "'; give them different names");
  const torch::Device device = f.device.setup();
  const LoadedGenerator loaded = load_generator(f.checkpoint, device);
  torch::Tensor z, labels;
  if (f.per_class) {
    // One row per class, the same --nrow latents in every row (like a conditional run's grids).
    const int64_t classes = conditional_classes(loaded.config);
    if (classes == 0)
      throw RuntimeError("--per-class needs a class-conditional model; this checkpoint's is unconditional");
    f.n = classes * f.nrow;
    z = random_latents(f.nrow, loaded.config.model.z_dim, f.seed).repeat({classes, 1});
    labels = class_row_labels(classes, f.nrow);
  } else {
    z = random_latents(f.n, loaded.config.model.z_dim, f.seed);
    labels = sample_labels(loaded, f.n, f.cls.empty() ? -1 : resolve_class(f.cls, loaded));
  }
  const auto images = generate(*loaded.g, z, labels, device);
  std::string grid = f.grid;
  if (grid.empty() && f.dir.empty()) {
    grid = "grid.png";
    spdlog::info("neither --grid nor --dir given: writing grid.png in the current folder");
  }
  if (!grid.empty()) {
    write_image(grid, make_grid(images, f.nrow));
    spdlog::info("wrote {} ({} samples, step {} of the checkpoint)", grid, f.n, loaded.step);
    write_latents(latents_path(grid, /*is_folder=*/false), z, labels);
  }
  if (!f.dir.empty()) {
    write_image_files(f.dir, images, labels);
    spdlog::info("wrote {} images to {}", f.n, f.dir);
    write_latents(latents_path(f.dir, /*is_folder=*/true), z, labels);
  }
  if (!f.tensors.empty()) {
    std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"latents", z}, {"images", images.to(torch::kFloat)}};
    if (labels.defined()) tensors.emplace_back("labels", labels);
    write_tensor_dict(f.tensors, tensors);
    spdlog::info("wrote {} (latents and images as float tensors, for torch.load)", f.tensors);
  }
  return 0;
}

}  // namespace

Command add_sample(CLI::App& app) {
  auto flags = std::make_shared<SampleFlags>();
  CLI::App* cmd = app.add_subcommand("sample", "draw samples from a checkpoint");
  cmd->add_option("--checkpoint", flags->checkpoint, "checkpoint file, or a run directory (its latest)")->required();
  cmd->add_option("--n", flags->n, "number of samples")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--nrow", flags->nrow, "samples per grid row")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", flags->seed, "latent seed")->capture_default_str();
  cmd->add_option("--class", flags->cls,
                  "conditional models: draw only this class (index or class name); default: the classes in turn");
  cmd->add_flag("--per-class", flags->per_class,
                "conditional models: one row per class, --nrow samples each, the same latents in every row "
                "(--n is then classes x nrow)");
  cmd->add_option("--grid", flags->grid,
                  "write the samples as one grid image: PNG, JPEG or BMP by the extension (.png, .jpg, .jpeg, .bmp)");
  cmd->add_option("--dir", flags->dir, "write one PNG per sample into this folder (000000.png, ...)");
  cmd->add_option("--tensors", flags->tensors,
                  "also write {latents, images} (float, images in [-1, 1] before PNG rounding) as a .pt file "
                  "that Python's torch.load reads");
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return run_sample(*flags); }};
}

}  // namespace ganpp::cli
