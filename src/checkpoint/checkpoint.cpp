// Checkpoint (de)serialisation through torch::serialize archives, with shape-checked network loading.
#include "ganpp/checkpoint.hpp"

#include <filesystem>

#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/module_archive.hpp"
#include "ganpp/version.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

// A network of the checkpoint at `path` (`what`: "generator", "discriminator"), every name and shape checked.
void read_module(torch::serialize::InputArchive& archive, torch::nn::Module& module, const std::string& what,
                 const std::string& path) {
  ganpp::read_module(archive, module, [&](const ModuleMismatch& m) {
    return RuntimeError("checkpoint '" + path + "' does not match the " + what + ": " +
                        (m.missing ? "it has no '" + m.name + "' (written for another architecture?)"
                                   : "'" + m.name + "' has shape " + m.stored_shape + ", the model expects " +
                                         m.expected_shape));
  });
}

template <class T>
T read_scalar(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  c10::IValue v;
  if (!archive.try_read(key, v))
    throw RuntimeError("checkpoint '" + path + "' is incomplete: missing '" + key + "'");
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.isString()) throw RuntimeError("checkpoint '" + path + "' is corrupt: '" + key + "' is not a string");
    return v.toStringRef();
  } else {
    if (!v.isInt()) throw RuntimeError("checkpoint '" + path + "' is corrupt: '" + key + "' is not an integer");
    return v.toInt();
  }
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path,
                          bool required = true) {
  torch::Tensor t;
  if (!archive.try_read(key, t) && required)
    throw RuntimeError("checkpoint '" + path + "' is incomplete: missing '" + key + "'");
  return t;
}

}  // namespace

std::string serialize_checkpoint(const Config& config, const TrainingState& state, const TrainingModules& modules) {
  torch::serialize::OutputArchive archive;
  archive.write("format_version", c10::IValue(kCheckpointFormat));
  archive.write("ganpp_version", c10::IValue(ganpp_version()));
  archive.write("libtorch_version", c10::IValue(libtorch_version()));
  archive.write("config", c10::IValue(config_to_json(config).dump()));
  archive.write("step", c10::IValue(state.step));
  archive.write("data_epoch", c10::IValue(state.data.epoch));
  archive.write("data_position", c10::IValue(state.data.position));
  archive.write("classes", c10::IValue(Json(state.classes).dump()));
  archive.write("rng_cpu", state.rng.cpu);
  if (state.rng.device.defined()) archive.write("rng_device", state.rng.device);
  archive.write("fixed_z", state.fixed_z);

  torch::serialize::OutputArchive g, d;
  write_module(g, modules.g);
  write_module(d, modules.d);
  archive.write("generator", g);
  archive.write("discriminator", d);
  if (modules.g_ema) {
    torch::serialize::OutputArchive ema;
    write_module(ema, *modules.g_ema);
    archive.write(kGeneratorEmaKey, ema);
  }
  if (modules.opt_g && modules.opt_d) {
    torch::serialize::OutputArchive og, od;
    modules.opt_g->save(og);
    modules.opt_d->save(od);
    archive.write("optim_g", og);
    archive.write("optim_d", od);
  }
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

CheckpointReader::CheckpointReader(const std::string& path, torch::Device device) : path_(path) {
  const std::string bytes = read_file(path);
  try {
    archive_.load_from(bytes.data(), bytes.size(), device);
  } catch (const c10::Error& e) {
    throw RuntimeError("checkpoint '" + path + "' is corrupt or not a ganpp checkpoint (" +
                       first_line(e.what_without_backtrace()) + ")");
  }
  const int64_t format = read_scalar<int64_t>(archive_, "format_version", path);
  if (format != kCheckpointFormat)
    throw RuntimeError("checkpoint '" + path + "' has format version " + std::to_string(format) +
                       "; this ganpp reads version " + std::to_string(kCheckpointFormat));
  origin_.format_version = format;
  origin_.ganpp_version = read_scalar<std::string>(archive_, "ganpp_version", path);
  origin_.libtorch_version = read_scalar<std::string>(archive_, "libtorch_version", path);
  try {
    config_ = config_from_json(Json::parse(read_scalar<std::string>(archive_, "config", path)));
    state_.classes = Json::parse(read_scalar<std::string>(archive_, "classes", path)).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw RuntimeError("checkpoint '" + path + "' holds a config this ganpp cannot use: " + e.what());
  }
  state_.step = read_scalar<int64_t>(archive_, "step", path);
  state_.data.epoch = read_scalar<int64_t>(archive_, "data_epoch", path);
  state_.data.position = read_scalar<int64_t>(archive_, "data_position", path);
  // RNG states are byte tensors that belong on the CPU whatever the map location.
  state_.rng.cpu = read_tensor(archive_, "rng_cpu", path).cpu();
  state_.rng.device = read_tensor(archive_, "rng_device", path, /*required=*/false);
  if (state_.rng.device.defined()) state_.rng.device = state_.rng.device.cpu();
  state_.fixed_z = read_tensor(archive_, "fixed_z", path);
  torch::serialize::InputArchive ema;
  has_generator_ema_ = archive_.try_read(kGeneratorEmaKey, ema);
}

void CheckpointReader::load_networks(GeneratorBase& g, DiscriminatorBase& d) {
  torch::serialize::InputArchive ga, da;
  if (!archive_.try_read("generator", ga) || !archive_.try_read("discriminator", da))
    throw RuntimeError("checkpoint '" + path_ + "' is incomplete: missing network weights");
  read_module(ga, g, "generator", path_);
  read_module(da, d, "discriminator", path_);
}

void CheckpointReader::load_generator_ema(GeneratorBase& g) {
  torch::serialize::InputArchive archive;
  if (!archive_.try_read(kGeneratorEmaKey, archive))
    throw RuntimeError("checkpoint '" + path_ + "' holds no EMA weights of the generator");
  read_module(archive, g, "generator", path_);
}

void CheckpointReader::load_optimizers(torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d) {
  torch::serialize::InputArchive ga, da;
  if (!archive_.try_read("optim_g", ga) || !archive_.try_read("optim_d", da))
    throw RuntimeError("checkpoint '" + path_ + "' holds no optimiser state; it cannot be resumed");
  try {
    opt_g.load(ga);
    opt_d.load(da);
  } catch (const c10::Error& e) {
    throw RuntimeError("checkpoint '" + path_ + "' has an unreadable optimiser state (" +
                       first_line(e.what_without_backtrace()) + ")");
  }
}

std::string resolve_checkpoint_path(const std::string& path) {
  if (fs::is_directory(path)) {
    const fs::path latest = fs::path(path) / "checkpoints" / "latest.ckpt";
    if (!fs::exists(latest))
      throw RuntimeError("'" + path + "' is a folder without checkpoints/latest.ckpt; pass a run directory or a .ckpt file");
    return latest.string();
  }
  if (!fs::exists(path)) throw RuntimeError("checkpoint not found: '" + path + "'");
  return path;
}

}  // namespace ganpp
