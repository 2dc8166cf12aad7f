// `ganpp data`: prepare an image folder, .zip, .npy, .npz or IDX split into one memory-mappable file, verify such
// a file, list or clear the cache of prepared datasets, and time the batch loader alone.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "ganpp/data_cache.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/json.hpp"
#include "ganpp/prepared.hpp"

namespace fs = std::filesystem;

namespace ganpp::cli {
namespace {

struct DataFlags {
  DataConfig data;
  std::string split = "train";
  std::string out;
  int threads = 0;
  bool force = false;
  std::string file;       // verify
  std::string cache_dir;  // cache
  bool clear = false;
  int64_t batch = 64;  // bench
  int64_t batches = 200;
  bool hflip = false;
};

// Anonymous memory of this process in MB (RssAnon: RSS without the pages of mapped files).
double rss_anon_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stod(line.substr(8)) / 1024;
  return -1;
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  return buf;
}

std::string shape(const PreparedInfo& info) {
  return std::to_string(info.count) + " images " + std::to_string(info.size) + "x" + std::to_string(info.size) + "x" +
         std::to_string(info.channels) +
         (info.classes.empty() ? ", unlabelled" : ", " + std::to_string(info.classes.size()) + " classes");
}

// ./<source name>[-<split>]-<size>x<size>x<channels>.ganppdata
std::string default_out(const DataConfig& data) {
  std::string name = fs::absolute(data.path).lexically_normal().filename().string();
  if (!fs::is_directory(data.path)) name = fs::path(name).stem().string();  // faces.zip -> faces
  if (name.empty()) name = fs::absolute(data.path).lexically_normal().parent_path().filename().string();
  if (has_idx_split(data.path, data.split)) name += "-" + spelling(data.split);
  const std::string s = std::to_string(data.image_size);
  return name + "-" + s + "x" + s + "x" + std::to_string(data.channels) + kPreparedExtension;
}

int run_prepare(DataFlags f) {
  f.data.split = f.split == "test" ? DataSplit::test : DataSplit::train;
  f.data.cache = "off";
  if (f.data.channels != 1 && f.data.channels != 3)
    throw UsageError("--channels " + std::to_string(f.data.channels) + " is not valid; choose 1 or 3");
  background_rgb(f.data);  // a bad --background is a usage error
  const std::string out = f.out.empty() ? default_out(f.data) : f.out;
  if (fs::exists(out) && !f.force)
    throw UsageError("'" + out + "' exists; choose another --out, or pass --force to replace it");
  const PreparedInfo info = prepare_dataset(f.data, out, PrepareOptions{f.threads, "", false});
  std::cout << "wrote " << out << ": " << shape(info) << ", " << megabytes(info.file_bytes()) << ", fingerprint "
            << info.fingerprint << "\ntrain on it with: --set data.path=" << out
            << " --set data.image_size=" << info.size << " --set data.channels=" << info.channels << "\n";
  return 0;
}

int run_verify(const DataFlags& f) {
  const PreparedInfo info = verify_prepared(f.file);
  std::cout << f.file << ": intact (" << shape(info) << ", " << info.chunk_crcs.size()
            << " chunks checked; prepared by ganpp " << info.created_by << " from " << info.source_kind << " "
            << info.source << ")\n";
  return 0;
}

int run_bench(DataFlags f) {
  using Clock = std::chrono::steady_clock;
  if (is_prepared_file(f.data.path)) {  // its own shape
    const PreparedInfo info = read_prepared_header(f.data.path);
    f.data.image_size = info.size;
    f.data.channels = info.channels;
  }
  const double rss_start = rss_anon_mb();
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  auto t0 = Clock::now();
  const Dataset data = load_dataset(f.data);
  const double load_s = since(t0);
  const double rss_loaded = rss_anon_mb();
  t0 = Clock::now();
  const std::string fingerprint = data_fingerprint(f.data);
  const double fingerprint_s = since(t0);
  t0 = Clock::now();
  DataStream stream(data, f.batch, /*seed=*/0, f.hflip, torch::kCPU);
  int64_t sum = stream.next().images.size(0);
  const double first_batch_s = since(t0);
  t0 = Clock::now();
  for (int64_t b = 0; b < f.batches; ++b) sum += stream.next().images.size(0);
  const double seconds = since(t0);
  sum -= f.batch;
  Json result = {{"data", data.source},
                 {"images", data.size()},
                 {"shape", {f.data.channels, f.data.image_size, f.data.image_size}},
                 {"batch", f.batch},
                 {"batches", f.batches},
                 {"hflip", f.hflip},
                 {"load_s", load_s},
                 {"fingerprint_s", fingerprint_s},
                 {"first_batch_s", first_batch_s},
                 {"images_per_s", sum / std::max(seconds, 1e-9)},
                 {"rss_anon_mb_start", rss_start},
                 {"rss_anon_mb_loaded", rss_loaded},
                 {"rss_anon_mb_end", rss_anon_mb()}};
  std::cout << result.dump() << "\n";
  return 0;
}

int run_cache(const DataFlags& f) {
  std::string dir = f.cache_dir;
  if (dir.empty()) dir = cache_folder(DataConfig{});
  if (dir.empty()) throw UsageError("no cache folder: set XDG_CACHE_HOME or HOME, or pass --dir");
  if (f.clear) {
    std::vector<std::string> in_use;
    const uint64_t freed = clear_cache(dir, in_use);
    for (const auto& file : in_use) std::cout << "kept " << file << ": another ganpp is preparing it\n";
    std::cout << "cleared " << dir << ": " << megabytes(freed) << " freed\n";
    return 0;
  }
  const std::vector<CacheEntry> entries = list_cache(dir);
  uint64_t total = 0;
  for (const auto& e : entries) {
    total += e.bytes;
    std::cout << e.file << "  " << megabytes(e.bytes) << "  "
              << (e.problem.empty() ? e.info.source + ": " + shape(e.info) : "unreadable: " + e.problem) << "\n";
  }
  std::cout << entries.size() << " prepared dataset(s) in " << dir << ", " << megabytes(total)
            << " (ganpp data cache --clear removes them)\n";
  return 0;
}

}  // namespace

Command add_data(CLI::App& app) {
  auto flags = std::make_shared<DataFlags>();
  CLI::App* cmd = app.add_subcommand("data", "prepare datasets for fast starts; verify them; manage the cache");
  cmd->require_subcommand(1);

  CLI::App* prepare = cmd->add_subcommand(
      "prepare", "decode an image folder, .zip, .npy, .npz or IDX split once (all cores) into one file that training "
                 "memory-maps");
  prepare->add_option("--data", flags->data.path, "image folder, .zip of images, .npy, .npz or IDX folder")->required();
  prepare->add_option("--image-size", flags->data.image_size, "side of the square images")
      ->required()
      ->check(CLI::Range(4, 1024));
  prepare->add_option("--channels", flags->data.channels, "1 (grey) or 3 (RGB)")->required();
  prepare->add_option("--split", flags->split, "IDX folders: the split to prepare")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  prepare
      ->add_option("--background", flags->data.background,
                   "colour that transparent pixels are composited onto: white, black, #rrggbb or none")
      ->capture_default_str();
  prepare->add_option("--layout", flags->data.layout, ".npy/.npz images: nhwc, nchw or auto (from the shape)")
      ->check(CLI::IsMember({"auto", "nhwc", "nchw"}))
      ->capture_default_str();
  prepare->add_option("--limit", flags->data.limit, "only the first N images (0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  prepare->add_option("--threads", flags->threads, "decoding threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  prepare->add_option("--out", flags->out, "the file to write (default: ./NAME-SIZExSIZExC.ganppdata)");
  prepare->add_flag("--force", flags->force, "replace an existing --out");

  CLI::App* verify = cmd->add_subcommand("verify", "check every chunk of a prepared file against its checksum");
  verify->add_option("file", flags->file, "prepared dataset (.ganppdata)")->required();

  CLI::App* cache = cmd->add_subcommand("cache", "list the cache of prepared datasets, or clear it");
  cache->add_option("--dir", flags->cache_dir, "cache folder (default: $XDG_CACHE_HOME/ganpp, else ~/.cache/ganpp)");
  cache->add_flag("--clear", flags->clear, "remove every prepared file that no ganpp is preparing");

  CLI::App* bench = cmd->add_subcommand(
      "bench", "time the batch loader alone (load, then gather, flip and scale batches on the CPU) and its memory");
  bench->add_option("--data", flags->data.path, "prepared file, image folder, .zip, .npy, .npz or IDX folder")
      ->required();
  bench
      ->add_option("--image-size", flags->data.image_size,
                   "folders: side of the square images (a prepared "
                   "file has its own)")
      ->capture_default_str();
  bench->add_option("--channels", flags->data.channels, "folders: 1 or 3")->capture_default_str();
  bench->add_option("--batch", flags->batch, "images per batch")->check(CLI::PositiveNumber)->capture_default_str();
  bench->add_option("--batches", flags->batches, "batches to time")->check(CLI::PositiveNumber)->capture_default_str();
  bench->add_flag("--hflip", flags->hflip, "flip each image with probability 1/2, as data.hflip does");
  bench->add_option("--layout", flags->data.layout, ".npy/.npz images: nhwc, nchw or auto")
      ->check(CLI::IsMember({"auto", "nhwc", "nchw"}))
      ->capture_default_str();
  bench->add_option("--cache", flags->data.cache, "data.cache (auto, off or a folder)")->capture_default_str();

  return {cmd, [flags, prepare, verify, bench] {
            if (prepare->parsed()) return run_prepare(*flags);
            if (verify->parsed()) return run_verify(*flags);
            if (bench->parsed()) return run_bench(*flags);
            return run_cache(*flags);
          }};
}

}  // namespace ganpp::cli
