// Files that Python's torch.load reads: values written through torch::pickle_save (the format of Python's
// torch.save, a zip with a pickle and raw storages, which LibTorch 1.13 and 2.x both write), atomically.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace ganpp {

/// `t` as Python should see it: detached (requires_grad false, as state_dict() gives), contiguous, on the CPU.
torch::Tensor for_pickle(const torch::Tensor& t);

/// Writes `value` (tensors, strings, numbers, lists and dicts of them) atomically as a PyTorch pickle file.
void write_pickle(const std::string& path, const c10::IValue& value);

/// Writes named tensors (through for_pickle) atomically as a PyTorch pickle file that Python's `torch.load`
/// reads as a dict {name: tensor}.
void write_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

}  // namespace ganpp
