// The module order (README, "Architecture"): every `#include "ganpp/..."` of src/ and include/ganpp/ names a
// header of the including file's own module or of a module below it. Headers belong to the module that
// implements them; a header missing from the map below fails the test, so a new one must be placed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Modules from the bottom up; a module may include its own headers and those of modules of a lower level.
// Modules of one level are independent of each other.
const std::map<std::string, int> kLevel = {
    {"core", 0},  // config, errors, files, ...
    {"dist", 1},     {"image", 1},   {"data", 1},   {"losses", 1},     {"augment", 1},
    {"metrics", 1},  {"run_dir", 1}, {"models", 2}, {"checkpoint", 3}, {"classifier", 3},
    {"features", 4}, {"sample", 4},  {"eval", 5},   {"export", 5},     {"inspect", 5},
    {"report", 5},   {"train", 6},   {"bench", 7},  {"cli", 8},
};

// include/ganpp/<header> -> the module (folder of src/) that implements it.
const std::map<std::string, std::string> kHeaderModule = {
    {"config.hpp", "core"},
    {"errors.hpp", "core"},
    {"fault.hpp", "core"},
    {"files.hpp", "core"},
    {"checksum.hpp", "core"},
    {"rng.hpp", "core"},
    {"batch_shard.hpp", "core"},
    {"distributed.hpp", "dist"},
    {"sync_batch_norm.hpp", "models"},
    {"device.hpp", "core"},
    {"version.hpp", "core"},
    {"json.hpp", "core"},
    {"pickle.hpp", "core"},
    {"module_archive.hpp", "core"},
    {"image.hpp", "image"},
    {"gif.hpp", "image"},
    {"data.hpp", "data"},
    {"prepared.hpp", "data"},
    {"data_cache.hpp", "data"},
    {"models.hpp", "models"},
    {"layers.hpp", "models"},
    {"spectral_norm.hpp", "models"},
    {"eval_mode.hpp", "models"},
    {"metrics.hpp", "metrics"},
    {"run_dir.hpp", "run_dir"},
    {"losses.hpp", "losses"},
    {"augment.hpp", "augment"},
    {"checkpoint.hpp", "checkpoint"},
    {"classifier.hpp", "classifier"},
    {"features.hpp", "features"},
    {"sample.hpp", "sample"},
    {"eval.hpp", "eval"},
    {"export.hpp", "export"},
    {"inspect.hpp", "inspect"},
    {"report.hpp", "report"},
    {"trainer.hpp", "train"},
    {"optimizer.hpp", "train"},
    {"cuda_graph.hpp", "train"},
    {"health.hpp", "train"},
    {"progress.hpp", "train"},
    {"train_eval.hpp", "train"},
    {"gradients.hpp", "train"},
    {"training_run.hpp", "train"},
    {"run_observers.hpp", "train"},
    {"bench.hpp", "bench"},
};

const fs::path kRoot = GANPP_SOURCE_DIR;

std::string repo_path(const fs::path& p) { return fs::relative(p, kRoot).generic_string(); }

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".hpp" || e.path().extension() == ".cpp"))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The module of a file: a header's from the map, a source file's from its folder under src/ ("" if unknown).
std::string module_of(const fs::path& file) {
  const std::string rel = repo_path(file);
  if (rel.rfind("include/ganpp/", 0) == 0) {
    const auto it = kHeaderModule.find(rel.substr(std::string("include/ganpp/").size()));
    return it == kHeaderModule.end() ? "" : it->second;
  }
  const fs::path sub = fs::relative(file, kRoot / "src");
  const std::string folder = sub.begin()->string();
  return kLevel.count(folder) ? folder : "";
}

TEST(LayeringTest, EveryHeaderAndSourceFolderIsPlaced) {
  for (const auto& f : files_under(kRoot / "include" / "ganpp"))
    EXPECT_TRUE(kHeaderModule.count(f.filename().string()))
        << repo_path(f) << " belongs to no module: add it to kHeaderModule in " << __FILE__;
  for (const auto& f : files_under(kRoot / "src"))
    EXPECT_FALSE(module_of(f).empty()) << repo_path(f) << " is in a folder that is no module of kLevel";
  for (const auto& [header, module] : kHeaderModule) EXPECT_TRUE(kLevel.count(module)) << header << ": " << module;
}

TEST(LayeringTest, NoModuleIncludesOneAboveOrBesideIt) {
  const std::regex include(R"(^\s*#\s*include\s+"ganpp/([^"]+)\")");
  int includes = 0;
  std::vector<fs::path> files = files_under(kRoot / "src");
  for (const auto& f : files_under(kRoot / "include" / "ganpp")) files.push_back(f);
  for (const auto& file : files) {
    const std::string from = module_of(file);
    if (from.empty()) continue;  // reported by EveryHeaderAndSourceFolderIsPlaced
    std::ifstream in(file);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch m;
      if (!std::regex_search(line, m, include)) continue;
      ++includes;
      const std::string where = repo_path(file) + ":" + std::to_string(number);
      const auto header = kHeaderModule.find(m[1].str());
      if (header == kHeaderModule.end()) {
        ADD_FAILURE() << where << ": ganpp/" << m[1] << " is in no module of the map in " << __FILE__;
        continue;
      }
      const std::string& to = header->second;
      if (to == from) continue;
      EXPECT_LT(kLevel.at(to), kLevel.at(from))
          << where << ": module " << from << " (level " << kLevel.at(from) << ") includes ganpp/" << m[1]
          << " of module " << to << " (level " << kLevel.at(to) << "); a module includes only its own headers and "
          << "those of lower levels";
    }
  }
  EXPECT_GT(includes, 100);  // the scan did read the tree
}

// The two rules the issue named, spelled out (implied by the levels above).
TEST(LayeringTest, ReportIsBelowTrainAndTrainBelowTheCommandLine) {
  EXPECT_LT(kLevel.at("report"), kLevel.at("train"));
  EXPECT_LT(kLevel.at("run_dir"), kLevel.at("report"));
  EXPECT_LT(kLevel.at("train"), kLevel.at("cli"));
}

}  // namespace
