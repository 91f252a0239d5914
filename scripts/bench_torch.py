#!/usr/bin/env python3
"""PyTorch baseline for `alexnet bench`: the paper's AlexNet (Krizhevsky et al. 2012)
in plain PyTorch (no torchvision), timed for training steps and inference on random
data of the paper's 227x227 input, the same work the Go trainer does per step.

    python3 scripts/bench_torch.py --device cuda --batch 128 [--tf32] [--steps 20]
    python3 scripts/bench_torch.py --device cpu --batch 8 --threads 2

Prints one JSON object: images per second for a training step (forward, backward,
SGD with momentum and weight decay) and for inference (forward under no_grad), each
as the median and the best step after the warm-up, and the peak memory
(torch.cuda.max_memory_allocated on a GPU, the process's ru_maxrss on the CPU).
"""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
from torch import nn


class AlexNet(nn.Module):
    """The 2012 network with its two-tower groups: conv2, conv4 and conv5 see half the
    channels. LRN's alpha is divided by size inside PyTorch (as in cuda-convnet, Caffe
    and cuDNN). 60,965,224 parameters."""

    def __init__(self, classes=1000):
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=11, stride=4), nn.ReLU(inplace=True), lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def timed(fn, steps, warmup, sync):
    """Runs fn warmup times untimed, then steps times; returns seconds per step."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in convolutions and matmuls")
    ap.add_argument("--no-benchmark", action="store_true", help="do not let cuDNN time its algorithms")
    ap.add_argument("--steps", type=int, default=20, help="timed steps of each kind")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--size", type=int, default=0, help="input height and width (default: 227 for paper, 224 for owt)")
    ap.add_argument("--model", choices=["paper", "owt"], default="paper",
                    help="paper: the 2012 network (LRN, groups); owt: torchvision's alexnet")
    ap.add_argument("--out", help="also write the JSON to this file")
    args = ap.parse_args()
    if args.batch <= 0 or args.steps <= 0 or args.warmup < 0:
        ap.error("--batch and --steps must be positive, --warmup non-negative")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_torch: CUDA is not available to this PyTorch")
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = not args.no_benchmark
        sync = torch.cuda.synchronize
    else:
        sync = lambda: None

    torch.manual_seed(0)
    if args.model == "owt":
        import torchvision
        model = torchvision.models.alexnet().to(dev)
        args.size = args.size or 224
    else:
        model = AlexNet().to(dev)
        args.size = args.size or 227
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    labels = torch.randint(0, 1000, (args.batch,), device=dev)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            model(x)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model.train()
    train = timed(train_step, args.steps, args.warmup, sync)
    model.eval()
    infer = timed(infer_step, args.steps, args.warmup, sync)

    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": args.device,
        "batch": args.batch,
        "model": args.model,
        "input": args.size,
        "params": params,
        "tf32": args.tf32,
        "steps": args.steps,
        "warmup": args.warmup,
        "train_images_per_sec": args.batch / statistics.median(train),
        "train_images_per_sec_best": args.batch / min(train),
        "infer_images_per_sec": args.batch / statistics.median(infer),
        "infer_images_per_sec_best": args.batch / min(infer),
        "train_step_ms_median": 1e3 * statistics.median(train),
        "infer_step_ms_median": 1e3 * statistics.median(infer),
    }
    if dev.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(dev)
        result["cuda"] = torch.version.cuda
        result["cudnn"] = torch.backends.cudnn.version()
        result["cudnn_benchmark"] = not args.no_benchmark
        result["peak_memory_bytes"] = torch.cuda.max_memory_allocated(dev)
        result["peak_memory_kind"] = "torch.cuda.max_memory_allocated"
    else:
        result["threads"] = torch.get_num_threads()
        # ru_maxrss is in KiB on Linux.
        result["peak_memory_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        result["peak_memory_kind"] = "ru_maxrss"
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
