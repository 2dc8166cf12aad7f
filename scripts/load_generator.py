#!/usr/bin/env python3
"""Rebuilds a ganpp generator in plain PyTorch from a `ganpp export` file (layers and parameter names as in
src/models/), and optionally draws images from saved latents.

    from load_generator import load_generator
    g = load_generator("generator.pt")          # nn.Module in eval mode; g.z_dim, g.config, g.classes
    with torch.no_grad():
        images = g(torch.randn(16, g.z_dim))     # [16, C, S, S] in [-1, 1]

    python3 scripts/load_generator.py generator.pt --latents latents.pt --out images.pt

LATENTS.pt is a [N, z_dim] tensor or a dict with "latents" (what `ganpp sample --tensors` writes);
IMAGES.pt receives the images tensor, written with torch.save.
"""

import argparse
import json
import sys

import torch
from torch import nn

EXPORT_FORMAT = "ganpp-generator"
EXPORT_FORMAT_VERSION = 1


def _dcgan_stages(image_size):
    """Stride-2 stages between the 4x4 (7x7 for 28) core and the image, as in src/models/dcgan.cpp."""
    if image_size == 28:
        return 2
    stages, s = 0, image_size
    while s > 4:
        stages += 1
        s //= 2
    return stages


class DcganGenerator(nn.Module):
    """DCGAN generator: transposed convolutions with batch norm and ReLU, Tanh output (src/models/dcgan.cpp)."""

    def __init__(self, z_dim, ngf, channels, image_size):
        super().__init__()
        if not (image_size == 28 or (image_size & (image_size - 1) == 0 and 16 <= image_size <= 256)):
            raise ValueError(f"dcgan supports image size 28 or a power of two from 16 to 256, not {image_size}")
        self.z_dim = z_dim
        stages = _dcgan_stages(image_size)
        width = ngf * 4 if image_size == 28 else ngf << (stages - 1)
        core = 7 if image_size == 28 else 4
        layers = [nn.ConvTranspose2d(z_dim, width, core, stride=1, padding=0, bias=False),
                  nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        for _ in range(1, stages):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(inplace=True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.view(-1, self.z_dim, 1, 1))


class MlpGenerator(nn.Module):
    """Fully connected generator: Linear + LeakyReLU(0.2) per hidden layer, Linear + Tanh (src/models/mlp.cpp)."""

    def __init__(self, z_dim, hidden, channels, image_size):
        super().__init__()
        self.z_dim = z_dim
        self.shape = (-1, channels, image_size, image_size)
        layers, width = [], z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, inplace=True)]
            width = h
        layers += [nn.Linear(width, channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z).view(self.shape)


ARCHITECTURES = {
    "dcgan": lambda m, d: DcganGenerator(m["z_dim"], m["g"]["ngf"], d["channels"], d["image_size"]),
    "mlp": lambda m, d: MlpGenerator(m["z_dim"], m["g"]["hidden"], d["channels"], d["image_size"]),
}


def build_generator(config):
    """The untrained generator that a resolved ganpp config (a dict) describes."""
    arch = config["model"]["arch"]
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture '{arch}' is not known to this loader; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](config["model"], config["data"])


def torch_load(path, map_location="cpu"):
    """torch.load for files LibTorch wrote with torch::pickle_save. Its pickler wraps every dict and list
    in torch.jit._pickle.restore_type_tag (an identity function), which torch.load's weights_only mode,
    the default from torch 2.6 on, refuses unless it is allow-listed: allow it where that exists."""
    if hasattr(torch.serialization, "add_safe_globals"):
        from torch.jit import _pickle
        torch.serialization.add_safe_globals([_pickle.restore_type_tag])
    return torch.load(path, map_location=map_location)


def load_generator(path, map_location="cpu"):
    """Reads a `ganpp export` file and returns its generator in eval mode, weights loaded strictly.
    The module also carries `config` (the resolved config as a dict), `classes`, `step` and `z_dim`."""
    export = torch_load(path, map_location=map_location)
    if not isinstance(export, dict) or export.get("format") != EXPORT_FORMAT:
        raise ValueError(f"'{path}' is not a ganpp generator export (write one with `ganpp export`)")
    if export["format_version"] > EXPORT_FORMAT_VERSION:
        raise ValueError(f"'{path}' has export format version {export['format_version']}; "
                         f"this loader reads up to {EXPORT_FORMAT_VERSION}")
    config = json.loads(export["config"])
    g = build_generator(config)
    g.load_state_dict(export["state_dict"], strict=True)
    g.eval()
    g.config, g.classes, g.step = config, list(export["classes"]), export["step"]
    return g


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw images from a `ganpp export` file in plain PyTorch.")
    parser.add_argument("export", help="file written by `ganpp export`")
    parser.add_argument("--latents", required=True,
                        help="a [N, z_dim] tensor file, or a dict with 'latents' (from `ganpp sample --tensors`)")
    parser.add_argument("--out", required=True, help="where to torch.save the images [N, C, S, S] in [-1, 1]")
    args = parser.parse_args(argv)

    g = load_generator(args.export)
    latents = torch_load(args.latents)
    if isinstance(latents, dict):
        latents = latents["latents"]
    with torch.no_grad():
        images = g(latents.float())
    torch.save(images, args.out)
    print(f"wrote {args.out}: {tuple(images.shape)} images from {g.config['model']['arch']} at step {g.step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
