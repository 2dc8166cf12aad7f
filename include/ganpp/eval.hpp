// `ganpp eval`: sample quality of a checkpoint's generator or of a folder of images against reference data, and
// the real-data floor (a dataset's train split against its test split), in a feature network's space.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/json.hpp"
#include "ganpp/metrics.hpp"

namespace ganpp {

/// What to evaluate: exactly one of `checkpoint`, `images` and `floor`.
struct EvalRequest {
  std::string checkpoint;  ///< checkpoint file or run directory: its generator's samples
  std::string images;      ///< a folder of images (directly or in class subfolders)
  bool floor = false;      ///< the reference's train split against its test split
  std::string reference;   ///< data path (IDX or image folder); with `checkpoint`, default: the run's data.path
  DataSplit reference_split = DataSplit::train;  ///< IDX folders: the split the reference images come from
  std::string features;                          ///< feature network: ganpp classifier file or TorchScript module
  int64_t n = 10000;                             ///< images on each side (fewer when the data has fewer)
  uint64_t seed = 0;                             ///< latents, reference subset and KID subsets
};

/// How a conditional generator does per class (checkpoint evaluations of class-conditional models).
struct ClassMetrics {
  std::string name;
  int64_t n = 0;            ///< samples generated for this class
  int64_t n_reference = 0;  ///< reference images of this class
  double fd = NAN;          ///< FD of this class's samples against this class's reference images
  double accuracy = NAN;    ///< fraction of this class's samples the feature classifier assigns to it
};

struct EvalResult {
  QualityMetrics metrics;
  std::vector<ClassMetrics> classes;  ///< conditional generators only, one per class
  double class_accuracy = NAN;        ///< conditional: fraction of all samples classified as the class asked for
  std::string class_note;             ///< why a conditional figure is missing, when one is
  std::string subject;                ///< what was evaluated
  std::string reference;              ///< what it was compared with
  std::string features;               ///< the feature network
  int64_t step = -1;                  ///< the checkpoint's step (checkpoint evaluations)
};

/// Runs the evaluation. RuntimeError for missing, corrupt or ill-fitting data, checkpoints and feature networks.
/// The request must be complete (one mode, a feature network, a reference unless `checkpoint`, a split of train or
/// test, n >= 10): c10::Error otherwise (`ganpp eval` checks its flags before and says what is missing).
EvalResult evaluate(const EvalRequest& request, torch::Device device);

/// The result as one JSON object: metrics_to_json plus kid subsets, k, subject, reference, features, step.
Json eval_result_to_json(const EvalResult& result);

}  // namespace ganpp
