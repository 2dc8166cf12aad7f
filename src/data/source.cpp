// What data.path names (source_kind), opening a source of any kind, decoding it in parallel, and the fingerprints
// and file states that tell whether the data changed.
#include "source.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <sstream>
#include <thread>

#include "ganpp/checksum.hpp"
#include "ganpp/errors.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

constexpr const char* kWhatToUse =
    "point data.path at an IDX folder, an image folder, a .zip of images, a .npy or .npz array, or a file written "
    "by 'ganpp data prepare'";

}  // namespace

SourceKind source_kind(const DataConfig& config) {
  std::error_code ec;
  const bool exists = fs::exists(config.path, ec);
  if (ec)
    throw RuntimeError("data.path '" + abbreviate(config.path) + "' cannot be looked up (" + ec.message() + "); " +
                       kWhatToUse);
  if (!exists)
    throw RuntimeError(
        "data.path '" + abbreviate(config.path) + "' does not exist; " + kWhatToUse +
        (config.path.rfind("/usr/share/datasets/", 0) == 0 ? " (Debian: apt-get install dataset-fashion-mnist)" : ""));
  if (fs::is_directory(config.path)) {
    const bool idx = has_idx_split(config.path, DataSplit::train) || has_idx_split(config.path, DataSplit::test);
    return idx ? SourceKind::idx : SourceKind::image_folder;
  }
  if (is_prepared_file(config.path)) return SourceKind::prepared;
  const std::string ext = lower_extension(config.path);
  if (ext == ".zip") return SourceKind::zip;
  if (ext == ".npy") return SourceKind::npy;
  if (ext == ".npz") return SourceKind::npz;
  throw RuntimeError("data.path '" + abbreviate(config.path) +
                     "' is neither a folder nor a dataset file ganpp reads; " + kWhatToUse);
}

std::string kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::idx: return "IDX";
    case SourceKind::image_folder: return "image folder";
    case SourceKind::zip: return "zip";
    case SourceKind::npy: return "npy";
    case SourceKind::npz: return "npz";
    case SourceKind::prepared: return "prepared dataset";
  }
  return "?";
}

ImageSource open_source(const DataConfig& config) {
  switch (source_kind(config)) {
    case SourceKind::idx: return open_idx(config);
    case SourceKind::image_folder: return open_image_folder(config);
    case SourceKind::zip: return open_zip(config);
    case SourceKind::npy:
    case SourceKind::npz: return open_array(config);
    case SourceKind::prepared: break;
  }
  throw RuntimeError("'" + abbreviate(config.path) + "' is a prepared dataset already; train on it directly");
}

Dataset decode_all(const ImageSource& source, const DataConfig& config, int threads) {
  Dataset data;
  data.source = source.description;
  data.fingerprint = source.fingerprint;
  data.classes = source.classes;
  data.images = torch::empty({source.count, config.channels, config.image_size, config.image_size}, torch::kUInt8);
  source.decode(0, source.count, data.images.data_ptr<uint8_t>(), threads);
  if (!source.labels.empty()) data.labels = torch::tensor(source.labels, torch::kInt64);
  return data;
}

std::string data_fingerprint(const DataConfig& config) {
  // A prepared file stands for the data it was prepared from.
  if (source_kind(config) == SourceKind::prepared) return read_prepared_header(config.path).fingerprint;
  return open_source(config).fingerprint;
}

int worker_count(int threads, int64_t jobs) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, jobs)));
}

void parallel_for(int64_t begin, int64_t end, int threads, const std::function<void(int64_t, int)>& fn) {
  if (end <= begin) return;
  std::atomic<int64_t> next{begin};
  std::atomic<int64_t> first_failed{end};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(end - begin));
  auto work = [&](int worker) {
    for (int64_t i = next++; i < end && i < first_failed.load(); i = next++) {
      try {
        fn(i, worker);
      } catch (...) {
        errors[static_cast<size_t>(i - begin)] = std::current_exception();
        for (int64_t f = first_failed.load(); i < f && !first_failed.compare_exchange_weak(f, i);) {
        }
      }
    }
  };
  const int workers = worker_count(threads, end - begin);
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
  if (first_failed.load() < end) std::rethrow_exception(errors[static_cast<size_t>(first_failed.load() - begin)]);
}

std::string relative_name(const std::string& file, const std::string& root) {
  fs::path base(root);
  if (!base.has_filename()) base = base.parent_path();  // "data/" lists "data/cat/x.png"
  return fs::path(file).lexically_relative(base).generic_string();
}

std::string names_and_sizes_fingerprint(const std::vector<std::pair<std::string, uint64_t>>& names_and_sizes) {
  uint32_t crc = 0;
  for (const auto& [name, size] : names_and_sizes) {
    const std::string line = name + "\n" + std::to_string(size) + "\n";
    crc = crc32_update(crc, line.data(), line.size());
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "files:%zu:%08lx", names_and_sizes.size(), static_cast<unsigned long>(crc));
  return buf;
}

std::string file_state_line(const std::string& path, const std::string& name, uint64_t* size) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw RuntimeError("cannot read '" + abbreviate(path) + "': " + std::strerror(errno));
  if (size) *size = static_cast<uint64_t>(st.st_size);
  std::ostringstream line;
  line << name << '\t' << st.st_size << '\t' << st.st_mtim.tv_sec << '.' << st.st_mtim.tv_nsec << '\n';
  return line.str();
}

MappedFile::~MappedFile() {
  if (data) ::munmap(const_cast<uint8_t*>(data), size);
}

std::shared_ptr<const MappedFile> map_file(const std::string& path, size_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw RuntimeError("cannot open '" + abbreviate(path) + "': " + std::strerror(errno));
  struct stat st {};
  if (length == 0 && ::fstat(fd, &st) == 0) length = static_cast<size_t>(st.st_size);
  void* address = length == 0 ? MAP_FAILED : ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);
  if (address == MAP_FAILED)
    throw RuntimeError("cannot memory-map '" + abbreviate(path) +
                       "': " + (length == 0 ? std::string("it is empty") : std::strerror(error)));
  auto file = std::make_shared<MappedFile>();
  file->data = static_cast<const uint8_t*>(address);
  file->size = length;
  return file;
}

}  // namespace ganpp
