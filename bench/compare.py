#!/usr/bin/env python3
"""Runs the benchmark networks in PyTorch and in cnn on this machine and prints the ratios.

Same networks (the lecture's MNIST CNN, LeNet-5, one VGG-style 64->64 3x3 convolution on
56x56), same batch sizes, same thread counts, median of repeated runs. PyTorch runs in its
default NCHW layout with its default CPU kernels (oneDNN for convolutions).

    python3 bench/compare.py            # sets up bench/.venv with torch on first use

The cnn side is `cargo run --release -p cnn-runtime --example throughput`.
"""
import json
import os
import subprocess
import sys
import time
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv")


def ensure_torch():
    """Re-runs this script inside bench/.venv, installing torch there if needed."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(python):
        venv.create(VENV, with_pip=True)
        subprocess.check_call([python, "-m", "pip", "install", "--quiet", "torch", "numpy"])
    os.execv(python, [python] + sys.argv)


def torch_nets():
    import torch
    from torch import nn

    mnist_cnn = nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(3, 3, 3), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(75, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    lenet5 = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )
    vgg_conv = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())
    # The last field: whether backward computes the input's gradient too. Whole networks
    # stop at their parameters, as training does; the single VGG-style layer stands for the
    # inside of a network, so it does not. The cnn side (benches/nets) does the same.
    return {
        "mnist_cnn": (mnist_cnn, (1, 28, 28), [1, 64, 256], 38_933, False),
        "lenet5": (lenet5, (1, 32, 32), [1, 64, 256], 416_520, False),
        "vgg_conv": (vgg_conv, (64, 56, 56), [16], 56 * 56 * 64 * 9 * 64, True),
    }


def median_seconds(repeats, f):
    for _ in range(3):
        f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def run_torch(repeats):
    import torch

    results = []
    cores = os.cpu_count() or 1
    for threads in [1, cores]:
        torch.set_num_threads(threads)
        for name, (net, shape, batches, macs, input_grad) in torch_nets().items():
            for batch in batches:
                x = torch.randn(batch, *shape, requires_grad=input_grad)
                for backward in [False, True]:
                    if backward:
                        def step():
                            net.zero_grad(set_to_none=True)
                            out = net(x)
                            out.backward(torch.full_like(out, 1e-3))
                    else:
                        def step():
                            with torch.no_grad():
                                net(x)
                    seconds = median_seconds(repeats, step)
                    results.append({
                        "framework": "pytorch", "net": name, "batch": batch, "threads": threads,
                        "pass": "forward_backward" if backward else "forward",
                        "seconds": seconds, "forward_macs_per_image": macs,
                    })
    return results


def run_cnn(repeats):
    out = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "-p", "cnn-runtime", "--example", "throughput", "--", str(repeats)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main():
    ensure_torch()
    import torch

    repeats = int(os.environ.get("REPEATS", "30"))
    cnn = {(r["net"], r["pass"], r["batch"], r["threads"]): r for r in run_cnn(repeats)}
    torch_results = run_torch(repeats)
    print(f"torch {torch.__version__}, {os.cpu_count()} logical CPUs, median of {repeats} runs")
    print(f"{'net':<10} {'pass':<17} {'batch':>5} {'thr':>3} {'cnn img/s':>11} {'torch img/s':>12} "
          f"{'cnn GFLOP/s':>12} {'torch GFLOP/s':>14} {'cnn/torch':>9}")
    for t in torch_results:
        key = (t["net"], t["pass"], t["batch"], t["threads"])
        c = cnn.get(key)
        if c is None:
            continue
        # Forward is 2 FLOPs per MAC; forward + backward about three times that.
        flops = 2 * t["forward_macs_per_image"] * t["batch"] * (3 if t["pass"] == "forward_backward" else 1)
        print(f"{t['net']:<10} {t['pass']:<17} {t['batch']:>5} {t['threads']:>3} "
              f"{t['batch'] / c['seconds']:>11.0f} {t['batch'] / t['seconds']:>12.0f} "
              f"{flops / c['seconds'] / 1e9:>12.2f} {flops / t['seconds'] / 1e9:>14.2f} "
              f"{t['seconds'] / c['seconds']:>8.2f}x")


if __name__ == "__main__":
    main()
