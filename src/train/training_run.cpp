// A training run (see training_run.hpp): starting and resuming, and the loop that notifies the observers.
#include "ganpp/training_run.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include <spdlog/spdlog.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/checksum.hpp"
#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/fault.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/run_observers.hpp"
#include "ganpp/version.hpp"

namespace ganpp {
namespace {

double scalar(const torch::Tensor& t) { return t.defined() ? t.item<double>() : NAN; }

// x rounded to `decimals` places, as log.jsonl shows it.
double rounded(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

// A conditional model takes its number of classes from the data; a stated model.num_classes must agree.
void resolve_classes(Config& config, const Dataset& data) {
  if (!config.model.conditional) return;
  const auto found = static_cast<int64_t>(data.classes.size());
  if (found < 2)
    throw RuntimeError("model.conditional = true needs labelled data with at least 2 classes, but '" + data.source +
                       "' has " + (found == 0 ? std::string("no labels") : "1 class") +
                       "; use IDX files with a labels file, or an image folder with one subfolder per class");
  if (config.model.num_classes != 0 && config.model.num_classes != found)
    throw RuntimeError("config key 'model.num_classes' = " + std::to_string(config.model.num_classes) + ", but '" +
                       data.source + "' has " + std::to_string(found) + " classes; set it to 0 to take the data's");
  config.model.num_classes = found;
}

// CRC-32s of both networks' parameters and of their buffers: the test hook GANPP_TRACE prints them, so that the
// suite can tell that the ranks of a distributed run hold the same networks.
std::string networks_crc(const Networks& nets) {
  uint32_t params = 0, buffers = 0;
  const auto add = [](uint32_t& crc, const torch::Tensor& t) {
    const torch::Tensor c = t.detach().cpu().contiguous();
    crc = crc32_update(crc, c.data_ptr(), static_cast<size_t>(c.nbytes()));
  };
  for (const torch::nn::Module* m :
       {static_cast<const torch::nn::Module*>(nets.g.get()), static_cast<const torch::nn::Module*>(nets.d.get())}) {
    for (const auto& p : m->parameters()) add(params, p);
    for (const auto& b : m->buffers()) add(buffers, b);
  }
  return "parameters " + std::to_string(params) + " buffers " + std::to_string(buffers);
}

// A new run's identity: 64 random bits in hex.
std::string new_run_id() {
  std::random_device device;
  char id[17];
  std::snprintf(id, sizeof(id), "%08x%08x", device(), device());
  return id;
}

// The checkpoint to resume from, verified: a damaged one is named together with the newest intact
// checkpoint of its run (never a silent fallback).
std::unique_ptr<CheckpointReader> open_for_resume(const std::string& file, const std::string& run_dir,
                                                  torch::Device device) {
  try {
    return std::make_unique<CheckpointReader>(file, device);
  } catch (const CheckpointDamaged& e) {
    const std::string intact = newest_intact_checkpoint(run_dir, file);
    throw CheckpointDamaged(std::string(e.what()) + "; " +
                            (intact.empty() ? "the run has no intact checkpoint left to resume from"
                                            : "the newest intact checkpoint is " + intact +
                                                  ": resume from it with 'ganpp train --resume " + intact + "'"));
  }
}

// A checkpoint resumes only into the run it belongs to (runs from before run ids resume as before).
void check_same_run(const CheckpointReader& checkpoint, const std::string& run_dir) {
  const Json info = read_run_info(run_dir);
  const std::string folder_id = info.value("id", std::string());
  const std::string& id = checkpoint.origin().run_id;
  if (!folder_id.empty() && !id.empty() && folder_id != id)
    throw RuntimeError("checkpoint '" + checkpoint.path() + "' belongs to another run (run id " + id +
                       ") than the one in '" + run_dir + "' (run id " + folder_id +
                       "); nothing was changed. Resume a checkpoint in its own run directory");
}

// Only run-length, cadence and placement keys may change when resuming.
void check_resumable(const std::vector<std::string>& overrides) {
  for (const auto& s : overrides) {
    const std::string key = override_key(s);
    if (is_resumable_key(key)) continue;
    std::string keys;
    for (const auto& k : resumable_keys()) keys += (keys.empty() ? "" : ", ") + k;
    throw UsageError("--set " + key + " cannot change when resuming; only these may: " + keys);
  }
}

}  // namespace

std::string signal_name(int signal) {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    default: return "signal " + std::to_string(signal);
  }
}

std::string describe_run(Config config) {
  validate(config);
  // A conditional model's class count comes from the data, read only for that.
  if (config.model.conditional && config.model.num_classes == 0) resolve_classes(config, load_dataset(config.data));
  const Networks nets = build_networks(config);
  std::ostringstream out;
  out << config_to_json(config).dump(2) << "\n";
  out << "variant: " << describe_variant(config) << "\n";
  out << "generator (" << count_parameters(*nets.g) << " parameters):\n" << *nets.g << "\n";
  out << "discriminator (" << count_parameters(*nets.d) << " parameters, batch norm "
      << (discriminator_batch_norm(config) ? "on" : "off") << "):\n"
      << *nets.d << "\n";
  return out.str();
}

TrainingRun::TrainingRun(Config config, std::string run_dir, Dataset data, const RunOptions& options)
    : config_(std::move(config)), run_dir_(std::move(run_dir)), options_(options), data_(std::move(data)) {
  trainer_ = std::make_unique<Trainer>(config_, options_.device);
  stream_ = std::make_unique<DataStream>(data_, config_.train.batch_size, config_.train.seed, config_.data.hflip,
                                         options_.device);
  if (options_.default_observers && writer())
    for (auto& observer : default_observers(config_)) observers_.push_back(std::move(observer));
}

bool TrainingRun::writer() const { return !options_.dist || options_.dist->rank() == 0; }

TrainingRun::~TrainingRun() = default;

Json TrainingRun::run_info() const {
  return Json{{"ganpp_version", ganpp_version()},
              {"libtorch_version", libtorch_version()},
              {"device", options_.device.str()},
              {"threads", options_.threads},
              {"ranks", options_.dist ? options_.dist->world() : 1},
              {"id", origin_.run_id},
              {"data_fingerprint", origin_.data_fingerprint}};
}

std::unique_ptr<TrainingRun> TrainingRun::start(Config config, const std::string& out_dir, const RunOptions& options) {
  validate(config);
  Trainer::check_supported(config, options.device);
  check_batch_splits(config.train.batch_size, options.dist);
  const bool writer = !options.dist || options.dist->rank() == 0;
  if (writer) check_out_dir(out_dir);
  Dataset data = load_dataset(config.data);
  resolve_classes(config, data);
  check_batch_fits(data, config.train.batch_size);
  if (!writer) {
    // Another rank: rank 0 owns the run directory; this one only trains.
    const std::string run_dir = options.dist->broadcast_bytes("");
    std::unique_ptr<TrainingRun> run(new TrainingRun(std::move(config), run_dir, std::move(data), options));
    run->trainer_->set_distributed(options.dist, options.sync_batch_norm);
    return run;
  }
  const std::string fingerprint = data.fingerprint;  // a copy: `data` moves into the run
  const bool reuse = !out_dir.empty() && unfinished_run(out_dir);
  std::string run_dir = create_run_dir(out_dir, options.name, options.runs_root);
  auto lock = std::make_unique<RunLock>(run_dir);
  if (reuse) {
    // Left by a run that stopped before its first checkpoint: nothing of value, replaced by this run.
    spdlog::info("{} was left by a run that stopped before its first checkpoint; starting over in it", run_dir);
    clear_unfinished_run(run_dir);
    make_run_subdirs(run_dir);
  }
  std::unique_ptr<TrainingRun> run;
  try {
    run.reset(new TrainingRun(std::move(config), run_dir, std::move(data), options));
  } catch (...) {
    if (out_dir.empty()) std::filesystem::remove_all(run_dir);  // a numbered folder holding nothing
    throw;
  }
  run->lock_ = std::move(lock);
  run->numbered_dir_ = out_dir.empty();
  run->origin_.run_id = new_run_id();
  run->origin_.data_fingerprint = fingerprint;
  write_run_config(run->run_dir_, run->config_, run->run_info());
  if (options.dist) {
    options.dist->broadcast_bytes(run->run_dir_);
    run->trainer_->set_distributed(options.dist, options.sync_batch_norm);
  }
  return run;
}

std::unique_ptr<TrainingRun> TrainingRun::resume(const std::string& path, const std::vector<std::string>& overrides,
                                                 const RunOptions& options) {
  check_resumable(overrides);
  const bool writer = !options.dist || options.dist->rank() == 0;
  if (writer && std::filesystem::is_directory(path) && unfinished_run(path))
    throw RuntimeError("'" + path +
                       "' holds no checkpoint: its run stopped before the first one, so there is "
                       "nothing to continue; start it again with 'ganpp train --out " +
                       path + "' (and its --config)");
  std::string checkpoint_file = writer ? resolve_checkpoint_path(path) : "";
  // Every rank reads the checkpoint that rank 0 chose (the run directory is on a filesystem they share).
  if (options.dist) checkpoint_file = options.dist->broadcast_bytes(checkpoint_file);
  std::string run_dir = run_dir_of_checkpoint(checkpoint_file);
  auto lock = writer ? std::make_unique<RunLock>(run_dir) : nullptr;
  const std::unique_ptr<CheckpointReader> reader = open_for_resume(checkpoint_file, run_dir, options.device);
  CheckpointReader& checkpoint = *reader;
  check_same_run(checkpoint, run_dir);
  Json json = config_to_json(checkpoint.config());
  for (const auto& s : overrides) apply_override(json, s);
  Config config = config_from_json(json);
  validate(config);
  Trainer::check_supported(config, options.device);
  check_batch_splits(config.train.batch_size, options.dist);
  const int64_t step = checkpoint.state().step;
  if (step >= config.train.steps) {
    spdlog::info("the run in {} is finished at step {} (train.steps = {}); to continue it, raise train.steps, e.g. "
                 "--set train.steps={}",
                 run_dir, step, config.train.steps, 2 * config.train.steps);
    std::unique_ptr<TrainingRun> run(new TrainingRun(std::move(config), std::move(run_dir), options, step));
    return run;
  }
  Dataset data = load_dataset(config.data);
  if (data.classes != checkpoint.state().classes)
    throw RuntimeError("the data at '" + config.data.path +
                       "' has other classes than when the run started; resume "
                       "needs the same dataset");
  const std::string fingerprint = data.fingerprint;  // a copy: `data` moves into the run
  const std::string& started_with = checkpoint.origin().data_fingerprint;
  const bool data_changed = !started_with.empty() && started_with != fingerprint;
  if (data_changed && !options.allow_changed_data)
    throw RuntimeError("the data at '" + abbreviate(config.data.path) +
                       "' changed since the run started (fingerprint " + started_with + ", now " + fingerprint +
                       "): files were added, removed or changed, and the resume would not be exact. Restore the "
                       "data, or resume with --allow-changed-data to continue on the new data");
  std::unique_ptr<TrainingRun> run(new TrainingRun(std::move(config), std::move(run_dir), std::move(data), options));
  run->trainer_->load(checkpoint);
  run->trainer_->set_distributed(options.dist, options.sync_batch_norm);
  run->resumed_from_ = checkpoint_file;
  run->stream_->seek(checkpoint.state().data);
  if (!writer) return run;
  run->lock_ = std::move(lock);
  // Runs from before run ids take the one of their folder, or a new one.
  run->origin_.run_id = checkpoint.origin().run_id;
  if (run->origin_.run_id.empty()) run->origin_.run_id = read_run_info(run->run_dir_).value("id", std::string());
  if (run->origin_.run_id.empty()) run->origin_.run_id = new_run_id();
  run->origin_.data_fingerprint = fingerprint;
  // The order matters: a killed run's temporaries go, the log loses the records after the checkpoint (a
  // resumed run writes them again), and config.json takes the new cadence before anything is appended.
  make_run_subdirs(run->run_dir_);
  remove_temporaries(run->run_dir_);
  truncate_log(run->run_dir_, step);
  write_run_config(run->run_dir_, run->config_, run->run_info());
  if (data_changed) {
    spdlog::warn("the data at '{}' changed since the run started (fingerprint {}, now {}); continuing on it as "
                 "--allow-changed-data asks: this run is no longer an exact continuation",
                 run->config_.data.path, started_with, fingerprint);
    append_log(run->run_dir_, Json{{"step", step},
                                   {"event", "data_changed"},
                                   {"data_fingerprint_before", started_with},
                                   {"data_fingerprint", fingerprint},
                                   {"note", "resumed on changed data (--allow-changed-data): not exact"}});
  }
  return run;
}

void TrainingRun::add_observer(std::unique_ptr<RunObserver> observer) { observers_.push_back(std::move(observer)); }

int64_t TrainingRun::step() const { return trainer_ ? trainer_->step() : finished_step_; }

double TrainingRun::epoch() const {
  const DataPosition pos = stream_->position();
  return pos.epoch + static_cast<double>(pos.position) / stream_->batches_per_epoch();
}

void TrainingRun::check_finite() const {
  const auto bad = trainer_->non_finite();
  if (!bad) return;
  const std::string latest = latest_checkpoint_path(run_dir_);
  throw RuntimeError("non-finite loss at step " + std::to_string(bad->step) +
                     " (loss_d = " + std::to_string(bad->loss_d) + ", loss_g = " + std::to_string(bad->loss_g) +
                     "); training stopped. " +
                     (std::filesystem::exists(latest) ? "The last good checkpoint is " + latest + "; "
                                                      : "No checkpoint was written; ") +
                     "lower optim.*.lr or change the loss before trying again");
}

std::string TrainingRun::checkpoint_bytes() {
  check_finite();  // never checkpoint a diverged state
  CheckpointWriter checkpoint(config_, origin_);
  trainer_->save(checkpoint);
  checkpoint.write_data(stream_->position(), data_.classes);
  return checkpoint.bytes();
}

bool TrainingRun::agree_stop() {
  Distributed& dist = *options_.dist;
  // Each rank's slot: 0, or the signal that asked it to stop (-1 for a stop without a signal).
  torch::Tensor asked = torch::zeros({dist.world()}, torch::kInt64);
  if (stop_requested_) asked[dist.rank()] = stop_signal_ ? static_cast<int64_t>(stop_signal_) : -1;
  dist.all_reduce_sum({asked});
  for (int64_t r = 0; r < dist.world(); ++r) {
    const int64_t signal = asked[r].item<int64_t>();
    if (signal == 0) continue;
    if (!stop_requested_) request_stop(signal > 0 ? static_cast<int>(signal) : 0);
    return true;
  }
  return false;
}

void TrainingRun::average_over_ranks(StepStats& s) {
  // Losses, D's outputs and penalties are this rank's means; the gradient norms are already global.
  std::vector<torch::Tensor*> local = {&s.loss_d,  &s.loss_g, &s.d_real, &s.d_fake,
                                       &s.penalty, &s.r1,     &s.r2,     &s.sign_real};
  std::vector<torch::Tensor> values;
  for (torch::Tensor* t : local)
    if (t->defined()) {
      *t = t->detach().to(torch::kFloat64).clone();
      values.push_back(*t);
    }
  options_.dist->all_reduce_sum(values);
  for (auto& v : values) v.div_(static_cast<double>(options_.dist->world()));
}

Json TrainingRun::step_record(const StepStats& s, double images_per_s, double data_wait_ms) const {
  const Loss& loss = trainer_->loss();
  Json record = {{"step", step()},
                 {"epoch", rounded(epoch(), 3)},
                 {"loss_d", scalar(s.loss_d)},
                 {"loss_g", scalar(s.loss_g)}};
  if (loss.logits) {
    record["d_real"] = scalar(s.d_real);
    record["d_fake"] = scalar(s.d_fake);
  } else {
    if (loss.wasserstein) record["wasserstein"] = scalar(s.d_real) - scalar(s.d_fake);
    record["critic_real"] = scalar(s.d_real);
    record["critic_fake"] = scalar(s.d_fake);
  }
  if (s.penalty.defined()) record["gp"] = scalar(s.penalty);
  if (s.r1.defined()) record["r1"] = scalar(s.r1);
  if (s.r2.defined()) record["r2"] = scalar(s.r2);
  if (s.sign_real.defined()) record["sign_real"] = scalar(s.sign_real);
  if (trainer_->augmenter().adaptive()) {
    record["ada_p"] = trainer_->augmenter().p();
    record["ada_rt"] = trainer_->augmenter().rt();
  }
  record["grad_norm_d"] = scalar(s.grad_norm_d);
  record["grad_norm_g"] = scalar(s.grad_norm_g);
  record["images_per_s"] = rounded(images_per_s, 1);
  record["data_wait_ms"] = rounded(data_wait_ms, 1);
  return record;
}

void TrainingRun::run() {
  // The run directory's lock is held until the run ends, however it ends (a later run in this process may take it).
  struct Unlock {
    std::unique_ptr<RunLock>& lock;
    ~Unlock() { lock.reset(); }
  } unlock{lock_};
  if (finished_) return;
  using Clock = std::chrono::steady_clock;
  const TrainConfig& t = config_.train;
  // A resumed run continues warning state and best FD where its log stops (read once).
  if (writer()) past_log_ = read_log(run_dir_);
  Distributed* dist = options_.dist;
  try {
    for (auto& o : observers_) o->on_start(*this);
    auto interval_start = Clock::now();
    int64_t interval_images = 0;
    Clock::duration interval_data_wait{};  // the time the loop waited for batches
    int64_t interval_rank_images = 0;      // distributed: the images this rank trained on
    std::vector<Batch> reals(static_cast<size_t>(config_.loss.n_critic));
    while (step() < t.steps) {
      const auto data_start = Clock::now();
      for (auto& r : reals) r = stream_->next();
      interval_data_wait += Clock::now() - data_start;
      StepStats stats = trainer_->train_step(reals);
      set_fault_step(step());
      fault_point("step");
      interval_images += static_cast<int64_t>(reals.size()) * t.batch_size;
      interval_rank_images += static_cast<int64_t>(reals.size()) * reals.front().images.size(0);
      // One process acts on a stop request wherever the loop is; ranks act on the one they agreed on here.
      const bool agreed_stop = dist && agree_stop();
      auto stopping = [&] { return dist ? agreed_stop : stop_requested_.load(); };
      const int64_t s = step();
      StepPoints points;
      points.last = s == t.steps;
      points.sample = s % t.sample_every == 0 || points.last;
      // A grid step is also logged, so that its diversity has a record of its own step.
      points.log = s % t.log_every == 0 || points.sample;
      points.evaluate = t.eval_every > 0 && (s % t.eval_every == 0 || points.last);
      points.checkpoint = s % t.checkpoint_every == 0 || points.last;
      if (points.log) {
        if (options_.device.is_cuda()) torch::cuda::synchronize();
        const double seconds = std::chrono::duration<double>(Clock::now() - interval_start).count();
        check_finite();
        if (dist) average_over_ranks(stats);
        const torch::Tensor grid = points.sample && writer() ? trainer_->sample_images() : torch::Tensor();
        Json record = step_record(stats, interval_images / std::max(seconds, 1e-9),
                                  std::chrono::duration<double, std::milli>(interval_data_wait).count());
        if (dist) {
          // The images each rank trained on since the last record.
          torch::Tensor images = torch::zeros({dist->world()}, torch::kInt64);
          images[dist->rank()] = interval_rank_images;
          dist->all_reduce_sum({images});
          record["rank_images"] = std::vector<int64_t>(images.data_ptr<int64_t>(),
                                                       images.data_ptr<int64_t>() + images.numel());
        }
        interval_rank_images = 0;
        for (auto& o : observers_) o->on_log(*this, record, grid);
        if (points.sample)
          for (auto& o : observers_) o->on_sample(*this, grid);
        interval_start = Clock::now();
        interval_images = 0;
        interval_data_wait = {};
      }
      if (points.evaluate && !stopping()) {
        check_finite();  // never evaluate (or keep as best) a diverged state
        Evaluation evaluation{{{"step", s}, {"epoch", rounded(epoch(), 3)}}, false};
        // A stop requested during the evaluation abandons it: later observers never see it half done.
        for (auto& o : observers_)
          if (!stop_requested_) o->on_evaluation(*this, evaluation);
      }
      for (auto& o : observers_) o->on_step(*this, stats, points);
      // A stop requested during this step (by a signal, or an observer above) ends it with a checkpoint, which
      // only the writer makes.
      const bool checkpoint = points.checkpoint || stopping();
      if (checkpoint && writer()) {
        const std::string bytes = checkpoint_bytes();
        for (auto& o : observers_) o->on_checkpoint(*this, bytes);
      }
      // Rank 0 writes grids, evaluates and checkpoints alone, which may take longer than a collective's timeout:
      // the others wait for it here without one.
      if (dist && (points.log || points.evaluate || checkpoint))
        writer() ? dist->done("step@" + std::to_string(s)) : dist->wait_for_rank0("step@" + std::to_string(s));
      if (stopping()) break;
    }
    if (std::getenv("GANPP_TRACE")) {
      // One write, so that the lines of ranks sharing a stderr do not interleave.
      std::ostringstream line;
      line << "ganpp-params rank " << (dist ? dist->rank() : 0) << " step " << step() << ": "
           << networks_crc(trainer_->networks()) << "\n";
      std::cerr << line.str();  // std::cerr is unbuffered
    }
    for (auto& o : observers_) o->on_finish(*this);
  } catch (const std::exception& e) {
    for (auto& o : observers_) o->on_error(*this, e);
    // A numbered folder of a run that failed before its first checkpoint holds no work: it goes, so that
    // failed attempts do not pile up (an --out folder stays, reusable by train --out).
    if (numbered_dir_ && !holds_run(run_dir_)) {
      std::error_code ec;
      std::filesystem::remove_all(run_dir_, ec);
    }
    throw;
  }
}

}  // namespace ganpp
