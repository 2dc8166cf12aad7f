#!/usr/bin/env python3
"""The PyTorch side of the side-by-side training benchmark (scripts/bench.sh; README, "Speed").

Trains one of the four benchmark workloads in plain PyTorch on random in-memory images and prints one JSON
line with the fields `ganpp bench` prints: workload, images_per_s, steps, seconds, torch, device, threads,
g_params, d_params, peak_rss_mb (the whole process, interpreter and `import torch` included), precision, and
on CUDA peak_cuda_mb and reserved_cuda_mb. `--layers` prints every network's layers and parameter and buffer
shapes instead, without training (tests/test_bench.cpp compares them with ganpp's modules).

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/bench_reference.py --workload dcgan28-bce --steps 10
    python3 scripts/bench_reference.py --workload dcgan64-wgangp --device cuda --steps 100 --warmup 10
    python3 scripts/bench_reference.py --layers [--workload NAME]...

Runs with PyTorch 1.13 (Debian's python3-torch, the same version as Debian's libtorch-dev) and 2.x.
scripts/flops.py imports it for WORKLOADS, build_networks, make_optimizers and train_step.
"""
import argparse
import json
import resource
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

Z_DIM = 100  # latent dimensions
WIDTH = 64  # ngf = ndf
CHANNELS = 1


@dataclass(frozen=True)
class Workload:
    image_size: int  # 28 or 64
    loss: str  # "bce" (non-saturating, with logits) or "wgan-gp" (lambda 10)
    batch: int
    n_critic: int  # critic steps per generator step, each on its own real batch

    @property
    def lr(self):
        return 2e-4 if self.loss == "bce" else 1e-4

    @property
    def betas(self):
        return (0.5, 0.999) if self.loss == "bce" else (0.0, 0.9)


WORKLOADS = {
    "dcgan28-bce": Workload(28, "bce", 128, 1),
    "dcgan28-wgangp": Workload(28, "wgan-gp", 128, 5),
    "dcgan64-bce": Workload(64, "bce", 64, 1),
    "dcgan64-wgangp": Workload(64, "wgan-gp", 64, 5),
}
GP_LAMBDA = 10.0


# The layer lists. DCGAN (Radford et al. 2016): no conv biases, batch norm everywhere except the critic's first
# layer (and nowhere in a WGAN-GP critic, whose penalty is per sample), ReLU in G, LeakyReLU(0.2) in D.
#
#   DCGAN-64  G: ConvT(100, 512, 4, 1, 0) BN ReLU | ConvT(512, 256, 4, 2, 1) BN ReLU | ConvT(256, 128, 4, 2, 1) BN
#                ReLU | ConvT(128, 64, 4, 2, 1) BN ReLU | ConvT(64, 1, 4, 2, 1) Tanh
#             D: Conv(1, 64, 4, 2, 1) LReLU | Conv(64, 128, 4, 2, 1) [BN] LReLU | Conv(128, 256, 4, 2, 1) [BN] LReLU
#                | Conv(256, 512, 4, 2, 1) [BN] LReLU | Conv(512, 1, 4, 1, 0) Flatten
#   DCGAN-28  G: ConvT(100, 256, 7, 1, 0) BN ReLU | ConvT(256, 128, 4, 2, 1) BN ReLU | ConvT(128, 1, 4, 2, 1) Tanh
#             D: Conv(1, 64, 4, 2, 1) LReLU | Conv(64, 128, 4, 2, 1) [BN] LReLU | Conv(128, 1, 7, 1, 0) Flatten
def generator(image_size):
    # Hidden widths from the 4x4 (7x7 at 28) core outwards.
    widths = [8 * WIDTH, 4 * WIDTH, 2 * WIDTH, WIDTH] if image_size == 64 else [4 * WIDTH, 2 * WIDTH]
    core = 4 if image_size == 64 else 7
    layers = [nn.ConvTranspose2d(Z_DIM, widths[0], core, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
    for w_in, w_out in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], CHANNELS, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(image_size, batch_norm):
    # Hidden widths from the image inwards.
    widths = [WIDTH, 2 * WIDTH, 4 * WIDTH, 8 * WIDTH] if image_size == 64 else [WIDTH, 2 * WIDTH]
    core = 4 if image_size == 64 else 7
    layers = [nn.Conv2d(CHANNELS, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for w_in, w_out in zip(widths, widths[1:]):
        layers.append(nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False))
        if batch_norm:
            layers.append(nn.BatchNorm2d(w_out))
        layers.append(nn.LeakyReLU(0.2, True))
    layers += [nn.Conv2d(widths[-1], 1, core, 1, 0, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def dcgan_init(module):
    # Conv weights N(0, 0.02), batch-norm scale N(1, 0.02) and shift 0, as ganpp initialises them.
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def build_networks(workload):
    """The workload's generator and discriminator (critic), initialised, on the CPU."""
    g = generator(workload.image_size)
    d = discriminator(workload.image_size, batch_norm=workload.loss == "bce")
    return dcgan_init(g), dcgan_init(d)


def make_optimizers(g, d, workload):
    """Adam for G and D with the workload's learning rate and betas."""
    return (torch.optim.Adam(g.parameters(), lr=workload.lr, betas=workload.betas),
            torch.optim.Adam(d.parameters(), lr=workload.lr, betas=workload.betas))


def latents(batch, device):
    return torch.randn(batch, Z_DIM, 1, 1, device=device)


def gradient_penalty(d, real, fake):
    # (||grad D(x)|| - 1)^2 on random interpolates between real and fake images (Gulrajani et al. 2017).
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def train_step(g, d, opt_g, opt_d, reals, workload):
    """One generator step after len(reals) critic steps, one per real batch."""
    device = reals[0].device
    batch = reals[0].size(0)
    fake = None
    for real in reals:
        if workload.loss == "bce":
            # One critic step: the generator step below reuses these fakes (the DCGAN reference does).
            fake = g(latents(batch, device))
            real_score, fake_score = d(real), d(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score)) +
                      F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score)))
        else:
            with torch.no_grad():
                fake = g(latents(batch, device))
            loss_d = d(fake).mean() - d(real).mean() + GP_LAMBDA * gradient_penalty(d, real, fake)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

    if workload.loss == "bce":
        score = d(fake)
        loss_g = F.binary_cross_entropy_with_logits(score, torch.ones_like(score))
    else:
        loss_g = -d(g(latents(batch, device))).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


def describe(module):
    """Every leaf layer in order, with its own parameter and buffer shapes, and the parameter count."""
    layers = []
    for name, layer in module.named_modules():
        if list(layer.children()):
            continue
        layers.append({"name": name, "type": type(layer).__name__,
                       "parameters": [[n, list(p.shape)] for n, p in layer.named_parameters(recurse=False)],
                       "buffers": [[n, list(b.shape)] for n, b in layer.named_buffers(recurse=False)]})
    return {"params": count_parameters(module), "layers": layers}


def print_layers(names):
    torch.manual_seed(0)
    out = {}
    for name in names:
        g, d = build_networks(WORKLOADS[name])
        out[name] = {"g": describe(g), "d": describe(d)}
    print(json.dumps(out))


def benchmark(name, steps, warmup, device, seed):
    workload = WORKLOADS[name]
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    g, d = (m.to(device) for m in build_networks(workload))
    opt_g, opt_d = make_optimizers(g, d, workload)
    # Random images in [-1, 1] held in memory, one batch per critic step: the figure is training, not disk.
    size = workload.image_size
    reals = [torch.rand(workload.batch, CHANNELS, size, size, device=device) * 2 - 1 for _ in range(workload.n_critic)]

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        train_step(g, d, opt_g, opt_d, reals, workload)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(g, d, opt_g, opt_d, reals, workload)
    sync()
    seconds = time.perf_counter() - start
    images = steps * workload.batch * workload.n_critic  # real images the critic consumed
    result = {"workload": name, "images_per_s": round(images / seconds, 2), "steps": steps,
              "seconds": round(seconds, 3), "torch": torch.__version__, "device": str(device),
              "threads": torch.get_num_threads(), "g_params": count_parameters(g), "d_params": count_parameters(d),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
              "precision": "fp32"}
    if device.type == "cuda":
        result["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        result["reserved_cuda_mb"] = round(torch.cuda.max_memory_reserved(device) / 2**20, 1)
    print(json.dumps(result), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", action="append", choices=list(WORKLOADS),
                    help="the workload to train (default dcgan28-bce); with --layers, repeatable (default all)")
    ap.add_argument("--steps", type=int, default=20, help="timed generator steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--threads", type=int, help="intra-op threads (default: PyTorch's, which follows OMP_NUM_THREADS)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", action="store_true", help="print the networks' layers and shapes as JSON, no training")
    args = ap.parse_args()
    if args.layers:
        print_layers(args.workload or list(WORKLOADS))
        return
    if args.workload and len(args.workload) > 1:
        ap.error("--workload: one workload per run (several only with --layers)")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    benchmark(args.workload[0] if args.workload else "dcgan28-bce", args.steps, args.warmup, torch.device(args.device),
              args.seed)


if __name__ == "__main__":
    main()
