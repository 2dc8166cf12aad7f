// The cache of prepared sources: an image folder, .zip, .npy or .npz used for training or evaluation is prepared
// once into the cache folder and memory-mapped at every later start, as long as its files' list, sizes and
// modification times and the image settings are unchanged. One file per source and settings (<key>.ganppdata),
// the list of files it was prepared from (<key>.files, to say what changed) and a lock (<key>.lock, never
// removed) that makes a second process wait while the first prepares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/prepared.hpp"

namespace ganpp {

/// Where `config`'s source is cached: data.cache when it names a folder; for "auto", $XDG_CACHE_HOME/ganpp,
/// else $HOME/.cache/ganpp; "" when data.cache is "off" (or "auto" without either variable).
std::string cache_folder(const DataConfig& config);

/// The source of `config` (not IDX, not a prepared file), memory-mapped from its prepared file in `folder`: used
/// as it is ("using cache"), or prepared first when it is missing, unreadable or the source changed (saying why).
/// Decoded in memory, with a warning, when the cache cannot be locked or written.
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

/// Removes the cache's prepared files (and their lists and leftovers; not the locks) that no process is preparing;
/// returns the number of bytes freed and appends the files in use to `in_use`.
uint64_t clear_cache(const std::string& folder, std::vector<std::string>& in_use);

}  // namespace ganpp
