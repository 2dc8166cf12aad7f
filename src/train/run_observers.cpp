// The default observers of a training run (see run_observers.hpp). Each does one job and keeps its own state;
// state that must survive a resume is rebuilt from log.jsonl (TrainingRun::past_log), never kept elsewhere.
#include "ganpp/run_observers.hpp"

#include <cmath>

#include <spdlog/spdlog.h>

#include "ganpp/device.hpp"
#include "ganpp/fault.hpp"
#include "ganpp/files.hpp"
#include "ganpp/health.hpp"
#include "ganpp/image.hpp"
#include "ganpp/progress.hpp"
#include "ganpp/report.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/train_eval.hpp"

namespace ganpp {
namespace {

double number(const Json& record, const char* key) {
  return record.contains(key) && record[key].is_number() ? record[key].get<double>() : NAN;
}

// Diversity of the fixed-latent grid beside the real images', and the warnings of HealthMonitor.
class HealthObserver : public RunObserver {
 public:
  void on_start(TrainingRun& run) override {
    const double real = real_image_diversity(run.dataset().images, run.config().train.sample_count);
    const TrainConfig& t = run.config().train;
    monitor_ = std::make_unique<HealthMonitor>(run.trainer().loss().logits, real, t.log_every, t.sample_every);
    monitor_->replay(run.past_log());
  }
  void on_log(TrainingRun& run, Json& record, const torch::Tensor& grid) override {
    if (grid.defined()) {
      record["diversity"] = mean_pairwise_distance(grid).item<double>();
      record["diversity_real"] = monitor_->real_diversity();
    }
    const std::vector<std::string> warnings = monitor_->observe(record);
    if (!warnings.empty()) record["warnings"] = warnings;
  }

 private:
  std::unique_ptr<HealthMonitor> monitor_;
};

// Sample quality at train.eval_every (FD, KID, precision/recall), with checkpoints/best.ckpt on a new best FD.
class EvaluationObserver : public RunObserver {
 public:
  void on_start(TrainingRun& run) override {
    // Reference features are computed once, from the training images in memory.
    evaluator_ = std::make_unique<TrainingEvaluator>(run.config(), run.dataset(), run.options().device,
                                                     best_fd_in_log(run.past_log()));
  }
  void on_evaluation(TrainingRun& run, Evaluation& evaluation) override {
    const QualityMetrics m = evaluator_->measure(run.trainer().sampling_generator());
    if (run.stop_requested()) return;  // abandoned: the run stops at this step without it
    evaluation.record.update(metrics_to_json(m));
    evaluation.best = evaluator_->improves_best(m.fd);
    if (evaluation.best) write_file_atomic(best_checkpoint_path(run.dir()), run.checkpoint_bytes());
  }

 private:
  std::unique_ptr<TrainingEvaluator> evaluator_;
};

// log.jsonl: one record per log point and per evaluation.
class LogWriter : public RunObserver {
 public:
  void on_log(TrainingRun& run, Json& record, const torch::Tensor&) override { append_log(run.dir(), record); }
  void on_evaluation(TrainingRun& run, Evaluation& evaluation) override { append_log(run.dir(), evaluation.record); }
};

// What a person watching the console sees: the run's setup, a line per log record with the ETA, warnings,
// evaluations, the live progress line on a terminal, and how the run ended.
class ConsoleObserver : public RunObserver {
 public:
  void on_start(TrainingRun& run) override {
    const Config& config = run.config();
    const Dataset& data = run.dataset();
    spdlog::info("device: {}", describe_device(run.options().device, run.options().threads));
    const auto s = data.images.sizes();
    std::string classes;
    for (size_t i = 0; i < data.classes.size() && i < 12; ++i) classes += (i ? ", " : ": ") + data.classes[i];
    if (data.classes.size() > 12) classes += ", ...";
    spdlog::info("data: {} ({} images of {}x{}x{} (CxHxW), {})", data.source, s[0], s[1], s[2], s[3],
                 data.classes.empty() ? std::string("unlabelled")
                                      : std::to_string(data.classes.size()) + " classes" + classes);
    const Networks& nets = run.trainer().networks();
    spdlog::info("model: {}; G {} parameters, D {} parameters", describe_variant(config), count_parameters(*nets.g),
                 count_parameters(*nets.d));
    spdlog::info("run directory: {} (report: {}/report.html)", run.dir(), run.dir());
    if (!run.resumed_from().empty())
      spdlog::info("resuming from {} at step {} of {}", run.resumed_from(), run.step(), config.train.steps);
    progress_ = std::make_unique<Progress>(run.options().live, run.step(), config.train.steps);
  }
  void on_log(TrainingRun& run, Json& r, const torch::Tensor&) override {
    std::string line = fmt::format("step {}/{} epoch {:.2f} loss_d {:.4f} loss_g {:.4f}", run.step(),
                                   run.config().train.steps, run.epoch(), number(r, "loss_d"), number(r, "loss_g"));
    if (r.contains("d_real"))
      line += fmt::format(" D(x) {:.3f} D(G(z)) {:.3f}", number(r, "d_real"), number(r, "d_fake"));
    else
      line += fmt::format(" critic real {:.4f} fake {:.4f}", number(r, "critic_real"), number(r, "critic_fake"));
    if (r.contains("wasserstein")) line += fmt::format(" W {:.4f}", number(r, "wasserstein"));
    if (r.contains("gp")) line += fmt::format(" gp {:.4f}", number(r, "gp"));
    line += fmt::format(" | grad D {:.3g} G {:.3g}", number(r, "grad_norm_d"), number(r, "grad_norm_g"));
    if (r.contains("diversity"))
      line += fmt::format(" | diversity {:.4f} (real {:.4f})", number(r, "diversity"), number(r, "diversity_real"));
    progress_->clear();
    spdlog::info("{} | {:.1f} img/s ETA {}", line, number(r, "images_per_s"),
                 format_duration(progress_->eta_seconds(run.step())));
    if (r.contains("warnings"))
      for (const auto& w : r["warnings"]) spdlog::warn("warning: {}", w.get<std::string>());
    progress_->set_losses(number(r, "loss_d"), number(r, "loss_g"));
  }
  void on_evaluation(TrainingRun& run, Evaluation& e) override {
    const Json& r = e.record;
    progress_->clear();
    spdlog::info("eval step {}: FD {:.4f} KID {:.5f} ± {:.5f} precision {:.3f} recall {:.3f} (N = {}){}", run.step(),
                 number(r, "fd"), number(r, "kid"), number(r, "kid_std"), number(r, "precision"), number(r, "recall"),
                 r.value("eval_n", int64_t{0}), e.best ? "; best so far: checkpoints/best.ckpt" : "");
  }
  void on_step(TrainingRun& run, const StepStats&, const StepPoints&) override {
    progress_->tick(run.step(), run.epoch(), run.config().loss.n_critic * run.config().train.batch_size);
  }
  void on_finish(TrainingRun& run) override {
    progress_->clear();
    if (run.stop_requested() && run.step() < run.config().train.steps)
      spdlog::info("stopped{} at step {}: checkpoint {}; continue with: ganpp train --resume {}",
                   run.stop_signal() ? " by " + signal_name(run.stop_signal()) : "", run.step(),
                   checkpoint_path(run.dir(), run.step()), run.dir());
    else
      spdlog::info("done: {} steps; run directory: {}", run.step(), run.dir());
  }
  void on_error(TrainingRun&, const std::exception&) override {
    if (progress_) progress_->clear();
  }

 private:
  std::unique_ptr<Progress> progress_;
};

// samples/step_NNNNNN.png: the fixed-latent grid.
class SampleWriter : public RunObserver {
 public:
  void on_sample(TrainingRun& run, const torch::Tensor& grid) override {
    write_png(sample_path(run.dir(), run.step()), make_grid(grid, run.config().train.sample_nrow));
  }
};

// report.html, once per step that drew a grid or measured quality (after both).
class ReportWriter : public RunObserver {
 public:
  void on_step(TrainingRun& run, const StepStats&, const StepPoints& points) override {
    if (points.sample || points.evaluate) write_report(run.dir());
  }
};

// checkpoints/step_NNNNNN.ckpt and latest.ckpt, keeping the newest train.keep_checkpoints step files.
class Checkpointer : public RunObserver {
 public:
  void on_checkpoint(TrainingRun& run, const std::string& bytes) override {
    write_file_atomic(checkpoint_path(run.dir(), run.step()), bytes);
    fault_point("between:checkpoint-latest");
    write_file_atomic(latest_checkpoint_path(run.dir()), bytes);
    prune_checkpoints(run.dir(), run.config().train.keep_checkpoints);
  }
};

}  // namespace

std::vector<std::unique_ptr<RunObserver>> default_observers(const Config& config) {
  std::vector<std::unique_ptr<RunObserver>> observers;
  observers.push_back(std::make_unique<HealthObserver>());
  if (config.train.eval_every > 0) observers.push_back(std::make_unique<EvaluationObserver>());
  observers.push_back(std::make_unique<LogWriter>());
  observers.push_back(std::make_unique<ConsoleObserver>());
  observers.push_back(std::make_unique<SampleWriter>());
  observers.push_back(std::make_unique<ReportWriter>());
  observers.push_back(std::make_unique<Checkpointer>());
  return observers;
}

}  // namespace ganpp
