#!/usr/bin/python3
"""Writes the fixtures of internal/app/torchvision_test.go: what PyTorch predicts
with torchvision's AlexNet on a few PNGs, for `alexnet predict --weights x.pth` to
match.

    /usr/bin/python3 scripts/make_torchvision_predict_fixtures.py   (from the repository root)

The pretrained alexnet-owt-7be5be79.pth (244 MB) can be neither downloaded here nor
committed, so every parameter of torchvision.models.alexnet() is set from a formula
that Go reproduces bit for bit: for the k-th tensor of the state_dict (k = 0..15,
features.0.weight first) and its i-th element in row-major order,

    h = hash32(i, k)                                     (uint32 arithmetic, below)
    w = ((h >> 8) - 2^23) * 2^(exp_k - 23)               in [-2^exp_k, 2^exp_k)

an integer of at most 24 bits times a power of two: exact in float32 on both sides,
no libm involved. exp_k (per tensor, in META below) keeps activations O(1) through
the network and spreads the logits so the softmax is far from uniform.

Writes, under internal/app/testdata/,
    tv_256x256.png, tv_300x200.png, tv_500x375.png
                      smooth colour images of different content (the first needs no
                      resize; the second is enlarged to 384x256, the third shrunk to
                      341x256 with PIL's antialiasing)
    tv_alexnet_data.pkl
                      the data.pkl record of torch.save(model.state_dict(), path) for
                      those weights: torch.save's own pickle, 1-2 KB. The Go test puts
                      it in a zip with the storages it computes by the formula, which
                      gives the very .pth torch.save writes (less the zip's padding)
                      without storing 244 MB.
    tv_predict.safetensors
                      "<image>.probs": softmax of the float32 model's logits (1000
                      values) after torchvision's evaluation transform (Resize(256),
                      CenterCrop(224), ToTensor, Normalize(ImageNet mean/std)) on the
                      PIL image read back from the PNG; metadata "alexnet" (JSON): the
                      hash constants, each tensor's name, shape, storage key, exp_k, the
                      exact integer sum of its (h >> 8) - 2^23 and its first values,
                      so the Go side checks its formula before predicting; the
                      archive's record order and other records; per image PyTorch's
                      top-5 classes, probabilities and torchvision's names for them,
                      and how far float32 is from a float64 run of the same model.

Needs Debian's python3-torch 1.13 and python3-torchvision 0.14 (CPU), numpy and PIL.
Deterministic: a rerun writes the same bytes. Takes about 15 seconds and 2 GB of memory.
"""

import io
import json
import os
import struct
import sys
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
from torchvision.models._meta import _IMAGENET_CATEGORIES as CATEGORIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "internal", "app", "testdata")

# hash32's constants (multipliers from the "lowbias32" family of integer hashes).
SEED_I = 0x9E3779B1
SEED_K = 0x85EBCA77
MUL_1 = 0x7FEB352D
MUL_2 = 0x846CA68B

# exp_k per tensor: weights 2^exp uniform. With fan-in n, uniform [-a, a) keeps a
# ReLU network's activations steady for a ~ sqrt(6/n); the powers of two below are
# that to within a factor 1.5. Biases are small; fc8's weights set how far apart
# the logits are: at the steady 2^-5 their spread is ~0.5 and the softmax nearly
# uniform (top-1 < 0.01), a weak test; at 2^-2 each image's top-1 is a different
# class with probability 0.15 to 0.57.
EXPONENTS = OrderedDict([
    ("features.0.weight", -3),    # fan-in 363:  sqrt(6/363)  = 0.128
    ("features.0.bias", -4),
    ("features.3.weight", -4),    # fan-in 1600: 0.061
    ("features.3.bias", -4),
    ("features.6.weight", -4),    # fan-in 1728: 0.059
    ("features.6.bias", -4),
    ("features.8.weight", -5),    # fan-in 3456: 0.042
    ("features.8.bias", -4),
    ("features.10.weight", -5),   # fan-in 2304: 0.051
    ("features.10.bias", -4),
    ("classifier.1.weight", -6),  # fan-in 9216: 0.026
    ("classifier.1.bias", -4),
    ("classifier.4.weight", -5),  # fan-in 4096: 0.038
    ("classifier.4.bias", -4),
    ("classifier.6.weight", -2),  # 8x steady: logits with std 3-6, top-1 0.15-0.57
    ("classifier.6.bias", -4),
])

IMAGES = [(256, 256), (300, 200), (500, 375)]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def hash32(i, k):
    """The formula's hash; i is a uint32 array, k a small int. numpy's uint32
    arithmetic wraps modulo 2^32, as Go's does."""
    h = i * np.uint32(SEED_I) + np.uint32(((k + 1) * SEED_K) & 0xFFFFFFFF)
    h ^= h >> np.uint32(16)
    h *= np.uint32(MUL_1)
    h ^= h >> np.uint32(15)
    h *= np.uint32(MUL_2)
    h ^= h >> np.uint32(16)
    return h


def formula(k, n):
    """The k-th tensor's n values as integers in [-2^23, 2^23) (to be scaled)."""
    assert n < 2**32
    with np.errstate(over="ignore"):
        h = hash32(np.arange(n, dtype=np.uint32), k)
    return (h >> np.uint32(8)).astype(np.int64) - (1 << 23)


def set_weights(model):
    sd = model.state_dict()
    assert list(sd.keys()) == list(EXPONENTS.keys()), list(sd.keys())
    meta = []
    with torch.no_grad():
        for k, (name, exp) in enumerate(EXPONENTS.items()):
            t = sd[name]
            q = formula(k, t.numel())
            v = (q.astype(np.float32) * np.float32(2.0 ** (exp - 23))).reshape(t.shape)
            # The product of a 24-bit integer and a power of two is exact.
            assert np.array_equal(v.astype(np.float64), q.reshape(t.shape) * 2.0 ** (exp - 23))
            t.copy_(torch.from_numpy(v))
            meta.append({"name": name, "shape": list(t.shape), "exp": exp,
                         "isum": int(q.sum()), "first": [float(x) for x in v.reshape(-1)[:4]]})
    return meta


def smooth_image(w, h, seed):
    """Blobs and stripes of different colours per image, smooth enough to compress."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img += rng.uniform(40, 200, size=3)
    for _ in range(6):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.1, 0.3) * min(w, h)
        col = rng.uniform(-120, 120, size=3)
        img += col * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
    fx, fy = rng.uniform(0.02, 0.2, size=2)
    img += rng.uniform(10, 50, size=3) * np.sin(fx * x + fy * y)[..., None]
    img += rng.integers(-2, 3, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_safetensors(path, tensors, metadata):
    """Hand-written safetensors (float32 only), so no safetensors package is needed."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    report(path)


def report(path):
    print(f"wrote {os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def save_and_check(model, meta):
    """torch.save the state_dict, keep its data.pkl, and check that the archive's
    storages are exactly the formula's values, so the Go test rebuilds this file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "alexnet-formula.pth")
        torch.save(model.state_dict(), path)
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            prefix = names[0].split("/")[0] + "/"
            pkl = z.read(prefix + "data.pkl")
            others = {}
            # Which storage holds which tensor: load the file and match by content.
            sd = torch.load(path)
            by_key = {}
            for n in names:
                rest = n[len(prefix):]
                if rest.startswith("data/"):
                    by_key[rest[len("data/"):]] = z.read(n)
                elif rest != "data.pkl":
                    others[rest] = z.read(n).decode()
        records = [n[len(prefix):] for n in names]
    assert len(by_key) == len(meta), (len(by_key), len(meta))
    for m in meta:
        want = sd[m["name"]].numpy().astype("<f4").tobytes()
        keys = [key for key, b in by_key.items() if b == want]
        assert len(keys) == 1, (m["name"], keys)
        m["key"] = keys[0]
    return pkl, records, others


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.alexnet()  # no weights: all are set below
    meta = set_weights(model)
    model.eval()
    pkl, records, others = save_and_check(model, meta)
    with open(os.path.join(OUT, "tv_alexnet_data.pkl"), "wb") as f:
        f.write(pkl)
    report(os.path.join(OUT, "tv_alexnet_data.pkl"))
    model64 = torchvision.models.alexnet().double()
    model64.load_state_dict(model.state_dict())
    model64.eval()

    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean=MEAN, std=STD)])
    expected = OrderedDict()
    stats = {}
    for seed, (w, h) in enumerate(IMAGES):
        name = f"tv_{w}x{h}"
        path = os.path.join(OUT, name + ".png")
        Image.fromarray(smooth_image(w, h, seed=300 + seed), "RGB").save(path, optimize=True)
        report(path)
        x = tf(Image.open(path).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            logits = model(x)[0]
            logits64 = model64(x.double())[0]
        p = torch.softmax(logits, 0).numpy()
        p64 = torch.softmax(logits64, 0).numpy()
        expected[name + ".probs"] = p
        top = np.argsort(-p)[:5]
        rel = float(np.max(np.abs(p.astype(np.float64) - p64) / p64))
        stats[name] = {"top5": [int(i) for i in top], "top5_probs": [float(p[i]) for i in top],
                       "top5_labels": [CATEGORIES[i] for i in top],
                       "logit_std": float(logits.std()), "float32_vs_float64_rel": rel}
        print(f"{name}: top-5 {top.tolist()} p {[round(float(p[i]), 4) for i in top]}, "
              f"logit std {float(logits.std()):.3f}, float32 vs float64 max relative {rel:.2e}")
    tops = {s["top5"][0] for s in stats.values()}
    if len(tops) < len(IMAGES):
        print("warning: images share a top-1 class", file=sys.stderr)
    info = {
        "formula": "h = i*seed_i + (k+1)*seed_k; h ^= h>>16; h *= mul_1; h ^= h>>15; h *= mul_2; h ^= h>>16; "
                   "w = ((h>>8) - 2^23) * 2^(exp-23), all uint32",
        "seed_i": SEED_I, "seed_k": SEED_K, "mul_1": MUL_1, "mul_2": MUL_2,
        "tensors": meta,
        "records": records,
        "other_records": others,
        "pytorch": stats,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    write_safetensors(os.path.join(OUT, "tv_predict.safetensors"), expected,
                      {"alexnet": json.dumps(info, separators=(",", ":"))})


if __name__ == "__main__":
    main()
