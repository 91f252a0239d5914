#!/usr/bin/python3
"""Writes the PyTorch golden fixtures the Go tests compare against.

    /usr/bin/python3 scripts/make_fixtures.py      (from the repository root)

writes
    internal/ref/testdata/ops.safetensors          one small case per op
    internal/model/testdata/tinynet.safetensors    a tiny AlexNet-shaped net: forward,
                                                   loss, gradients, three SGD steps

Needs PyTorch (Debian's python3-torch 1.13, CPU) and numpy; the Go tests need neither.
Everything is computed in float64 from float32-representable inputs and stored as
float32, so the fixtures are as exact as float32 can hold and the Go side's own
float32 rounding is the only difference left. The safetensors files are written by
hand (8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, raw little-endian float32), so the script needs no safetensors package.
The output is deterministic: rerunning it rewrites the same bytes.
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS_PATH = os.path.join(ROOT, "internal", "ref", "testdata", "ops.safetensors")
NET_PATH = os.path.join(ROOT, "internal", "model", "testdata", "tinynet.safetensors")

# --- the project's dropout mask, ported bit for bit from internal/backend/backend.go ---

M64 = (1 << 64) - 1


def mix64(z):
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def dropout_seed(run, step, layer):
    return mix64(mix64(run ^ 0x5DEECE66D)
                 ^ mix64((step + 0x9E3779B97F4A7C15) & M64)
                 ^ ((layer * 0xC2B2AE3D27D4EB4F) & M64))


def dropout_keep(seed, i, p):
    z = mix64((seed + i * 0x9E3779B97F4A7C15) & M64)
    u = (z >> 40) / float(1 << 24)  # exact: 24 bits, as Go's float32 product is
    return u >= float(np.float32(p))  # Go compares against the float32 p


def dropout_mask(seed, n, p):
    """mask[i] = 1/(1-p) if kept else 0, over a flat tensor of n elements."""
    scale = float(np.float32(1) / (np.float32(1) - np.float32(p)))  # float32, as in Go
    return torch.tensor([scale if dropout_keep(seed, i, p) else 0.0 for i in range(n)],
                        dtype=torch.float64)


# --- safetensors, by hand ---


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().to(torch.float32).numpy(), dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    js += b" " * (-len(js) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    print(f"wrote {os.path.relpath(path, ROOT)}: {len(tensors)} tensors, {8 + len(js) + off} bytes")


# --- per-op cases ---

gen = torch.Generator().manual_seed(20120)


def randn(*shape, scale=1.0):
    """float32 normal values (so Go reads exactly what was used), as float64."""
    return (torch.randn(*shape, generator=gen, dtype=torch.float32) * scale).double()


def grads(out, inputs, dy):
    return torch.autograd.grad(out, inputs, dy)


def conv_case(name, T, M, n, c, h, w, oc, kh, kw, stride, pad, groups):
    x = randn(n, c, h, w).requires_grad_()
    wt = randn(oc, c // groups, kh, kw, scale=0.3).requires_grad_()
    b = randn(oc).requires_grad_()
    y = F.conv2d(x, wt, b, stride=stride, padding=pad, groups=groups)
    dy = randn(*y.shape)
    dx, dw, db = grads(y, (x, wt, b), dy)
    M["case." + name] = json.dumps({"op": "conv", "stride": list(stride), "pad": list(pad), "groups": groups})
    T.update({name + ".x": x, name + ".w": wt, name + ".b": b, name + ".y": y,
              name + ".dy": dy, name + ".dx": dx, name + ".dw": dw, name + ".db": db})


def linear_case(name, T, M, n, i, o):
    x = randn(n, i).requires_grad_()
    wt = randn(o, i, scale=0.3).requires_grad_()
    b = randn(o).requires_grad_()
    y = F.linear(x, wt, b)
    dy = randn(*y.shape)
    dx, dw, db = grads(y, (x, wt, b), dy)
    M["case." + name] = json.dumps({"op": "linear"})
    T.update({name + ".x": x, name + ".w": wt, name + ".b": b, name + ".y": y,
              name + ".dy": dy, name + ".dx": dx, name + ".dw": dw, name + ".db": db})


def unary_case(name, T, M, params, x, f):
    x = x.requires_grad_()
    y = f(x)
    dy = randn(*y.shape)
    (dx,) = grads(y, (x,), dy)
    M["case." + name] = json.dumps(params)
    T.update({name + ".x": x, name + ".y": y, name + ".dy": dy, name + ".dx": dx})


def lrn_case(name, T, M, n, c, h, w, size, alpha, beta, k, scale=1.0):
    unary_case(name, T, M, {"op": "lrn", "size": size, "alpha": alpha, "beta": beta, "k": k},
               randn(n, c, h, w, scale=scale),
               lambda x: F.local_response_norm(x, size, alpha=alpha, beta=beta, k=k))


def maxpool_case(name, T, M, n, c, h, w, kernel, stride, pad=(0, 0)):
    unary_case(name, T, M, {"op": "maxpool", "kernel": list(kernel), "stride": list(stride), "pad": list(pad)},
               randn(n, c, h, w),
               lambda x: F.max_pool2d(x, kernel, stride, pad, ceil_mode=False))


def avgpool_case(name, T, M, n, c, h, w, out):
    unary_case(name, T, M, {"op": "adaptiveavg", "out": list(out)},
               randn(n, c, h, w),
               lambda x: F.adaptive_avg_pool2d(x, out))


def ce_case(name, T, M, n, c, scale=1.0, shift=0.0):
    logits = (randn(n, c, scale=scale) + shift).requires_grad_()
    labels = torch.randint(0, c, (n,), generator=gen)
    loss = F.cross_entropy(logits, labels)  # mean over the batch
    (dl,) = torch.autograd.grad(loss, (logits,))
    M["case." + name] = json.dumps({"op": "softmaxce"})
    T.update({name + ".logits": logits, name + ".labels": labels.double(),
              name + ".loss": loss.reshape(1), name + ".dlogits": dl})


def make_ops():
    T, M = {}, {}
    # conv: AlexNet's conv2 in small (groups=2), stride and padding, a 5x5/2 kernel,
    # a rectangular kernel with different strides and paddings per axis.
    conv_case("conv_g2_s2_p1", T, M, 2, 4, 9, 9, 6, 3, 3, (2, 2), (1, 1), 2)
    conv_case("conv_k5_s2_p2", T, M, 2, 3, 11, 11, 4, 5, 5, (2, 2), (2, 2), 1)
    conv_case("conv_rect_g2", T, M, 1, 4, 7, 6, 4, 3, 2, (2, 1), (1, 0), 2)
    conv_case("conv_plain", T, M, 3, 2, 5, 5, 3, 3, 3, (1, 1), (0, 0), 1)
    linear_case("linear", T, M, 3, 10, 7)
    unary_case("relu", T, M, {"op": "relu"}, randn(2, 3, 4, 4), F.relu)
    # LRN: channel counts below, at and above the window, so the edges are exercised;
    # an even size (asymmetric window); a strong alpha so the cross terms matter.
    for c in (3, 4, 5, 7):
        lrn_case(f"lrn_s5_c{c}", T, M, 2, c, 3, 3, 5, 0.1, 0.75, 2.0, scale=2.0)
    lrn_case("lrn_s4_c6", T, M, 1, 6, 2, 3, 4, 0.1, 0.75, 2.0, scale=2.0)
    lrn_case("lrn_s5_c8_strong", T, M, 1, 8, 2, 2, 5, 2.0, 0.75, 1.0, scale=1.5)
    maxpool_case("maxpool_k3_s2", T, M, 2, 3, 7, 7, (3, 3), (2, 2))
    maxpool_case("maxpool_k2_s2", T, M, 2, 3, 6, 6, (2, 2), (2, 2))
    maxpool_case("maxpool_k3_s2_floor", T, M, 1, 2, 8, 8, (3, 3), (2, 2))
    maxpool_case("maxpool_k3_s2_p1", T, M, 1, 2, 6, 6, (3, 3), (2, 2), (1, 1))
    maxpool_case("maxpool_rect", T, M, 1, 2, 7, 5, (3, 2), (2, 1))
    avgpool_case("adaptive_13_to_6", T, M, 2, 3, 13, 13, (6, 6))
    avgpool_case("adaptive_6_to_6", T, M, 1, 2, 6, 6, (6, 6))
    avgpool_case("adaptive_10x7_to_6", T, M, 1, 2, 10, 7, (6, 6))
    avgpool_case("adaptive_7x5_to_3x2", T, M, 1, 2, 7, 5, (3, 2))
    avgpool_case("adaptive_4_to_6", T, M, 1, 1, 4, 4, (6, 6))
    ce_case("ce", T, M, 6, 5)
    ce_case("ce_large_logits", T, M, 4, 7, scale=30.0, shift=200.0)

    seed = dropout_seed(42, 0, 13)
    T["dropout_mask_check"] = dropout_mask(seed, 64, 0.5)
    M["dropout_mask_check"] = json.dumps({"run": 42, "step": 0, "layer": 13, "p": 0.5, "n": 64,
                                          "seed": str(seed)})
    M["about"] = ("PyTorch golden tensors for the reference backend, written by scripts/make_fixtures.py "
                  f"(torch {torch.__version__}). Each case.<name> entry gives the op and its parameters; "
                  "tensors <name>.x/.w/.b are inputs, .y the output, .dy a random upstream gradient, "
                  ".dx/.dw/.db the gradients for it. Computed in float64, stored as float32.")
    write_safetensors(OPS_PATH, T, M)


# --- the tiny AlexNet-shaped net ---

LAYERS = [  # index: name, kind, params
    ("conv1", "conv", dict(out=8, k=5, stride=2, pad=1, groups=1)),   # 3x19x19 -> 8x9x9
    ("relu1", "relu", {}),
    ("norm1", "lrn", dict(size=5, alpha=0.1, beta=0.75, k=2.0)),
    ("pool1", "maxpool", dict(k=3, stride=2)),                        # -> 8x4x4
    ("conv2", "conv", dict(out=12, k=3, stride=1, pad=1, groups=2)),  # -> 12x4x4
    ("relu2", "relu", {}),
    ("norm2", "lrn", dict(size=5, alpha=0.1, beta=0.75, k=2.0)),
    ("pool2", "maxpool", dict(k=2, stride=2)),                        # -> 12x2x2
    ("conv3", "conv", dict(out=8, k=3, stride=1, pad=1, groups=1)),   # -> 8x2x2
    ("relu3", "relu", {}),
    ("flatten", "flatten", {}),                                       # -> 32
    ("fc4", "linear", dict(out=16)),
    ("relu4", "relu", {}),
    ("drop4", "dropout", dict(p=0.5)),
    ("fc5", "linear", dict(out=5)),
]
N, CLASSES, RUN, DROP_LAYER = 4, 5, 42, 13
LR, MOMENTUM, DECAY = 0.01, 0.9, 5e-4
MULT = {"weight": (1.0, 1.0), "bias": (2.0, 0.0)}  # (lr_mult, decay_mult)


def tinynet_forward(P, x, step):
    """Logits of the net; step None is evaluation (no dropout)."""
    h = x
    for idx, (name, kind, a) in enumerate(LAYERS):
        if kind == "conv":
            h = F.conv2d(h, P[name + ".weight"], P[name + ".bias"], stride=a["stride"], padding=a["pad"],
                         groups=a["groups"])
        elif kind == "relu":
            h = F.relu(h)
        elif kind == "lrn":
            h = F.local_response_norm(h, a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])
        elif kind == "maxpool":
            h = F.max_pool2d(h, a["k"], a["stride"])
        elif kind == "flatten":
            h = h.reshape(h.shape[0], -1)
        elif kind == "linear":
            h = F.linear(h, P[name + ".weight"], P[name + ".bias"])
        elif kind == "dropout":
            assert idx == DROP_LAYER
            if step is not None:
                h = h * tinynet_mask(step, h.numel(), a["p"]).reshape(h.shape)
        else:
            raise ValueError(kind)
    return h


def tinynet_mask(step, n, p):
    return dropout_mask(dropout_seed(RUN, step, DROP_LAYER), n, p)


def make_tinynet():
    g = torch.Generator().manual_seed(2012)

    def normal(*shape, std):
        return (torch.randn(*shape, generator=g, dtype=torch.float32) * std).double()

    P = {}
    in_c = 3
    flat = None
    for name, kind, a in LAYERS:
        if kind == "conv":
            P[name + ".weight"] = normal(a["out"], in_c // a["groups"], a["k"], a["k"], std=0.1)
            P[name + ".bias"] = normal(a["out"], std=0.1)
            in_c = a["out"]
        elif kind == "flatten":
            flat = in_c * 2 * 2
        elif kind == "linear":
            P[name + ".weight"] = normal(a["out"], flat, std=0.1)
            P[name + ".bias"] = normal(a["out"], std=0.1)
            flat = a["out"]
    x = normal(N, 3, 19, 19, std=1.0)
    labels = torch.randint(0, CLASSES, (N,), generator=g)

    T = {"x": x, "labels": labels.double()}
    for k, v in P.items():
        T["init." + k] = v

    with torch.no_grad():
        T["eval_logits"] = tinynet_forward(P, x, None)
    T["drop4.mask.step0"] = tinynet_mask(0, N * 16, 0.5).reshape(N, 16)

    # Three SGD steps on the same batch, the paper's update written out here rather than
    # torch.optim.SGD (whose momentum and decay are placed differently).
    W = {k: v.clone() for k, v in P.items()}
    V = {k: torch.zeros_like(v) for k, v in P.items()}
    losses = []
    for step in range(3):
        params = {k: v.clone().requires_grad_() for k, v in W.items()}
        logits = tinynet_forward(params, x, step)
        loss = F.cross_entropy(logits, labels)
        names = list(params)
        gs = torch.autograd.grad(loss, [params[k] for k in names])
        if step == 0:
            T["logits"] = logits.detach()
            T["loss"] = loss.detach().reshape(1)
            for k, gr in zip(names, gs):
                T["grad." + k] = gr
        losses.append(loss.item())
        for k, gr in zip(names, gs):
            lr_mult, decay_mult = MULT[k.rsplit(".", 1)[1]]
            lr = LR * lr_mult
            V[k] = MOMENTUM * V[k] - (DECAY * decay_mult) * lr * W[k] - lr * gr
            W[k] = W[k] + V[k]
    for k, v in W.items():
        T["step3." + k] = v
    # The three updates move the weights by ~1e-3 of their size, below what comparing
    # step3 with float32 tolerances could see; the deltas, taken here in float64, let a
    # test check the update itself (weight decay included) to float32 precision.
    for k, v in W.items():
        T["delta3." + k] = v - P[k]
    T["losses"] = torch.tensor(losses, dtype=torch.float64)

    layers = "; ".join(f"{i}: {n} {k} " + ",".join(f"{kk}={vv}" for kk, vv in a.items())
                       for i, (n, k, a) in enumerate(LAYERS))
    M = {
        "about": ("Tiny AlexNet-shaped net, NCHW, PyTorch layer naming, written by scripts/make_fixtures.py "
                  f"(torch {torch.__version__}); computed in float64, stored as float32. "
                  "Tensors: x [4,3,19,19]; labels [4] (class indices as float32); init.<layer>.weight/bias; "
                  "eval_logits (no dropout); logits, loss, grad.<layer>.weight/bias at step 0 (train mode); "
                  "drop4.mask.step0 [4,16]; step3.<layer>.weight/bias after 3 SGD steps on the same batch; "
                  "delta3.<layer>.weight/bias = step3 - init (taken in float64: compare these, the updates are small); "
                  "losses [3] (loss at steps 0,1,2 before each update)."),
        "input": "N=4 C=3 H=19 W=19, classes=5",
        "layers": layers,
        "loss": "mean softmax cross-entropy over the batch (F.cross_entropy)",
        "lrn": "PyTorch LocalResponseNorm: alpha divided by size, window c-size/2..c+(size-1)/2",
        "dropout": ("layer 13, p=0.5, inverted scaling (kept elements times 1/(1-p) = 2); element i of the "
                    "flat [4,16] activation kept iff backend.DropoutKeep(DropoutSeed(run=42, step=s, layer=13), i, 0.5); "
                    "evaluation applies no dropout"),
        "sgd": ("paper's form, per parameter: lr_p = lr*lr_mult; v = momentum*v - (decay*decay_mult)*lr_p*w - lr_p*g; "
                "w = w + v; v starts at 0; weights lr_mult=1 decay_mult=1, biases lr_mult=2 decay_mult=0"),
        "hyper": json.dumps({"lr": LR, "momentum": MOMENTUM, "weight_decay": DECAY, "steps": 3, "run_seed": RUN,
                             "dropout_layer": DROP_LAYER, "weight_lr_mult": 1, "weight_decay_mult": 1,
                             "bias_lr_mult": 2, "bias_decay_mult": 0, "batch": N, "classes": CLASSES}),
        "init": "weights and biases N(0, 0.1) from torch.Generator seed 2012 (float32), x N(0,1), labels uniform in [0,5)",
    }
    write_safetensors(NET_PATH, T, M)
    print("tinynet losses:", " ".join(f"{l:.6f}" for l in losses))


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    make_ops()
    make_tinynet()


if __name__ == "__main__":
    sys.exit(main())
