// The training loop: alternating critic and generator Adam steps, logs, fixed-latent grids and
// exact-resume checkpoints in a run directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/losses.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

class TrainingEvaluator;

/// What one generator step measured, as device tensors (read on the host only at log intervals).
struct StepStats {
  torch::Tensor loss_d;   ///< critic loss of the last critic step (penalty included)
  torch::Tensor loss_g;   ///< generator loss
  torch::Tensor d_real;   ///< mean D(x): probability for logit losses, critic value for Wasserstein ones
  torch::Tensor d_fake;   ///< mean D(G(z)) likewise
  torch::Tensor penalty;  ///< gradient penalty (undefined when the loss has none)
  torch::Tensor grad_norm_d;  ///< L2 norm of the critic's gradients in the last critic step, before clipping
  torch::Tensor grad_norm_g;  ///< L2 norm of the generator's gradients, before clipping
};

class GraphedFunction;
class HealthMonitor;
class Optimizer;
class Progress;

class Trainer {
 public:
  /// Seeds, builds both networks on `device` and their optimisers; draws the fixed latents.
  Trainer(const Config& config, torch::Device device);
  ~Trainer();

  /// Restores networks, optimisers, step, RNG states and fixed latents from a checkpoint of this config.
  void restore(CheckpointReader& checkpoint);

  /// One generator step after `loss.n_critic` critic steps, one real batch each (images in [-1, 1];
  /// labels needed when the model is conditional: the fakes of a critic step are drawn for its batch's labels).
  StepStats train_step(const std::vector<Batch>& reals);
  /// The same for unlabelled images.
  StepStats train_step(const std::vector<torch::Tensor>& reals);

  /// Trains until `train.steps`, writing logs, grids and checkpoints into `run_dir`.
  void run(DataStream& data, const std::string& run_dir, const std::vector<std::string>& classes);

  /// Renders the fixed-latent grid without touching training state (eval mode, no RNG drawn).
  torch::Tensor sample_grid();
  /// The fixed-latent images [N, C, H, W] of that grid, untiled.
  torch::Tensor sample_images();

  /// Where run() keeps a live progress line (a terminal), or null (the default) for log lines only.
  void set_progress_output(std::ostream* live) { progress_out_ = live; }

  int64_t step() const { return step_; }
  const Config& config() const { return config_; }
  const Networks& networks() const { return nets_; }
  const torch::Tensor& fixed_latents() const { return fixed_z_; }
  /// Labels of the grid's rows (class k in row k) for a conditional model, else undefined.
  const torch::Tensor& fixed_labels() const { return fixed_labels_; }
  /// The moving average of the generator's weights (train.ema > 0), else null.
  GeneratorBase* ema_generator() const { return ema_g_.get(); }
  /// The optimisers' Adam state, complete (step counts included) for saving or inspection.
  torch::optim::Adam& optimizer_g();
  torch::optim::Adam& optimizer_d();

 private:
  void save_checkpoint(const std::string& run_dir, const DataStream& data, const std::vector<std::string>& classes);
  std::string checkpoint_bytes(const DataStream& data, const std::vector<std::string>& classes);
  /// Measures sample quality (train.eval_every), logs it, and writes checkpoints/best.ckpt on a new best FD.
  void evaluate(TrainingEvaluator& evaluator, const std::string& run_dir, const DataStream& data,
                const std::vector<std::string>& classes);
  void log(const std::string& run_dir, const StepStats& stats, const DataStream& data, double images_per_s,
           const torch::Tensor& grid_images, HealthMonitor& health, Progress& progress);
  void check_finite(const std::string& run_dir);
  void update_ema();
  /// The device work of train_step (everything but the learning rate and the step count).
  StepStats step_body(const std::vector<Batch>& reals);

  Config config_;
  const Loss& loss_;
  torch::Device device_;
  Networks nets_;
  std::unique_ptr<Optimizer> opt_g_, opt_d_;
  std::unique_ptr<GraphedFunction> graph_;  ///< the step as a CUDA graph (train.cuda_graph on CUDA), else null
  std::shared_ptr<GeneratorBase> ema_g_;  ///< EMA of the generator (train.ema > 0); draws the grids then
  torch::Tensor fixed_z_;
  torch::Tensor fixed_labels_;  ///< conditional: one row of the grid per class, derived from the config
  int64_t step_ = 0;
  torch::Tensor device_step_;     ///< step_ on the device, for the graph-captured step body
  torch::Tensor first_bad_step_;  ///< first step with a non-finite loss, -1 while none (stays on the device)
  torch::Tensor bad_losses_;      ///< [loss_d, loss_g] of that step
  std::ostream* progress_out_ = nullptr;
};

}  // namespace ganpp
