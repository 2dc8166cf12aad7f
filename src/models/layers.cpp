// Transposed convolution through convolution_backward, and the shared activation (see layers.hpp).
#include "ganpp/layers.hpp"

namespace ganpp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Narrow outputs (the generator's last layer, 1 or 3 channels) are faster on the native kernel.
constexpr int64_t kMinOutputChannels = 8;

struct ConvTransposeViaBackward : public torch::autograd::Function<ConvTransposeViaBackward> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, int64_t stride,
                               int64_t padding) {
    const int64_t kh = w.size(2), kw = w.size(3);
    const std::vector<int64_t> out_shape = {x.size(0), w.size(1), (x.size(2) - 1) * stride - 2 * padding + kh,
                                            (x.size(3) - 1) * stride - 2 * padding + kw};
    // conv_transpose2d(x, w) is d/d(input) of conv2d(input, w) at grad_output = x; `input` only gives the shape.
    const auto shape_only = torch::empty(out_shape, x.options());
    auto out = std::get<0>(at::convolution_backward(x, shape_only, w, c10::nullopt, {stride, stride},
                                                    {padding, padding}, {1, 1}, /*transposed=*/false, {0, 0},
                                                    /*groups=*/1, {true, false, false}));
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["x_grad"] = x.requires_grad();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor gx;
    // d/dx of a transposed convolution is the forward convolution with the same weight.
    if (ctx->saved_data["x_grad"].toBool()) gx = torch::conv2d(g, w, {}, stride, padding);
    // d/dw: the weight gradient of conv2d(input = g, w) at grad_output = x.
    const auto gw = std::get<1>(at::convolution_backward(x, g, w, c10::nullopt, {stride, stride}, {padding, padding},
                                                         {1, 1}, /*transposed=*/false, {0, 0}, /*groups=*/1,
                                                         {false, true, false}));
    return {gx, gw, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor conv_transpose2d(torch::nn::ConvTranspose2dImpl& layer, const torch::Tensor& x, int64_t padding) {
  const auto& o = layer.options;
  const bool fast = x.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
                    layer.weight.scalar_type() == torch::kFloat32 && o.out_channels() >= kMinOutputChannels &&
                    !o.bias() && o.groups() == 1 && (*o.stride())[0] == (*o.stride())[1] && (*o.dilation())[0] == 1 &&
                    (*o.dilation())[1] == 1 && (*o.output_padding())[0] == 0 && (*o.output_padding())[1] == 0;
  if (!fast) return layer.forward(x);
  return ConvTransposeViaBackward::apply(x, layer.weight, (*o.stride())[0], padding);
}

torch::nn::LeakyReLU leaky_relu() {
  return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2).inplace(true));
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  for (auto& b : module.buffers())
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
}

}  // namespace ganpp
