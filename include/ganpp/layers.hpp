// Building blocks shared by the architectures, where LibTorch's own kernels leave speed on the table.
#pragma once

#include <torch/torch.h>

namespace ganpp {

/// Transposed convolution of `layer` applied to `x`; `padding` must be the layer's own (square) padding,
/// which LibTorch keeps in a variant that 1.13 and 2.x spell differently. On the CPU
/// with fp32 and a wide output it is computed as the input gradient of the matching convolution:
/// LibTorch 1.13 runs CPU transposed convolutions through im2col + GEMM but convolution backward
/// through oneDNN, 2.5-6x faster for DCGAN's layers. Same math, different summation order.
/// Elsewhere it is the layer's own forward.
torch::Tensor conv_transpose2d(torch::nn::ConvTranspose2dImpl& layer, const torch::Tensor& x, int64_t padding);

/// Stores every 4-D parameter and buffer of `module` in channels-last (NHWC) layout, which GPU
/// tensor-core convolutions prefer. Values are unchanged. (On the CPU it measured no gain.)
void to_channels_last(torch::nn::Module& module);

}  // namespace ganpp
