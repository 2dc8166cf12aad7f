// Bad inputs (issue 14): numbers beyond a double, deep nesting, long values, empty class folders, gzip with
// trailing bytes, oversized walks, outputs that overwrite each other or lie about their format, out of memory.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <new>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

// A one-step tiny run for the tests that need a checkpoint; the rest are refused before one is read.
class InputsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = temp_dir("inputs");
    data_ = root_ + "/data";
    write_idx_dataset(data_, 8, 16, 2);
    run_ = root_ + "/run";
    const auto r = run_ganpp(with_tiny({"train", "--out", run_, "--set", "train.steps=1"}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::vector<std::string> with_tiny(std::vector<std::string> args, const std::string& data = data_) {
    return with_tiny_model(args, data, /*batch=*/4);
  }

  static void expect_error(const CommandResult& r, int code, const std::vector<std::string>& parts) {
    expect_cli_error(r, code, parts);
    EXPECT_LT(r.err.size(), 1000u) << "one short message";
  }

  static std::string root_, data_, run_;
};
std::string InputsTest::root_, InputsTest::data_, InputsTest::run_;

// 1. Numbers beyond a double.

TEST_F(InputsTest, NumberBeyondADoubleIsAConfigErrorNamingTheKeyOrThePlace) {
  const TempDir dir("inputs-overflow");
  auto r = run_ganpp({"train", "--dry-run", "--set", "optim.g.lr=1e400"});
  expect_error(r, 2, {"'optim.g.lr'", "1e400", "beyond the range of a double"});
  EXPECT_FALSE(contains(r.err, "number overflow")) << r.err;
  write_bytes(dir.path + "/overflow.json", "{\n  \"optim\": {\n    \"g\": {\"lr\": -1e400}\n  }\n}\n");
  r = run_ganpp({"train", "--config", dir.path + "/overflow.json", "--out", dir.path + "/run"});
  expect_error(r, 2, {"overflow.json", "line 3, column 17", "-1e400"});
  EXPECT_FALSE(fs::exists(dir.path + "/run"));
}

TEST(InputsUnit, NumbersInsideStringsAndPathsAreNotNumbers) {
  EXPECT_EQ(load_config("", {"data.path=/data/1e400"}).data.path, "/data/1e400");
  EXPECT_EQ(load_config("", {"data.path=\"1e400\""}).data.path, "1e400");
}

// 2. Nesting.

TEST_F(InputsTest, DeepNestingIsRefusedBeforeParsing) {
  const TempDir dir("inputs-deep");
  const int depth = 200000;
  write_bytes(dir.path + "/deep.json",
              "{\n  \"model\": " + std::string(depth, '[') + std::string(depth, ']') + "\n}\n");
  expect_error(run_ganpp({"train", "--config", dir.path + "/deep.json", "--out", dir.path + "/run"}), 2,
               {"deep.json", "line 2, column 75", "deeper than 64 levels"});  // the 64th [ opens level 65
  EXPECT_FALSE(fs::exists(dir.path + "/run"));
  expect_error(run_ganpp({"train", "--dry-run", "--set", "model.g.hidden=" + std::string(20000, '[')}), 2,
               {"'model.g.hidden'", "deeper than 64 levels"});
}

TEST(InputsUnit, NestingUpToTheBoundIsParsed) {
  auto nested = [](int depth) { return std::string(depth, '[') + "1" + std::string(depth, ']'); };
  // 64 levels reach the key's own check; 65 are refused as too deep.
  EXPECT_TRUE(contains(error_of<UsageError>([&] { load_config("", {"model.g.hidden=" + nested(kMaxConfigDepth)}); }),
                       "list of integers"));
  EXPECT_TRUE(
      contains(error_of<UsageError>([&] { load_config("", {"model.g.hidden=" + nested(kMaxConfigDepth + 1)}); }),
               "deeper than 64"));
  // Brackets inside strings do not count.
  const std::string path = "\"" + std::string(100, '[') + "\"";
  EXPECT_EQ(load_config("", {"data.path=" + path}).data.path, std::string(100, '['));
}

// 3. Long values.

TEST(InputsUnit, AbbreviateKeepsHeadAndTailAndCountsWhatItOmits) {
  EXPECT_EQ(abbreviate("short"), "short");
  const std::string exact(160, 'x');
  EXPECT_EQ(abbreviate(exact), exact);
  const std::string value = std::string(100, 'a') + std::string(1000, 'b') + std::string(40, 'c');
  EXPECT_EQ(abbreviate(value), std::string(100, 'a') + "…(1000 characters omitted)…" + std::string(40, 'c'));
  // Never cuts a UTF-8 character in half: 'é' is two bytes.
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "é";
  const std::string shown = abbreviate(accents);
  EXPECT_EQ(shown.substr(0, 100), accents.substr(0, 100));
  EXPECT_TRUE(contains(shown, "…(130 characters omitted)…")) << shown;
}

TEST_F(InputsTest, LongValuesAreShortenedInMessages) {
  const TempDir dir("inputs-long");
  const std::string path = "/" + std::string(1000000, 'p') + "/tail-of-the-path";
  write_bytes(dir.path + "/long.json", "{\"data\": {\"path\": \"" + path + "\"}}");
  auto r = run_ganpp({"train", "--config", dir.path + "/long.json", "--out", dir.path + "/run"});
  expect_error(r, 1, {"data.path", "characters omitted", "tail-of-the-path"});
  r = run_ganpp({"train", "--dry-run", "--set", "model.arch=" + std::string(100000, 'a') + "-net"});
  expect_error(r, 2, {"'model.arch'", "characters omitted", "a-net"});
  r = run_ganpp({"train", "--dry-run", "--set", "model.g.hidden=[" + std::string(100000, '7') + "]"});
  expect_error(r, 2, {"'model.g.hidden'", "characters omitted"});
}

// 4. Empty class subfolders.

TEST_F(InputsTest, EmptyClassSubfolderIsAnError) {
  const TempDir dir("inputs-empty-class");
  write_image_folder(dir.path + "/imgs", {"cat", "dog"}, 2, 16, 1);
  fs::create_directories(dir.path + "/imgs/emu");
  expect_error(run_ganpp(with_tiny({"train", "--out", dir.path + "/run"}, dir.path + "/imgs")), 1,
               {"imgs/emu'", "holds no images"});
  EXPECT_FALSE(fs::exists(dir.path + "/run/config.json"));
}

// 5. Gzip with trailing bytes.

TEST_F(InputsTest, GzipWithBytesAfterItsStreamIsCorrupt) {
  const TempDir dir("inputs-gz-tail");
  write_idx_dataset(dir.path + "/data", 8, 16, 2, /*gzip=*/true);
  const std::string file = dir.path + "/data/train-images-idx3-ubyte.gz";
  write_bytes(file, slurp(file) + "trailing garbage");
  expect_error(run_ganpp(with_tiny({"train", "--out", dir.path + "/run"}, dir.path + "/data")), 1,
               {"train-images-idx3-ubyte.gz", "16 bytes follow its gzip stream"});
  EXPECT_FALSE(fs::exists(dir.path + "/run/config.json"));
}

TEST(InputsUnit, GzipMembersAreReadAndDataBeyondTheHeaderIsCorrupt) {
  const TempDir dir("inputs-gz-members");
  write_idx_dataset(dir.path, 4, 8, 2);
  const std::string raw = slurp(dir.path + "/train-images-idx3-ubyte");
  auto gzip = [&](const std::string& name, const std::vector<std::string>& members) {
    const std::string path = dir.path + "/" + name;
    std::string bytes;
    for (const auto& m : members) {
      const std::string part = path + ".part";
      gzFile f = gzopen(part.c_str(), "wb");
      gzwrite(f, m.data(), static_cast<unsigned>(m.size()));
      gzclose(f);
      bytes += slurp(part);
    }
    write_bytes(path, bytes);
    return path;
  };
  std::vector<int64_t> dims;
  // gzip allows several members, concatenated (`cat a.gz b.gz`): one IDX file split in two.
  const auto pixels = read_idx_file(gzip("two.gz", {raw.substr(0, 10), raw.substr(10)}), 3, dims);
  EXPECT_EQ(pixels.size(), 4u * 8 * 8);
  // Unpacked bytes beyond what the header promises: refused as in a raw file.
  const std::string msg = error_of<RuntimeError>([&] { read_idx_file(gzip("long.gz", {raw + "xyz"}), 3, dims); });
  EXPECT_TRUE(contains(msg, "long.gz")) << msg;
  EXPECT_TRUE(contains(msg, "corrupt")) << msg;
}

// 6.–8. Outputs of interpolate and sample.

TEST_F(InputsTest, InterpolateRefusesMoreFramesThanItsBound) {
  const TempDir dir("inputs-frames");
  const std::string none = dir.path + "/none.ckpt";  // refused before the checkpoint is read
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/w.png", "--points", "1000",
                          "--steps", "1000"}),
               2, {"--rows 1 x 998002 frames per walk", "= 998002 frames", "10000"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/w.png", "--rows", "100",
                          "--class-walk", "0,1,2", "--steps", "100"}),
               2, {"--class-walk", "= 19900 frames"});
  // At the bound: accepted (and fails only on the missing checkpoint).
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/w.png", "--rows", "10", "--points",
                          "1000", "--steps", "2"}),
               1, {"none.ckpt"});
  EXPECT_FALSE(fs::exists(dir.path + "/w.png"));
}

TEST_F(InputsTest, InterpolateRefusesOutputsThatOverwriteEachOther) {
  const TempDir dir("inputs-same");
  const std::string none = dir.path + "/none.ckpt";
  fs::create_directories(dir.path + "/sub");
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/walk.png", "--gif",
                          dir.path + "/sub/../walk.png"}),
               2, {"--gif and --out name the same file"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/walk.png", "--frames",
                          dir.path + "/./walk.png"}),
               2, {"--frames", "folder of their own"});
  expect_error(run_ganpp({"sample", "--checkpoint", none, "--grid", dir.path + "/g.png", "--tensors",
                          dir.path + "/sub/../g.png"}),
               2, {"--grid and --tensors name the same file"});
}

TEST_F(InputsTest, ImageOutputsAreWrittenInTheFormatOfTheirExtension) {
  const TempDir dir("inputs-formats");
  auto r = run_ganpp({"sample", "--checkpoint", run_, "--n", "4", "--nrow", "2", "--grid", dir.path + "/g.jpg"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir.path + "/g.jpg").substr(0, 3), "\xFF\xD8\xFF");
  r = run_ganpp({"sample", "--checkpoint", run_, "--n", "4", "--nrow", "2", "--grid", dir.path + "/g.BMP"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir.path + "/g.BMP").substr(0, 2), "BM");
  r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir.path + "/w.jpeg", "--steps", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir.path + "/w.jpeg").substr(0, 3), "\xFF\xD8\xFF");
  // Other extensions: exit 2 before the checkpoint is read, nothing written.
  const std::string none = dir.path + "/none.ckpt";
  expect_error(run_ganpp({"sample", "--checkpoint", none, "--grid", dir.path + "/g.gif"}), 2,
               {"--grid", "g.gif", ".png, .jpg, .jpeg or .bmp"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/w.webp"}), 2,
               {"--out", "w.webp", ".png, .jpg, .jpeg or .bmp"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir.path + "/w.png", "--gif",
                          dir.path + "/a.png"}),
               2, {"--gif", "a.png", ".gif"});
  EXPECT_FALSE(fs::exists(dir.path + "/g.gif"));
  EXPECT_FALSE(fs::exists(dir.path + "/w.webp"));
}

// 9. Out of memory.

TEST(InputsUnit, OutOfMemoryIsRecognised) {
  // A petabyte: LibTorch's CPU allocator refuses it at once on any machine.
  try {
    const auto huge = torch::empty({int64_t(1) << 50}, torch::kUInt8);
    ADD_FAILURE() << "allocated " << huge.numel() << " bytes";
  } catch (const c10::Error& e) {
    EXPECT_TRUE(is_out_of_memory(e)) << e.what();
  }
  EXPECT_TRUE(is_out_of_memory(std::bad_alloc()));
  EXPECT_FALSE(is_out_of_memory(std::runtime_error("shape mismatch")));
  EXPECT_FALSE(is_out_of_memory(RuntimeError("out of memory: lower --n")));
}

}  // namespace

// Through the binary: a real allocation failure (the address space limited with ulimit -v, as a cluster's memory
// limit would) is one message naming the settings to lower; it leaves no checkpoint, and the folder is no dead end.
TEST(InputsUnit, OutOfMemoryInTrainingIsOneMessageAndLeavesNoDeadEnd) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit allows";
#else
  const TempDir root("inputs-oom");
  const std::string data = root.path + "/data";
  write_idx_dataset(data, 16, 16, 2);
  const std::string run = root.path + "/run", out = root.path + "/out", err = root.path + "/err";
  // A generator of ngf 2048 at 64x64 has 8.6 GB of parameters in its second layer: the allocation fails at once.
  // On the CPU: the limit would also fail CUDA's start (with a warning of LibTorch's) on a machine with a GPU.
  const std::string cmd = "ulimit -v 3000000 && exec '" + std::string(GANPP_BINARY) +
                          "' train --device cpu --threads 1 --out '" + run + "' --set data.path='\"" + data +
                          "\"' --set data.image_size=64 " +
                          "--set model.g.ngf=2048 --set train.batch_size=8 --set train.steps=1 >'" + out + "' 2>'" +
                          err + "'";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(slurp(err),
            "ganpp train: error: out of memory: lower train.batch_size, model.g.ngf / model.d.ndf or the image size "
            "(data.image_size)\n");
  for (const auto& e : fs::recursive_directory_iterator(run)) EXPECT_NE(e.path().extension(), ".ckpt") << e.path();
  // The folder holds no work: training into it again with settings that fit starts over there.
  const CommandResult again = run_ganpp(with_tiny_model({"train", "--out", run, "--set", "train.steps=1"}, data, 4));
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(fs::exists(run + "/checkpoints/latest.ckpt"));
#endif
}
