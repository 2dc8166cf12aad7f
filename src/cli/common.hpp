// Pieces shared by the subcommands: device/thread flags and console logging.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "ganpp/distributed.hpp"

namespace ganpp::cli {

/// `--device` and `--threads`, as every command that runs a network takes them.
struct DeviceFlags {
  std::string device = "auto";
  int threads = 0;
  void add_to(CLI::App& command);
  /// Sets the thread count and resolves the device; returns the device, and `threads` holds the count.
  torch::Device setup();
};

/// `--dist-backend` and `--dist-timeout`, as the commands that run on several ranks (train, bench) take them.
struct DistFlags {
  std::string backend = "auto";
  int timeout = 1800;
  void add_to(CLI::App& command);
  /// Joins the other ranks when the launcher's environment (torchrun, Slurm) says there are any (or, with a
  /// backend named, forms a group of one under a launcher), else returns null. Sets the process's batch shard and
  /// `device` to this rank's (on CUDA: the GPU of its LOCAL_RANK); ranks other than 0 then print only errors.
  std::unique_ptr<Distributed> join(torch::Device& device) const;
};

/// Saves the latents of an export next to it as a dict {"latents": [N, z_dim], "labels": int64 [N] (conditional
/// models only)} that Python's torch.load reads, and says so.
void write_latents(const std::string& path, const torch::Tensor& z, const torch::Tensor& labels);

/// Refuses (UsageError) an image path given to `flag` whose extension names no format ganpp writes (.png, .jpg,
/// .jpeg, .bmp), before any work is done.
void check_image_path(const std::string& flag, const std::string& path);

/// Whether two paths name the same file, once made absolute and normalised (symbolic links of existing folders
/// resolved).
bool same_path(const std::string& a, const std::string& b);

/// Console logging to stdout: "[HH:MM:SS] message".
void setup_logging();

}  // namespace ganpp::cli
