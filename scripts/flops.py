#!/usr/bin/env python3
"""FLOPs of one training step of each benchmark workload, counted on the PyTorch reference's step.

Counts the matrix work that reaches ATen (convolutions, their backward passes including the gradient
penalty's double backward, and matrix products) with a dispatch mode, on the CPU: the count does not depend
on the device. Prints one JSON line per workload: workload, gflop_per_step, images_per_step.
A rate in images/s times gflop_per_step / images_per_step is the FLOP rate a run reached.

    python3 scripts/flops.py [--reference scripts/bench_reference.py]
"""
import argparse
import importlib.util
import json
import math
import os

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


def conv_flops(out_or_in_numel, weight, transposed):
    # Each output (input, for a transposed convolution) element is a dot product over weight.shape[1] * k*k.
    return 2 * out_or_in_numel * weight.shape[1] * math.prod(weight.shape[2:])


class Counter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        if packet is aten.convolution:
            x, w, transposed = args[0], args[1], args[6]
            self.flops += conv_flops((x if transposed else out).numel(), w, transposed)
        elif packet is aten.convolution_backward:
            grad_out, x, w, transposed, mask = args[0], args[1], args[2], args[7], args[10]
            forward = conv_flops((x if transposed else grad_out).numel(), w, transposed)
            self.flops += forward * (int(mask[0]) + int(mask[1]))  # grad input, grad weight
        elif packet in (aten.mm, aten.bmm):
            a, b = args[0], args[1]
            self.flops += 2 * a.numel() * b.shape[-1]
        elif packet is aten.addmm:
            a, b = args[1], args[2]
            self.flops += 2 * a.numel() * b.shape[-1]
        return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default=os.path.join(here, "bench_reference.py"))
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("reference", args.reference)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    torch.manual_seed(0)
    for name, w in ref.WORKLOADS.items():
        g, d = ref.build_networks(w)
        opt_g, opt_d = ref.make_optimizers(g, d, w)
        reals = list(torch.rand(w.n_critic, w.batch, ref.CHANNELS, w.image_size, w.image_size) * 2 - 1)
        counter = Counter()
        with counter:
            ref.train_step(g, d, opt_g, opt_d, reals, w)
        print(json.dumps({"workload": name, "gflop_per_step": round(counter.flops / 1e9, 3),
                          "images_per_step": w.batch * w.n_critic}))


if __name__ == "__main__":
    main()
