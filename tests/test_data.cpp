// Tests of data loading (IDX files, image folders) and the resumable shuffled DataStream.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/rng.hpp"
#include "helpers.hpp"

#include <stb_image_write.h>

namespace fs = std::filesystem;

namespace ganpp {
namespace {

using test::contains;
using test::error_of;
using test::TempDir;

DataConfig data_config(const std::string& path, int64_t size = 28, int64_t channels = 1) {
  DataConfig c;
  c.path = path;
  c.image_size = size;
  c.channels = channels;
  return c;
}

// A dataset of `n` 1x2x2 images where image i holds the value i in every pixel, labelled i % 3.
Dataset numbered_dataset(int64_t n) {
  Dataset d;
  d.images = torch::arange(n, torch::kInt64).to(torch::kUInt8).view({n, 1, 1, 1}).expand({n, 1, 2, 2}).contiguous();
  d.labels = torch::arange(n, torch::kInt64).remainder(3);
  d.classes = {"a", "b", "c"};
  d.source = "numbered";
  return d;
}

// The image numbers of a batch of numbered_dataset (undoing the [-1, 1] scaling).
std::vector<int64_t> numbers_of(const Batch& b) {
  const torch::Tensor n = b.images.select(1, 0).select(1, 0).select(1, 0).add(1.0).mul(127.5).round().to(torch::kInt64);
  return std::vector<int64_t>(n.data_ptr<int64_t>(), n.data_ptr<int64_t>() + n.numel());
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(DataTest, ReadIdxPlain) {
  const TempDir tmp("idx-plain");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/5, /*size=*/28);
  std::vector<int64_t> dims;
  const auto pixels = read_idx_file(dir + "/train-images-idx3-ubyte", 3, dims);
  EXPECT_EQ(dims, (std::vector<int64_t>{5, 28, 28}));
  EXPECT_EQ(pixels.size(), 5u * 28 * 28);
  const auto labels = read_idx_file(dir + "/train-labels-idx1-ubyte", 1, dims);
  EXPECT_EQ(dims, (std::vector<int64_t>{5}));
  EXPECT_EQ(labels, (std::vector<uint8_t>{0, 1, 2, 3, 4}));
}

TEST_F(DataTest, ReadIdxGzip) {
  const TempDir tmp("idx-gz");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/4, /*size=*/8, /*classes=*/10, /*gzip=*/true);
  std::vector<int64_t> dims;
  const auto pixels = read_idx_file(dir + "/t10k-images-idx3-ubyte.gz", 3, dims);
  EXPECT_EQ(dims, (std::vector<int64_t>{4, 8, 8}));
  EXPECT_EQ(pixels.size(), 4u * 8 * 8);
}

TEST_F(DataTest, ReadIdxTruncated) {
  const TempDir tmp("idx-trunc");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/3, /*size=*/8);
  const std::string path = dir + "/train-images-idx3-ubyte";
  const std::string bytes = test::slurp(path);
  test::write_bytes(path, bytes.substr(0, bytes.size() - 10));
  std::vector<int64_t> dims;
  const std::string msg = error_of<RuntimeError>([&] { read_idx_file(path, 3, dims); });
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
  EXPECT_TRUE(contains(msg, path)) << msg;

  test::write_bytes(path, bytes.substr(0, 9));  // inside the header
  EXPECT_TRUE(contains(error_of<RuntimeError>([&] { read_idx_file(path, 3, dims); }), "truncated"));
  test::write_bytes(path, bytes.substr(0, 2));  // not even a magic number
  EXPECT_TRUE(contains(error_of<RuntimeError>([&] { read_idx_file(path, 3, dims); }), "truncated"));
}

TEST_F(DataTest, ReadIdxBadMagic) {
  const TempDir tmp("idx-magic");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/2, /*size=*/8);
  std::vector<int64_t> dims;
  // A labels file (1 dimension) where an images file (3 dimensions) is expected.
  std::string msg = error_of<RuntimeError>([&] { read_idx_file(dir + "/train-labels-idx1-ubyte", 3, dims); });
  EXPECT_TRUE(contains(msg, "magic")) << msg;
  EXPECT_TRUE(contains(msg, "train-labels-idx1-ubyte")) << msg;

  const std::string path = dir + "/garbage";
  test::write_bytes(path, "PK\x03\x04 this is not an IDX file at all");
  msg = error_of<RuntimeError>([&] { read_idx_file(path, 3, dims); });
  EXPECT_TRUE(contains(msg, "magic")) << msg;
}

TEST_F(DataTest, ReadIdxTruncatedGzip) {
  const TempDir tmp("idx-gz-trunc");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/20, /*size=*/28, /*classes=*/10, /*gzip=*/true);
  const std::string path = dir + "/train-images-idx3-ubyte.gz";
  const std::string bytes = test::slurp(path);
  ASSERT_GT(bytes.size(), 40u);
  test::write_bytes(path, bytes.substr(0, bytes.size() / 2));
  std::vector<int64_t> dims;
  const std::string msg = error_of<RuntimeError>([&] { read_idx_file(path, 3, dims); });
  EXPECT_TRUE(contains(msg, path)) << msg;
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
}

TEST_F(DataTest, ReadIdxMissingFile) {
  std::vector<int64_t> dims;
  const std::string msg = error_of<RuntimeError>([&] { read_idx_file("/nonexistent/ganpp/file-idx3-ubyte", 3, dims); });
  EXPECT_TRUE(contains(msg, "/nonexistent/ganpp/file-idx3-ubyte")) << msg;
}

TEST_F(DataTest, LoadIdxFolder) {
  const TempDir tmp("load-idx");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/12, /*size=*/28);
  const Dataset d = load_dataset(data_config(dir));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
  EXPECT_EQ(d.images.scalar_type(), torch::kUInt8);
  ASSERT_TRUE(d.labels.defined());
  EXPECT_EQ(d.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(d.labels[0].item<int64_t>(), 0);
  EXPECT_EQ(d.labels[11].item<int64_t>(), 1);  // labels are i % 10
  EXPECT_EQ(d.classes, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_EQ(d.size(), 12);
  // The pixels are the file's bytes: the helper's gradient (x + y + i) % 40 outside the square.
  EXPECT_EQ(d.images[5][0][0][0].item<uint8_t>(), 5);
  EXPECT_EQ(d.images[0][0][0][3].item<uint8_t>(), 3);
}

TEST_F(DataTest, LoadIdxGzipFolder) {
  const TempDir tmp("load-idx-gz");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/6, /*size=*/28, /*classes=*/10, /*gzip=*/true);
  const Dataset d = load_dataset(data_config(dir));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{6, 1, 28, 28}));
  EXPECT_EQ(d.labels.size(0), 6);
}

TEST_F(DataTest, LoadIdxTestSplitReadsT10k) {
  const TempDir tmp("load-idx-split");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/4, /*size=*/28);
  // Make the test split distinguishable: a t10k file with a different count.
  test::write_idx_dataset(dir + "/other", /*n=*/7, /*size=*/28);
  fs::copy_file(dir + "/other/t10k-images-idx3-ubyte", dir + "/t10k-images-idx3-ubyte",
                fs::copy_options::overwrite_existing);
  fs::copy_file(dir + "/other/t10k-labels-idx1-ubyte", dir + "/t10k-labels-idx1-ubyte",
                fs::copy_options::overwrite_existing);
  DataConfig c = data_config(dir);
  EXPECT_EQ(load_dataset(c).size(), 4);
  c.split = DataSplit::test;
  const Dataset test_split = load_dataset(c);
  EXPECT_EQ(test_split.size(), 7);
  EXPECT_TRUE(contains(test_split.source, "t10k")) << test_split.source;
}

TEST_F(DataTest, LoadIdxMissingSplitIsAnError) {
  const TempDir tmp("load-idx-nosplit");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/4, /*size=*/28);
  fs::remove(dir + "/t10k-images-idx3-ubyte");
  DataConfig c = data_config(dir);
  c.split = DataSplit::test;
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(c); });
  EXPECT_TRUE(contains(msg, "t10k")) << msg;
}

TEST_F(DataTest, LoadIdxLimit) {
  const TempDir tmp("load-idx-limit");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/12, /*size=*/28);
  DataConfig c = data_config(dir);
  c.limit = 5;
  const Dataset d = load_dataset(c);
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 1, 28, 28}));
  EXPECT_EQ(d.labels.size(0), 5);
  EXPECT_EQ(d.labels[4].item<int64_t>(), 4);
  c.limit = 100;  // more than there are: all of them
  EXPECT_EQ(load_dataset(c).size(), 12);
}

TEST_F(DataTest, LoadIdxResizeAndChannels) {
  const TempDir tmp("load-idx-resize");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/3, /*size=*/28);
  const Dataset d32 = load_dataset(data_config(dir, /*size=*/32));
  EXPECT_EQ(d32.images.sizes(), (std::vector<int64_t>{3, 1, 32, 32}));
  EXPECT_EQ(d32.images.scalar_type(), torch::kUInt8);

  const Dataset rgb = load_dataset(data_config(dir, /*size=*/28, /*channels=*/3));
  EXPECT_EQ(rgb.images.sizes(), (std::vector<int64_t>{3, 3, 28, 28}));
  const Dataset gray = load_dataset(data_config(dir));
  for (int64_t c = 0; c < 3; ++c) EXPECT_TRUE(torch::equal(rgb.images.select(1, c), gray.images.select(1, 0)));
}

TEST_F(DataTest, ImageFolderWithClasses) {
  const TempDir tmp("folder-classes");
  const std::string& dir = tmp.path;
  // Written out of order: classes come back sorted by name.
  test::write_image_folder(dir, {"zebra", "ant", "mole"}, /*per_class=*/2, /*size=*/20, /*channels=*/3);
  const Dataset d = load_dataset(data_config(dir, /*size=*/16, /*channels=*/3));
  EXPECT_EQ(d.classes, (std::vector<std::string>{"ant", "mole", "zebra"}));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{6, 3, 16, 16}));
  EXPECT_EQ(d.images.scalar_type(), torch::kUInt8);
  ASSERT_TRUE(d.labels.defined());
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64)));
}

TEST_F(DataTest, ImageFolderSameSizeKeepsPixels) {
  const TempDir tmp("folder-exact");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {"only"}, /*per_class=*/1, /*size=*/8, /*channels=*/3);
  const Dataset d = load_dataset(data_config(dir, /*size=*/8, /*channels=*/3));
  // The helper's pixel (x, y, ch) of class 0, image 0 is (7x + 3y + 50ch) % 256; stored CHW.
  for (int y : {0, 3, 7})
    for (int x : {0, 5, 7})
      for (int ch = 0; ch < 3; ++ch) EXPECT_EQ(d.images[0][ch][y][x].item<uint8_t>(), (x * 7 + y * 3 + ch * 50) % 256);
}

// RGBA pixels: opaque red, transparent green, half-transparent blue, composited onto the background as
// round((v·a + bg·(255 − a)) / 255); "none" drops alpha as before compositing existed.
TEST_F(DataTest, ImageFolderCompositesAlphaOntoTheBackground) {
  const TempDir tmp("folder-alpha");
  fs::create_directories(tmp.path + "/img");
  const unsigned char rgba[] = {255, 0, 0, 255, 0, 255, 0, 0, 0, 0, 255, 128, 10, 20, 30, 255};
  ASSERT_TRUE(stbi_write_png((tmp.path + "/img/a.png").c_str(), 2, 2, 4, rgba, 8));
  DataConfig config = data_config(tmp.path + "/img", /*size=*/2, /*channels=*/3);
  auto pixel = [](const Dataset& d, int y, int x) {
    std::vector<int> out;
    for (int64_t c = 0; c < d.images.size(1); ++c) out.push_back(d.images[0][c][y][x].item<uint8_t>());
    return out;
  };
  const Dataset white = load_dataset(config);
  EXPECT_EQ(pixel(white, 0, 0), (std::vector<int>{255, 0, 0}));
  EXPECT_EQ(pixel(white, 0, 1), (std::vector<int>{255, 255, 255}));
  EXPECT_EQ(pixel(white, 1, 0), (std::vector<int>{127, 127, 255}));  // (255·127 + 127) / 255 = 127
  EXPECT_EQ(pixel(white, 1, 1), (std::vector<int>{10, 20, 30}));
  config.background = "black";
  EXPECT_EQ(pixel(load_dataset(config), 1, 0), (std::vector<int>{0, 0, 128}));
  config.background = "none";
  EXPECT_EQ(pixel(load_dataset(config), 0, 1), (std::vector<int>{0, 255, 0}));
  config.background = "white";
  config.channels = 1;  // stb's luma of the composited pixel: (77r + 150g + 29b) >> 8
  EXPECT_EQ(pixel(load_dataset(config), 0, 1), (std::vector<int>{255}));
  EXPECT_EQ(pixel(load_dataset(config), 1, 1), (std::vector<int>{(10 * 77 + 20 * 150 + 30 * 29) >> 8}));
}

TEST_F(DataTest, ImageFolderToGrayscale) {
  const TempDir tmp("folder-gray");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {"a", "b"}, /*per_class=*/2, /*size=*/16, /*channels=*/3);
  const Dataset d = load_dataset(data_config(dir, /*size=*/16, /*channels=*/1));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{4, 1, 16, 16}));
}

TEST_F(DataTest, ImageFolderWithoutSubfoldersIsUnlabelled) {
  const TempDir tmp("folder-flat");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {}, /*per_class=*/5, /*size=*/16, /*channels=*/1);
  const Dataset d = load_dataset(data_config(dir, /*size=*/16, /*channels=*/1));
  EXPECT_EQ(d.images.sizes(), (std::vector<int64_t>{5, 1, 16, 16}));
  EXPECT_FALSE(d.labels.defined());
  EXPECT_TRUE(d.classes.empty());
}

TEST_F(DataTest, ImageFolderLimit) {
  const TempDir tmp("folder-limit");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {"a", "b"}, /*per_class=*/3, /*size=*/16, /*channels=*/1);
  DataConfig c = data_config(dir, /*size=*/16);
  c.limit = 4;
  const Dataset d = load_dataset(c);
  EXPECT_EQ(d.size(), 4);
  EXPECT_TRUE(torch::equal(d.labels, torch::tensor({0, 0, 0, 1}, torch::kInt64)));
}

TEST_F(DataTest, EmptyFolderIsAnError) {
  const TempDir tmp("folder-empty");
  const std::string& dir = tmp.path;
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(data_config(dir)); });
  EXPECT_TRUE(contains(msg, "no images")) << msg;
  EXPECT_TRUE(contains(msg, dir)) << msg;
}

TEST_F(DataTest, CorruptImageNamesTheFile) {
  const TempDir tmp("folder-corrupt");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {}, /*per_class=*/2, /*size=*/16, /*channels=*/1);
  test::write_bytes(dir + "/x.png", "this is certainly not a PNG file");
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(data_config(dir, /*size=*/16)); });
  EXPECT_TRUE(contains(msg, "x.png")) << msg;
}

TEST_F(DataTest, MissingPathIsAnError) {
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(data_config("/nonexistent/ganpp-data")); });
  EXPECT_TRUE(contains(msg, "/nonexistent/ganpp-data")) << msg;
  EXPECT_TRUE(contains(msg, "does not exist")) << msg;
}

TEST_F(DataTest, PathThatIsAFileIsAnError) {
  const TempDir tmp("path-file");
  const std::string& dir = tmp.path;
  test::write_bytes(dir + "/f.txt", "x");
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(data_config(dir + "/f.txt")); });
  EXPECT_TRUE(contains(msg, "is neither a folder nor a dataset file ganpp reads")) << msg;
}

TEST_F(DataTest, MixedLooseImagesAndClassFoldersIsAnError) {
  const TempDir tmp("folder-mixed");
  const std::string& dir = tmp.path;
  test::write_image_folder(dir, {"cats"}, /*per_class=*/2, /*size=*/16, /*channels=*/1);
  test::write_image_folder(dir, {}, /*per_class=*/1, /*size=*/16, /*channels=*/1);
  const std::string msg = error_of<RuntimeError>([&] { load_dataset(data_config(dir, /*size=*/16)); });
  EXPECT_TRUE(contains(msg, "mixes")) << msg;
  EXPECT_TRUE(contains(msg, "cats")) << msg;
}

TEST_F(DataTest, ResizeCenterCropTakesTheMiddle) {
  // A 6x4 image (HWC, 1 channel) whose pixel is its column: the centre 4x4 square is columns 1..4.
  std::vector<uint8_t> pixels(6 * 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) pixels[y * 6 + x] = static_cast<uint8_t>(x);
  const auto out = resize_center_crop(pixels.data(), /*width=*/6, /*height=*/4, /*channels=*/1, /*size=*/4);
  ASSERT_EQ(out.size(), 16u);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(out[y * 4 + x], x + 1);
}

class DataStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(DataStreamTest, BatchesAreScaledFloatOnCpu) {
  const TempDir tmp("stream-idx");
  const std::string& dir = tmp.path;
  test::write_idx_dataset(dir, /*n=*/8, /*size=*/28);
  const Dataset d = load_dataset(data_config(dir));
  DataStream stream(d, /*batch_size=*/4, /*seed=*/1, /*hflip=*/false, torch::kCPU);
  const Batch b = stream.next();
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 1, 28, 28}));
  EXPECT_EQ(b.images.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(b.images.device().is_cpu());
  EXPECT_GE(b.images.min().item<float>(), -1.0f);
  EXPECT_LE(b.images.max().item<float>(), 1.0f);
  ASSERT_TRUE(b.labels.defined());
  EXPECT_EQ(b.labels.sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(b.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(stream.batches_per_epoch(), 2);
}

TEST_F(DataStreamTest, PixelScalingIsExact) {
  Dataset d;
  d.images = torch::tensor({0, 255, 0, 255}, torch::kUInt8).view({2, 1, 1, 2});
  d.source = "two pixels";
  DataStream stream(d, /*batch_size=*/2, /*seed=*/0, /*hflip=*/false, torch::kCPU);
  const Batch b = stream.next();
  EXPECT_FALSE(b.labels.defined());
  const torch::Tensor v = b.images.flatten();
  for (int64_t i = 0; i < 4; ++i) {
    const float x = v[i].item<float>();
    EXPECT_TRUE(x == -1.0f || x == 1.0f) << x;
  }
  EXPECT_EQ(b.images.min().item<float>(), -1.0f);
  EXPECT_EQ(b.images.max().item<float>(), 1.0f);
}

TEST_F(DataStreamTest, LabelsFollowTheirImages) {
  const Dataset d = numbered_dataset(12);
  DataStream stream(d, /*batch_size=*/4, /*seed=*/5, /*hflip=*/false, torch::kCPU);
  for (int k = 0; k < 3; ++k) {
    const Batch b = stream.next();
    const auto numbers = numbers_of(b);
    for (size_t i = 0; i < numbers.size(); ++i) EXPECT_EQ(b.labels[i].item<int64_t>(), numbers[i] % 3);
  }
}

TEST_F(DataStreamTest, EpochVisitsEveryImageOnce) {
  const Dataset d = numbered_dataset(12);
  DataStream stream(d, /*batch_size=*/4, /*seed=*/3, /*hflip=*/false, torch::kCPU);
  ASSERT_EQ(stream.batches_per_epoch(), 3);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::multiset<int64_t> seen;
    for (int k = 0; k < 3; ++k)
      for (int64_t n : numbers_of(stream.next())) seen.insert(n);
    EXPECT_EQ(seen.size(), 12u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 12u);
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), 11);
  }
}

TEST_F(DataStreamTest, LastPartialBatchIsDropped) {
  const Dataset d = numbered_dataset(10);
  DataStream stream(d, /*batch_size=*/4, /*seed=*/0, /*hflip=*/false, torch::kCPU);
  EXPECT_EQ(stream.batches_per_epoch(), 2);
  stream.next();
  stream.next();
  EXPECT_EQ(stream.position().epoch, 0);
  EXPECT_EQ(stream.position().position, 2);
  stream.next();  // starts the second epoch
  EXPECT_EQ(stream.position().epoch, 1);
  EXPECT_EQ(stream.position().position, 1);
}

TEST_F(DataStreamTest, SameSeedSameOrderOtherSeedOtherOrder) {
  const Dataset d = numbered_dataset(12);
  DataStream a(d, 4, /*seed=*/7, false, torch::kCPU), b(d, 4, /*seed=*/7, false, torch::kCPU),
      c(d, 4, /*seed=*/8, false, torch::kCPU);
  std::vector<int64_t> order_a, order_b, order_c;
  for (int k = 0; k < 6; ++k) {
    for (int64_t n : numbers_of(a.next())) order_a.push_back(n);
    for (int64_t n : numbers_of(b.next())) order_b.push_back(n);
    for (int64_t n : numbers_of(c.next())) order_c.push_back(n);
  }
  EXPECT_EQ(order_a, order_b);
  EXPECT_NE(order_a, order_c);
  // Each epoch is shuffled afresh.
  EXPECT_NE(std::vector<int64_t>(order_a.begin(), order_a.begin() + 12),
            std::vector<int64_t>(order_a.begin() + 12, order_a.end()));
}

// Flips: each image of a batch is its unflipped self or its mirror image, as torch::rand({B}) < 0.5 drawn from
// LibTorch's default generator at next() says (the draws of runs started before the background gathering).
TEST_F(DataStreamTest, FlipsMirrorTheImagesThatTheDefaultGeneratorPicks) {
  Dataset d;
  d.images = torch::randint(0, 256, {24, 3, 5, 7}, make_generator(3, 0)).to(torch::kUInt8);
  DataStream plain(d, 8, /*seed=*/4, /*hflip=*/false, torch::kCPU);
  DataStream flipped(d, 8, /*seed=*/4, /*hflip=*/true, torch::kCPU);
  for (int k = 0; k < 4; ++k) {  // over an epoch boundary
    const torch::Tensor unflipped = plain.next().images;
    torch::manual_seed(100 + k);
    const torch::Tensor got = flipped.next().images;
    torch::manual_seed(100 + k);
    const torch::Tensor flip = (torch::rand({8}) < 0.5).view({-1, 1, 1, 1});
    EXPECT_TRUE(torch::equal(got, torch::where(flip, unflipped.flip({3}), unflipped))) << "batch " << k;
    EXPECT_GT(flip.sum().item<int64_t>(), 0);
  }
}

TEST_F(DataStreamTest, SeekResumesTheSameSequence) {
  const Dataset d = numbered_dataset(12);
  DataStream straight(d, 4, /*seed=*/11, /*hflip=*/false, torch::kCPU);
  std::vector<Batch> expected;
  for (int k = 0; k < 5; ++k) expected.push_back(straight.next());

  DataStream first(d, 4, /*seed=*/11, /*hflip=*/false, torch::kCPU);
  first.next();
  first.next();
  const DataPosition saved = first.position();
  EXPECT_EQ(saved.epoch, 0);
  EXPECT_EQ(saved.position, 2);

  DataStream resumed(d, 4, /*seed=*/11, /*hflip=*/false, torch::kCPU);
  resumed.seek(saved);
  for (int k = 2; k < 5; ++k) {
    const Batch b = resumed.next();
    EXPECT_TRUE(torch::equal(b.images, expected[k].images)) << "batch " << k;
    EXPECT_TRUE(torch::equal(b.labels, expected[k].labels)) << "batch " << k;
  }
  EXPECT_EQ(resumed.position().epoch, straight.position().epoch);
  EXPECT_EQ(resumed.position().position, straight.position().position);
}

TEST_F(DataStreamTest, SeekIntoALaterEpoch) {
  const Dataset d = numbered_dataset(12);
  DataStream straight(d, 4, /*seed=*/11, /*hflip=*/false, torch::kCPU);
  std::vector<Batch> expected;
  for (int k = 0; k < 9; ++k) expected.push_back(straight.next());  // three epochs

  DataStream resumed(d, 4, /*seed=*/11, /*hflip=*/false, torch::kCPU);
  resumed.seek({/*epoch=*/2, /*position=*/1});
  for (int k = 7; k < 9; ++k) EXPECT_TRUE(torch::equal(resumed.next().images, expected[k].images)) << "batch " << k;
}

TEST_F(DataStreamTest, SeekToEndOfEpochContinuesWithNextEpoch) {
  const Dataset d = numbered_dataset(12);
  DataStream straight(d, 4, /*seed=*/2, false, torch::kCPU);
  for (int k = 0; k < 3; ++k) straight.next();
  const DataPosition end_of_epoch = straight.position();
  EXPECT_EQ(end_of_epoch.epoch, 0);
  EXPECT_EQ(end_of_epoch.position, 3);
  const Batch expected = straight.next();

  DataStream resumed(d, 4, /*seed=*/2, false, torch::kCPU);
  resumed.seek(end_of_epoch);
  EXPECT_TRUE(torch::equal(resumed.next().images, expected.images));
}

TEST_F(DataStreamTest, FlipsAreReproducibleUnderTheDefaultSeed) {
  const Dataset d = numbered_dataset(12);
  // Make images asymmetric so a flip is visible: column 1 holds 200.
  Dataset asym = d;
  asym.images = d.images.clone();
  asym.images.select(3, 1).fill_(200);

  auto draw = [&](uint64_t default_seed) {
    torch::manual_seed(default_seed);
    DataStream s(asym, 4, /*seed=*/9, /*hflip=*/true, torch::kCPU);
    std::vector<torch::Tensor> out;
    for (int k = 0; k < 6; ++k) out.push_back(s.next().images);
    return out;
  };
  const auto a = draw(42), b = draw(42);
  for (size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(torch::equal(a[k], b[k])) << "batch " << k;

  // Every image is the original or its mirror, and 24 images include both kinds.
  DataStream plain(asym, 4, /*seed=*/9, /*hflip=*/false, torch::kCPU);
  int flipped = 0, kept = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    const torch::Tensor original = plain.next().images;
    for (int64_t i = 0; i < 4; ++i) {
      if (torch::equal(a[k][i], original[i])) {
        ++kept;
      } else {
        EXPECT_TRUE(torch::equal(a[k][i], original[i].flip({2}))) << "batch " << k << " image " << i;
        ++flipped;
      }
    }
  }
  EXPECT_GT(flipped, 0);
  EXPECT_GT(kept, 0);
}

TEST_F(DataStreamTest, FewerImagesThanBatchIsAnError) {
  const Dataset d = numbered_dataset(3);
  const std::string msg = error_of<RuntimeError>([&] { DataStream s(d, /*batch_size=*/4, 0, false, torch::kCPU); });
  EXPECT_TRUE(contains(msg, "batch_size")) << msg;
  EXPECT_TRUE(contains(msg, "3 images")) << msg;
}

TEST(PixelsTest, Uint8PixelsScaleToSignedRangeWithoutTouchingTheInput) {
  const auto pixels = torch::tensor({0, 51, 255}, torch::kUInt8);
  const auto x = pixels_to_signed_range(pixels);
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(x, torch::tensor({-1.0f, 51 / 127.5f - 1, 1.0f})));
  EXPECT_TRUE(torch::equal(pixels, torch::tensor({0, 51, 255}, torch::kUInt8)));
  EXPECT_THROW(pixels_to_signed_range(x), c10::Error);  // already scaled
}

TEST(SubsetTest, SeededSubsetsWithoutReplacementOrAllRowsInOrder) {
  const auto images = torch::arange(10);
  EXPECT_TRUE(torch::equal(random_subset(images, 20, 3), images));
  const auto a = random_subset(images, 4, 3);
  EXPECT_TRUE(torch::equal(a, random_subset(images, 4, 3)));
  EXPECT_EQ(std::get<0>(at::_unique(a)).numel(), 4);
  EXPECT_TRUE(torch::equal(a, images.index_select(0, random_subset_indices(10, 4, 3))));
}

TEST(ProbeTest, ImageFolderSizeAndChannelsFromTheHeaders) {
  const TempDir dir("probe");
  test::write_image_folder(dir.path + "/a", {}, 2, 12, 3);
  int64_t size = 0, channels = 0;
  probe_image_folder(dir.path + "/a", size, channels);
  EXPECT_EQ(size, 12);
  EXPECT_EQ(channels, 3);
  test::write_image_folder(dir.path + "/a/sub", {}, 1, 8, 3);
  const std::string msg = error_of<RuntimeError>([&] { probe_image_folder(dir.path + "/a", size, channels); });
  EXPECT_TRUE(contains(msg, "same size")) << msg;
}

}  // namespace
}  // namespace ganpp
