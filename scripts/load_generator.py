#!/usr/bin/env python3
"""Rebuilds a ganpp generator in plain PyTorch from a `ganpp export` file (layers and parameter names as in
src/models/), and optionally draws images from saved latents.

    from load_generator import load_generator
    g = load_generator("generator.pt")          # nn.Module in eval mode; g.z_dim, g.config, g.classes
    with torch.no_grad():
        images = g(torch.randn(16, g.z_dim))     # [16, C, S, S] in [-1, 1]
        shoes = g(torch.randn(16, g.z_dim), torch.full((16,), 7))   # conditional models take labels

    python3 scripts/load_generator.py generator.pt --latents latents.pt --out images.pt

LATENTS.pt is a [N, z_dim] tensor or a dict with "latents" (and, for conditional models, "labels": what
`ganpp sample --tensors` writes);
IMAGES.pt receives the images tensor, written with torch.save.
"""

import argparse
import json
import sys

import torch
from torch import nn
from torch.nn import functional as F

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


class SpectralNorm(nn.Module):
    """A layer whose weight is divided by sigma = u . (W v), u and v as the checkpoint stored them: what
    ganpp's SpectralNorm computes in eval mode (src/models/spectral_norm.cpp)."""

    def __init__(self, layer, out_dim=0):
        super().__init__()
        self.layer, self.out_dim = layer, out_dim
        rows = layer.weight.shape[out_dim]
        self.register_buffer("u", torch.zeros(rows))
        self.register_buffer("v", torch.zeros(layer.weight.numel() // rows))

    def forward(self, x):
        layer, w = self.layer, self.layer.weight
        w = w / torch.dot(self.u, w.movedim(self.out_dim, 0).flatten(1) @ self.v)
        if isinstance(layer, nn.Linear):
            return F.linear(x, w, layer.bias)
        if isinstance(layer, nn.ConvTranspose2d):
            return F.conv_transpose2d(x, w, layer.bias, layer.stride, layer.padding)
        return F.conv2d(x, w, layer.bias, layer.stride, layer.padding)


def _maybe_sn(layer, spectral_norm, out_dim=0):
    return SpectralNorm(layer, out_dim) if spectral_norm else layer


class LabelInput(nn.Module):
    """[z | one-hot label] or [z | embedding(label)] (src/models/conditioning.cpp)."""

    def __init__(self, classes, embed_dim):
        super().__init__()
        self.classes = classes
        self.embed = nn.Embedding(classes, embed_dim) if embed_dim > 0 else None
        self.size = embed_dim if embed_dim > 0 else classes

    def forward(self, z, labels):
        if labels is None:
            raise ValueError("this generator is class-conditional: pass labels (int64, one per latent)")
        y = self.embed(labels) if self.embed is not None else F.one_hot(labels, self.classes).to(z.dtype)
        return torch.cat([z, y], 1)


class Generator(nn.Module):
    """Common part: optional label input, a layer list `net`, and the output mapped to [-1, 1]."""

    def __init__(self, model, classes):
        super().__init__()
        self.z_dim = model["z_dim"]
        g = model["g"]
        self.sigmoid = g.get("output", "tanh") == "sigmoid"
        self.labels = LabelInput(classes, g.get("embed_dim", 0)) if classes > 0 else None
        self.in_features = self.z_dim + (self.labels.size if self.labels is not None else 0)

    def output(self):
        return nn.Sigmoid() if self.sigmoid else nn.Tanh()

    def inputs(self, z, labels):
        return self.labels(z, labels) if self.labels is not None else z

    def signed(self, images):
        """Images in [-1, 1], as `ganpp sample` writes them, whatever the output activation."""
        return images * 2 - 1 if self.sigmoid else images


class DcganGenerator(Generator):
    """DCGAN generator (src/models/dcgan.cpp): transposed convolutions (or upsampling + 3x3 convolutions) with
    batch norm and ReLU, widths ngf * mults, optional spectral norm and label input."""

    def __init__(self, model, channels, image_size, classes=0):
        super().__init__(model, classes)
        if not (image_size == 28 or (image_size & (image_size - 1) == 0 and 16 <= image_size <= 256)):
            raise ValueError(f"dcgan supports image size 28 or a power of two from 16 to 256, not {image_size}")
        g = model["g"]
        sn, upsample, ngf = g.get("spectral_norm", False), g.get("upsample", "deconv"), g["ngf"]
        stages = _dcgan_stages(image_size)
        mults = g.get("mults") or [1 << (s + (1 if image_size == 28 else 0)) for s in range(stages)]

        def deconv(i, o, k, s, p):
            return _maybe_sn(nn.ConvTranspose2d(i, o, k, stride=s, padding=p, bias=False), sn, out_dim=1)

        def stage(i, o, bias):
            if upsample == "deconv":
                return [deconv(i, o, 4, 2, 1)]
            up = nn.Upsample(scale_factor=2, mode=upsample, **({"align_corners": False} if upsample == "bilinear" else {}))
            return [up, _maybe_sn(nn.Conv2d(i, o, 3, stride=1, padding=1, bias=bias), sn)]

        width = ngf * mults[-1]
        layers = [deconv(self.in_features, width, 7 if image_size == 28 else 4, 1, 0), nn.BatchNorm2d(width),
                  nn.ReLU(inplace=True)]
        for m in reversed(mults[:-1]):
            layers += stage(width, ngf * m, False) + [nn.BatchNorm2d(ngf * m), nn.ReLU(inplace=True)]
            width = ngf * m
        layers += stage(width, channels, upsample != "deconv") + [self.output()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        x = self.inputs(z.view(z.shape[0], -1), labels)
        return self.signed(self.net(x.view(x.shape[0], -1, 1, 1)))


class MlpGenerator(Generator):
    """Fully connected generator: Linear + LeakyReLU(0.2) per hidden layer, Linear + Tanh (src/models/mlp.cpp)."""

    def __init__(self, model, channels, image_size, classes=0):
        super().__init__(model, classes)
        sn = model["g"].get("spectral_norm", False)
        self.shape = (-1, channels, image_size, image_size)
        layers, width = [], self.in_features
        for h in model["g"]["hidden"]:
            layers += [_maybe_sn(nn.Linear(width, h), sn), nn.LeakyReLU(0.2, inplace=True)]
            width = h
        layers += [_maybe_sn(nn.Linear(width, channels * image_size * image_size), sn), self.output()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        return self.signed(self.net(self.inputs(z, labels)).view(self.shape))


def _classes(model):
    return model.get("num_classes", 0) if model.get("conditional", False) else 0


ARCHITECTURES = {
    "dcgan": lambda m, d: DcganGenerator(m, d["channels"], d["image_size"], _classes(m)),
    "mlp": lambda m, d: MlpGenerator(m, d["channels"], d["image_size"], _classes(m)),
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
    latents, labels = torch_load(args.latents), None
    if isinstance(latents, dict):
        latents, labels = latents["latents"], latents.get("labels")
    with torch.no_grad():
        images = g(latents.float(), labels)
    torch.save(images, args.out)
    print(f"wrote {args.out}: {tuple(images.shape)} images from {g.config['model']['arch']} at step {g.step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
