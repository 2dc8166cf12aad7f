// `ganpp eval`: FD, KID and precision/recall of a checkpoint's samples or an image folder against reference data,
// or the real-data floor, in the space of a feature network (a `ganpp classifier` file or a TorchScript module).
#include <cmath>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/eval.hpp"

namespace ganpp::cli {
namespace {

struct EvalFlags {
  EvalRequest request;
  std::string reference_split = "train";
  bool json = false;
  DeviceFlags device;
};

// The flags' combinations, checked before anything is read (UsageError: exit 2).
void check_flags(EvalFlags& f) {
  EvalRequest& r = f.request;
  const int modes = !r.checkpoint.empty() + !r.images.empty() + r.floor;
  if (modes != 1) throw UsageError("eval needs exactly one of --checkpoint PATH, --images DIR and --floor");
  if (r.features.empty())
    throw UsageError("eval needs a feature network (--features FILE): train one with 'ganpp classifier train --out "
                     "classifier.pt' (Fashion-MNIST by default; --set data.path=DIR for other labelled data), or "
                     "pass a TorchScript module that maps images in [-1, 1] to feature vectors");
  if (r.reference.empty() && r.checkpoint.empty())
    throw UsageError(std::string("eval ") + (r.floor ? "--floor" : "--images") + " needs --reference DATA");
  const auto split = parse_choice<DataSplit>(f.reference_split);
  if (!split) throw UsageError("--reference-split '" + f.reference_split + "' is not valid; choose train or test");
  r.reference_split = *split;
  if (r.n < 10) throw UsageError("--n must be at least 10");
}

int run_eval(EvalFlags& f) {
  check_flags(f);
  const torch::Device device = f.device.setup();
  const EvalResult r = evaluate(f.request, device);
  if (f.json) {
    std::cout << eval_result_to_json(r).dump(2) << std::endl;
    return 0;
  }
  const QualityMetrics& m = r.metrics;
  std::cout << "evaluated:  " << r.subject << "\n"
            << "reference:  " << r.reference << "\n"
            << "features:   " << r.features << "\n"
            << fmt::format("FD         {:.4f}   (N = {} vs {} reference images; compare only at equal N)\n", m.fd, m.n,
                           m.n_reference)
            << fmt::format("KID        {:.6f} ± {:.6f}   ({} subsets of {})\n", m.kid.mean, m.kid.std, m.kid.subsets,
                           m.kid.subset_size)
            << fmt::format("precision  {:.4f}   recall {:.4f}   (k = {})\n", m.pr.precision, m.pr.recall, m.k);
  if (r.classes.empty()) return 0;
  if (!std::isnan(r.class_accuracy))
    std::cout << fmt::format("class accuracy {:.2f}%   (samples the classifier assigns to the class asked for)\n",
                             100 * r.class_accuracy);
  for (const auto& c : r.classes)
    std::cout << fmt::format("  class {:<12} FD {:>10.4f}   accuracy {:>7.2f}%   (N = {} vs {})\n", c.name, c.fd,
                             100 * c.accuracy, c.n, c.n_reference);
  if (!r.class_note.empty()) std::cout << "note: " << r.class_note << "\n";
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  EvalRequest& r = flags->request;
  CLI::App* cmd = app.add_subcommand("eval", "measure sample quality: Fréchet distance, KID, precision and recall");
  cmd->add_option("--checkpoint", r.checkpoint, "evaluate this checkpoint's generator (file or run directory)");
  cmd->add_option("--images", r.images, "evaluate a folder of images (directly or in class subfolders)");
  cmd->add_flag("--floor", r.floor,
                "evaluate the reference's test split against its train split (the real-data floor)");
  cmd->add_option("--reference", r.reference,
                  "real data: IDX folder or image folder (default with --checkpoint: the run's data.path)");
  cmd->add_option("--reference-split", flags->reference_split, "IDX reference: train or test")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "test"}));
  cmd->add_option("--features", r.features,
                  "feature network: a file of 'ganpp classifier train', or a TorchScript module mapping images in "
                  "[-1, 1] to feature vectors");
  cmd->add_option("--n", r.n, "images on each side (FD depends on N: compare only at equal N)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(10), int64_t(1000000)));
  cmd->add_option("--seed", r.seed, "seed of the latents, the reference subset and the KID subsets")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "print one JSON object");
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return run_eval(*flags); }};
}

}  // namespace ganpp::cli
