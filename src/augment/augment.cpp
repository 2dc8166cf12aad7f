// Differentiable augmentation (see augment.hpp). Matrices are composed and applied with elementwise products
// and sums rather than matmul, so that bf16 autocast never lowers the precision of sampling coordinates.
#include "ganpp/augment.hpp"

#include <cmath>

#include "ganpp/batch_shard.hpp"

namespace ganpp {
namespace {

using torch::Tensor;

constexpr double kPi = 3.14159265358979323846;

// Mirrors pixel coordinates into [−½, size − ½] (the image's extent), then clamps them to pixel centres.
Tensor reflect_coordinate(const Tensor& x, int64_t size) {
  const double period = 2.0 * static_cast<double>(size);
  Tensor y = torch::remainder(x + 0.5, period);
  y = torch::where(y >= static_cast<double>(size), period - y, y) - 0.5;
  return y.clamp(0.0, static_cast<double>(size - 1));
}

// [B] values as a batch of n×n matrices: rows of `entries` (row-major, n·n tensors of [B] or scalars).
Tensor matrices(const std::vector<Tensor>& entries, int64_t n, int64_t batch) {
  std::vector<Tensor> expanded;
  for (const auto& e : entries) expanded.push_back(e.expand({batch}));
  return torch::stack(expanded, 1).view({batch, n, n});
}

// The batched product M·N of [B, n, n] matrices.
Tensor compose(const Tensor& m, const Tensor& n) { return (m.unsqueeze(3) * n.unsqueeze(1)).sum(2); }

// Per image: 1 with probability p, else 0 (float [B]).
Tensor chance(int64_t batch, const Tensor& p, const torch::TensorOptions& opts) {
  return (shard_rand({batch}, opts) < p).to(torch::kFloat32);
}

// `value` where `on`, else `identity` ([B] each).
Tensor gate(const Tensor& on, const Tensor& value, double identity) { return on * value + (1 - on) * identity; }

}  // namespace

Tensor resample(const Tensor& images, const Tensor& A, const Tensor& t, bool reflect) {
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const auto fopts = images.options().dtype(torch::kFloat32);
  const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
  const auto u = (torch::arange(w, fopts) - cx).view({1, 1, w}).expand({1, h, w}).reshape({1, h * w});
  const auto v = (torch::arange(h, fopts) - cy).view({1, h, 1}).expand({1, h, w}).reshape({1, h * w});
  const auto a = A.to(torch::kFloat32), shift = t.to(torch::kFloat32);
  auto column = [](const Tensor& x) { return x.unsqueeze(1); };
  Tensor sx = column(a.select(1, 0).select(1, 0)) * u + column(a.select(1, 0).select(1, 1)) * v +
              column(shift.select(1, 0)) + cx;
  Tensor sy = column(a.select(1, 1).select(1, 0)) * u + column(a.select(1, 1).select(1, 1)) * v +
              column(shift.select(1, 1)) + cy;
  if (reflect) {
    sx = reflect_coordinate(sx, w);
    sy = reflect_coordinate(sy, h);
  }
  const auto x0 = sx.floor(), y0 = sy.floor();
  const auto wx = sx - x0, wy = sy - y0;
  const auto flat = images.reshape({b, c, h * w});
  Tensor out;
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const auto xi = x0 + dx, yi = y0 + dy;
      const auto inside = (xi >= 0).logical_and(xi <= w - 1).logical_and(yi >= 0).logical_and(yi <= h - 1);
      const auto weight = (dx ? wx : 1 - wx) * (dy ? wy : 1 - wy) * inside.to(torch::kFloat32);
      const auto index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).to(torch::kInt64);
      const auto term = flat.gather(2, index.unsqueeze(1).expand({b, c, h * w})) * weight.unsqueeze(1);
      out = out.defined() ? out + term : term;
    }
  }
  return out.view({b, c, h, w});
}

Tensor diffaugment_color(const Tensor& images, double strength) {
  const int64_t b = images.size(0);
  const auto opts = images.options().dtype(torch::kFloat32);
  Tensor x = images + strength * (shard_rand({b, 1, 1, 1}, opts) - 0.5);
  if (x.size(1) == 3) {
    const auto mean = x.mean(1, /*keepdim=*/true);
    x = (x - mean) * (1 + strength * (2 * shard_rand({b, 1, 1, 1}, opts) - 1)) + mean;
  }
  const auto mean = x.mean({1, 2, 3}, /*keepdim=*/true);
  return (x - mean) * (1 + strength * (shard_rand({b, 1, 1, 1}, opts) - 0.5)) + mean;
}

Tensor diffaugment_translation(const Tensor& images, double ratio) {
  const int64_t b = images.size(0);
  const auto opts = images.options().dtype(torch::kFloat32);
  const auto sx = static_cast<int64_t>(images.size(3) * ratio + 0.5);
  const auto sy = static_cast<int64_t>(images.size(2) * ratio + 0.5);
  const auto t = torch::stack({shard_randint(-sx, sx + 1, {b}, opts), shard_randint(-sy, sy + 1, {b}, opts)}, 1);
  const auto identity = torch::eye(2, opts).expand({b, 2, 2});
  return resample(images, identity, t, /*reflect=*/false);
}

Tensor diffaugment_cutout(const Tensor& images, double ratio) {
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  const auto opts = images.options().dtype(torch::kFloat32);
  const auto side_x = static_cast<int64_t>(w * ratio + 0.5), side_y = static_cast<int64_t>(h * ratio + 0.5);
  // The square's first row and column: a centre anywhere in the image (DiffAugment's offsets).
  const auto x0 = shard_randint(0, w + (1 - side_x % 2), {b, 1, 1}, opts) - side_x / 2;
  const auto y0 = shard_randint(0, h + (1 - side_y % 2), {b, 1, 1}, opts) - side_y / 2;
  const auto xs = torch::arange(w, opts).view({1, 1, w}), ys = torch::arange(h, opts).view({1, h, 1});
  const auto in_x = (xs >= x0).logical_and(xs < x0 + side_x), in_y = (ys >= y0).logical_and(ys < y0 + side_y);
  const auto keep = in_x.logical_and(in_y).logical_not().to(torch::kFloat32).unsqueeze(1);
  return images * keep;
}

Tensor ada_augment(const Tensor& images, const Tensor& p) {
  const int64_t b = images.size(0), h = images.size(2), w = images.size(3);
  const auto opts = images.options().dtype(torch::kFloat32);
  const auto pf = p.to(torch::kFloat32);
  const auto zero = torch::zeros({b}, opts), one = torch::ones({b}, opts);
  auto normal = [&] { return shard_randn({b}, opts); };
  auto uniform = [&] { return shard_rand({b}, opts); };
  auto scale2 = [&](const Tensor& sx, const Tensor& sy) {
    return matrices({sx, zero, zero, zero, sy, zero, zero, zero, one}, 3, b);
  };
  auto rotate2 = [&](const Tensor& c, const Tensor& s) {
    return matrices({c, -s, zero, s, c, zero, zero, zero, one}, 3, b);
  };
  auto translate2 = [&](const Tensor& tx, const Tensor& ty) {
    return matrices({one, zero, tx, zero, one, ty, zero, zero, one}, 3, b);
  };

  // Geometry: the sampling map of each image, composed in centred pixel coordinates.
  Tensor m = torch::eye(3, opts).expand({b, 3, 3});
  m = compose(m, scale2(gate(chance(b, pf, opts), 1 - 2 * torch::floor(uniform() * 2), 1), one));  // x-flip
  const auto quarter = gate(chance(b, pf, opts), torch::floor(uniform() * 4), 0);  // 90° rotations, exact
  const auto q_cos = (quarter == 0).to(torch::kFloat32) - (quarter == 2).to(torch::kFloat32);
  const auto q_sin = (quarter == 1).to(torch::kFloat32) - (quarter == 3).to(torch::kFloat32);
  m = compose(m, rotate2(q_cos, q_sin));
  const auto int_on = chance(b, pf, opts);
  m = compose(m, translate2(int_on * torch::round((uniform() * 2 - 1) * 0.125 * w),
                            int_on * torch::round((uniform() * 2 - 1) * 0.125 * h)));
  const auto iso = gate(chance(b, pf, opts), torch::exp2(normal() * 0.2), 1);
  m = compose(m, scale2(iso, iso));
  const auto p_rot = 1 - torch::sqrt((1 - pf).clamp_min(0));
  const auto angle1 = chance(b, p_rot, opts) * (uniform() * 2 - 1) * kPi;
  m = compose(m, rotate2(torch::cos(angle1), torch::sin(angle1)));
  const auto aniso = gate(chance(b, pf, opts), torch::exp2(normal() * 0.2), 1);
  m = compose(m, scale2(aniso, 1 / aniso));
  const auto angle2 = chance(b, p_rot, opts) * (uniform() * 2 - 1) * kPi;
  m = compose(m, rotate2(torch::cos(angle2), torch::sin(angle2)));
  const auto frac_on = chance(b, pf, opts);
  m = compose(m, translate2(frac_on * normal() * 0.125 * w, frac_on * normal() * 0.125 * h));
  Tensor x = resample(images, m.narrow(1, 0, 2).narrow(2, 0, 2), m.narrow(1, 0, 2).select(2, 2), /*reflect=*/true);

  // Colour: a 4×4 affine map of (r, g, b, 1) per image.
  Tensor c = torch::eye(4, opts).expand({b, 4, 4});
  const auto bright = chance(b, pf, opts) * normal() * 0.2;
  c = compose(matrices({one, zero, zero, bright, zero, one, zero, bright, zero, zero, one, bright, zero, zero, zero,
                        one},
                       4, b),
              c);
  const auto contrast = gate(chance(b, pf, opts), torch::exp2(normal() * 0.5), 1);
  c = compose(matrices({contrast, zero, zero, zero, zero, contrast, zero, zero, zero, zero, contrast, zero, zero, zero,
                        zero, one},
                       4, b),
              c);
  if (images.size(1) == 3) {
    // The luma axis v = (1, 1, 1)/√3: flips across the plane orthogonal to it, rotations about it (hue),
    // and scaling orthogonal to it (saturation).
    const auto v = torch::tensor({1.0, 1.0, 1.0, 0.0}, opts) / std::sqrt(3.0);
    const auto vv = torch::outer(v, v).expand({b, 4, 4});
    const auto eye = torch::eye(4, opts).expand({b, 4, 4});
    auto column = [](const Tensor& x) { return x.view({-1, 1, 1}); };
    const auto flip = gate(chance(b, pf, opts), torch::floor(uniform() * 2), 0);
    c = compose(eye - 2 * column(flip) * vv, c);
    const auto hue = chance(b, pf, opts) * (uniform() * 2 - 1) * kPi;
    const auto cross = torch::tensor(
                           {0.0, -1.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, opts)
                           .view({1, 4, 4}) /
                       std::sqrt(3.0);  // [v]×, the cross product with v
    const auto homogeneous = torch::zeros({4, 4}, opts).index_put_({3, 3}, 1.0).expand({b, 4, 4});
    const auto rotation = column(torch::cos(hue)) * (eye - homogeneous) + column(torch::sin(hue)) * cross +
                          column(1 - torch::cos(hue)) * vv + homogeneous;
    c = compose(rotation, c);
    const auto saturation = gate(chance(b, pf, opts), torch::exp2(normal()), 1);
    c = compose(vv + (eye - vv - homogeneous) * column(saturation) + homogeneous, c);
    const auto rgb = (c.narrow(1, 0, 3).narrow(2, 0, 3).view({b, 3, 3, 1, 1}) * x.unsqueeze(1)).sum(2);
    return rgb + c.narrow(1, 0, 3).select(2, 3).view({b, 3, 1, 1});
  }
  // One channel: the mean row of the colour map (brightness and contrast only), as stylegan2-ada does.
  const auto row = c.narrow(1, 0, 3).mean(1);  // [B, 4]
  return x * row.narrow(1, 0, 3).sum(1).view({b, 1, 1, 1}) + row.select(1, 3).view({b, 1, 1, 1});
}

Augmenter::Augmenter(const TrainConfig& config, torch::Device device)
    : kind_(config.augment), config_(config),
      p_(torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device))),
      signs_(torch::zeros({2}, torch::TensorOptions().dtype(torch::kFloat32).device(device))) {}

Tensor Augmenter::operator()(const Tensor& images) const {
  switch (kind_) {
    case Augment::none: return images;
    case Augment::ada: return ada_augment(images, p_);
    case Augment::diffaugment: break;
  }
  Tensor x = images;
  const AugmentPolicy& policy = config_.augment_policy;
  if (policy.color) x = diffaugment_color(x, config_.augment_color);
  if (policy.translation) x = diffaugment_translation(x, config_.augment_translation);
  if (policy.cutout) x = diffaugment_cutout(x, config_.augment_cutout);
  return x;
}

void Augmenter::observe(const Tensor& real_scores) {
  if (!adaptive()) return;
  const auto scores = real_scores.detach().to(torch::kFloat32);
  signs_.add_(torch::stack({scores.sign().sum(),
                            torch::full({}, static_cast<double>(scores.numel()), scores.options())}));
}

void Augmenter::adjust(int64_t step, int64_t images_per_step) {
  if (!adaptive() || step % config_.ada_interval != 0) return;
  const auto sums = signs_.cpu();
  const double count = sums[1].item<double>();
  if (count == 0) return;
  rt_ = sums[0].item<double>() / count;
  const double direction = (rt_ > config_.ada_target) - (rt_ < config_.ada_target);
  const double images = static_cast<double>(images_per_step * config_.ada_interval);
  const double p = std::clamp(p_.item<double>() + direction * images / (config_.ada_kimg * 1000), 0.0, 1.0);
  p_.fill_(p);
  signs_.zero_();
}

double Augmenter::p() const { return p_.item<double>(); }

void Augmenter::save(torch::serialize::OutputArchive& archive) const {
  archive.write("p", p_.cpu());
  archive.write("signs", signs_.cpu());
  archive.write("rt", torch::full({}, rt_, torch::kFloat64));
}

void Augmenter::load(torch::serialize::InputArchive& archive) {
  Tensor p, signs, rt;
  archive.read("p", p);
  archive.read("signs", signs);
  archive.read("rt", rt);
  p_.copy_(p);
  signs_.copy_(signs);
  rt_ = rt.item<double>();
}

}  // namespace ganpp
