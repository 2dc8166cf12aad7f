// Inspecting checkpoints and exporting generators through torch::pickle_save, the format of Python's
// torch.save (a zip with a pickle and raw storages), which LibTorch 1.13 and 2.x both write.
#include "ganpp/export.hpp"

#include "ganpp/checkpoint.hpp"
#include "ganpp/files.hpp"
#include "ganpp/models.hpp"
#include "ganpp/sample.hpp"

namespace ganpp {
namespace {

// Python sees a plain tensor: detached (requires_grad false, as state_dict() gives), contiguous, on the CPU.
torch::Tensor for_pickle(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

void write_pickle(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace

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

ExportSummary export_generator(const std::string& checkpoint_or_run_dir, const std::string& out_path) {
  // The same generator `ganpp sample` draws from: the moving average when the run keeps one.
  const LoadedGenerator loaded = load_generator(checkpoint_or_run_dir, torch::kCPU);
  GeneratorBase& g = *loaded.g;
  c10::Dict<std::string, torch::Tensor> state_dict;
  for (const auto& p : g.named_parameters()) state_dict.insert(p.key(), for_pickle(p.value()));
  for (const auto& b : g.named_buffers()) state_dict.insert(b.key(), for_pickle(b.value()));
  c10::List<std::string> classes;
  for (const auto& name : loaded.classes) classes.push_back(name);

  // Mixed value types need the untyped dict; its (key type, value type) constructor is the same in 1.13 and 2.x.
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", std::string("ganpp-generator"));
  dict.insert("format_version", kGeneratorExportFormat);
  dict.insert("ganpp_version", loaded.ganpp_version);
  dict.insert("step", loaded.step);
  dict.insert("ema", loaded.ema);
  dict.insert("config", config_to_json(loaded.config).dump());
  dict.insert("classes", classes);
  dict.insert("state_dict", state_dict);
  write_pickle(out_path, dict);
  return {loaded.config.model.arch, loaded.step, count_parameters(g), loaded.ema};
}

void write_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, for_pickle(tensor));
  write_pickle(path, dict);
}

}  // namespace ganpp
