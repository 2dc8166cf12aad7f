// Checkpoint (de)serialisation through torch::serialize archives, with shape-checked network loading.
#include "ganpp/checkpoint.hpp"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

#include "ganpp/checksum.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/module_archive.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/version.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

// The frame of a format-4 checkpoint: magic, frame version (u32), CRC-32 of the archive (u32), the archive's
// length (u64), all little-endian, then the LibTorch archive itself.
constexpr std::string_view kFrameMagic = "GANPPCKP";
constexpr uint32_t kFrameVersion = 1;
constexpr size_t kFrameHeaderSize = 24;

void put_le(std::string& out, uint64_t v, int bytes) {
  char le[8];
  store_le(le, v, bytes);
  out.append(le, static_cast<size_t>(bytes));
}

uint64_t get_le(std::string_view in, size_t at, int bytes) { return load_le(in.data() + at, bytes); }

std::string seal(const std::string& archive) {
  std::string out(kFrameMagic);
  put_le(out, kFrameVersion, 4);
  put_le(out, crc32_of(archive), 4);
  put_le(out, archive.size(), 8);
  return out + archive;
}

bool starts_with(std::string_view bytes, std::string_view prefix) { return bytes.substr(0, prefix.size()) == prefix; }

// What a file that is not a framed checkpoint holds, judged from its bytes alone: "" for a LibTorch archive
// (an older checkpoint, a classifier or a TorchScript module: told apart once opened), else a description.
std::string describe_unframed(std::string_view bytes) {
  if (bytes.empty()) return "is empty";
  if (starts_with(bytes, "PK\x03\x04"))
    return bytes.find("constants.pkl") != std::string_view::npos
               ? ""
               : "is a PyTorch pickle file (such as 'ganpp export' writes for Python's torch.load), not a checkpoint";
  if (starts_with(bytes, "\x89PNG") || starts_with(bytes, "\xFF\xD8\xFF") || starts_with(bytes, "GIF8"))
    return "is an image, not a checkpoint";
  if (starts_with(bytes, "\x1F\x8B")) return "is a gzip file, not a checkpoint";
  return "is not a ganpp checkpoint: its content is unrecognised (corrupt, or another kind of file)";
}

// The CRC-32 of a raw-deflate stream's content, which must be `size` bytes; nullopt when it does not inflate to
// exactly that.
std::optional<uint32_t> inflated_crc32(std::string_view packed, uint64_t size) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  z.avail_in = static_cast<uInt>(packed.size());
  std::vector<char> buffer(1 << 16);
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t total = 0;
  int status = Z_OK;
  while (status == Z_OK && total <= size) {
    z.next_out = reinterpret_cast<Bytef*>(buffer.data());
    z.avail_out = static_cast<uInt>(buffer.size());
    status = inflate(&z, Z_NO_FLUSH);
    const size_t n = buffer.size() - z.avail_out;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(n));
    total += n;
    if (status == Z_OK && n == 0 && z.avail_in == 0) break;  // input ended before the stream did
  }
  inflateEnd(&z);
  if (status != Z_STREAM_END || total != size) return std::nullopt;
  return static_cast<uint32_t>(crc);
}

// Checks an unframed (format 2 or 3) checkpoint's zip archive before LibTorch reads it: every entry within the
// file and its CRC-32 matching its content (LibTorch stores tensors and deflates its code files). Without this, damaged
// bytes reach LibTorch's unpickler and TorchScript parser, which are not built for hostile input. Returns false for an
// archive it cannot check (zip64 over 4 GiB), which is then read unchecked.
bool verify_zip(std::string_view bytes, const std::string& path) {
  const auto damaged = [&](const std::string& why) {
    return CheckpointDamaged("checkpoint '" + path + "' is damaged: " + why);
  };
  if (bytes.size() < 22) throw damaged("its zip archive is truncated");
  // The end-of-central-directory record: within the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
  size_t eocd = std::string_view::npos;
  for (size_t at = bytes.size() - 22;; --at) {
    if (bytes.compare(at, 4, "PK\x05\x06") == 0) {
      eocd = at;
      break;
    }
    if (at == 0 || bytes.size() - at > 65557) break;
  }
  if (eocd == std::string_view::npos) throw damaged("its zip archive has no end record");
  const uint64_t entries = get_le(bytes, eocd + 10, 2), dir_size = get_le(bytes, eocd + 12, 4),
                 dir_offset = get_le(bytes, eocd + 16, 4);
  // zip64 markers (counts or offsets that do not fit 16 or 32 bits) belong to archives over 4 GiB, which are read
  // unchecked; in a smaller file they are damage (or a way around this check), never what LibTorch wrote.
  const bool huge = bytes.size() >= 0xFFFFFFFFull;
  const auto zip64 = [&] {
    if (!huge) throw damaged("its zip archive claims zip64 sizes in a file under 4 GiB");
    return false;
  };
  if (entries == 0xFFFF || dir_offset == 0xFFFFFFFF) return zip64();
  if (dir_offset + dir_size > eocd) throw damaged("its zip directory lies outside the file");
  size_t at = dir_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (at + 46 > eocd || bytes.compare(at, 4, "PK\x01\x02") != 0) throw damaged("its zip directory is corrupt");
    const uint64_t method = get_le(bytes, at + 10, 2), crc = get_le(bytes, at + 16, 4),
                   size = get_le(bytes, at + 20, 4), name = get_le(bytes, at + 28, 2),
                   extra = get_le(bytes, at + 30, 2), comment = get_le(bytes, at + 32, 2),
                   local = get_le(bytes, at + 42, 4);
    if (size == 0xFFFFFFFF || local == 0xFFFFFFFF || get_le(bytes, at + 24, 4) == 0xFFFFFFFF) return zip64();
    if (local + 30 > dir_offset || bytes.compare(local, 4, "PK\x03\x04") != 0)
      throw damaged("a zip entry's header is corrupt");
    const uint64_t data = local + 30 + get_le(bytes, local + 26, 2) + get_le(bytes, local + 28, 2);
    if ((method != 0 && method != 8) || data + size > dir_offset) throw damaged("a zip entry is corrupt");
    const std::string_view entry = bytes.substr(data, size);
    const std::optional<uint32_t> content_crc = method == 0 ? std::optional<uint32_t>(crc32_of(entry))
                                                            : inflated_crc32(entry, get_le(bytes, at + 24, 4));
    if (content_crc != crc) throw damaged("a zip entry's CRC-32 does not match its content");
    at += 46 + name + extra + comment;
  }
  return true;
}

const char* kWhatTakesIt =
    "; ganpp sample, inspect, export, eval --checkpoint and train --resume take a run directory or its "
    "checkpoints/*.ckpt";

// The LibTorch archive inside the checkpoint file `bytes`, after checking its frame and checksum; an unframed
// LibTorch archive (formats 2 and 3) is returned as it is. Throws for anything else.
std::string_view unseal(std::string_view bytes, const std::string& path, bool& framed) {
  framed = starts_with(bytes, kFrameMagic);
  if (!framed) {
    const std::string what = describe_unframed(bytes);
    if (!what.empty()) throw RuntimeError("'" + path + "' " + what + kWhatTakesIt);
    verify_zip(bytes, path);
    return bytes;
  }
  const auto damaged = [&](const std::string& why) {
    return CheckpointDamaged("checkpoint '" + path + "' is damaged: " + why);
  };
  if (bytes.size() < kFrameHeaderSize) throw damaged("it ends inside its header");
  if (get_le(bytes, 8, 4) != kFrameVersion)
    throw RuntimeError("checkpoint '" + path + "' has frame version " + std::to_string(get_le(bytes, 8, 4)) +
                       "; it was written by a newer ganpp");
  const uint64_t length = get_le(bytes, 16, 8);
  const std::string_view archive = bytes.substr(kFrameHeaderSize);
  if (archive.size() != length)
    throw damaged("it holds " + std::to_string(archive.size()) + " bytes of its " + std::to_string(length) +
                  " (truncated or appended to)");
  if (crc32_of(archive) != static_cast<uint32_t>(get_le(bytes, 12, 4)))
    throw damaged("its checksum does not match its content (changed or corrupted after it was written)");
  return archive;
}

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

CheckpointWriter::CheckpointWriter(const Config& config, CheckpointOrigin origin)
    : config_(config), origin_(std::move(origin)) {}

torch::serialize::OutputArchive& CheckpointWriter::section(const std::string& name) {
  for (auto& [n, archive] : sections_)
    if (n == name) return *archive;
  sections_.emplace_back(name, std::make_unique<torch::serialize::OutputArchive>());
  return *sections_.back().second;
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
  archive.write("run_id", c10::IValue(origin_.run_id));
  archive.write("data_fingerprint", c10::IValue(origin_.data_fingerprint));
  for (auto& [name, section] : sections_) archive.write(name, *section);
  std::ostringstream out;
  archive.save_to(out);
  return seal(out.str());
}

bool is_checkpoint_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(kFrameMagic.size(), '\0');
  return in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == kFrameMagic;
}

void verify_checkpoint_file(const std::string& path) {
  bool framed = false;
  unseal(read_file(path), path, framed);
}

std::string newest_intact_checkpoint(const std::string& run_dir, const std::string& except) {
  const std::vector<std::string> steps = step_checkpoints(run_dir);
  for (auto p = steps.rbegin(); p != steps.rend(); ++p) {
    std::error_code ec;
    if (!except.empty() && fs::equivalent(*p, except, ec)) continue;
    try {
      verify_checkpoint_file(*p);
      return *p;
    } catch (const std::exception&) {
    }
  }
  return "";
}

CheckpointReader::CheckpointReader(const std::string& path, torch::Device device) : path_(path) {
  const std::string bytes = read_file(path);
  bool framed = false;
  const std::string_view archive = unseal(bytes, path, framed);
  try {
    archive_.load_from(archive.data(), archive.size(), device);
  } catch (const c10::Error& e) {
    throw RuntimeError("checkpoint '" + path + "' is corrupt or not a ganpp checkpoint (" +
                       first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {  // LibTorch's TorchScript parser throws std::runtime_error
    throw RuntimeError("checkpoint '" + path + "' is corrupt or not a ganpp checkpoint (" + first_line(e.what()) + ")");
  }
  c10::IValue marker;
  if (archive_.try_read("ganpp_format", marker))
    throw RuntimeError("'" + path +
                       "' is a ganpp classifier (from 'ganpp classifier train'), not a checkpoint; "
                       "pass it to 'ganpp eval --features'");
  if (!archive_.try_read("format_version", marker) || !archive_.try_read("config", marker))
    throw RuntimeError("'" + path + "' is a TorchScript module or LibTorch archive, not a ganpp checkpoint" +
                       kWhatTakesIt);
  const int64_t format = read_scalar<int64_t>(archive_, "format_version", path);
  if (format < kOldestCheckpointFormat || format > kCheckpointFormat)
    throw RuntimeError("checkpoint '" + path + "' has format version " + std::to_string(format) +
                       "; this ganpp reads versions " + std::to_string(kOldestCheckpointFormat) + " to " +
                       std::to_string(kCheckpointFormat));
  // Format 4 is always framed: an unframed one lost its frame (and with it the checksum).
  if (framed != (format >= 4))
    throw CheckpointDamaged("checkpoint '" + path + "' is damaged: format " + std::to_string(format) +
                            (framed ? " inside a frame" : " without its checksum frame"));
  origin_.format_version = format;
  origin_.ganpp_version = read_scalar<std::string>(archive_, "ganpp_version", path);
  origin_.libtorch_version = read_scalar<std::string>(archive_, "libtorch_version", path);
  if (format >= 4) {
    origin_.run_id = read_scalar<std::string>(archive_, "run_id", path);
    origin_.data_fingerprint = read_scalar<std::string>(archive_, "data_fingerprint", path);
  }
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
    if (fs::exists(latest)) return latest.string();
    // A run killed between its first step_*.ckpt and latest.ckpt: the step file is the newest checkpoint.
    const std::vector<std::string> steps = step_checkpoints(path);
    if (!steps.empty()) return steps.back();
    throw RuntimeError("'" + path +
                       "' is a folder without checkpoints/latest.ckpt; pass a run directory or a .ckpt file");
  }
  if (!fs::exists(path)) throw RuntimeError("checkpoint not found: '" + path + "'");
  return path;
}

}  // namespace ganpp
