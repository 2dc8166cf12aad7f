// The fast CPU transposed convolution equals LibTorch's own: output and both gradients.
#include <gtest/gtest.h>

#include "ganpp/layers.hpp"

using namespace ganpp;
namespace nn = torch::nn;

namespace {

void expect_same_as_native(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t size) {
  torch::manual_seed(3);
  nn::ConvTranspose2d layer(nn::ConvTranspose2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
  const auto x = torch::randn({3, in, size, size}).requires_grad_(true);
  const auto native = layer->forward(x);
  const auto fast = conv_transpose2d(*layer, x, padding);
  ASSERT_EQ(fast.sizes(), native.sizes());
  EXPECT_TRUE(torch::allclose(fast, native, /*rtol=*/1e-4, /*atol=*/1e-5));
  const auto g = torch::randn_like(native);
  const auto gn = torch::autograd::grad({native}, {x, layer->weight}, {g});
  const auto gf = torch::autograd::grad({fast}, {x, layer->weight}, {g});
  EXPECT_TRUE(torch::allclose(gf[0], gn[0], 1e-4, 1e-5)) << "input gradient";
  EXPECT_TRUE(torch::allclose(gf[1], gn[1], 1e-4, 1e-4)) << "weight gradient";
}

TEST(LayersTest, ConvTransposeMatchesNativeForDcganShapes) {
  expect_same_as_native(/*in=*/16, /*out=*/32, /*kernel=*/4, /*stride=*/1, /*padding=*/0, /*size=*/1);  // core
  expect_same_as_native(/*in=*/16, /*out=*/8, /*kernel=*/7, /*stride=*/1, /*padding=*/0, /*size=*/1);   // 28x28 core
  expect_same_as_native(/*in=*/32, /*out=*/16, /*kernel=*/4, /*stride=*/2, /*padding=*/1, /*size=*/5);  // upsampling
  expect_same_as_native(/*in=*/16, /*out=*/1, /*kernel=*/4, /*stride=*/2, /*padding=*/1, /*size=*/6);   // output layer
}

TEST(LayersTest, InputWithoutGradientGetsNone) {
  nn::ConvTranspose2d layer(nn::ConvTranspose2dOptions(8, 16, 4).bias(false));
  const auto z = torch::randn({2, 8, 1, 1});
  const auto out = conv_transpose2d(*layer, z, 0);
  out.sum().backward();
  EXPECT_TRUE(layer->weight.grad().defined());
  EXPECT_FALSE(z.grad().defined());
}

}  // namespace

namespace {

TEST(LayersTest, ChannelsLastKeepsValuesAndOutputs) {
  torch::manual_seed(1);
  nn::Sequential net(nn::Conv2d(nn::Conv2dOptions(3, 8, 3).bias(false)), nn::BatchNorm2d(8));
  const auto x = torch::randn({2, 3, 6, 6});
  const auto before = net->forward(x).detach();
  const auto weight = net->parameters().front().clone();
  torch::manual_seed(1);
  nn::Sequential same(nn::Conv2d(nn::Conv2dOptions(3, 8, 3).bias(false)), nn::BatchNorm2d(8));
  to_channels_last(*same);
  const auto w = same->parameters().front();
  EXPECT_TRUE(w.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(w, weight));
  EXPECT_TRUE(torch::allclose(same->forward(x.contiguous(at::MemoryFormat::ChannelsLast)), before, 1e-5, 1e-6));
}

}  // namespace
