// What a checkpoint holds (see inspect.hpp): its origin, state and config, and the parameter counts of the
// networks its config builds.
#include "ganpp/inspect.hpp"

#include "ganpp/checkpoint.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

Json describe_checkpoint(const std::string& checkpoint_or_run_dir) {
  const std::string path = resolve_checkpoint_path(checkpoint_or_run_dir);
  const CheckpointReader reader(path, torch::kCPU);
  const Config& config = reader.config();
  const TrainingState& state = reader.state();
  const Networks nets = build_networks(config);
  return Json{{"path", path},
              {"format_version", reader.origin().format_version},
              {"ganpp_version", reader.origin().ganpp_version},
              {"libtorch_version", reader.origin().libtorch_version},
              {"step", state.step},
              {"epoch", state.data.epoch},
              {"batch", state.data.position},
              {"arch", config.model.arch},
              {"image_size", config.data.image_size},
              {"channels", config.data.channels},
              {"z_dim", config.model.z_dim},
              {"loss", config.loss.kind},
              {"g_params", count_parameters(*nets.g)},
              {"d_params", count_parameters(*nets.d)},
              {"classes", state.classes},
              {"ema", reader.has_generator_ema()},
              {"config", config_to_json(config)}};
}

}  // namespace ganpp
