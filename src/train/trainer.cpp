// The training step (see trainer.hpp). The step body never reads device values back to the host;
// the run reads losses at log intervals and before checkpoints only.
#include "ganpp/trainer.hpp"

#include <cmath>

#include <spdlog/spdlog.h>

#include "ganpp/cuda_graph.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/eval_mode.hpp"
#include "ganpp/gradients.hpp"
#include "ganpp/image.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/sample.hpp"
#include "ganpp/version.hpp"

namespace ganpp {
namespace {

constexpr uint64_t kFixedLatentStream = 0x5A4D504CULL;  // a stream of its own: grids never draw from training RNG
// Eager steps before a CUDA graph is captured: cuDNN times its kernels for each new shape on the first ones.
constexpr int64_t kEagerStepsBeforeCapture = 3;

// dst = keep * dst + (1 - keep) * src for parameters (keep = 0 copies), buffers copied: the EMA update.
void blend_into(torch::nn::Module& dst, const torch::nn::Module& src, double keep) {
  torch::NoGradGuard no_grad;
  const auto from = src.parameters();
  auto to = dst.parameters();
  for (size_t i = 0; i < from.size(); ++i) {
    if (keep == 0.0)
      to[i].copy_(from[i]);
    else
      to[i].lerp_(from[i], 1.0 - keep);
  }
  const auto from_b = src.buffers();
  auto to_b = dst.buffers();
  for (size_t i = 0; i < from_b.size(); ++i) to_b[i].copy_(from_b[i]);
}

// WGAN's Lipschitz constraint by weight clipping (Arjovsky et al. 2017).
void clip_weights(torch::nn::Module& module, double c) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.clamp_(-c, c);
}

// Gradient clipping without a host sync (LibTorch's clip_grad_norm_ reads the norm back with .item()).
// `norm` is grad_norm(module) before clipping, reused when no value clipping changed the gradients.
void clip_grads(torch::nn::Module& module, const AdamConfig& c, const torch::Tensor& norm) {
  if ((c.clip_grad_value <= 0 && c.clip_grad_norm <= 0) || !norm.defined()) return;
  std::vector<torch::Tensor> grads;
  for (auto& p : module.parameters())
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  torch::NoGradGuard no_grad;
  if (c.clip_grad_value > 0)
    for (auto& g : grads) g.clamp_(-c.clip_grad_value, c.clip_grad_value);
  if (c.clip_grad_norm > 0) {
    const auto total = c.clip_grad_value > 0 ? grad_norm(module) : norm;
    const auto scale = (c.clip_grad_norm / (total + 1e-6)).clamp_max(1.0);
    for (auto& g : grads) g.mul_(scale);
  }
}

// The learning rate of step `step` (0-based) under optim.lr_decay.
double scheduled_lr(double base, LrDecay decay, int64_t step, int64_t steps) {
  if (decay == LrDecay::linear) return base * (1.0 - static_cast<double>(step) / static_cast<double>(steps));
  return base;
}

void set_requires_grad(torch::nn::Module& module, bool on) {
  for (auto& p : module.parameters()) p.set_requires_grad(on);
}

// A step's statistics as the graph's outputs, and back (one field order, here).
std::vector<torch::Tensor> stats_to_tensors(const StepStats& s) {
  return {s.loss_d, s.loss_g, s.d_real, s.d_fake, s.penalty, s.grad_norm_d, s.grad_norm_g};
}
StepStats stats_from_tensors(const std::vector<torch::Tensor>& t) { return {t[0], t[1], t[2], t[3], t[4], t[5], t[6]}; }

// Class k for the k-th row of a conditional grid (undefined when unconditional).
torch::Tensor grid_labels(const Config& config, torch::Device device) {
  const int64_t classes = conditional_classes(config);
  if (classes == 0) return {};
  return class_row_labels(classes, config.train.sample_nrow).to(device);
}

}  // namespace

Trainer::Trainer(const Config& config, torch::Device device)
    : config_(config), loss_(validate(config).loss), device_(device) {
  seed_all(config_.train.seed);
  // cuDNN picks the fastest kernels for the (fixed) batch shapes after timing them once.
  if (device_.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  nets_ = build_networks(config_);
  nets_.g->to(device_);
  nets_.d->to(device_);
  if (device_.is_cuda()) {
    to_channels_last(*nets_.g);
    to_channels_last(*nets_.d);
  }
  if (config_.train.ema > 0) {
    // A second generator for the average, built without drawing from the training RNG streams.
    const RngState rng = capture_rng(device_);
    ema_g_ = build_networks(config_).g;
    restore_rng(rng, device_);
    ema_g_->to(device_);
    if (device_.is_cuda()) to_channels_last(*ema_g_);
    for (auto& p : ema_g_->parameters()) p.set_requires_grad(false);
    blend_into(*ema_g_, *nets_.g, /*keep=*/0.0);
    ema_g_->eval();
  }
  // On CUDA the Adam update is one fused kernel per network where LibTorch has it (optimizer.hpp).
  opt_g_ = std::make_unique<Optimizer>(*nets_.g, config_.optim.g, /*fused=*/device_.is_cuda());
  opt_d_ = std::make_unique<Optimizer>(*nets_.d, config_.optim.d, /*fused=*/device_.is_cuda());
  auto gen = make_generator(config_.train.seed, kFixedLatentStream);
  const int64_t classes = conditional_classes(config_);
  if (classes > 0) {
    // One row per class, the same latents in every row: columns show what the label alone changes.
    const int64_t nrow = config_.train.sample_nrow;
    fixed_z_ = torch::randn({nrow, config_.model.z_dim}, gen).repeat({classes, 1}).to(device_);
  } else {
    fixed_z_ = torch::randn({config_.train.sample_count, config_.model.z_dim}, gen).to(device_);
  }
  fixed_labels_ = grid_labels(config_, device_);
  first_bad_step_ = torch::full({}, -1, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  bad_losses_ = torch::zeros({2}, torch::TensorOptions().device(device_));
  device_step_ = torch::zeros({}, first_bad_step_.options());
  if (config_.train.cuda_graph && !device_.is_cuda())
    spdlog::info("train.cuda_graph applies on CUDA devices only; the step runs eagerly on {}", device_.str());
  if (config_.train.cuda_graph && device_.is_cuda()) {
    // Inputs: images and labels of each critic step's batch; outputs: the step's statistics.
    graph_ = std::make_unique<GraphedFunction>(
        [this](const std::vector<torch::Tensor>& inputs) {
          std::vector<Batch> batches;
          for (size_t i = 0; i + 1 < inputs.size(); i += 2) batches.push_back({inputs[i], inputs[i + 1]});
          return stats_to_tensors(step_body(batches));
        },
        device_, kEagerStepsBeforeCapture);
  }
}

Trainer::~Trainer() = default;

void Trainer::check_supported(const Config& config, torch::Device device) {
  if (config.train.cuda_graph && device.is_cuda() && !cuda_graphs_available())
    throw UsageError("train.cuda_graph needs a CUDA build of LibTorch 2.4 or later (this is " + libtorch_version() +
                     "); set train.cuda_graph=false");
}

void Trainer::save(CheckpointWriter& checkpoint) {
  checkpoint.write_module(section::kGenerator, *nets_.g);
  checkpoint.write_module(section::kDiscriminator, *nets_.d);
  if (ema_g_) checkpoint.write_module(section::kGeneratorEma, *ema_g_);
  opt_g_->save(checkpoint.section(section::kOptimizerG));
  opt_d_->save(checkpoint.section(section::kOptimizerD));
  checkpoint.write_state(step_, capture_rng(device_), fixed_z_);
}

void Trainer::load(CheckpointReader& checkpoint) {
  // A captured CUDA graph holds the addresses of the optimiser state that loading replaces.
  if (graph_ && graph_->captured())
    throw RuntimeError("a trainer restores a checkpoint before its first CUDA-graph step, not after");
  checkpoint.load_networks(*nets_.g, *nets_.d);
  try {
    opt_g_->load(checkpoint.section(section::kOptimizerG, "the generator's optimiser state"));
    opt_d_->load(checkpoint.section(section::kOptimizerD, "the discriminator's optimiser state"));
  } catch (const c10::Error& e) {
    throw RuntimeError("checkpoint '" + checkpoint.path() + "' has an unreadable optimiser state (" +
                       first_line(e.what_without_backtrace()) + ")");
  }
  if (ema_g_) {
    if (!checkpoint.has_generator_ema())
      throw RuntimeError("checkpoint '" + checkpoint.path() +
                         "' has no EMA generator although train.ema = " + std::to_string(config_.train.ema));
    checkpoint.load_generator_ema(*ema_g_);
  }
  const TrainingState& state = checkpoint.state();
  step_ = state.step;
  device_step_.fill_(step_);
  fixed_z_ = state.fixed_z.to(device_);
  if (fixed_labels_.defined() && fixed_z_.size(0) != fixed_labels_.size(0))
    throw RuntimeError("checkpoint '" + checkpoint.path() + "' holds " + std::to_string(fixed_z_.size(0)) +
                       " grid latents, but its conditional config draws " + std::to_string(fixed_labels_.size(0)));
  restore_rng(state.rng, device_);
}

StepStats Trainer::train_step(const std::vector<torch::Tensor>& reals) {
  std::vector<Batch> batches;
  for (const auto& images : reals) batches.push_back({images, {}});
  return train_step(batches);
}

StepStats Trainer::train_step(const std::vector<Batch>& reals) {
  // Host work first: the body is device work only, so that a CUDA graph can capture it.
  // The learning rate is a function of the step alone, so a resumed run follows the same schedule.
  opt_g_->set_lr(scheduled_lr(config_.optim.g.lr, config_.optim.lr_decay, step_, config_.train.steps));
  opt_d_->set_lr(scheduled_lr(config_.optim.d.lr, config_.optim.lr_decay, step_, config_.train.steps));
  StepStats stats;
  if (graph_) {
    std::vector<torch::Tensor> inputs;
    for (const auto& r : reals) {
      inputs.push_back(r.images);
      inputs.push_back(r.labels);
    }
    stats = stats_from_tensors((*graph_)(inputs));
  } else {
    stats = step_body(reals);
  }
  ++step_;
  return stats;
}

StepStats Trainer::step_body(const std::vector<Batch>& reals) {
  const auto opts = torch::TensorOptions().device(device_);
  const int64_t batch = reals.front().images.size(0);
  const bool bf16 = config_.train.precision == Precision::bf16;
  const bool conditional = config_.model.conditional;
  const bool ac = conditional && config_.model.d.conditioning == Conditioning::ac;
  const double fm = config_.loss.feature_matching;
  // With one critic step, the generator step reuses that step's fakes (as the reference DCGAN does).
  const bool reuse_fake = reals.size() == 1;
  StepStats stats;
  torch::Tensor fake, labels, real_features;

  for (const auto& real_batch : reals) {
    torch::Tensor real = nets_.g->from_signed_range(real_batch.images);
    if (device_.is_cuda()) real = real.contiguous(at::MemoryFormat::ChannelsLast);
    if (conditional) labels = real_batch.labels.to(device_);
    // 1. critic on real and fake (the fakes drawn for the real batch's labels)
    torch::Tensor loss_d;
    DiscriminatorOutput real_out, fake_out;
    {
      AutocastGuard autocast(device_, bf16);
      const auto z = torch::randn({batch, config_.model.z_dim}, opts);
      if (reuse_fake) {
        fake = nets_.g->forward(z, labels);
      } else {
        torch::NoGradGuard no_grad;
        fake = nets_.g->forward(z, labels);
      }
      real_out = nets_.d->forward(real, labels);
      fake_out = nets_.d->forward(fake.detach(), labels);
      loss_d = loss_.critic(real_out.score.to(torch::kFloat32), fake_out.score.to(torch::kFloat32), config_.loss);
      // 2. auxiliary classifier on both batches (AC-GAN)
      if (ac)
        loss_d = loss_d + config_.loss.ac_weight * (loss_ac(real_out.class_logits.to(torch::kFloat32), labels) +
                                                    loss_ac(fake_out.class_logits.to(torch::kFloat32), labels));
    }
    // 3. gradient penalty on random interpolates (always fp32)
    if (loss_.gradient_penalty) {
      stats.penalty = gradient_penalty(*nets_.d, real, fake.detach(), {}, labels);
      loss_d = loss_d + config_.loss.gp_lambda * stats.penalty;
    }
    opt_d_->clear_grads();
    loss_d.backward();
    stats.grad_norm_d = grad_norm(*nets_.d);
    clip_grads(*nets_.d, config_.optim.d, stats.grad_norm_d);
    opt_d_->step();
    if (loss_.clip_weights) clip_weights(*nets_.d, config_.loss.clip);
    stats.loss_d = loss_d.detach();
    const auto real_score = real_out.score.detach().to(torch::kFloat32);
    const auto fake_score = fake_out.score.detach().to(torch::kFloat32);
    stats.d_real = (loss_.logits ? torch::sigmoid(real_score) : real_score).mean();
    stats.d_fake = (loss_.logits ? torch::sigmoid(fake_score) : fake_score).mean();
    if (fm > 0) real_features = real_out.features.detach().to(torch::kFloat32);
  }

  // 4. generator against the updated critic; D's weights need no gradients here.
  set_requires_grad(*nets_.d, false);
  torch::Tensor loss_g;
  {
    AutocastGuard autocast(device_, bf16);
    if (!reuse_fake) fake = nets_.g->forward(torch::randn({batch, config_.model.z_dim}, opts), labels);
    const DiscriminatorOutput out = nets_.d->forward(fake, labels);
    loss_g = loss_.generator(out.score.to(torch::kFloat32), config_.loss);
    if (ac) loss_g = loss_g + config_.loss.ac_weight * loss_ac(out.class_logits.to(torch::kFloat32), labels);
    // Feature matching against the real features of the last critic step (taken before its update).
    if (fm > 0) loss_g = loss_g + fm * loss_feature_matching(real_features, out.features.to(torch::kFloat32));
  }
  opt_g_->clear_grads();
  loss_g.backward();
  set_requires_grad(*nets_.d, true);
  stats.grad_norm_g = grad_norm(*nets_.g);
  clip_grads(*nets_.g, config_.optim.g, stats.grad_norm_g);
  opt_g_->step();
  update_ema();
  stats.loss_g = loss_g.detach();

  // Remember the first non-finite step on the device; it is read back at log and checkpoint time.
  // In place: a captured graph keeps updating these same tensors.
  device_step_.add_(1);
  const auto losses = torch::stack({stats.loss_d, stats.loss_g}).to(torch::kFloat32);
  const auto newly_bad = losses.isfinite().all().logical_not().logical_and(first_bad_step_ < 0);
  first_bad_step_.copy_(torch::where(newly_bad, device_step_, first_bad_step_));
  bad_losses_.copy_(torch::where(newly_bad, losses, bad_losses_));
  return stats;
}

// ema = decay * ema + (1 - decay) * weights after every generator step; batch-norm statistics are copied.
void Trainer::update_ema() {
  if (ema_g_) blend_into(*ema_g_, *nets_.g, /*keep=*/config_.train.ema);
}

torch::Tensor Trainer::sample_images() {
  torch::NoGradGuard no_grad;
  GeneratorBase& g = sampling_generator();
  const EvalModeGuard eval_mode(g);
  return g.to_signed_range(g.forward(fixed_z_, fixed_labels_));
}

torch::Tensor Trainer::sample_grid() { return make_grid(sample_images(), config_.train.sample_nrow); }

std::optional<NonFiniteLoss> Trainer::non_finite() const {
  const int64_t bad = first_bad_step_.item<int64_t>();
  if (bad < 0) return std::nullopt;
  const auto losses = bad_losses_.cpu();
  return NonFiniteLoss{bad, losses[0].item<double>(), losses[1].item<double>()};
}

}  // namespace ganpp
