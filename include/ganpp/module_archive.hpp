// A network's parameters and buffers in a LibTorch archive, by name, with every name and shape checked on
// load: the network part of checkpoints and of classifier files.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "ganpp/errors.hpp"

namespace ganpp {

/// Archive keys cannot hold dots; module paths ("net.0.weight") are stored with '/' instead.
std::string archive_key(std::string name);

/// Writes every parameter and buffer of `module` under archive_key of its name; `to_cpu` stores CPU copies
/// (otherwise the tensors are stored where they live).
void write_module(torch::serialize::OutputArchive& archive, const torch::nn::Module& module, bool to_cpu = false);

/// The first entry of a module that the archive does not hold in the module's shape.
struct ModuleMismatch {
  std::string name;            ///< the parameter or buffer, e.g. "net.0.weight"
  bool missing = false;        ///< the archive has no such entry
  std::string stored_shape;    ///< its shape in the archive, e.g. "[16, 8]" (empty when missing)
  std::string expected_shape;  ///< its shape in the module
};

/// What a caller says about a mismatch (the file and what it should have held).
using ModuleMismatchError = std::function<RuntimeError(const ModuleMismatch&)>;

/// Copies every parameter and buffer of `module` from `archive` (without recording gradients); throws
/// `error(mismatch)` for the first entry that is missing or has another shape.
void read_module(torch::serialize::InputArchive& archive, torch::nn::Module& module, const ModuleMismatchError& error);

}  // namespace ganpp
