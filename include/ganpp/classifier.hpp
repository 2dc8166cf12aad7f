// The feature classifier of `ganpp classifier train`: a small CNN whose penultimate layer is the feature
// space of `ganpp eval` (a "Fréchet classifier distance"), its training, and its file format.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"

namespace ganpp {

/// Marker and version at the start of a classifier file; eval refuses files without them.
inline constexpr const char* kClassifierFormat = "ganpp-classifier";
inline constexpr int64_t kClassifierFormatVersion = 1;

/// What rebuilds a classifier: its widths and the shape of the images it takes.
struct ClassifierSpec {
  std::vector<int64_t> widths;
  int64_t feature_dim = 0;
  int64_t image_size = 0;
  int64_t channels = 0;
  std::vector<std::string> classes;
};

/// Conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), one hidden linear layer + ReLU (the features),
/// and the class logits. Takes images [B, C, S, S] in [-1, 1].
class ClassifierNetImpl : public torch::nn::Module {
 public:
  explicit ClassifierNetImpl(const ClassifierSpec& spec);
  torch::Tensor features(const torch::Tensor& images);  ///< [B, feature_dim]
  torch::Tensor forward(const torch::Tensor& images);   ///< logits [B, classes]

 private:
  torch::nn::Sequential body_{nullptr};
  torch::nn::Linear hidden_{nullptr}, head_{nullptr};
};
TORCH_MODULE(ClassifierNet);

/// A trained classifier, as saved and loaded.
struct Classifier {
  ClassifierSpec spec;
  ClassifierNet net{nullptr};
  double test_accuracy = 0;  ///< accuracy on the held-out images when it was trained
  std::string test_source;   ///< what those images were
};

/// Progress of classifier training: one call per epoch.
using ClassifierProgress = std::function<void(int64_t epoch, double loss, double train_accuracy, double test_accuracy)>;

/// Trains a classifier on `config.data` (labelled: IDX with labels, or class subfolders). The accuracy is measured
/// on the IDX test split when there is one, else on `train.holdout` of the images, held out before training.
Classifier train_classifier(const ClassifierConfig& config, torch::Device device, const ClassifierProgress& progress);

/// Fraction of `images` (uint8 [N, C, S, S]) that `net` labels as `labels`.
double classifier_accuracy(ClassifierNet& net, const torch::Tensor& images, const torch::Tensor& labels,
                           torch::Device device);

/// Writes the classifier (format marker, spec, accuracy, weights) atomically.
void save_classifier(const Classifier& classifier, const std::string& path);

/// Loads a classifier file onto `device` in eval mode; RuntimeError for missing, corrupt or incompatible files.
Classifier load_classifier(const std::string& path, torch::Device device);

/// Whether `path` holds a ganpp classifier (its format marker), without loading the weights. False for other
/// LibTorch archives (TorchScript modules); RuntimeError when it is not readable as an archive at all.
bool is_classifier_file(const std::string& path);

}  // namespace ganpp
