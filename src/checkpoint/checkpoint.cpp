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
  if (!archive.try_read(key, v)) throw RuntimeError("checkpoint '" + path + "' is incomplete: missing '" + key + "'");
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

CheckpointWriter::CheckpointWriter(const Config& config) : config_(config) {}

torch::serialize::OutputArchive& CheckpointWriter::section(const std::string& name) {
  for (auto& [n, archive] : sections_)
    if (n == name) return archive;
  sections_.emplace_back(name, torch::serialize::OutputArchive());
  return sections_.back().second;
}

void CheckpointWriter::write_module(const std::string& name, const torch::nn::Module& module) {
  ganpp::write_module(section(name), module);
}

void CheckpointWriter::write_state(int64_t step, const RngState& rng, const torch::Tensor& fixed_z) {
  auto& s = section(section::kState);
  s.write("step", c10::IValue(step));
  s.write("rng_cpu", rng.cpu);
  if (rng.device.defined()) s.write("rng_device", rng.device);
  s.write("fixed_z", fixed_z);
}

void CheckpointWriter::write_data(const DataPosition& position, const std::vector<std::string>& classes) {
  auto& d = section(section::kData);
  d.write("data_epoch", c10::IValue(position.epoch));
  d.write("data_position", c10::IValue(position.position));
  d.write("classes", c10::IValue(Json(classes).dump()));
}

std::string CheckpointWriter::bytes() {
  torch::serialize::OutputArchive archive;
  archive.write("format_version", c10::IValue(kCheckpointFormat));
  archive.write("ganpp_version", c10::IValue(ganpp_version()));
  archive.write("libtorch_version", c10::IValue(libtorch_version()));
  archive.write("config", c10::IValue(config_to_json(config_).dump()));
  for (auto& [name, section] : sections_) archive.write(name, section);
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
  if (format < kOldestCheckpointFormat || format > kCheckpointFormat)
    throw RuntimeError("checkpoint '" + path + "' has format version " + std::to_string(format) +
                       "; this ganpp reads versions " + std::to_string(kOldestCheckpointFormat) + " to " +
                       std::to_string(kCheckpointFormat));
  origin_.format_version = format;
  origin_.ganpp_version = read_scalar<std::string>(archive_, "ganpp_version", path);
  origin_.libtorch_version = read_scalar<std::string>(archive_, "libtorch_version", path);
  auto& data = section(section::kData, "the data position");
  try {
    config_ = stored_config_from_json(Json::parse(read_scalar<std::string>(archive_, "config", path)));
    state_.classes = Json::parse(read_scalar<std::string>(data, "classes", path)).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw RuntimeError("checkpoint '" + path + "' holds a config this ganpp cannot use: " + e.what());
  }
  state_.data.epoch = read_scalar<int64_t>(data, "data_epoch", path);
  state_.data.position = read_scalar<int64_t>(data, "data_position", path);
  auto& state = section(section::kState, "the training state");
  state_.step = read_scalar<int64_t>(state, "step", path);
  // RNG states are byte tensors that belong on the CPU whatever the map location.
  state_.rng.cpu = read_tensor(state, "rng_cpu", path).cpu();
  state_.rng.device = read_tensor(state, "rng_device", path, /*required=*/false);
  if (state_.rng.device.defined()) state_.rng.device = state_.rng.device.cpu();
  state_.fixed_z = read_tensor(state, "fixed_z", path);
  has_generator_ema_ = find_section(section::kGeneratorEma) != nullptr;
}

torch::serialize::InputArchive* CheckpointReader::find_section(const std::string& name) {
  // Format 2 kept the state and the data position at the top level.
  if (origin_.format_version < 3 && (name == section::kState || name == section::kData)) return &archive_;
  auto found = sections_.find(name);
  if (found != sections_.end()) return found->second.get();
  auto archive = std::make_unique<torch::serialize::InputArchive>();
  if (!archive_.try_read(name, *archive)) return nullptr;
  return (sections_[name] = std::move(archive)).get();
}

torch::serialize::InputArchive& CheckpointReader::section(const std::string& name, const std::string& what) {
  auto* archive = find_section(name);
  if (!archive)
    throw RuntimeError("checkpoint '" + path_ + "' is incomplete: it has no '" + name + "' section (" + what + ")");
  return *archive;
}

void CheckpointReader::load_module(const std::string& name, torch::nn::Module& module, const std::string& what) {
  read_module(section(name, "the " + what + "'s weights"), module, what, path_);
}

void CheckpointReader::load_networks(GeneratorBase& g, DiscriminatorBase& d) {
  load_module(section::kGenerator, g, "generator");
  load_module(section::kDiscriminator, d, "discriminator");
}

void CheckpointReader::load_generator_ema(GeneratorBase& g) {
  if (!has_generator_ema_) throw RuntimeError("checkpoint '" + path_ + "' holds no EMA weights of the generator");
  load_module(section::kGeneratorEma, g, "generator");
}

std::string resolve_checkpoint_path(const std::string& path) {
  if (fs::is_directory(path)) {
    const fs::path latest = fs::path(path) / "checkpoints" / "latest.ckpt";
    if (!fs::exists(latest))
      throw RuntimeError("'" + path +
                         "' is a folder without checkpoints/latest.ckpt; pass a run directory or a .ckpt file");
    return latest.string();
  }
  if (!fs::exists(path)) throw RuntimeError("checkpoint not found: '" + path + "'");
  return path;
}

}  // namespace ganpp
