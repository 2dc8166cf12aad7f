// The run configuration: one plain struct per JSON section, defaults in exactly one place (here),
// strict from_json (unknown keys and bad values name the full key path) and to_json for config.json.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ganpp/json.hpp"

namespace ganpp {

// The closed choices of the config. JSON spells each value as its enumerator's name ("auto" for
// DiscriminatorNorm::automatic); spellings<E>() lists them in this order.
enum class DataSplit { train, test };
enum class Upsample { deconv, nearest, bilinear };
enum class OutputActivation { tanh, sigmoid };
enum class DiscriminatorNorm { automatic, batch, none };
enum class Conditioning { concat, projection, ac };
enum class LrDecay { none, linear };
enum class Precision { fp32, bf16 };
enum class Augment { none, diffaugment, ada };
enum class EmaBatchNorm { copy, recompute };

/// The JSON spellings of the values of the choice `E`, in the order of its enumerators.
template <class E>
const std::vector<std::string>& spellings();
template <>
const std::vector<std::string>& spellings<DataSplit>();
template <>
const std::vector<std::string>& spellings<Upsample>();
template <>
const std::vector<std::string>& spellings<OutputActivation>();
template <>
const std::vector<std::string>& spellings<DiscriminatorNorm>();
template <>
const std::vector<std::string>& spellings<Conditioning>();
template <>
const std::vector<std::string>& spellings<LrDecay>();
template <>
const std::vector<std::string>& spellings<Precision>();
template <>
const std::vector<std::string>& spellings<Augment>();
template <>
const std::vector<std::string>& spellings<EmaBatchNorm>();

/// How `value` is spelled in JSON, for config.json and messages.
template <class E>
const std::string& spelling(E value) {
  return spellings<E>()[static_cast<size_t>(value)];
}

/// The value of `E` spelled `text`; nullopt when `text` spells none.
template <class E>
std::optional<E> parse_choice(const std::string& text) {
  const auto& names = spellings<E>();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<E>(i);
  return std::nullopt;
}

/// Where the training images come from and how they are shaped.
struct DataConfig {
  std::string path = "/usr/share/datasets/fashion-mnist";  ///< IDX folder, image folder, .zip, .npy, .npz or
                                                           ///< prepared file
  DataSplit split = DataSplit::train;                      ///< IDX folders: "train" or "test" files
  int64_t limit = 0;                                       ///< use only the first N images (0 = all)
  int64_t image_size = 28;                                 ///< training resolution in pixels (square)
  int64_t channels = 1;                                    ///< 1 (grayscale) or 3 (RGB)
  bool hflip = false;                                      ///< random horizontal flip of each training image
  std::string background = "white";  ///< images with alpha: colour that transparent pixels are composited onto:
                                     ///< "white", "black" or "#rrggbb"; "none" drops the alpha channel
  std::string cache = "auto";        ///< image folders, .zip, .npy, .npz: "auto" (prepared once into
                                     ///< $XDG_CACHE_HOME/ganpp, else ~/.cache/ganpp, and memory-mapped), "off"
                                     ///< (decoded into memory at every start), or the folder to keep them in
  std::string layout = "auto";       ///< .npy/.npz images of 4 dimensions: "nhwc", "nchw", or "auto" (whichever
                                     ///< the shape allows: [N, H, W, C] or [N, C, H, W] with C of 1 to 4)
};

/// Generator widths and variants. `ngf`, `mults` and `upsample` are used by conv architectures, `hidden` by `mlp`.
struct GeneratorConfig {
  int64_t ngf = 64;                                ///< channels of the last hidden conv layer
  std::vector<int64_t> hidden = {256, 512, 1024};  ///< mlp hidden layer sizes, from z outwards
  std::vector<int64_t> mults;            ///< dcgan: width of each hidden resolution in units of ngf, from the image
                                         ///< inwards (one per stage); empty = DCGAN's doubling ([2, 4] at 28)
  Upsample upsample = Upsample::deconv;  ///< dcgan: "deconv" (stride-2 transposed conv), or "nearest"/"bilinear"
                                         ///< upsampling followed by a 3x3 conv (no checkerboard artefacts)
  OutputActivation output = OutputActivation::tanh;  ///< "tanh" (data in [-1, 1]) or "sigmoid" (data in [0, 1])
  bool spectral_norm = false;                        ///< spectral normalisation of every conv and linear layer
  int64_t embed_dim = 0;  ///< conditional: learned label embedding of this size (0 = one-hot labels)
};

/// Discriminator widths, normalisation and dropout.
struct DiscriminatorConfig {
  int64_t ndf = 64;                                ///< channels of the first conv layer
  std::vector<int64_t> hidden = {1024, 512, 256};  ///< mlp hidden layer sizes, from the image inwards
  std::vector<int64_t> mults;  ///< dcgan: width of each conv layer in units of ndf, from the image inwards;
                               ///< empty = DCGAN's doubling [1, 2, 4, ...]
  DiscriminatorNorm norm = DiscriminatorNorm::automatic;  ///< "auto" (the architecture's default unless the
                                                          ///< loss forbids batch norm), "batch", "none"
  double dropout = 0.0;        ///< dropout probability after each hidden activation (0 = off)
  bool spectral_norm = false;  ///< spectral normalisation of every conv and linear layer (SN-GAN)
  Conditioning conditioning = Conditioning::projection;  ///< conditional: "concat" (label channels), "projection"
                                                         ///< (Miyato & Koyama 2018) or "ac" (auxiliary classifier)
};

/// Which generator/discriminator pair to build.
struct ModelConfig {
  std::string arch = "dcgan";  ///< registered architecture name (models' registry; resolved by validate())
  int64_t z_dim = 100;         ///< latent size
  bool conditional = false;    ///< class-conditional pair, labels from the dataset
  int64_t num_classes = 0;     ///< conditional: number of classes (0 = the dataset's, filled in at the start)
  GeneratorConfig g;
  DiscriminatorConfig d;
};

/// The adversarial objective.
struct LossConfig {
  std::string kind = "bce";       ///< registered loss name (losses' registry; resolved by validate())
  int64_t n_critic = 1;           ///< discriminator steps per generator step
  double gp_lambda = 10.0;        ///< gradient-penalty weight (wgan-gp)
  double label_smoothing = 0.0;   ///< one-sided: real target is 1 - label_smoothing (bce, minimax)
  double clip = 0.01;             ///< wgan: critic weights are clamped to [-clip, clip] after each step
  double margin = 1.0;            ///< ebgan: margin m of the hinge on the fake energy
  double ac_weight = 1.0;         ///< conditioning "ac": weight of the class cross-entropy in both losses
  double feature_matching = 0.0;  ///< weight of the feature-matching term in the generator loss (0 = off)
  double r1_gamma = 0.0;          ///< zero-centred penalty γ/2·E‖∇ₓD(x)‖² on real images (0 = off)
  double r2_gamma = 0.0;          ///< the same on generated images (0 = off)
  int64_t reg_every = 1;          ///< R1/R2 every k-th critic step (lazy regularisation; 1 = every step)
};

/// Adam settings for one network.
struct AdamConfig {
  double lr = 6e-4;                            ///< learning rate
  std::array<double, 2> betas = {0.5, 0.999};  ///< Adam beta1, beta2
  double weight_decay = 0.0;                   ///< L2 penalty
  double clip_grad_norm = 0.0;                 ///< rescale gradients to this total L2 norm at most (0 = off)
  double clip_grad_value = 0.0;                ///< clamp each gradient element to ±value (0 = off)
};

struct OptimConfig {
  AdamConfig g;                      ///< generator optimiser
  AdamConfig d = {2.5e-4};           ///< discriminator optimiser: slower than the generator by default
  LrDecay lr_decay = LrDecay::none;  ///< "none", or "linear": both rates fall linearly to 0 at train.steps
};

/// The transforms of DiffAugment (Zhao et al. 2020) a run applies; JSON spells them as a comma-separated list.
struct AugmentPolicy {
  bool color = true;        ///< brightness, saturation (RGB) and contrast
  bool translation = true;  ///< integer shifts with zero padding
  bool cutout = true;       ///< one square per image set to zero
};

/// Run length, batch, seed and the cadence of logs, sample grids and checkpoints (in generator steps).
struct TrainConfig {
  int64_t steps = 4000;                   ///< total generator steps of the run
  int64_t batch_size = 64;                ///< images per batch
  uint64_t seed = 0;                      ///< seeds weights, latents, data order
  int64_t log_every = 100;                ///< console line and log.jsonl record interval
  int64_t sample_every = 500;             ///< fixed-latent grid interval
  int64_t checkpoint_every = 1000;        ///< checkpoint interval
  int64_t keep_checkpoints = 3;           ///< step_*.ckpt files kept (latest is kept besides)
  int64_t sample_count = 64;              ///< images in the fixed-latent grid
  int64_t sample_nrow = 8;                ///< images per row of the grid
  Precision precision = Precision::fp32;  ///< "fp32", or "bf16" autocast for forward passes (penalty stays fp32)
  bool cuda_graph = false;                ///< on CUDA, capture the training step once as a CUDA graph and replay it
  double ema = 0.999;                     ///< decay of the generator's exponential moving average (0 = off)
  double ema_rampup =
      0.05;  ///< EMA ramp: the average's half-life is at most this fraction of the images seen (0 = off)
  EmaBatchNorm ema_bn = EmaBatchNorm::recompute;  ///< the EMA's batch-norm statistics: "recompute" for its own
                                                  ///< weights before it draws, or "copy" the generator's
  Augment augment = Augment::none;     ///< augmentation of every image D sees: "none", "diffaugment" or "ada"
  AugmentPolicy augment_policy;        ///< diffaugment: the transforms (JSON: "color,translation,cutout")
  double augment_color = 1.0;          ///< diffaugment: strength of the colour jitter (1 = DiffAugment's ranges)
  double augment_translation = 0.125;  ///< diffaugment: largest shift as a fraction of the image size
  double augment_cutout = 0.5;         ///< diffaugment: side of the cut-out square as a fraction of the image size
  double ada_target = 0.6;             ///< ada: the overfitting signal r_t = E[sign(D(x))] that p steers towards
  int64_t ada_interval = 4;            ///< ada: steps between adjustments of p
  double ada_kimg = 100;               ///< ada: thousands of images over which p can move by 1
  int64_t eval_every = 0;       ///< steps between sample-quality evaluations (FD, KID, precision/recall); 0 = off
  int64_t eval_samples = 5000;  ///< generated (and reference) images per evaluation: N of the figures
  std::string eval_features;    ///< feature network for evaluations: a `ganpp classifier` file or TorchScript module
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  OptimConfig optim;
  TrainConfig train;
};

/// The CNN of `ganpp classifier train`: conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), then one
/// hidden fully connected layer whose activations are the feature space, then the class logits.
struct ClassifierModelConfig {
  std::vector<int64_t> widths = {32, 64, 128};  ///< channels of the conv blocks; each halves the resolution
  int64_t feature_dim = 128;                    ///< width of the hidden layer (the feature vectors' size)
};

/// How the classifier is trained (Adam, cross-entropy, shuffled batches of the `data` section).
struct ClassifierTrainConfig {
  int64_t epochs = 3;        ///< passes over the training images
  int64_t batch_size = 128;  ///< images per batch
  double lr = 1e-3;          ///< Adam learning rate (betas 0.9, 0.999)
  uint64_t seed = 0;         ///< seeds the weights and the data order
  double holdout = 0.1;      ///< fraction held out for the accuracy when the data has no test split (image folders)
};

/// Config of `ganpp classifier train`: the `data` section of a GAN config, and `model` and `train` of its own.
struct ClassifierConfig {
  DataConfig data;
  ClassifierModelConfig model;
  ClassifierTrainConfig train;
};

/// Parses a config object strictly: every key known, every value of the right type and range.
/// Keys not given keep their defaults. Throws UsageError naming the full key path.
Config config_from_json(const Json& json);
Json config_to_json(const Config& config);

/// A config that ganpp stored with a run (a checkpoint's): it names every key of its time, so a key it lacks
/// was added later and takes the value that reproduces the behaviour the run started with, not today's
/// default (e.g. data.background "none": alpha dropped, as before compositing existed).
Config stored_config_from_json(const Json& json);

/// The RGB colour of `data.background` ("white", "black" or "#rrggbb"), nullopt for "none" (alpha dropped);
/// UsageError naming the key otherwise.
std::optional<std::array<uint8_t, 3>> background_rgb(const DataConfig& data);

/// Checks the combinations of fields that need no registry (e.g. train.sample_nrow <= train.sample_count).
/// Part of validate() (models.hpp), the whole check of a config, which adds the loss's and the architecture's rules.
void validate_fields(const Config& config);

/// The deepest nesting of [ and { that a config file or a `--set` value may have (ganpp's configs use 4); deeper
/// text is refused before it is parsed, as its parse would exhaust the stack.
constexpr int kMaxConfigDepth = 64;

/// Reads and parses a JSON file; bad JSON, nesting deeper than kMaxConfigDepth and numbers beyond a double are
/// UsageErrors with line and column.
Json read_json_file(const std::string& path);

/// Applies `--set KEY=VALUE`: VALUE is parsed as JSON, else taken as a string. Nesting deeper than
/// kMaxConfigDepth and numbers beyond a double are UsageErrors naming the key.
void apply_override(Json& json, const std::string& assignment);

/// The keys that may change when a run is resumed (run length, cadence, placement), in the order to list them.
const std::vector<std::string>& resumable_keys();
/// Whether `dotted_key` is one of resumable_keys().
bool is_resumable_key(const std::string& dotted_key);

/// The dotted key of a `KEY=VALUE` assignment.
std::string override_key(const std::string& assignment);

/// Loads `path` (or the built-in defaults when empty), applies overrides, parses and checks the fields
/// (validate_fields); validate() checks the rest.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);

/// The classifier config, read as strictly as the GAN config; `load_classifier_config` applies `--set` overrides.
ClassifierConfig classifier_config_from_json(const Json& json);
Json classifier_config_to_json(const ClassifierConfig& config);
ClassifierConfig load_classifier_config(const std::string& path, const std::vector<std::string>& overrides);

/// The number of classes the networks are built for: model.num_classes when conditional, else 0.
int64_t conditional_classes(const Config& config);

}  // namespace ganpp
