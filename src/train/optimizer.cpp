// Adam with an optional fused CUDA update (see optimizer.hpp).
#include "ganpp/optimizer.hpp"

#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

// LibTorch 2.4 has at::_fused_adam_ with a tensor learning rate and the void*-keyed optimiser state.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define GANPP_FUSED_ADAM 1
#endif

namespace ganpp {

namespace {

template <typename State>
typename State::key_type state_key(const State&, const torch::Tensor& param) {
  if constexpr (std::is_same_v<typename State::key_type, std::string>) {
    std::ostringstream key;
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return param.unsafeGetTensorImpl();
  }
}

}  // namespace

torch::optim::AdamParamState* adam_param_state(torch::optim::Adam& adam, const torch::Tensor& param) {
  const auto it = adam.state().find(state_key(adam.state(), param));
  return it == adam.state().end() ? nullptr : static_cast<torch::optim::AdamParamState*>(it->second.get());
}

bool fused_adam_available() {
#ifdef GANPP_FUSED_ADAM
  return true;
#else
  return false;
#endif
}

Optimizer::Optimizer(torch::nn::Module& module, const AdamConfig& config, bool fused)
    : adam_(std::make_unique<torch::optim::Adam>(module.parameters(), torch::optim::AdamOptions(config.lr)
                                                                          .betas({config.betas[0], config.betas[1]})
                                                                          .weight_decay(config.weight_decay))),
      fused_(fused && fused_adam_available()), lr_(config.lr) {
  if (fused_) bind_state();
}

void Optimizer::clear_grads() {
  for (auto& group : adam_->param_groups())
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
}

void Optimizer::set_lr(double lr) {
  if (lr == lr_) return;
  lr_ = lr;
  for (auto& group : adam_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  if (fused_) lr_tensor_.fill_(lr);
}

void Optimizer::step() {
  if (!fused_) {
    adam_->step();
    return;
  }
#ifdef GANPP_FUSED_ADAM
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  for (const ParamState& s : states_) {
    if (!s.param.grad().defined()) continue;  // as torch::optim::Adam: a parameter without a gradient stays put
    params.push_back(s.param);
    grads.push_back(s.param.grad());
    exp_avgs.push_back(s.exp_avg);
    exp_avg_sqs.push_back(s.exp_avg_sq);
    steps.push_back(s.step);
  }
  if (params.empty()) return;
  torch::NoGradGuard no_grad;
  at::_foreach_add_(steps, 1);
  const auto& o = static_cast<const torch::optim::AdamOptions&>(adam_->param_groups().front().options());
  at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, lr_tensor_,
                   std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(), o.eps(), /*amsgrad=*/false,
                   /*maximize=*/false);
#endif
}

void Optimizer::bind_state() {
#ifdef GANPP_FUSED_ADAM
  const auto& params = adam_->param_groups().front().params();
  lr_tensor_ = torch::full({}, lr_, torch::TensorOptions().dtype(torch::kFloat32).device(params.front().device()));
  states_.clear();
  for (const auto& p : params) {
    auto& slot = adam_->state()[state_key(adam_->state(), p)];
    if (!slot) {
      auto fresh = std::make_unique<torch::optim::AdamParamState>();
      fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(fresh);
    }
    auto& state = static_cast<torch::optim::AdamParamState&>(*slot);
    // The fused kernel wants the moments in the parameter's layout (channels-last on CUDA); a loaded state
    // comes back contiguous.
    const auto in_layout = [&p](const torch::Tensor& m) {
      return m.strides() == p.strides() && m.device() == p.device() ? m : torch::empty_like(p).copy_(m);
    };
    state.exp_avg(in_layout(state.exp_avg()));
    state.exp_avg_sq(in_layout(state.exp_avg_sq()));
    states_.push_back({p, state.exp_avg(), state.exp_avg_sq(),
                       torch::full({}, static_cast<double>(state.step()), lr_tensor_.options())});
  }
#endif
}

void Optimizer::sync_state() {
#ifdef GANPP_FUSED_ADAM
  if (!fused_) return;
  std::vector<torch::Tensor> steps;
  for (const ParamState& s : states_) steps.push_back(s.step);
  const torch::Tensor counts = torch::stack(steps).to(torch::kCPU, torch::kInt64);  // one read-back
  for (size_t i = 0; i < states_.size(); ++i) {
    adam_param_state(*adam_, states_[i].param)->step(counts[static_cast<int64_t>(i)].item<int64_t>());
  }
#endif
}

void Optimizer::save(torch::serialize::OutputArchive& archive) {
  sync_state();
  adam_->save(archive);
}

// Reads what torch::optim::Adam::save wrote ("state": one archive per parameter under a key naming it;
// "param_groups/0": those keys in parameter order, and the options) and matches it to the parameters by that
// order, as Adam::load does. Adam::load itself cannot be used: LibTorch 1.x names each parameter by its address
// in hexadecimal and LibTorch 2.x parses the names as decimal numbers, so under 2.x every 1.x state maps to
// the same parameter.
void Optimizer::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive states, groups, group, options_archive;
  archive.read("state", states);
  archive.read("param_groups", groups);
  torch::Tensor count;
  groups.read("param_groups/size", count);
  TORCH_CHECK(count.item<int64_t>() == 1, "expected one parameter group, found ", count.item<int64_t>());
  groups.read("param_groups/0", group);
  auto& param_group = adam_->param_groups().front();
  const std::vector<torch::Tensor>& params = param_group.params();
  torch::Tensor size;
  group.read("params/size", size);
  TORCH_CHECK(size.item<int64_t>() == static_cast<int64_t>(params.size()), "the saved state has ", size.item<int64_t>(),
              " parameters, the network ", params.size());
  adam_->state().clear();
  for (size_t i = 0; i < params.size(); ++i) {
    c10::IValue key;
    group.read("params/" + std::to_string(i), key);
    torch::serialize::InputArchive param_archive;
    if (!states.try_read(key.toStringRef(), param_archive)) continue;  // not stepped yet
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->serialize(param_archive);
    TORCH_CHECK(state->exp_avg().sizes() == params[i].sizes(), "parameter ", i, " has shape ", params[i].sizes(),
                ", its saved moments ", state->exp_avg().sizes());
    adam_->state()[state_key(adam_->state(), params[i])] = std::move(state);
  }
  group.read("options", options_archive);
  auto& options = static_cast<torch::optim::AdamOptions&>(param_group.options());
  options.serialize(options_archive);
  // The loaded options hold the learning rate of the step they were saved at.
  lr_ = options.lr();
  if (fused_) bind_state();
}

std::vector<Optimizer::Moments> Optimizer::moments() {
  sync_state();
  std::vector<Moments> out;
  for (const auto& p : adam_->param_groups().front().params()) {
    const auto* state = adam_param_state(*adam_, p);
    out.push_back(state ? Moments{state->step(), state->exp_avg(), state->exp_avg_sq()} : Moments{});
  }
  return out;
}

}  // namespace ganpp
