// The training loop (see trainer.hpp). The step body never reads device values back to the host;
// losses are read at log intervals and before checkpoints only.
#include "ganpp/trainer.hpp"

#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "ganpp/cuda_graph.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/health.hpp"
#include "ganpp/image.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/progress.hpp"
#include "ganpp/report.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/train_eval.hpp"

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

double scalar(const torch::Tensor& t) { return t.defined() ? t.item<double>() : NAN; }

// Fractional passes over the data.
double epoch_of(const DataStream& data) {
  const DataPosition pos = data.position();
  return pos.epoch + static_cast<double>(pos.position) / data.batches_per_epoch();
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
  const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(device);
  return torch::arange(classes, opts).repeat_interleave(config.train.sample_nrow);
}

}  // namespace

Trainer::Trainer(const Config& config, torch::Device device)
    : config_(config), loss_(find_loss(config.loss.kind)), device_(device) {
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
  if (config_.train.cuda_graph) {
    if (!device_.is_cuda()) {
      spdlog::info("train.cuda_graph applies on CUDA devices only; the step runs eagerly on {}", device_.str());
    } else if (!cuda_graphs_available()) {
      throw UsageError("train.cuda_graph needs a CUDA build of LibTorch 2.4 or later (this is " + libtorch_version() +
                       "); set train.cuda_graph=false");
    } else {
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
}

Trainer::~Trainer() = default;

// With the state complete: the fused CUDA path keeps its step counts on the device until synced.
torch::optim::Adam& Trainer::optimizer_g() {
  opt_g_->sync_state();
  return opt_g_->adam();
}
torch::optim::Adam& Trainer::optimizer_d() {
  opt_d_->sync_state();
  return opt_d_->adam();
}

void Trainer::restore(CheckpointReader& checkpoint) {
  // A captured CUDA graph holds the addresses of the optimiser state that loading replaces.
  if (graph_ && graph_->captured())
    throw RuntimeError("a trainer restores a checkpoint before its first CUDA-graph step, not after");
  checkpoint.load_networks(*nets_.g, *nets_.d);
  checkpoint.load_optimizers(opt_g_->adam(), opt_d_->adam());
  opt_g_->reload_state();
  opt_d_->reload_state();
  if (ema_g_) {
    if (!checkpoint.has_generator_ema())
      throw RuntimeError("checkpoint '" + checkpoint.path() + "' has no EMA generator although train.ema = " +
                         std::to_string(config_.train.ema));
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
  GeneratorBase& g = ema_g_ ? *ema_g_ : *nets_.g;
  const bool was_training = g.is_training();
  g.eval();
  const auto images = g.to_signed_range(g.forward(fixed_z_, fixed_labels_));
  g.train(was_training);
  return images;
}

torch::Tensor Trainer::sample_grid() { return make_grid(sample_images(), config_.train.sample_nrow); }

void Trainer::check_finite(const std::string& run_dir) {
  const int64_t bad = first_bad_step_.item<int64_t>();
  if (bad < 0) return;
  const auto losses = bad_losses_.cpu();
  const std::string latest = latest_checkpoint_path(run_dir);
  throw RuntimeError("non-finite loss at step " + std::to_string(bad) + " (loss_d = " +
                     std::to_string(losses[0].item<double>()) + ", loss_g = " + std::to_string(losses[1].item<double>()) +
                     "); training stopped. " +
                     (std::filesystem::exists(latest) ? "The last good checkpoint is " + latest + "; "
                                                      : "No checkpoint was written; ") +
                     "lower optim.*.lr or change the loss before trying again");
}

std::string Trainer::checkpoint_bytes(const DataStream& data, const std::vector<std::string>& classes) {
  TrainingState state;
  state.step = step_;
  state.data = data.position();
  state.rng = capture_rng(device_);
  state.fixed_z = fixed_z_;
  state.classes = classes;
  return serialize_checkpoint(config_, state,
                              TrainingModules{*nets_.g, *nets_.d, &optimizer_g(), &optimizer_d(), ema_g_.get()});
}

void Trainer::save_checkpoint(const std::string& run_dir, const DataStream& data,
                              const std::vector<std::string>& classes) {
  check_finite(run_dir);  // never checkpoint a diverged state
  const std::string bytes = checkpoint_bytes(data, classes);
  write_file_atomic(checkpoint_path(run_dir, step_), bytes);
  write_file_atomic(latest_checkpoint_path(run_dir), bytes);
  prune_checkpoints(run_dir, config_.train.keep_checkpoints);
}

void Trainer::log(const std::string& run_dir, const StepStats& s, const DataStream& data, double images_per_s,
                  const torch::Tensor& grid_images, HealthMonitor& health, Progress& progress) {
  const double epoch = epoch_of(data);
  Json record = {{"step", step_},
                 {"epoch", std::round(epoch * 1000) / 1000},
                 {"loss_d", scalar(s.loss_d)},
                 {"loss_g", scalar(s.loss_g)}};
  if (loss_.logits) {
    record["d_real"] = scalar(s.d_real);
    record["d_fake"] = scalar(s.d_fake);
  } else {
    if (loss_.wasserstein) record["wasserstein"] = scalar(s.d_real) - scalar(s.d_fake);
    record["critic_real"] = scalar(s.d_real);
    record["critic_fake"] = scalar(s.d_fake);
  }
  if (s.penalty.defined()) record["gp"] = scalar(s.penalty);
  record["grad_norm_d"] = scalar(s.grad_norm_d);
  record["grad_norm_g"] = scalar(s.grad_norm_g);
  if (grid_images.defined()) {
    record["diversity"] = scalar(mean_pairwise_distance(grid_images));
    record["diversity_real"] = health.real_diversity();
  }
  record["images_per_s"] = std::round(images_per_s * 10) / 10;
  const std::vector<std::string> warnings = health.observe(record);
  if (!warnings.empty()) record["warnings"] = warnings;
  append_log(run_dir, record);

  std::string line = fmt::format("step {}/{} epoch {:.2f} loss_d {:.4f} loss_g {:.4f}", step_, config_.train.steps,
                                 epoch, scalar(s.loss_d), scalar(s.loss_g));
  if (loss_.logits)
    line += fmt::format(" D(x) {:.3f} D(G(z)) {:.3f}", scalar(s.d_real), scalar(s.d_fake));
  else
    line += fmt::format(" critic real {:.4f} fake {:.4f}", scalar(s.d_real), scalar(s.d_fake));
  if (loss_.wasserstein) line += fmt::format(" W {:.4f}", scalar(s.d_real) - scalar(s.d_fake));
  if (s.penalty.defined()) line += fmt::format(" gp {:.4f}", scalar(s.penalty));
  line += fmt::format(" | grad D {:.3g} G {:.3g}", scalar(s.grad_norm_d), scalar(s.grad_norm_g));
  if (record.contains("diversity"))
    line += fmt::format(" | diversity {:.4f} (real {:.4f})", record["diversity"].get<double>(), health.real_diversity());
  progress.clear();
  spdlog::info("{} | {:.1f} img/s ETA {}", line, images_per_s, format_duration(progress.eta_seconds(step_)));
  for (const auto& w : warnings) spdlog::warn("warning: {}", w);
  progress.set_losses(scalar(s.loss_d), scalar(s.loss_g));
}

void Trainer::evaluate(TrainingEvaluator& evaluator, const std::string& run_dir, const DataStream& data,
                       const std::vector<std::string>& classes) {
  check_finite(run_dir);  // never evaluate (or keep as best) a diverged state
  const QualityMetrics m = evaluator.measure(ema_g_ ? *ema_g_ : *nets_.g);
  Json record = {{"step", step_}, {"epoch", std::round(epoch_of(data) * 1000) / 1000}};
  record.update(metrics_to_json(m));
  append_log(run_dir, record);
  const bool best = evaluator.improves_best(m.fd);
  if (best) write_file_atomic(best_checkpoint_path(run_dir), checkpoint_bytes(data, classes));
  spdlog::info("eval step {}: FD {:.4f} KID {:.5f} ± {:.5f} precision {:.3f} recall {:.3f} (N = {}){}", step_, m.fd,
               m.kid.mean, m.kid.std, m.pr.precision, m.pr.recall, m.n, best ? "; best so far: checkpoints/best.ckpt" : "");
}

void Trainer::run(DataStream& data, const std::string& run_dir, const std::vector<std::string>& classes) {
  const TrainConfig& t = config_.train;
  // A resumed run continues the warning state and the best FD where its log stops (read once).
  const std::vector<Json> past = read_log(run_dir);
  // Reference features are computed once, from the training images in memory.
  std::unique_ptr<TrainingEvaluator> evaluator;
  if (t.eval_every > 0)
    evaluator = std::make_unique<TrainingEvaluator>(config_, data.dataset(), device_, best_fd_in_log(past));
  using Clock = std::chrono::steady_clock;
  HealthMonitor health(loss_.logits, real_image_diversity(data.dataset().images, t.sample_count));
  health.replay(past);
  Progress progress(progress_out_, step_, t.steps);
  auto interval_start = Clock::now();
  int64_t interval_images = 0;
  std::vector<Batch> reals(static_cast<size_t>(config_.loss.n_critic));
  while (step_ < t.steps) {
    for (auto& r : reals) r = data.next();
    const StepStats stats = train_step(reals);
    const int64_t images = static_cast<int64_t>(reals.size()) * t.batch_size;
    interval_images += images;
    progress.tick(step_, epoch_of(data), images);
    const bool last = step_ == t.steps;
    const bool sample = step_ % t.sample_every == 0 || last;
    // A grid step is also logged, so that its diversity has a record of its own step.
    if (step_ % t.log_every == 0 || sample) {
      if (device_.is_cuda()) torch::cuda::synchronize();
      const double seconds = std::chrono::duration<double>(Clock::now() - interval_start).count();
      check_finite(run_dir);
      const torch::Tensor grid_images = sample ? sample_images() : torch::Tensor();
      log(run_dir, stats, data, interval_images / std::max(seconds, 1e-9), grid_images, health, progress);
      if (sample) write_png(sample_path(run_dir, step_), make_grid(grid_images, t.sample_nrow));
      interval_start = Clock::now();
      interval_images = 0;
    }
    const bool eval_due = evaluator && (step_ % t.eval_every == 0 || last);
    if (eval_due) evaluate(*evaluator, run_dir, data, classes);
    if (sample || eval_due) write_report(run_dir);  // once per step, with the newest grid and figures
    if (step_ % t.checkpoint_every == 0 || last) save_checkpoint(run_dir, data, classes);
  }
}

}  // namespace ganpp
