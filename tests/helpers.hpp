// Test helpers: temporary folders, tiny IDX and image-folder datasets, and running the real binary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp::test {

/// A fresh empty folder under the system temp dir, unique per call.
std::string temp_dir(const std::string& tag);

/// A temp_dir that is removed again when it goes out of scope.
struct TempDir {
  explicit TempDir(const std::string& tag) : path(temp_dir(tag)) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

bool contains(const std::string& text, const std::string& part);

/// Runs `fn`, expects it to throw an `E`, and returns the message (empty, with a test failure, otherwise).
template <class E>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception of the right type";
  return "";
}

/// Writes train- (and t10k-) images/labels IDX files with `n` images of size x size and `classes` labels.
/// Images are deterministic patterns of the seed; `gzip` writes .gz files.
void write_idx_dataset(const std::string& dir, int64_t n, int64_t size = 28, int64_t classes = 10, bool gzip = false,
                       uint64_t seed = 0);

/// Writes one IDX file from raw bytes and a header (for corrupt-file tests).
void write_bytes(const std::string& path, const std::string& bytes);

/// Writes an image folder with one subfolder per class (or none when class_names is empty), PNG files.
void write_image_folder(const std::string& dir, const std::vector<std::string>& class_names, int per_class, int size,
                        int channels);

struct CommandResult {
  int code = -1;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// A config of tiny networks for in-process tests: 16x16 grayscale, z_dim 8, ngf = ndf = 4, mlp layers
/// of 16, batch 4, a 4-image grid in rows of 2.
ganpp::Config tiny_config(const std::string& arch = "dcgan", const std::string& loss = "bce");

/// Runs `argv` (shell-quoted here) after the shell text `prefix` (e.g. "cd DIR && VAR=1"), capturing stdout,
/// stderr and the exit code.
CommandResult run_shell(const std::string& prefix, const std::vector<std::string>& argv);

/// The suite checks the CPU (exact resume is the CPU's promise, and CI has no GPU): a ganpp it starts sees no
/// GPU unless its arguments name a --device. CUDA's own tests run in the test process (test_cuda.cpp).
/// kNoGpu is that, as a prefix for run_shell.
inline constexpr const char* kNoGpu = "CUDA_VISIBLE_DEVICES=";

/// Runs the ganpp binary with `args` (shell-quoted here), capturing stdout, stderr and the exit code.
CommandResult run_ganpp(const std::vector<std::string>& args);

/// `args` (the subcommand first) with tiny-model settings inserted after the subcommand, so that the caller's own
/// --set wins: one thread, `data` as data.path, 16x16 images, z_dim 8, ngf = ndf = 4, batch `batch`, a 4-image
/// grid in rows of 2.
std::vector<std::string> with_tiny_model(std::vector<std::string> args, const std::string& data, int batch = 8);

/// Expects `r` to have failed with exit `code` and a stderr holding each of `parts`, without a LibTorch backtrace.
void expect_cli_error(const CommandResult& r, int code, const std::vector<std::string>& parts);

/// A ganpp process running in the background, its stdout and stderr going to files.
struct BackgroundGanpp {
  int pid = -1;
  std::string out_path, err_path;
  bool killed = false;  ///< set by wait(): a signal ended the process (rather than exit)
  /// Waits for the process to end: its exit code, 128 + N when signal N killed it.
  int wait();
  std::string err() const;
};

/// Starts the ganpp binary with `args` without waiting for it, with `env` ("NAME=VALUE") added to its environment.
BackgroundGanpp start_ganpp(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

/// Decodes a PNG into uint8 [C, H, W] (a test failure and an empty tensor when it does not decode).
torch::Tensor read_png(const std::string& path);

/// Reads a whole file.
std::string slurp(const std::string& path);

/// The path of a file under the source tree (configs/..., data/...).
std::string source_path(const std::string& relative);

}  // namespace ganpp::test
