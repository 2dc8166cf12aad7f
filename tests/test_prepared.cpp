// Prepared datasets and the cache of image folders: the same bytes as the folder loader, independent of the
// thread count, memory-mapped (anonymous memory stays low), reused and rebuilt as the folder changes, and clear
// errors for damaged, truncated and newer files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "data_helpers.hpp"
#include "ganpp/data.hpp"
#include "ganpp/data_cache.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/prepared.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

void expect_same_data(const Dataset& a, const Dataset& b) {
  expect_same_images(a, b);
  EXPECT_EQ(a.classes, b.classes);
}

// Anonymous memory of this process in kB (RssAnon; RSS would count the mapped file's pages too).
int64_t rss_anon_kb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8));
  return -1;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5A));
}

}  // namespace

TEST(PreparedTest, APreparedFolderOrIdxSplitHoldsTheBytesOfTheLoader) {
  const TempDir root("prepared-same");
  // An RGBA-free RGB folder of three classes at 20x20, resized to 16x16; and IDX files at 16x16.
  write_image_folder(root.path + "/folder", {"cat", "dog", "fox"}, 5, 20, 3);
  write_idx_dataset(root.path + "/idx", 30, 16, 10);
  for (const auto& [source, channels] : {std::pair<std::string, int64_t>{"folder", 3}, {"idx", 1}, {"idx", 3}}) {
    const DataConfig config = uncached_data(root.path + "/" + source, 16, channels);
    const std::string file = root.path + "/" + source + std::to_string(channels) + kPreparedExtension;
    const PreparedInfo info = prepare_dataset(config, file, PrepareOptions{1, "", true});
    DataConfig mapped = config;
    mapped.path = file;
    const Dataset loaded = load_dataset(config), prepared = load_dataset(mapped);
    SCOPED_TRACE(source + " " + std::to_string(channels));
    expect_same_data(loaded, prepared);
    EXPECT_EQ(info.count, loaded.size());
    EXPECT_EQ(data_fingerprint(mapped), data_fingerprint(config)) << "a prepared file stands for its source";
    // data.limit takes the first images, as it does for the folder.
    mapped.limit = 7;
    DataConfig limited = config;
    limited.limit = 7;
    expect_same_data(load_dataset(limited), load_dataset(mapped));
  }
}

TEST(PreparedTest, TheCacheKnowsTheFolderFingerprintWithoutReadingItAgain) {
  const TempDir root("prepared-fingerprint");
  write_image_folder(root.path + "/folder", {"cat", "dog"}, 3, 16, 3);
  DataConfig config = uncached_data(root.path + "/folder", 16, 3);
  const std::string expected = data_fingerprint(config);
  EXPECT_EQ(expected.rfind("files:6:", 0), 0u) << expected;
  config.cache = root.path + "/cache";
  EXPECT_EQ(load_dataset(config).fingerprint, expected);  // prepared
  EXPECT_EQ(load_dataset(config).fingerprint, expected);  // mapped
  config.path += "/";
  EXPECT_EQ(data_fingerprint(config), expected) << "a trailing slash names the same folder";
}

TEST(PreparedTest, OneAndTwoThreadsWriteByteIdenticalFiles) {
  const TempDir root("prepared-threads");
  write_image_folder(root.path + "/folder", {"a", "b"}, 12, 24, 3);
  const DataConfig config = uncached_data(root.path + "/folder", 16, 3);
  prepare_dataset(config, root.path + "/one.ganppdata", PrepareOptions{1, "", true});
  prepare_dataset(config, root.path + "/two.ganppdata", PrepareOptions{2, "", true});
  const std::string one = slurp(root.path + "/one.ganppdata");
  EXPECT_GT(one.size(), 24u * 16 * 16 * 3);
  EXPECT_EQ(one, slurp(root.path + "/two.ganppdata"));
}

TEST(PreparedTest, AnImageThatFailsIsNamedBeforeAnythingIsWritten) {
  const TempDir root("prepared-bad-image");
  write_image_folder(root.path + "/folder", {"a"}, 6, 16, 3);
  write_bytes(root.path + "/folder/a/img_003.png", "not a png at all");
  const std::string out = root.path + "/out.ganppdata";
  const std::string message = error_of<RuntimeError>([&] {
    prepare_dataset(uncached_data(root.path + "/folder", 16, 3), out, PrepareOptions{2, "", true});
  });
  EXPECT_TRUE(contains(message, "img_003.png")) << message;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(root.path)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
}

TEST(PreparedTest, DamagedTruncatedAndNewerFilesAreClearErrors) {
  const TempDir root("prepared-damage");
  write_idx_dataset(root.path + "/idx", 600, 28, 10);
  const DataConfig config = uncached_data(root.path + "/idx", 28, 3);
  const std::string good = root.path + "/good.ganppdata";
  const PreparedInfo info = prepare_dataset(config, good, PrepareOptions{1, "", true});
  ASSERT_GT(info.chunk_crcs.size(), 1u);  // 600 x 2352 bytes: two chunks of 1 MiB
  auto copy = [&](const std::string& name) {
    const std::string path = root.path + "/" + name;
    fs::copy_file(good, path, fs::copy_options::overwrite_existing);
    return path;
  };
  EXPECT_EQ(verify_prepared(good).count, 600);

  // A flipped byte in the second chunk: verify names the chunk and its images.
  const std::string bad_chunk = copy("chunk.ganppdata");
  flip_byte(bad_chunk, info.data_offset + (uint64_t(1) << 20) + 5);
  std::string message = error_of<RuntimeError>([&] { verify_prepared(bad_chunk); });
  EXPECT_TRUE(contains(message, "chunk 1 (data bytes 1048576 to")) << message;
  EXPECT_TRUE(contains(message, "images 445 to 599")) << message;
  auto r = run_ganpp({"data", "verify", bad_chunk});
  expect_cli_error(r, 1, {"is damaged", "chunk 1", "ganpp data prepare"});

  // A flipped byte in the header.
  const std::string bad_header = copy("header.ganppdata");
  flip_byte(bad_header, 40);
  message = error_of<RuntimeError>([&] { read_prepared_header(bad_header); });
  EXPECT_TRUE(contains(message, "header does not match its checksum")) << message;

  // Truncated: the loader refuses it before mapping.
  const std::string cut = copy("cut.ganppdata");
  fs::resize_file(cut, info.file_bytes() - 1000);
  DataConfig mapped = config;
  mapped.path = cut;
  message = error_of<RuntimeError>([&] { load_dataset(mapped); });
  EXPECT_TRUE(contains(message, "is truncated")) << message;

  // A newer format version.
  const std::string newer = copy("newer.ganppdata");
  {
    std::fstream f(newer, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put(static_cast<char>(kPreparedVersion + 1));
  }
  message = error_of<RuntimeError>([&] { read_prepared_header(newer); });
  EXPECT_TRUE(contains(message, "format version " + std::to_string(kPreparedVersion + 1))) << message;
  EXPECT_TRUE(contains(message, "newer than this ganpp reads")) << message;

  // Another size than the config's, and another kind of file.
  mapped.path = good;
  mapped.image_size = 32;
  message = error_of<RuntimeError>([&] { load_dataset(mapped); });
  EXPECT_TRUE(contains(message, "holds 28x28 images with 3 channel(s), but data.image_size = 32")) << message;
  write_bytes(root.path + "/other.bin", "GANPPCKP and more");
  mapped.path = root.path + "/other.bin";
  message = error_of<RuntimeError>([&] { load_dataset(mapped); });
  EXPECT_TRUE(contains(message, "is neither a folder nor a dataset file ganpp reads")) << message;
}

TEST(PreparedTest, TrainingBatchesComeFromTheMappedFileNotFromACopy) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator (quarantine, shadow memory) makes anonymous memory unmeasurable";
#endif
  const TempDir root("prepared-memory");
  // 40,000 images of 28x28x3: 94 MB of pixels.
  write_idx_dataset(root.path + "/idx", 40000, 28, 10);
  const std::string file = root.path + "/big.ganppdata";
  auto r = run_ganpp({"data", "prepare", "--data", root.path + "/idx", "--image-size", "28", "--channels", "3", "--out",
                      file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "40000 images 28x28x3, 10 classes")) << r.out;
  const auto data_kb = static_cast<int64_t>(fs::file_size(file) / 1024);

  DataConfig config = uncached_data(file, 28, 3);
  {
    // LibTorch's thread pool and allocator, and a gathering thread, set up before the measurement starts.
    Dataset warm;
    warm.images = torch::zeros({100, 3, 28, 28}, torch::kUInt8);
    DataStream stream(warm, 100, 1, /*hflip=*/true, torch::kCPU);
    for (int i = 0; i < 3; ++i) stream.next();
  }
  const int64_t before = rss_anon_kb();
  {
    const Dataset data = load_dataset(config);
    DataStream stream(data, 100, 1, /*hflip=*/true, torch::kCPU);
    int64_t checksum = 0;
    for (int64_t b = 0; b < stream.batches_per_epoch(); ++b) checksum += stream.next().labels.sum().item<int64_t>();
    EXPECT_GT(checksum, 0);
    const int64_t used = rss_anon_kb() - before;
    EXPECT_LT(used, data_kb / 5) << "anonymous memory grew by " << used << " kB for " << data_kb << " kB of data";
    std::cout << "anonymous memory grew by " << used << " kB for " << data_kb << " kB of data\n";
  }
  // The same data decoded into memory does cost its size: the measurement above would see a copy.
  config.path = root.path + "/idx";
  const int64_t before_copy = rss_anon_kb();
  const Dataset copy = load_dataset(config);
  EXPECT_GT(rss_anon_kb() - before_copy, data_kb * 9 / 10);
}

TEST(PreparedTest, TheCacheIsUsedWhileTheFolderIsUnchangedAndRebuiltWhenItChanges) {
  const TempDir root("prepared-cache");
  const std::string folder = root.path + "/folder", cache = root.path + "/cache";
  write_image_folder(folder, {"a", "b"}, 4, 16, 3);
  int run = 0;
  auto train = [&] {
    auto args = with_tiny_model({"train", "--out", root.path + "/run" + std::to_string(run++), "--set", "train.steps=1",
                                 "--set", "data.channels=3", "--set", "data.cache=" + cache},
                                folder, 4);
    return run_ganpp(args);
  };
  auto expect_cache_holds_the_folder = [&] {
    const auto entries = list_cache(cache);
    ASSERT_EQ(entries.size(), 1u);
    DataConfig mapped = uncached_data(entries[0].file, 16, 3);
    expect_same_data(load_dataset(uncached_data(folder, 16, 3)), load_dataset(mapped));
  };
  auto r = train();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "preparing " + folder + " into the cache")) << r.out;
  EXPECT_TRUE(contains(r.out, "not prepared yet")) << r.out;
  expect_cache_holds_the_folder();

  r = train();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "using cache")) << r.out;
  EXPECT_FALSE(contains(r.out, "preparing")) << r.out;

  write_image_folder(root.path + "/more", {"a"}, 5, 16, 3);
  fs::copy_file(root.path + "/more/a/img_004.png", folder + "/a/img_104.png");
  r = train();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "1 file(s) added (a/img_104.png)")) << r.out;
  expect_cache_holds_the_folder();

  fs::remove(folder + "/b/img_000.png");
  r = train();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "1 file(s) removed (b/img_000.png)")) << r.out;
  expect_cache_holds_the_folder();

  // Touched: same name and size, a new modification time (and new pixels).
  fs::copy_file(root.path + "/more/a/img_001.png", folder + "/a/img_002.png", fs::copy_options::overwrite_existing);
  fs::last_write_time(folder + "/a/img_002.png",
                      fs::last_write_time(folder + "/a/img_002.png") + std::chrono::hours(1));
  r = train();
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "1 file(s) changed (a/img_002.png)")) << r.out;
  expect_cache_holds_the_folder();

  // Listed, then cleared.
  r = run_ganpp({"data", "cache", "--dir", cache});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "1 prepared dataset(s)")) << r.out;
  EXPECT_TRUE(contains(r.out, "8 images 16x16x3, 2 classes")) << r.out;
  r = run_ganpp({"data", "cache", "--dir", cache, "--clear"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(list_cache(cache).empty());
}

// Two processes that need one cache entry at once take turns: the second waits for the first (held mid-write by a
// stall), then maps what the first prepared. One whole entry, and no temporary file, remain.
TEST(PreparedTest, TwoProcessesNeedingOneCacheEntryTakeTurns) {
  const TempDir root("prepared-concurrent");
  write_image_folder(root.path + "/folder", {"a", "b"}, 6, 16, 3);
  const std::string cache = root.path + "/cache";
  const std::vector<std::string> args = {"data",         "bench", "--data",     root.path + "/folder",
                                         "--image-size", "16",    "--channels", "3",
                                         "--batch",      "4",     "--batches",  "2",
                                         "--cache",      cache};
  ::setenv("GANPP_FAULT", "stall:prepare:", 1);
  auto first = start_ganpp(args);
  ::unsetenv("GANPP_FAULT");
  auto temporaries = [&] {
    int n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec))
      n += it->path().extension() == kTempSuffix;
    return n;
  };
  for (int i = 0; i < 2000 && temporaries() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(temporaries(), 1) << "the first process is writing the entry";
  const CommandResult second = run_ganpp(args);
  EXPECT_EQ(second.code, 0) << second.err;
  EXPECT_TRUE(contains(second.out, "waiting for another ganpp that is preparing this cache entry")) << second.out;
  EXPECT_TRUE(contains(second.out, "using cache")) << second.out;
  EXPECT_FALSE(contains(second.out, "into the cache")) << "the second prepares nothing";
  EXPECT_EQ(first.wait(), 0) << first.err();
  EXPECT_TRUE(contains(slurp(first.out_path), "into the cache")) << slurp(first.out_path);
  const std::vector<CacheEntry> entries = list_cache(cache);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_NO_THROW(verify_prepared(entries[0].file));
  EXPECT_EQ(temporaries(), 0);
}
