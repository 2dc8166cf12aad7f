// Exporting generators (see export.hpp) through write_pickle.
#include "ganpp/export.hpp"

#include "ganpp/models.hpp"
#include "ganpp/pickle.hpp"
#include "ganpp/sample.hpp"

namespace ganpp {

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

}  // namespace ganpp
