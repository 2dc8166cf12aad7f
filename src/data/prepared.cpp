// Prepared datasets (see prepared.hpp): writing with a thread pool, checking, and memory-mapping.
#include "ganpp/prepared.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "source.hpp"

#include "ganpp/checksum.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/fault.hpp"
#include "ganpp/files.hpp"
#include "ganpp/json.hpp"
#include "ganpp/version.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

constexpr char kMagic[] = "GANPPDAT";
constexpr size_t kFixedHeader = 32;
constexpr uint64_t kChunkBytes = uint64_t(1) << 20;
constexpr uint64_t kAlignment = 4096;
constexpr uint64_t kMaxDescription = uint64_t(64) << 20;

uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

// The header's checksum: the version and everything from offset 16 to the data.
uint32_t header_crc(const std::string& header) {
  return crc32_update(crc32_update(0, header.data() + 8, 4), header.data() + 16, header.size() - 16);
}

std::string quoted(const std::string& path) { return "'" + abbreviate(path) + "'"; }

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw RuntimeError("prepared dataset " + quoted(path) + " is damaged (" + what +
                     "); prepare it again with 'ganpp data prepare'");
}

Json describe(const PreparedInfo& info) {
  return Json{{"count", info.count},
              {"channels", info.channels},
              {"size", info.size},
              {"labelled", info.labelled},
              {"classes", info.classes},
              {"source", info.source},
              {"source_kind", info.source_kind},
              {"fingerprint", info.fingerprint},
              {"source_state", info.source_state},
              {"background", info.background},
              {"split", info.split},
              {"limit", info.limit},
              {"created_by", info.created_by},
              {"labels_offset", info.labels_offset},
              {"payload_bytes", info.payload_bytes},
              {"chunk_bytes", info.chunk_bytes}};
}

// An open file descriptor, closed however the scope ends.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Writes bytes in order, checksumming them in chunks of kChunkBytes.
class ChunkedWriter {
 public:
  ChunkedWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  void write(const uint8_t* data, size_t size) {
    for (size_t at = 0; at < size;) {
      const size_t n = std::min<size_t>(size - at, kChunkBytes - in_chunk_);
      crc_ = crc32_update(crc_, data + at, n);
      in_chunk_ += n;
      if (in_chunk_ == kChunkBytes) end_chunk();
      at += n;
    }
    write_all(fd_, path_, data, size);
  }

  std::vector<uint32_t> finish() {
    if (in_chunk_ > 0) end_chunk();
    return crcs_;
  }

  static void write_all(int fd, const std::string& path, const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd, bytes + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw WriteError("cannot write " + quoted(path) + ": " + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }

 private:
  void end_chunk() {
    crcs_.push_back(crc_);
    crc_ = 0;
    in_chunk_ = 0;
  }

  int fd_;
  std::string path_;
  uint32_t crc_ = 0;
  uint64_t in_chunk_ = 0;
  std::vector<uint32_t> crcs_;
};

// Progress lines while preparing: a bar, images/s and the ETA, at most every 2 s.
class PrepareProgress {
 public:
  using Clock = std::chrono::steady_clock;
  PrepareProgress(int64_t total, bool quiet) : total_(total), quiet_(quiet) {}

  void update(int64_t done) {
    const auto now = Clock::now();
    if (quiet_ || (done < total_ && now - last_ < std::chrono::seconds(2))) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = done / std::max(seconds, 1e-9);
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * done / std::max<int64_t>(total_, 1));
    const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
    if (done < total_)
      spdlog::info("preparing [{}] {}/{} images, {:.0f} img/s, ETA {:.0f}s", bar, done, total_, rate,
                   (total_ - done) / std::max(rate, 1e-9));
    else
      spdlog::info("prepared [{}] {} images in {:.1f}s ({:.0f} img/s)", bar, total_, seconds, rate);
  }

 private:
  int64_t total_;
  bool quiet_;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

}  // namespace

bool is_prepared_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  char magic[8] = {};
  return f.fd >= 0 && ::pread(f.fd, magic, 8, 0) == 8 && std::memcmp(magic, kMagic, 8) == 0;
}

PreparedInfo read_prepared_header(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw RuntimeError("cannot open prepared dataset " + quoted(path) + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw RuntimeError("cannot read " + quoted(path) + ": " + std::strerror(errno));
  const auto file_size = static_cast<uint64_t>(st.st_size);
  std::string fixed(kFixedHeader, '\0');
  const ssize_t got = ::pread(f.fd, fixed.data(), kFixedHeader, 0);
  if (got < 8 || std::memcmp(fixed.data(), kMagic, 8) != 0)
    throw RuntimeError(quoted(path) + " is not a prepared dataset (those start with " + kMagic +
                       "; 'ganpp data prepare' writes them)");
  if (got < static_cast<ssize_t>(kFixedHeader))
    throw RuntimeError("prepared dataset " + quoted(path) + " is truncated (" + std::to_string(file_size) +
                       " bytes); prepare it again with 'ganpp data prepare'");
  const auto version = static_cast<uint32_t>(load_le(fixed.data() + 8, 4));
  if (version > kPreparedVersion)
    throw RuntimeError("prepared dataset " + quoted(path) + " has format version " + std::to_string(version) +
                       ", newer than this ganpp reads (" + std::to_string(kPreparedVersion) +
                       "); prepare it again with this ganpp, or use a newer ganpp");
  if (version == 0) damaged(path, "format version 0");
  const uint64_t description_bytes = load_le(fixed.data() + 16, 8);
  const uint64_t data_offset = load_le(fixed.data() + 24, 8);
  if (description_bytes > kMaxDescription || data_offset < kFixedHeader + description_bytes)
    damaged(path, "its header's lengths are impossible");
  if (data_offset > file_size)
    throw RuntimeError("prepared dataset " + quoted(path) + " is truncated (" + std::to_string(file_size) +
                       " bytes, shorter than its header); prepare it again with 'ganpp data prepare'");
  std::string header(data_offset, '\0');
  if (::pread(f.fd, header.data(), data_offset, 0) != static_cast<ssize_t>(data_offset))
    throw RuntimeError("cannot read " + quoted(path) + ": " + std::strerror(errno));
  if (header_crc(header) != static_cast<uint32_t>(load_le(header.data() + 12, 4)))
    damaged(path, "its header does not match its checksum");

  PreparedInfo info;
  info.path = path;
  info.data_offset = data_offset;
  try {
    const Json d = Json::parse(header.substr(kFixedHeader, description_bytes));
    info.count = d.at("count").get<int64_t>();
    info.channels = d.at("channels").get<int64_t>();
    info.size = d.at("size").get<int64_t>();
    info.labelled = d.at("labelled").get<bool>();
    info.classes = d.at("classes").get<std::vector<std::string>>();
    info.source = d.at("source").get<std::string>();
    info.source_kind = d.at("source_kind").get<std::string>();
    info.fingerprint = d.at("fingerprint").get<std::string>();
    info.source_state = d.at("source_state").get<std::string>();
    info.background = d.at("background").get<std::string>();
    info.split = d.at("split").get<std::string>();
    info.limit = d.at("limit").get<int64_t>();
    info.created_by = d.at("created_by").get<std::string>();
    info.labels_offset = d.at("labels_offset").get<uint64_t>();
    info.payload_bytes = d.at("payload_bytes").get<uint64_t>();
    info.chunk_bytes = d.at("chunk_bytes").get<uint64_t>();
  } catch (const nlohmann::json::exception& e) {
    damaged(path, std::string("its description cannot be read: ") + e.what());
  }
  const uint64_t image_bytes = static_cast<uint64_t>(info.channels * info.size * info.size);
  if (info.count <= 0 || info.channels <= 0 || info.size <= 0 || info.chunk_bytes == 0 ||
      info.payload_bytes < info.count * image_bytes ||
      (info.labelled && info.labels_offset + 8 * info.count > info.payload_bytes))
    damaged(path, "its description is inconsistent");
  const uint64_t chunks = (info.payload_bytes + info.chunk_bytes - 1) / info.chunk_bytes;
  if (kFixedHeader + description_bytes + 4 * chunks > data_offset) damaged(path, "its chunk table is cut short");
  for (uint64_t c = 0; c < chunks; ++c)
    info.chunk_crcs.push_back(static_cast<uint32_t>(load_le(header.data() + kFixedHeader + description_bytes + 4 * c,
                                                            4)));
  if (file_size < info.file_bytes())
    throw RuntimeError("prepared dataset " + quoted(path) + " is truncated (" + std::to_string(file_size) + " of " +
                       std::to_string(info.file_bytes()) + " bytes); prepare it again with 'ganpp data prepare'");
  if (file_size > info.file_bytes()) damaged(path, "it has bytes after its data");
  return info;
}

Dataset open_prepared(const DataConfig& config) {
  const PreparedInfo info = read_prepared_header(config.path);
  if (info.size != config.image_size || info.channels != config.channels)
    throw RuntimeError("prepared dataset " + quoted(config.path) + " holds " + std::to_string(info.size) + "x" +
                       std::to_string(info.size) + " images with " + std::to_string(info.channels) +
                       " channel(s), but data.image_size = " + std::to_string(config.image_size) +
                       " and data.channels = " + std::to_string(config.channels) + "; set data.image_size=" +
                       std::to_string(info.size) + " and data.channels=" + std::to_string(info.channels) +
                       ", or prepare the data again at the size you want");
  if (info.source_kind != "IDX" && info.background != config.background)
    throw RuntimeError("prepared dataset " + quoted(config.path) + " was decoded with data.background = \"" +
                       info.background + "\", but the config says \"" + abbreviate(config.background) +
                       "\"; set data.background to \"" + info.background + "\", or prepare the data again");
  if (info.source_kind == "IDX" && info.split != spelling(config.split))
    throw RuntimeError("prepared dataset " + quoted(config.path) + " holds the '" + info.split +
                       "' split, but data.split = '" + spelling(config.split) +
                       "'; prepare that split (ganpp data prepare --split " + spelling(config.split) + ")");

  const auto mapping = map_file(config.path, info.file_bytes());
  const uint8_t* base = mapping->data + info.data_offset;
  auto keep = [mapping](void*) {};  // the tensors hold the mapping
  Dataset data;
  data.source = "prepared dataset " + config.path;
  data.fingerprint = info.fingerprint;
  data.classes = info.classes;
  auto* bytes = const_cast<uint8_t*>(base);  // read-only: training never writes its data
  data.images = torch::from_blob(bytes, {info.count, info.channels, info.size, info.size}, keep, torch::kUInt8);
  if (info.labelled) data.labels = torch::from_blob(bytes + info.labels_offset, {info.count}, keep, torch::kInt64);
  if (config.limit > 0 && config.limit < info.count) {
    data.images = data.images.narrow(0, 0, config.limit);
    if (data.labels.defined()) data.labels = data.labels.narrow(0, 0, config.limit);
  }
  return data;
}

PreparedInfo verify_prepared(const std::string& path, const std::function<void(uint64_t, uint64_t)>& progress) {
  const PreparedInfo info = read_prepared_header(path);
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw RuntimeError("cannot open " + quoted(path) + ": " + std::strerror(errno));
  std::vector<char> buffer(info.chunk_bytes);
  const uint64_t image_bytes = static_cast<uint64_t>(info.channels * info.size * info.size);
  for (size_t c = 0; c < info.chunk_crcs.size(); ++c) {
    const uint64_t begin = c * info.chunk_bytes;
    const uint64_t n = std::min(info.chunk_bytes, info.payload_bytes - begin);
    for (uint64_t done = 0; done < n;) {
      const ssize_t got = ::pread(f.fd, buffer.data() + done, n - done,
                                  static_cast<off_t>(info.data_offset + begin + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) throw RuntimeError("cannot read " + quoted(path) + ": " + std::strerror(errno));
      done += static_cast<uint64_t>(got);
    }
    if (crc32_update(0, buffer.data(), n) != info.chunk_crcs[c]) {
      const uint64_t images_end = info.count * image_bytes;
      const std::string what = begin >= images_end
                                   ? "its labels"
                                   : "images " + std::to_string(begin / image_bytes) + " to " +
                                         std::to_string(
                                             std::min<uint64_t>(info.count, (begin + n - 1) / image_bytes + 1) - 1);
      damaged(path, "chunk " + std::to_string(c) + " (data bytes " + std::to_string(begin) + " to " +
                        std::to_string(begin + n - 1) + ", " + what + ") does not match its checksum");
    }
    if (progress) progress(begin + n, info.payload_bytes);
  }
  return info;
}

PreparedInfo prepare_dataset(const DataConfig& config, const std::string& out, const PrepareOptions& options) {
  return prepare_source(open_source(config), config, out, options);
}

PreparedInfo prepare_source(const ImageSource& source, const DataConfig& config, const std::string& out,
                            const PrepareOptions& options) {
  PreparedInfo info;
  info.path = out;
  info.count = source.count;
  info.channels = config.channels;
  info.size = config.image_size;
  info.labelled = !source.labels.empty();
  info.classes = source.classes;
  info.source = fs::absolute(config.path).lexically_normal().string();
  info.source_kind = kind_name(source.kind);
  info.fingerprint = source.fingerprint;
  info.source_state = options.source_state;
  info.background = config.background;
  info.split = spelling(config.split);
  info.limit = config.limit;
  info.created_by = ganpp_version();
  info.chunk_bytes = kChunkBytes;
  const uint64_t image_bytes = static_cast<uint64_t>(config.channels * config.image_size * config.image_size);
  const uint64_t images_total = info.count * image_bytes;
  info.labels_offset = info.labelled ? round_up(images_total, 8) : 0;
  info.payload_bytes = info.labelled ? info.labels_offset + 8 * info.count : images_total;
  const std::string description = describe(info).dump();
  const uint64_t chunks = (info.payload_bytes + kChunkBytes - 1) / kChunkBytes;
  info.data_offset = round_up(kFixedHeader + description.size() + 4 * chunks, kAlignment);

  const fs::path target(out);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = out + "." + std::to_string(::getpid()) + kTempSuffix;
  Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (f.fd < 0) throw WriteError("cannot write " + quoted(out) + ": " + std::strerror(errno));
  try {
    std::string header(info.data_offset, '\0');
    ChunkedWriter::write_all(f.fd, tmp, header.data(), header.size());  // the header goes in last
    ChunkedWriter writer(f.fd, tmp);
    PrepareProgress progress(info.count, options.quiet);
    const auto block = static_cast<int64_t>(std::clamp<uint64_t>((uint64_t(64) << 20) / image_bytes, 1, 4096));
    std::vector<uint8_t> buffer(static_cast<size_t>(std::min(block, info.count) * image_bytes));
    for (int64_t begin = 0; begin < info.count; begin += block) {
      const int64_t end = std::min(info.count, begin + block);
      source.decode(begin, end, buffer.data(), options.threads);
      writer.write(buffer.data(), static_cast<size_t>((end - begin) * image_bytes));
      progress.update(end);
      fault_point("prepare:" + target.filename().string());
    }
    if (info.labelled) {
      const std::vector<uint8_t> pad(info.labels_offset - images_total, 0);
      writer.write(pad.data(), pad.size());
      writer.write(reinterpret_cast<const uint8_t*>(source.labels.data()), source.labels.size() * sizeof(int64_t));
    }
    info.chunk_crcs = writer.finish();
    std::memcpy(header.data(), kMagic, 8);
    store_le(header.data() + 8, kPreparedVersion, 4);
    store_le(header.data() + 16, description.size(), 8);
    store_le(header.data() + 24, info.data_offset, 8);
    std::memcpy(header.data() + kFixedHeader, description.data(), description.size());
    for (size_t c = 0; c < info.chunk_crcs.size(); ++c)
      store_le(header.data() + kFixedHeader + description.size() + 4 * c, info.chunk_crcs[c], 4);
    store_le(header.data() + 12, header_crc(header), 4);
    if (::pwrite(f.fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size()) || ::fsync(f.fd) != 0)
      throw WriteError("cannot write " + quoted(out) + ": " + std::strerror(errno));
    const int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) throw WriteError("cannot write " + quoted(out) + ": " + std::strerror(errno));
    if (::rename(tmp.c_str(), out.c_str()) != 0)
      throw WriteError("cannot write " + quoted(out) + ": " + std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return info;
}

}  // namespace ganpp
