// Modules in LibTorch archives (see module_archive.hpp).
#include "ganpp/module_archive.hpp"

#include <algorithm>

namespace ganpp {

std::string archive_key(std::string name) {
  std::replace(name.begin(), name.end(), '.', '/');
  return name;
}

void write_module(torch::serialize::OutputArchive& archive, const torch::nn::Module& module, bool to_cpu) {
  const auto stored = [to_cpu](const torch::Tensor& t) { return to_cpu ? t.cpu() : t; };
  for (const auto& p : module.named_parameters()) archive.write(archive_key(p.key()), stored(p.value()));
  for (const auto& b : module.named_buffers())
    archive.write(archive_key(b.key()), stored(b.value()), /*is_buffer=*/true);
}

void read_module(torch::serialize::InputArchive& archive, torch::nn::Module& module, const ModuleMismatchError& error) {
  torch::NoGradGuard no_grad;
  const auto load = [&](const std::string& name, torch::Tensor& target, bool is_buffer) {
    torch::Tensor stored;
    if (!archive.try_read(archive_key(name), stored, is_buffer))
      throw error({name, /*missing=*/true, "", c10::str(target.sizes())});
    if (stored.sizes() != target.sizes())
      throw error({name, /*missing=*/false, c10::str(stored.sizes()), c10::str(target.sizes())});
    target.copy_(stored);
  };
  for (auto& p : module.named_parameters()) load(p.key(), p.value(), false);
  for (auto& b : module.named_buffers()) load(b.key(), b.value(), true);
}

}  // namespace ganpp
