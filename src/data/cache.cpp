// The cache of prepared sources (see data_cache.hpp).
#include "ganpp/data_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "source.hpp"

#include "ganpp/checksum.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"

namespace fs = std::filesystem;

namespace ganpp {
namespace {

// FNV-1a: the name of a folder's cache entry, from its absolute path and the image settings.
std::string cache_key(const DataConfig& config) {
  const std::string text = fs::absolute(config.path).lexically_normal().string() + "\n" +
                           std::to_string(config.image_size) + "\n" + std::to_string(config.channels) + "\n" +
                           config.background + "\n" + std::to_string(config.limit) +
                           (config.layout == "auto" ? "" : "\n" + config.layout);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string state_hash(const std::string& state) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08x", crc32_of(state));
  return std::string(buf) + ":" + std::to_string(state.size());
}

// name -> "size\tmtime" of a folder state.
std::map<std::string, std::string> parse_state(const std::string& state) {
  std::map<std::string, std::string> files;
  std::istringstream in(state);
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.find('\t');
    if (tab != std::string::npos) files[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return files;
}

// What differs between the folder state a cache was prepared from and now: "2 added (a.png, ...), 1 changed (...)".
std::string what_changed(const std::string& before, const std::string& now) {
  const auto old_files = parse_state(before), new_files = parse_state(now);
  std::vector<std::string> added, removed, changed;
  for (const auto& [name, meta] : new_files) {
    const auto it = old_files.find(name);
    if (it == old_files.end())
      added.push_back(name);
    else if (it->second != meta)
      changed.push_back(name);
  }
  for (const auto& [name, meta] : old_files)
    if (!new_files.count(name)) removed.push_back(name);
  std::string out;
  auto part = [&](const std::vector<std::string>& names, const char* what) {
    if (names.empty()) return;
    out += (out.empty() ? "" : ", ") + std::to_string(names.size()) + " file(s) " + what + " (" +
           abbreviate(names.front()) + (names.size() > 1 ? ", ..." : "") + ")";
  };
  part(added, "added");
  part(removed, "removed");
  part(changed, "changed");
  return out.empty() ? "its file list changed" : out;
}

// An exclusive flock on a cache entry's lock file, held until destruction.
class EntryLock {
 public:
  EntryLock(const std::string& path, bool wait) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RuntimeError("cannot create '" + path + "': " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      held_ = true;
    } else if (wait) {
      spdlog::info("waiting for another ganpp that is preparing this cache entry ({})", path);
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
      held_ = true;
    }
  }
  ~EntryLock() { ::close(fd_); }
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

void remove_leftovers(const fs::path& folder, const std::string& key) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(key + kPreparedExtension + ".", 0) == 0 && fs::path(name).extension() == kTempSuffix)
      fs::remove(it->path(), ec);
  }
}

}  // namespace

std::string cache_folder(const DataConfig& config) {
  if (config.cache == "off") return "";
  if (config.cache != "auto") return config.cache;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (fs::path(xdg) / "ganpp").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "ganpp").string();
  return "";
}

Dataset load_through_cache(const DataConfig& config, const std::string& folder) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const ImageSource source = open_source(config);
  const double listed_s = std::chrono::duration<double>(Clock::now() - start).count();
  auto in_memory = [&](const std::string& why) {
    spdlog::warn("the data cache in {} cannot be used ({}); decoding the images in memory (data.cache=off does "
                 "that without trying)",
                 folder, why);
    return decode_all(source, config, /*threads=*/0);
  };
  const std::string key = cache_key(config);
  const fs::path dir(folder);
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string file = (dir / (key + kPreparedExtension)).string();
  const std::string list = (dir / (key + ".files")).string();
  std::unique_ptr<EntryLock> lock;
  try {
    lock = std::make_unique<EntryLock>((dir / (key + ".lock")).string(), /*wait=*/true);
  } catch (const RuntimeError& e) {
    return in_memory(e.what());
  }
  DataConfig mapped = config;
  mapped.path = file;
  mapped.limit = 0;  // the cache holds the limited set already
  auto open_mapped = [&] {
    Dataset data = open_prepared(mapped);
    data.source = source.description;
    data.fingerprint = source.fingerprint;
    return data;
  };
  std::string reason = "not prepared yet";
  if (fs::exists(file)) {
    try {
      const PreparedInfo info = read_prepared_header(file);
      if (info.source_state == state_hash(source.state)) {
        const auto mapping = Clock::now();
        Dataset data = open_mapped();
        spdlog::info("using cache {} for {} ({} images; listed in {:.2f}s, mapped in {:.3f}s)", file, config.path,
                     info.count, listed_s, std::chrono::duration<double>(Clock::now() - mapping).count());
        return data;
      }
      std::string before;
      try {
        before = read_file(list);
      } catch (const RuntimeError&) {
      }
      reason = what_changed(before, source.state);
    } catch (const RuntimeError& e) {
      reason = std::string("the cached file cannot be used: ") + e.what();
    }
  }
  spdlog::info("preparing {} into the cache {} ({}); later runs map it at once", config.path, file, reason);
  remove_leftovers(dir, key);
  PrepareOptions options;
  options.source_state = state_hash(source.state);
  try {
    prepare_source(source, config, file, options);
  } catch (const WriteError& e) {  // the cache's fault (a full disk), not the data's
    return in_memory(e.what());
  }
  try {
    write_file_atomic(list, source.state);
  } catch (const RuntimeError& e) {
    spdlog::warn("{}; a later rebuild of this cache entry cannot say which files changed", e.what());
  }
  return open_mapped();
}

std::vector<CacheEntry> list_cache(const std::string& folder) {
  std::vector<CacheEntry> entries;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != kPreparedExtension) continue;
    CacheEntry e;
    e.file = it->path().string();
    e.bytes = fs::file_size(it->path(), ec);
    try {
      e.info = read_prepared_header(e.file);
    } catch (const RuntimeError& err) {
      e.problem = err.what();
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const CacheEntry& a, const CacheEntry& b) { return a.file < b.file; });
  return entries;
}

uint64_t clear_cache(const std::string& folder, std::vector<std::string>& in_use) {
  uint64_t freed = 0;
  std::error_code ec;
  std::map<std::string, std::vector<fs::path>> by_key;  // every file of the cache, by entry
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto dot = name.find('.');
    if (dot == 16) by_key[name.substr(0, dot)].push_back(it->path());
  }
  for (const auto& [key, files] : by_key) {
    const EntryLock lock((fs::path(folder) / (key + ".lock")).string(), /*wait=*/false);
    if (!lock.held()) {
      in_use.push_back((fs::path(folder) / (key + kPreparedExtension)).string());
      continue;
    }
    for (const auto& f : files) {
      // The lock file stays: a process that opened it before a removal would lock a file that no longer has
      // a name, while a newcomer locks a new one, and both would prepare the entry at once.
      if (f.extension() == ".lock") continue;
      const auto size = fs::file_size(f, ec);
      if (fs::remove(f, ec) && !ec) freed += size;
    }
  }
  return freed;
}

}  // namespace ganpp
