// PyTorch pickle files (see pickle.hpp).
#include "ganpp/pickle.hpp"

#include "ganpp/files.hpp"

namespace ganpp {

torch::Tensor for_pickle(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

void write_pickle(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

void write_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, for_pickle(tensor));
  write_pickle(path, dict);
}

}  // namespace ganpp
