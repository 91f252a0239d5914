#!/usr/bin/python3
"""Writes the fixtures for internal/torchload (reading PyTorch files, torchvision's
evaluation transform).

    /usr/bin/python3 scripts/make_torchvision_fixtures.py      (from the repository root)

writes, under internal/torchload/testdata/,
    tiny_zip.pt            a small state_dict saved by torch.save (zip format, pickle
                           protocol 2, the default)
    tiny_legacy.pt         the same state_dict, _use_new_zipfile_serialization=False
    checkpoint_p4.pt       a training-checkpoint-like dict {"epoch", "args", "state_dict",
                           "best"} around the same state_dict, zip format, pickle protocol 4
                           (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL, NEWOBJ)
    tiny_expected.safetensors  every tensor of the state_dict as float32, in order
    img_256x256.png, img_300x200.png, img_448x320.png
                           smooth colour images with a little noise (the last one is
                           shrunk by Resize(256), which exercises PIL's antialiasing)
    transform_expected.safetensors
                           torchvision's evaluation transform (Resize(256) on the PIL
                           image, CenterCrop(224), ToTensor, Normalize(ImageNet mean/std))
                           of each image, kept small: every 7th row and column of the
                           3x224x224 output ("<img>.sub7", 3x32x32, rows/columns 0,7,...,217)
                           and the per-channel sums over all 224x224 values
                           ("<img>.sum", 2x3: accumulated in float64, stored as a
                           float32 high part (row 0) plus the float32 remainder (row 1))
                           and the per-channel sums of the 0..255 grey levels after
                           Resize and CenterCrop ("<img>.levelsum", exact integers)

The state_dict mixes what real files contain: float32 weights, float16, bfloat16 and
float64 tensors, an int64 counter (BatchNorm's num_batches_tracked), a 0-d tensor, an
empty tensor, a transposed (non-contiguous) tensor, a strided slice with a storage
offset, and two tensors sharing one storage at different offsets, plus the
OrderedDict._metadata attribute a Module's state_dict() carries (a BUILD opcode).

Needs Debian's python3-torch 1.13 and python3-torchvision 0.14 (CPU), numpy and PIL.
The Go tests need none of them. Values are seeded; the legacy file's storage keys are
memory addresses, so its bytes (not its content) change from run to run.
"""

import argparse
import json
import os
import struct
from collections import OrderedDict

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "internal", "torchload", "testdata")


def write_safetensors(path, tensors, metadata=None):
    """Hand-written safetensors (float32 only), so no safetensors package is needed."""
    header = {"__metadata__": metadata} if metadata else {}
    blobs, off = [], 0
    for name, t in tensors.items():
        a = np.array(t, dtype="<f4", order="C")  # keeps 0-d shapes, unlike ascontiguousarray
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    report(path)


def report(path):
    print(f"wrote {os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def tiny_state_dict():
    g = torch.Generator().manual_seed(1956)
    randn = lambda *s: torch.randn(*s, generator=g)
    sd = OrderedDict()
    sd["conv.weight"] = randn(4, 3, 2, 2)
    sd["conv.bias"] = randn(4)
    # A transposed view: shape [3, 5], strides (1, 3), storage of 15 values.
    sd["fc.weight_t"] = randn(5, 3).t()
    # Every other row, columns 1..3 of a 6x4 matrix: offset 1, strides (8, 1).
    sd["strided"] = randn(6, 4)[::2, 1:]
    # Two views of one 20-value storage; torch.save writes the storage once.
    shared = randn(20)
    sd["shared.first"] = shared[2:8].view(2, 3)
    sd["shared.second"] = shared[10:18].view(4, 2)
    sd["half"] = randn(2, 3).half()
    sd["bf16"] = randn(5).bfloat16()
    sd["double"] = randn(2, 2).double()
    sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    # What Module.state_dict() attaches; pickled through BUILD.
    sd._metadata = OrderedDict([("", {"version": 1}), ("conv", {"version": 1})])
    return sd


def make_state_dicts():
    sd = tiny_state_dict()
    torch.save(sd, os.path.join(OUT, "tiny_zip.pt"))
    report(os.path.join(OUT, "tiny_zip.pt"))
    torch.save(sd, os.path.join(OUT, "tiny_legacy.pt"), _use_new_zipfile_serialization=False)
    report(os.path.join(OUT, "tiny_legacy.pt"))
    ckpt = {
        "epoch": 3,
        "args": argparse.Namespace(arch="alexnet", lr=0.01),
        "state_dict": sd,
        "best": 0.5612,
    }
    torch.save(ckpt, os.path.join(OUT, "checkpoint_p4.pt"), pickle_protocol=4)
    report(os.path.join(OUT, "checkpoint_p4.pt"))
    expected = OrderedDict((k, v.detach().to(torch.float32).numpy()) for k, v in sd.items())
    write_safetensors(os.path.join(OUT, "tiny_expected.safetensors"), expected)


def smooth_image(w, h, seed):
    """Gradients and low-frequency waves in each channel, plus +-3 levels of noise:
    smooth enough to compress, varied enough that a wrong filter tap shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(3):
        fx, fy = rng.uniform(0.01, 0.08, size=2)
        px, py = rng.uniform(0, 2 * np.pi, size=2)
        v = (90 * (x / w) + 60 * (y / h) * (c - 1)
             + 50 * np.sin(fx * x + px) * np.cos(fy * y + py) + 128)
        chans.append(v)
    img = np.stack(chans, axis=-1)
    # A sharp-edged square: where antialiasing matters most.
    img[h // 4:h // 4 + h // 5, w // 3:w // 3 + w // 5, :] = [250, 20, 40]
    img += rng.integers(-3, 4, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_images():
    tf = T.Compose([
        T.Resize(256),
        T.CenterCrop(224),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    expected = OrderedDict()
    for i, (w, h) in enumerate([(256, 256), (300, 200), (448, 320)]):
        name = f"img_{w}x{h}"
        path = os.path.join(OUT, name + ".png")
        Image.fromarray(smooth_image(w, h, seed=100 + i), "RGB").save(path, optimize=True)
        report(path)
        # Read back from the file, as the Go side does.
        x = tf(Image.open(path).convert("RGB"))
        assert tuple(x.shape) == (3, 224, 224)
        expected[name + ".sub7"] = x[:, ::7, ::7].numpy()
        # float32 alone would round a sum near 80000 to 0.008; hi + lo keeps ~1e-9.
        sums = x.double().sum(dim=(1, 2)).numpy()
        hi = sums.astype(np.float32)
        expected[name + ".sum"] = np.stack([hi, (sums - hi.astype(np.float64)).astype(np.float32)])
        # The grey levels after resizing and cropping, summed per channel: integers
        # below 224*224*255 < 2^24, exact in float32, so one level off anywhere shows.
        pil = T.CenterCrop(224)(T.Resize(256)(Image.open(path).convert("RGB")))
        expected[name + ".levelsum"] = np.asarray(pil, dtype=np.int64).sum(axis=(0, 1)).astype(np.float32)
    write_safetensors(os.path.join(OUT, "transform_expected.safetensors"), expected,
                      {"transform": "Resize(256) CenterCrop(224) ToTensor Normalize(imagenet)",
                       "torchvision": __import__("torchvision").__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    make_state_dicts()
    make_images()


if __name__ == "__main__":
    main()
