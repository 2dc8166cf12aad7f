// Generation from checkpoints: latents, batched eval-mode forward passes, walks and image files.
#include "ganpp/sample.hpp"

#include <cmath>
#include <filesystem>

#include "ganpp/checkpoint.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/image.hpp"
#include "ganpp/rng.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {
constexpr uint64_t kSampleStream = 0x53414D50ULL;
constexpr int64_t kChunk = 256;  // images per forward pass: bounds memory for large --n
}  // namespace

LoadedGenerator load_generator(const std::string& path, torch::Device device) {
  CheckpointReader reader(resolve_checkpoint_path(path), device);
  LoadedGenerator out;
  out.config = reader.config();
  out.classes = reader.state().classes;
  out.step = reader.state().step;
  out.ganpp_version = reader.origin().ganpp_version;
  Networks nets = build_networks(out.config);
  nets.g->to(device);
  nets.d->to(device);
  reader.load_networks(*nets.g, *nets.d);
  // A run that keeps a moving average samples from it (as its grids did).
  out.ema = reader.has_generator_ema();
  if (out.ema) reader.load_generator_ema(*nets.g);
  nets.g->eval();
  out.g = nets.g;
  return out;
}

torch::Tensor random_latents(int64_t n, int64_t z_dim, uint64_t seed) {
  auto gen = make_generator(seed, kSampleStream);
  return torch::randn({n, z_dim}, gen);
}

torch::Tensor generate(GeneratorBase& g, const torch::Tensor& z, const torch::Tensor& labels, torch::Device device) {
  torch::NoGradGuard no_grad;
  g.eval();
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < z.size(0); i += kChunk) {
    const int64_t n = std::min(kChunk, z.size(0) - i);
    const auto y = labels.defined() ? labels.narrow(0, i, n).to(device) : torch::Tensor();
    parts.push_back(g.to_signed_range(g.forward(z.narrow(0, i, n).to(device), y)).cpu());
  }
  return torch::cat(parts);
}

torch::Tensor generate(GeneratorBase& g, const torch::Tensor& z, torch::Device device) {
  return generate(g, z, {}, device);
}

int64_t resolve_class(const std::string& name_or_index, const LoadedGenerator& loaded) {
  const int64_t classes = conditional_classes(loaded.config);
  if (classes == 0)
    throw RuntimeError("--class needs a class-conditional model; this checkpoint's model is unconditional");
  for (size_t i = 0; i < loaded.classes.size(); ++i)
    if (loaded.classes[i] == name_or_index) return static_cast<int64_t>(i);
  const bool digits = !name_or_index.empty() && name_or_index.find_first_not_of("0123456789") == std::string::npos;
  if (digits && name_or_index.size() < 10 && std::stoll(name_or_index) < classes) return std::stoll(name_or_index);
  std::string names;
  for (const auto& c : loaded.classes) names += (names.empty() ? "" : ", ") + c;
  throw RuntimeError("--class '" + name_or_index + "' is not a class of this model; give an index from 0 to " +
                     std::to_string(classes - 1) + (names.empty() ? "" : " or one of: " + names));
}

torch::Tensor sample_labels(const LoadedGenerator& loaded, int64_t n, int64_t cls) {
  const int64_t classes = conditional_classes(loaded.config);
  if (classes == 0) return {};
  if (cls >= 0) return torch::full({n}, cls, torch::kInt64);
  return class_cycle_labels(n, classes);
}

torch::Tensor class_cycle_labels(int64_t n, int64_t classes) {
  return torch::arange(n, torch::kInt64).remainder(classes);
}

torch::Tensor class_row_labels(int64_t classes, int64_t per_row) {
  return torch::arange(classes, torch::kInt64).repeat_interleave(per_row);
}

torch::Tensor lerp(const torch::Tensor& a, const torch::Tensor& b, double t) { return a * (1 - t) + b * t; }

torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t) {
  const auto cos = torch::cosine_similarity(a, b, /*dim=*/1).clamp(-1.0, 1.0).unsqueeze(1);
  const auto omega = torch::acos(cos);
  const auto sin = torch::sin(omega);
  // Nearly parallel vectors: slerp's weights become 0/0, and lerp is the same path.
  const auto parallel = sin.abs() < 1e-6;
  const auto safe = torch::where(parallel, torch::ones_like(sin), sin);
  const auto wa = torch::where(parallel, torch::full_like(sin, 1 - t), torch::sin((1 - t) * omega) / safe);
  const auto wb = torch::where(parallel, torch::full_like(sin, t), torch::sin(t * omega) / safe);
  return wa * a + wb * b;
}

int64_t walk_frames(int64_t points, int64_t steps) { return (points - 1) * (steps - 1) + 1; }

torch::Tensor class_walk_weights(const std::vector<int64_t>& classes, int64_t num_classes, int64_t steps) {
  TORCH_CHECK(classes.size() >= 2, "class_walk_weights: a walk needs at least two classes");
  const auto eye = torch::eye(num_classes);
  std::vector<torch::Tensor> frames;
  for (size_t s = 0; s + 1 < classes.size(); ++s)
    for (int64_t k = (s == 0 ? 0 : 1); k < steps; ++k)
      frames.push_back(lerp(eye[classes[s]].unsqueeze(0), eye[classes[s + 1]].unsqueeze(0),
                            static_cast<double>(k) / (steps - 1)));
  return torch::cat(frames);
}

torch::Tensor walk_latents(int64_t rows, int64_t points, int64_t steps, WalkMode mode, int64_t z_dim, uint64_t seed) {
  TORCH_CHECK(points >= 2, "walk_latents: a walk needs at least 2 points");
  TORCH_CHECK(steps >= 2, "walk_latents: a segment needs at least 2 steps (both ends)");
  const auto anchors = random_latents(rows * points, z_dim, seed).view({rows, points, z_dim});
  std::vector<torch::Tensor> frames;
  for (int64_t s = 0; s < points - 1; ++s) {
    const auto a = anchors.select(1, s), b = anchors.select(1, s + 1);
    for (int64_t k = (s == 0 ? 0 : 1); k < steps; ++k) {
      const double t = static_cast<double>(k) / (steps - 1);
      frames.push_back(mode == WalkMode::slerp ? slerp(a, b, t) : lerp(a, b, t));
    }
  }
  return torch::stack(frames, /*dim=*/1).reshape({rows * walk_frames(points, steps), z_dim});
}

torch::Tensor walk_animation(const torch::Tensor& images, int64_t rows, int64_t frames_per_walk) {
  TORCH_CHECK(images.dim() == 4 && images.size(0) == rows * frames_per_walk, "walk_animation: bad image count");
  const auto per_walk = images.reshape({rows, frames_per_walk, images.size(1), images.size(2), images.size(3)});
  const auto nrow = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(rows))));
  std::vector<torch::Tensor> frames;
  for (int64_t k = 0; k < frames_per_walk; ++k) frames.push_back(make_grid(per_walk.select(1, k), nrow));
  return torch::stack(frames);
}

std::string latents_path(const std::string& output, bool is_folder) {
  if (is_folder) return (fs::path(output) / "latents.pt").string();
  fs::path p(output);
  return p.replace_extension(".latents.pt").string();
}

void write_image_files(const std::string& dir, const torch::Tensor& images, const torch::Tensor& labels) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create folder '" + dir + "': " + ec.message());
  for (int64_t i = 0; i < images.size(0); ++i) {
    char name[48];
    if (labels.defined())
      std::snprintf(name, sizeof(name), "%06lld_class%lld.png", static_cast<long long>(i),
                    static_cast<long long>(labels[i].item<int64_t>()));
    else
      std::snprintf(name, sizeof(name), "%06lld.png", static_cast<long long>(i));
    write_png((fs::path(dir) / name).string(), images[i]);
  }
}

}  // namespace ganpp
