// The training step: alternating critic and generator Adam steps on both networks, and the state that
// continues them exactly (saved and loaded as checkpoint sections).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/augment.hpp"
#include "ganpp/checkpoint.hpp"
#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/losses.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

/// What one generator step measured, as device tensors (read on the host only at log intervals).
struct StepStats {
  torch::Tensor loss_d;       ///< critic loss of the last critic step (penalty included)
  torch::Tensor loss_g;       ///< generator loss
  torch::Tensor d_real;       ///< mean D(x): probability for logit losses, critic value for Wasserstein ones
  torch::Tensor d_fake;       ///< mean D(G(z)) likewise
  torch::Tensor penalty;      ///< WGAN-GP's gradient penalty (undefined when the loss has none)
  torch::Tensor r1;           ///< E‖∇ₓD(x)‖² of the last critic step that took it (undefined when off)
  torch::Tensor r2;           ///< the same on generated images
  torch::Tensor sign_real;    ///< mean sign(D(x)) of the last critic step (signed-output losses; else undefined)
  torch::Tensor grad_norm_d;  ///< L2 norm of the critic's gradients in the last critic step, before clipping
  torch::Tensor grad_norm_g;  ///< L2 norm of the generator's gradients, before clipping
};

/// The first non-finite loss of a run: its step and both losses.
struct NonFiniteLoss {
  int64_t step = 0;
  double loss_d = 0, loss_g = 0;
};

class Distributed;
class GraphedFunction;
class Optimizer;

/// The networks, their optimisers and the training step, with the state a checkpoint needs to continue
/// exactly (step count, RNG states, fixed latents). The run around it (data, files, logs) is TrainingRun's.
class Trainer {
 public:
  /// Seeds, builds both networks on `device` and their optimisers; draws the fixed latents.
  /// Expects a config that passed check_supported for `device`.
  Trainer(const Config& config, torch::Device device);
  ~Trainer();

  /// Trains data-parallel in `dist`'s group (null: alone): copies rank 0's networks to every rank, then each
  /// step averages the gradients over the ranks and, with `sync_batch_norm`, takes batch norm's statistics over
  /// the global batch (else each rank's own). The batches given to train_step are this rank's rows
  /// (batch_shard()) of the global batches.
  void set_distributed(Distributed* dist, bool sync_batch_norm);

  /// Throws UsageError when the config asks for something `device` cannot do (checked before data is read).
  static void check_supported(const Config& config, torch::Device device);

  /// Writes networks, EMA weights, optimisers, step, RNG states and fixed latents as checkpoint sections.
  void save(CheckpointWriter& checkpoint);
  /// Restores everything save() wrote, from a checkpoint of this config.
  void load(CheckpointReader& checkpoint);

  /// One generator step after `loss.n_critic` critic steps, one real batch each (images in [-1, 1];
  /// labels needed when the model is conditional: the fakes of a critic step are drawn for its batch's labels).
  StepStats train_step(const std::vector<Batch>& reals);
  /// The same for unlabelled images.
  StepStats train_step(const std::vector<torch::Tensor>& reals);

  /// Renders the fixed-latent grid without touching training state (eval mode, no RNG drawn).
  torch::Tensor sample_grid();
  /// The fixed-latent images [N, C, H, W] of that grid, untiled.
  torch::Tensor sample_images();
  /// The generator that draws samples: the moving average when the run keeps one (its batch-norm statistics
  /// recomputed for its own weights first, see refresh_ema_statistics), else the generator.
  GeneratorBase& sampling_generator();

  /// The first step whose loss was not finite, if any (reads the device: call at log and checkpoint points).
  std::optional<NonFiniteLoss> non_finite() const;

  int64_t step() const { return step_; }
  const Config& config() const { return config_; }
  const Loss& loss() const { return loss_; }
  const Networks& networks() const { return nets_; }
  const torch::Tensor& fixed_latents() const { return fixed_z_; }
  /// Labels of the grid's rows (class k in row k) for a conditional model, else undefined.
  const torch::Tensor& fixed_labels() const { return fixed_labels_; }
  /// The moving average of the generator's weights (train.ema > 0), else null.
  GeneratorBase* ema_generator() const { return ema_g_.get(); }
  Optimizer& optimizer_g() { return *opt_g_; }
  Optimizer& optimizer_d() { return *opt_d_; }
  /// The augmentation of D's inputs (train.augment) and ADA's state.
  const Augmenter& augmenter() const { return augment_; }
  /// The EMA's decay at generator step `step` (0-based): train.ema, or with train.ema_rampup the decay whose
  /// half-life is at most ema_rampup × the images seen after that step (stylegan2-ada's ramp).
  double ema_decay(int64_t step) const;

 private:
  void update_ema();
  /// Recomputes the EMA generator's batch-norm statistics from its own weights, on a fixed set of latents of a
  /// stream of their own, when its weights changed since the last time (no training state is touched).
  void refresh_ema_statistics();
  /// The critic's R1/R2 penalties (γ/2-weighted) of `real` and `fake` (which require gradients and are what
  /// D's `real_scores` and `fake_scores` were computed from); records them in `stats`.
  torch::Tensor zero_centred_penalties(const torch::Tensor& real_scores, const torch::Tensor& real,
                                       const torch::Tensor& fake_scores, const torch::Tensor& fake, StepStats& stats);
  /// The device work of train_step (everything but the learning rate and the step count).
  StepStats step_body(const std::vector<Batch>& reals);

  Config config_;
  Distributed* dist_ = nullptr;   ///< the data-parallel group, or null
  bool sync_batch_norm_ = false;  ///< batch norm over the global batch (distributed runs)
  const Loss& loss_;
  torch::Device device_;
  Networks nets_;
  std::unique_ptr<Optimizer> opt_g_, opt_d_;
  std::unique_ptr<GraphedFunction> graph_;  ///< the step as a CUDA graph (train.cuda_graph on CUDA), else null
  std::shared_ptr<GeneratorBase> ema_g_;    ///< EMA of the generator (train.ema > 0); draws the grids then
  torch::Tensor ema_weight_;                ///< 1 − the EMA's decay for the current step, on the device
  int64_t ema_statistics_step_ = -1;        ///< the step whose EMA weights the EMA's batch-norm statistics match
  Augmenter augment_;
  torch::Tensor fixed_z_;
  torch::Tensor fixed_labels_;  ///< conditional: one row of the grid per class, derived from the config
  int64_t step_ = 0;
  torch::Tensor device_step_;     ///< step_ on the device, for the graph-captured step body
  torch::Tensor first_bad_step_;  ///< first step with a non-finite loss, -1 while none (stays on the device)
  torch::Tensor bad_losses_;      ///< [loss_d, loss_g] of that step
};

}  // namespace ganpp
