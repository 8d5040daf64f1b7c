#!/usr/bin/env python3
"""Golden values from PyTorch for the runtime's kernels, forward and backward.

Run from the repository root (it uses bench/.venv, which bench/compare.py sets up):

    bench/.venv/bin/python runtime/tests/golden/generate.py

It writes runtime/tests/golden/golden.json. Tensors are stored in cnn's layout (NHWC
activations, (kh, kw, in, out) kernels, (in, out) dense kernels), converted from PyTorch's
NCHW / (out, in, kh, kw) / (out, in). Every case's loss is sum(output * weights) for fixed
random weights, so the gradients are those of a generic upstream gradient.

Conventions where PyTorch and Keras differ, and which one each case follows:
- asymmetric padding (TensorFlow's odd `same`) is applied with F.pad before the op;
- average pooling divides by the whole window (count_include_pad=True, PyTorch's default
  for explicit padding) or by the real cells (False, TensorFlow's `same`): both are cases;
- batch norm: the normalisation uses the biased batch variance in both; the moving
  variance is not compared, since PyTorch updates it with the unbiased variance and Keras
  (and cnn) with the biased one.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def t(x):
    return {"shape": list(x.shape), "data": [float(v) for v in x.detach().reshape(-1).tolist()]}


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def conv_case(name, n, c, h, w, f, kh, kw, stride, dilation, pads, groups):
    top, bottom, left, right = pads
    x = torch.randn(n, c, h, w, requires_grad=True)
    k = (torch.randn(f, c // groups, kh, kw) * 0.3).requires_grad_()
    b = torch.randn(f, requires_grad=True)
    y = F.conv2d(F.pad(x, (left, right, top, bottom)), k, b, stride=stride, dilation=dilation, groups=groups)
    wts = torch.randn_like(y)
    (y * wts).sum().backward()
    return {
        "name": name, "kind": "conv2d",
        "params": {"stride": list(stride), "dilation": list(dilation), "padding": list(pads), "groups": groups},
        "x": t(nhwc(x)), "kernel": t(k.permute(2, 3, 1, 0)), "bias": t(b),
        "y": t(nhwc(y)), "weights": t(nhwc(wts)),
        "dx": t(nhwc(x.grad)), "dkernel": t(k.grad.permute(2, 3, 1, 0)), "dbias": t(b.grad),
    }


def pool_case(name, mode, n, c, h, w, pool, stride, pads, count_padding=True):
    top, bottom, left, right = pads
    x = torch.randn(n, c, h, w, requires_grad=True)
    if mode == "max":
        y = F.max_pool2d(F.pad(x, (left, right, top, bottom), value=float("-inf")), pool, stride)
    elif count_padding:
        y = F.avg_pool2d(F.pad(x, (left, right, top, bottom)), pool, stride)
    else:
        # Divide by the real cells: pool the input and a mask of ones, padded alike.
        padded = F.pad(x, (left, right, top, bottom))
        ones = F.pad(torch.ones_like(x), (left, right, top, bottom))
        y = F.avg_pool2d(padded, pool, stride) / F.avg_pool2d(ones, pool, stride)
    wts = torch.randn_like(y)
    (y * wts).sum().backward()
    return {
        "name": name, "kind": "max_pool2d" if mode == "max" else "avg_pool2d",
        "params": {"pool": list(pool), "stride": list(stride), "padding": list(pads), "count_padding": count_padding},
        "x": t(nhwc(x)), "y": t(nhwc(y)), "weights": t(nhwc(wts)), "dx": t(nhwc(x.grad)),
    }


def batch_norm_case(name, n, c, h, w, eps, momentum):
    x = torch.randn(n, c, h, w, requires_grad=True)
    gamma = torch.randn(c, requires_grad=True)
    beta = torch.randn(c, requires_grad=True)
    running_mean = torch.zeros(c)
    running_var = torch.ones(c)
    # PyTorch's momentum is Keras' 1 - momentum.
    y = F.batch_norm(x, running_mean, running_var, gamma, beta, training=True, momentum=1 - momentum, eps=eps)
    wts = torch.randn_like(y)
    (y * wts).sum().backward()
    return {
        "name": name, "kind": "batch_norm",
        "params": {"epsilon": eps, "momentum": momentum},
        "x": t(nhwc(x)), "gamma": t(gamma), "beta": t(beta), "y": t(nhwc(y)), "weights": t(nhwc(wts)),
        "dx": t(nhwc(x.grad)), "dgamma": t(gamma.grad), "dbeta": t(beta.grad),
        "moving_mean": t(running_mean),
    }


def dense_case(name, n, i, o):
    x = torch.randn(n, i, requires_grad=True)
    k = torch.randn(o, i, requires_grad=True)
    b = torch.randn(o, requires_grad=True)
    y = F.linear(x, k, b)
    wts = torch.randn_like(y)
    (y * wts).sum().backward()
    return {
        "name": name, "kind": "dense", "params": {},
        "x": t(x), "kernel": t(k.t()), "bias": t(b), "y": t(y), "weights": t(wts),
        "dx": t(x.grad), "dkernel": t(k.grad.t()), "dbias": t(b.grad),
    }


def loss_cases():
    cases = []
    logits = torch.randn(5, 7, requires_grad=True)
    probs = torch.softmax(torch.randn(5, 7), dim=1)
    loss = F.cross_entropy(logits, probs)
    loss.backward()
    cases.append({"name": "categorical_crossentropy", "kind": "loss", "params": {"loss": "categorical_crossentropy"},
                  "input": t(logits), "targets": t(probs), "loss": loss.item(), "grad": t(logits.grad)})
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    cases.append({"name": "sparse_categorical_crossentropy", "kind": "loss", "params": {"loss": "sparse_categorical_crossentropy"},
                  "input": t(logits), "labels": labels.tolist(), "loss": loss.item(), "grad": t(logits.grad)})
    logits = torch.randn(4, 3, requires_grad=True)
    targets = (torch.rand(4, 3) > 0.5).double()
    loss = F.binary_cross_entropy_with_logits(logits, targets)
    loss.backward()
    cases.append({"name": "binary_crossentropy_from_logits", "kind": "loss", "params": {"loss": "binary_crossentropy", "from_logits": True},
                  "input": t(logits), "targets": t(targets), "loss": loss.item(), "grad": t(logits.grad)})
    p = (torch.rand(4, 3) * 0.9 + 0.05).requires_grad_()
    loss = F.binary_cross_entropy(p, targets)
    loss.backward()
    cases.append({"name": "binary_crossentropy", "kind": "loss", "params": {"loss": "binary_crossentropy", "from_logits": False},
                  "input": t(p), "targets": t(targets), "loss": loss.item(), "grad": t(p.grad)})
    for name, fn in [("mean_squared_error", F.mse_loss), ("mean_absolute_error", F.l1_loss)]:
        pred = torch.randn(3, 5, requires_grad=True)
        target = torch.randn(3, 5)
        loss = fn(pred, target)
        loss.backward()
        cases.append({"name": name, "kind": "loss", "params": {"loss": name},
                      "input": t(pred), "targets": t(target), "loss": loss.item(), "grad": t(pred.grad)})
    return cases


def main():
    cases = [
        conv_case("conv_3x3_valid", 2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (0, 0, 0, 0), 1),
        conv_case("conv_stride_2_not_dividing", 2, 2, 8, 7, 3, 3, 2, (2, 3), (1, 1), (0, 0, 0, 0), 1),
        conv_case("conv_same_odd_padding", 2, 3, 8, 8, 4, 4, 4, (2, 2), (1, 1), (1, 2, 1, 2), 1),
        conv_case("conv_explicit_padding_dilation", 1, 2, 9, 8, 3, 3, 3, (1, 2), (2, 2), (2, 2, 1, 1), 1),
        conv_case("conv_groups", 2, 4, 6, 6, 6, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 2),
        conv_case("conv_depthwise_multiplier_2", 2, 3, 6, 5, 6, 3, 3, (2, 1), (1, 1), (1, 1, 1, 1), 3),
        conv_case("conv_pointwise", 2, 5, 4, 4, 3, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
        pool_case("max_pool_2x2", "max", 2, 3, 6, 6, (2, 2), (2, 2), (0, 0, 0, 0)),
        pool_case("max_pool_3x3_stride_2_padded", "max", 2, 2, 7, 7, (3, 3), (2, 2), (1, 1, 1, 1)),
        pool_case("avg_pool_3x3_count_padding", "avg", 2, 2, 7, 6, (3, 3), (2, 2), (1, 1, 1, 1), True),
        pool_case("avg_pool_same_excluding_padding", "avg", 2, 2, 7, 6, (3, 3), (2, 2), (0, 1, 0, 1), False),
        batch_norm_case("batch_norm_train", 4, 3, 5, 5, 1e-3, 0.99),
        dense_case("dense", 5, 7, 4),
    ] + loss_cases()
    path = os.path.join(HERE, "golden.json")
    with open(path, "w") as out:
        json.dump({"torch": torch.__version__, "cases": cases}, out)
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
