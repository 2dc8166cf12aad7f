// The cache of prepared image folders: an image folder used for training or evaluation is prepared once into
// the cache folder and memory-mapped at every later start, as long as its file list, sizes and modification
// times and the image settings are unchanged. One file per folder and settings (<key>.ganppdata), the list it
// was prepared from (<key>.files, to say what changed) and a lock (<key>.lock) that makes a second process wait
// while the first prepares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/prepared.hpp"

namespace ganpp {

/// Where `config`'s image folder is cached: data.cache when it names a folder; for "auto", $XDG_CACHE_HOME/ganpp,
/// else $HOME/.cache/ganpp; "" when data.cache is "off" (or "auto" without either variable).
std::string cache_folder(const DataConfig& config);

/// The image folder of `config`, memory-mapped from its prepared file in `folder`: used as it is ("using cache"),
/// or prepared first when it is missing, unreadable or the folder changed (saying why).
Dataset load_through_cache(const DataConfig& config, const std::string& folder);

/// One prepared file in a cache folder.
struct CacheEntry {
  std::string file;
  uint64_t bytes = 0;
  PreparedInfo info;    ///< valid when `problem` is empty
  std::string problem;  ///< why the header cannot be read
};

/// The prepared files in a cache folder, by name.
std::vector<CacheEntry> list_cache(const std::string& folder);

/// Removes the cache's prepared files (and their lists, locks and leftovers) that no process is preparing;
/// returns the number of bytes freed and appends the files in use to `in_use`.
uint64_t clear_cache(const std::string& folder, std::vector<std::string>& in_use);

}  // namespace ganpp
