// The training step (see trainer.hpp). The step body never reads device values back to the host;
// the run reads losses at log intervals and before checkpoints only.
#include "ganpp/trainer.hpp"

#include <cmath>

#include <spdlog/spdlog.h>

#include "ganpp/batch_shard.hpp"
#include "ganpp/cuda_graph.hpp"
#include "ganpp/device.hpp"
#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/eval_mode.hpp"
#include "ganpp/gradients.hpp"
#include "ganpp/image.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/sample.hpp"
#include "ganpp/sync_batch_norm.hpp"
#include "ganpp/version.hpp"

namespace ganpp {
namespace {

constexpr uint64_t kFixedLatentStream = 0x5A4D504CULL;    // a stream of its own: grids never draw from training RNG
constexpr uint64_t kEmaStatisticsStream = 0x454D4153ULL;  // the latents that the EMA's batch-norm statistics see
constexpr int64_t kEmaStatisticsBatches = 8;              // batches of train.batch_size latents for them
// Eager steps before a CUDA graph is captured: cuDNN times its kernels for each new shape on the first ones.
constexpr int64_t kEagerStepsBeforeCapture = 3;

// dst = (1 - weight) * dst + weight * src for parameters (`weight` a scalar tensor; undefined copies), buffers
// copied: the EMA update.
void blend_into(torch::nn::Module& dst, const torch::nn::Module& src, const torch::Tensor& weight) {
  torch::NoGradGuard no_grad;
  const auto from = src.parameters();
  auto to = dst.parameters();
  for (size_t i = 0; i < from.size(); ++i) {
    if (!weight.defined())
      to[i].copy_(from[i]);
    else
      to[i].lerp_(from[i], weight);
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

// Lazy regularisation takes R1/R2 as an extra critic update every loss.reg_every steps; stylegan2-ada keeps
// Adam's effective horizon by scaling the rate by c = k/(k+1) and raising both betas to the power c.
AdamConfig critic_adam(const Config& config) {
  AdamConfig adam = config.optim.d;
  const int64_t k = config.loss.reg_every;
  if (k > 1 && (config.loss.r1_gamma > 0 || config.loss.r2_gamma > 0)) {
    const double c = static_cast<double>(k) / static_cast<double>(k + 1);
    adam.lr *= c;
    adam.betas = {std::pow(adam.betas[0], c), std::pow(adam.betas[1], c)};
  }
  return adam;
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
  return {s.loss_d, s.loss_g, s.d_real, s.d_fake, s.penalty, s.r1, s.r2, s.sign_real, s.grad_norm_d, s.grad_norm_g};
}
StepStats stats_from_tensors(const std::vector<torch::Tensor>& t) {
  return {t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9]};
}

// Class k for the k-th row of a conditional grid (undefined when unconditional).
torch::Tensor grid_labels(const Config& config, torch::Device device) {
  const int64_t classes = conditional_classes(config);
  if (classes == 0) return {};
  return class_row_labels(classes, config.train.sample_nrow).to(device);
}

}  // namespace

Trainer::Trainer(const Config& config, torch::Device device)
    : config_(config), loss_(validate(config).loss), device_(device), augment_(config.train, device) {
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
    blend_into(*ema_g_, *nets_.g, /*weight=*/{});
    ema_g_->eval();
    ema_weight_ = torch::zeros({}, torch::TensorOptions().device(device_));
  }
  // On CUDA the Adam update is one fused kernel per network where LibTorch has it (optimizer.hpp).
  opt_g_ = std::make_unique<Optimizer>(*nets_.g, config_.optim.g, /*fused=*/device_.is_cuda());
  opt_d_ = std::make_unique<Optimizer>(*nets_.d, critic_adam(config_), /*fused=*/device_.is_cuda());
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

void Trainer::set_distributed(Distributed* dist, bool sync_batch_norm) {
  dist_ = dist;
  sync_batch_norm_ = sync_batch_norm;
  if (!dist_) return;
  if (graph_) throw UsageError("train.cuda_graph is not available in distributed runs yet; set train.cuda_graph=false");
  std::vector<torch::Tensor> state;
  for (torch::nn::Module* m :
       {static_cast<torch::nn::Module*>(nets_.g.get()), static_cast<torch::nn::Module*>(nets_.d.get()),
        static_cast<torch::nn::Module*>(ema_g_.get())}) {
    if (!m) continue;
    for (const auto& p : m->parameters()) state.push_back(p);
    for (const auto& b : m->buffers()) state.push_back(b);
  }
  dist_->broadcast(state);
}

void Trainer::check_supported(const Config& config, torch::Device device) {
  if (config.train.cuda_graph && device.is_cuda() && config.loss.reg_every > 1 &&
      (config.loss.r1_gamma > 0 || config.loss.r2_gamma > 0))
    throw UsageError("loss.reg_every > 1 (lazy R1/R2) makes every k-th step different, which one captured CUDA graph "
                     "cannot replay; set loss.reg_every=1 or train.cuda_graph=false");
  if (config.train.cuda_graph && device.is_cuda() && !cuda_graphs_available())
    throw UsageError("train.cuda_graph needs a CUDA build of LibTorch 2.4 or later (this is " + libtorch_version() +
                     "); set train.cuda_graph=false");
}

void Trainer::save(CheckpointWriter& checkpoint) {
  checkpoint.write_module(section::kGenerator, *nets_.g);
  checkpoint.write_module(section::kDiscriminator, *nets_.d);
  opt_g_->save(checkpoint.section(section::kOptimizerG));
  opt_d_->save(checkpoint.section(section::kOptimizerD));
  if (augment_.adaptive()) augment_.save(checkpoint.section(section::kAugment));
  refresh_ema_statistics();  // the saved EMA is what the run samples from
  if (ema_g_) checkpoint.write_module(section::kGeneratorEma, *ema_g_);
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
  if (augment_.adaptive()) augment_.load(checkpoint.section(section::kAugment, "ADA's augmentation state"));
  const TrainingState& state = checkpoint.state();
  step_ = state.step;
  ema_statistics_step_ = ema_g_ ? step_ : -1;  // the saved EMA statistics are those of its weights
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
  opt_d_->set_lr(scheduled_lr(critic_adam(config_).lr, config_.optim.lr_decay, step_, config_.train.steps));
  if (ema_g_) ema_weight_.fill_(1.0 - ema_decay(step_));  // in double, as LibTorch rounds a scalar weight
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
  const int64_t world = batch_shard().world;
  if (dist_ && augment_.adaptive() && step_ % config_.train.ada_interval == 0)
    dist_->all_reduce_sum({augment_.sign_sums()});  // r_t of the global batches
  augment_.adjust(step_, static_cast<int64_t>(reals.size()) * reals.front().images.size(0) * world);
  return stats;
}

torch::Tensor Trainer::zero_centred_penalties(const torch::Tensor& real_scores, const torch::Tensor& real,
                                              const torch::Tensor& fake_scores, const torch::Tensor& fake,
                                              StepStats& stats) {
  const LossConfig& c = config_.loss;
  torch::Tensor penalty = torch::zeros({}, torch::TensorOptions().device(device_));
  if (c.r1_gamma > 0) {
    stats.r1 = zero_centred_penalty(real_scores.to(torch::kFloat32), real);
    penalty = penalty + c.r1_gamma / 2 * stats.r1;
    stats.r1 = stats.r1.detach();
  }
  if (c.r2_gamma > 0) {
    stats.r2 = zero_centred_penalty(fake_scores.to(torch::kFloat32), fake);
    penalty = penalty + c.r2_gamma / 2 * stats.r2;
    stats.r2 = stats.r2.detach();
  }
  return penalty;
}

StepStats Trainer::step_body(const std::vector<Batch>& reals) {
  const auto opts = torch::TensorOptions().device(device_);
  const int64_t batch = reals.front().images.size(0);
  const bool bf16 = config_.train.precision == Precision::bf16;
  const bool conditional = config_.model.conditional;
  const bool ac = conditional && config_.model.d.conditioning == Conditioning::ac;
  const double fm = config_.loss.feature_matching;
  const bool zero_centred = config_.loss.r1_gamma > 0 || config_.loss.r2_gamma > 0;
  const int64_t reg_every = config_.loss.reg_every;
  // With one critic step, the generator step reuses that step's fakes (as the reference DCGAN does).
  const bool reuse_fake = reals.size() == 1;
  const SyncScope sync(sync_batch_norm_ ? dist_ : nullptr);  // batch norm's statistics over the global batch
  // Latents for the global batch, of which this rank takes its rows (batch_shard.hpp).
  auto latents = [&] { return shard_randn({batch, config_.model.z_dim}, opts); };
  StepStats stats;
  torch::Tensor fake, labels, real, real_features;
  // Every image D sees is augmented (train.augment); penalties differentiate through the augmentation.
  auto critic = [&](const torch::Tensor& images) { return nets_.d->forward(augment_(images), labels); };

  for (size_t i = 0; i < reals.size(); ++i) {
    real = nets_.g->from_signed_range(reals[i].images);
    if (device_.is_cuda()) real = real.contiguous(at::MemoryFormat::ChannelsLast);
    if (conditional) labels = reals[i].labels.to(device_);
    // R1/R2 on this critic step: every step in the main loss, or lazily as an extra update every k-th step.
    const int64_t critic_step = step_ * static_cast<int64_t>(reals.size()) + static_cast<int64_t>(i);
    const bool regularise = zero_centred && critic_step % reg_every == 0;
    const bool lazy = regularise && reg_every > 1;
    // 1. critic on real and fake (the fakes drawn for the real batch's labels)
    torch::Tensor loss_d, real_in, fake_in;
    DiscriminatorOutput real_out, fake_out;
    {
      AutocastGuard autocast(device_, bf16);
      const auto z = latents();
      if (reuse_fake) {
        fake = nets_.g->forward(z, labels);
      } else {
        torch::NoGradGuard no_grad;
        fake = nets_.g->forward(z, labels);
      }
      real_in = regularise && !lazy ? real.detach().requires_grad_(true) : real;
      fake_in = regularise && !lazy ? fake.detach().requires_grad_(true) : fake.detach();
      real_out = critic(real_in);
      fake_out = critic(fake_in);
      loss_d = loss_.critic(real_out.score.to(torch::kFloat32), fake_out.score.to(torch::kFloat32), config_.loss);
      // 2. auxiliary classifier on both batches (AC-GAN)
      if (ac)
        loss_d = loss_d + config_.loss.ac_weight * (loss_ac(real_out.class_logits.to(torch::kFloat32), labels) +
                                                    loss_ac(fake_out.class_logits.to(torch::kFloat32), labels));
    }
    // 3. penalties: WGAN-GP on random interpolates (always fp32), R1/R2 on this step's images
    if (loss_.gradient_penalty) {
      stats.penalty = gradient_penalty_of([&](const torch::Tensor& x) { return critic(x).score; }, real, fake.detach());
      loss_d = loss_d + config_.loss.gp_lambda * stats.penalty;
    }
    if (regularise && !lazy)
      loss_d = loss_d + zero_centred_penalties(real_out.score, real_in, fake_out.score, fake_in, stats);
    opt_d_->clear_grads();
    loss_d.backward();
    if (dist_) dist_->average_gradients(*nets_.d);
    stats.grad_norm_d = grad_norm(*nets_.d);
    clip_grads(*nets_.d, config_.optim.d, stats.grad_norm_d);
    opt_d_->step();
    if (lazy) {
      // stylegan2-ada's lazy regularisation: the penalty alone, times k, as an update of its own.
      const auto real_reg = real.detach().requires_grad_(true);
      const auto fake_reg = fake.detach().requires_grad_(true);
      const auto real_scores = config_.loss.r1_gamma > 0 ? critic(real_reg).score : torch::Tensor();
      const auto fake_scores = config_.loss.r2_gamma > 0 ? critic(fake_reg).score : torch::Tensor();
      const auto penalty = zero_centred_penalties(real_scores, real_reg, fake_scores, fake_reg, stats);
      opt_d_->clear_grads();
      (static_cast<double>(reg_every) * penalty).backward();
      if (dist_) dist_->average_gradients(*nets_.d);
      opt_d_->step();
    }
    if (loss_.clip_weights) clip_weights(*nets_.d, config_.loss.clip);
    stats.loss_d = loss_d.detach();
    const auto real_score = real_out.score.detach().to(torch::kFloat32);
    const auto fake_score = fake_out.score.detach().to(torch::kFloat32);
    stats.d_real = (loss_.logits ? torch::sigmoid(real_score) : real_score).mean();
    stats.d_fake = (loss_.logits ? torch::sigmoid(fake_score) : fake_score).mean();
    if (loss_.signed_output) stats.sign_real = real_score.sign().mean();
    augment_.observe(real_score);
    if (fm > 0) real_features = real_out.features.detach().to(torch::kFloat32);
  }

  // 4. generator against the updated critic; D's weights need no gradients here.
  set_requires_grad(*nets_.d, false);
  torch::Tensor loss_g;
  {
    AutocastGuard autocast(device_, bf16);
    if (!reuse_fake) fake = nets_.g->forward(latents(), labels);
    const DiscriminatorOutput out = critic(fake);
    // Relativistic losses compare with D's scores of the last real batch, taken by the updated critic.
    torch::Tensor real_scores;
    if (loss_.relativistic) {
      torch::NoGradGuard no_grad;
      real_scores = critic(real).score.to(torch::kFloat32);
    }
    loss_g = loss_.generator(real_scores, out.score.to(torch::kFloat32), config_.loss);
    if (ac) loss_g = loss_g + config_.loss.ac_weight * loss_ac(out.class_logits.to(torch::kFloat32), labels);
    // Feature matching against the real features of the last critic step (taken before its update).
    if (fm > 0) loss_g = loss_g + fm * loss_feature_matching(real_features, out.features.to(torch::kFloat32));
  }
  opt_g_->clear_grads();
  loss_g.backward();
  if (dist_) dist_->average_gradients(*nets_.g);
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

// ema = decay * ema + (1 - decay) * weights after every generator step (decay from ema_decay(step), on the
// device); buffers are copied, and batch-norm statistics recomputed before the average draws anything
// (train.ema_bn "recompute").
void Trainer::update_ema() {
  if (ema_g_) blend_into(*ema_g_, *nets_.g, ema_weight_);
}

double Trainer::ema_decay(int64_t step) const {
  const double decay = config_.train.ema;
  if (decay <= 0 || config_.train.ema_rampup <= 0) return decay;
  // Half-life in images of a per-step decay d at batch B: B·ln ½ / ln d; the ramp caps it at rampup × images seen.
  const double batch = static_cast<double>(config_.train.batch_size);
  const double half_life = batch * std::log(0.5) / std::log(decay);
  const double seen = static_cast<double>(step + 1) * batch;
  return std::pow(0.5, batch / std::max(std::min(half_life, config_.train.ema_rampup * seen), 1e-8));
}

void Trainer::refresh_ema_statistics() {
  if (!ema_g_ || config_.train.ema_bn != EmaBatchNorm::recompute || ema_statistics_step_ == step_) return;
  ema_statistics_step_ = step_;
  // Cumulative averages (momentum none) over fixed latents, with only the batch-norm layers in train mode
  // (spectral-norm vectors and everything else stay as they are).
  std::vector<std::pair<SyncBatchNormImpl*, c10::optional<double>>> norms;
  for (const auto& m : ema_g_->modules(/*include_self=*/false))
    if (auto* bn = m->as<SyncBatchNorm>()) norms.emplace_back(bn, bn->options.momentum());
  if (norms.empty()) return;
  torch::NoGradGuard no_grad;
  ema_g_->eval();
  for (auto& [bn, momentum] : norms) {
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
    bn->train();
  }
  auto gen = make_generator(config_.train.seed, kEmaStatisticsStream);
  const int64_t batch = config_.train.batch_size, classes = conditional_classes(config_);
  for (int64_t i = 0; i < kEmaStatisticsBatches; ++i) {
    const auto z = torch::randn({batch, config_.model.z_dim}, gen).to(device_);
    const auto labels = classes > 0 ? class_cycle_labels(batch, classes).to(device_) : torch::Tensor();
    ema_g_->forward(z, labels);
  }
  for (auto& [bn, momentum] : norms) {
    bn->options.momentum(momentum);
    bn->eval();
  }
}

GeneratorBase& Trainer::sampling_generator() {
  if (!ema_g_) return *nets_.g;
  refresh_ema_statistics();
  return *ema_g_;
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
