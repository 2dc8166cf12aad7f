// The architecture registry: `model.arch` names to builders.
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> kArchitectures = {
      {"mlp", check_mlp, build_mlp},
      {"dcgan", check_dcgan, build_dcgan},
  };
  return kArchitectures;
}

Networks build_networks(const Config& config) {
  const NetworkShape shape{config.data.channels, config.data.image_size, discriminator_batch_norm(config)};
  for (const auto& arch : architectures()) {
    if (arch.name != config.model.arch) continue;
    arch.check(config.model, shape);
    return arch.build(config.model, shape);
  }
  std::string names;
  for (const auto& arch : architectures()) names += (names.empty() ? "" : ", ") + arch.name;
  throw UsageError("config key 'model.arch' = \"" + config.model.arch + "\" is not a registered architecture; choose one of: " + names);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

}  // namespace ganpp
