#!/usr/bin/env python3
"""PyTorch baseline for `alexnet bench`: the paper's AlexNet (Krizhevsky et al. 2012)
in plain PyTorch (no torchvision), timed for training steps and inference on random
data of the paper's 227x227 input, the same work the Go trainer does per step.

    python3 scripts/bench_torch.py --device cuda --batch 128 [--precision tf32] [--steps 20]
    python3 scripts/bench_torch.py --device cuda --batch 256 --precision bf16 --channels-last
    python3 scripts/bench_torch.py --device cpu --batch 8 --threads 2

Prints one JSON object: images per second for a training step (forward, backward,
SGD with momentum and weight decay) and for inference (forward under no_grad), each
as the median and the best step after the warm-up, and the peak memory
(torch.cuda.max_memory_allocated on a GPU, the process's ru_maxrss on the CPU).

--precision: fp32 (TF32 off), tf32 (TF32 allowed in convolutions and matmuls; --tf32
is the same), bf16 or fp16: standard automatic mixed precision, torch.autocast around
the forward pass and the loss in training and inference, the model's weights and the
optimizer's state staying fp32 (master weights), and for fp16 a GradScaler in the
training step. TF32 stays off under bf16/fp16, so whatever autocast keeps in fp32 runs
in true fp32. On the CPU, autocast knows bf16 only (PyTorch 1.13 on): fp16 there
exits with a message. --channels-last puts the model and the input in NHWC
(torch.channels_last), what a tuned PyTorch user does for tensor cores.
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


def owt_alexnet(classes=1000):
    """torchvision.models.alexnet's layers (One weird trick, Krizhevsky 2014: 61,100,840
    parameters), for a PyTorch without torchvision; default initialisation."""
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        ),
        nn.AdaptiveAvgPool2d((6, 6)),
        nn.Flatten(1),
        nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, classes),
        ),
    )


def grad_scaler(device_type):
    """torch.amp.GradScaler where this PyTorch has it (2.3 on), else torch.cuda.amp's."""
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        try:
            return amp.GradScaler(device_type)
        except TypeError:
            pass
    return torch.cuda.amp.GradScaler()


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
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default=None,
                    help="fp32 (default), tf32 (TF32 allowed), bf16 or fp16 (autocast, fp32 master weights)")
    ap.add_argument("--tf32", action="store_true", help="the same as --precision tf32")
    ap.add_argument("--channels-last", action="store_true",
                    help="model and input in torch.channels_last (NHWC)")
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
    if args.tf32:
        if args.precision not in (None, "tf32"):
            ap.error("--tf32 is --precision tf32; it does not go with --precision " + args.precision)
        args.precision = "tf32"
    args.precision = args.precision or "fp32"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    if args.device == "cpu" and args.precision == "fp16":
        sys.exit("bench_torch: --precision fp16 needs --device cuda: PyTorch's CPU autocast "
                 "supports bf16 only")
    if args.device == "cpu" and args.precision == "tf32":
        sys.exit("bench_torch: --precision tf32 needs --device cuda (TF32 is a GPU tensor-core format)")

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_torch: CUDA is not available to this PyTorch")
        tf32 = args.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = not args.no_benchmark
        sync = torch.cuda.synchronize
    else:
        sync = lambda: None

    torch.manual_seed(0)
    model_source = "bench_torch.AlexNet"
    if args.model == "owt":
        try:
            import torchvision
            model = torchvision.models.alexnet()
            model_source = "torchvision.models.alexnet"
        except ImportError:
            model = owt_alexnet()
            model_source = "bench_torch.owt_alexnet (no torchvision)"
        args.size = args.size or 224
    else:
        model = AlexNet()
        args.size = args.size or 227
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(dev, memory_format=memory_format)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev).contiguous(memory_format=memory_format)
    labels = torch.randint(0, 1000, (args.batch,), device=dev)

    if amp_dtype is not None:
        autocast = lambda: torch.autocast(device_type=dev.type, dtype=amp_dtype)
    else:
        import contextlib
        autocast = contextlib.nullcontext
    scaler = grad_scaler(dev.type) if args.precision == "fp16" else None

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(x), labels)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    def infer_step():
        with torch.no_grad(), autocast():
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
        "model_source": model_source,
        "input": args.size,
        "params": params,
        "precision": args.precision,
        "tf32": args.precision == "tf32",
        "channels_last": args.channels_last,
        "grad_scaler": scaler is not None,
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
