"""Time one training step of AlexNet's conv2 in PyTorch on CPU, for comparison with
BenchmarkConv2 (go test -bench Conv2 ./internal/onednn/).

    /usr/bin/python3 internal/onednn/testdata/conv2_torch.py [--threads 2] [--iters 20]

A step is forward, then backward to x, w and b (w.grad and b.grad accumulate, as the
Go backend's dw and db do). Prints the median and minimum milliseconds per step.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--batch", type=int, default=32)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
x = (torch.rand(a.batch, 96, 27, 27) - 0.5).requires_grad_()
w = (torch.rand(256, 48, 5, 5) - 0.5).requires_grad_()
b = (torch.rand(256) - 0.5).requires_grad_()
dy = torch.rand(a.batch, 256, 27, 27) - 0.5


def step():
    y = F.conv2d(x, w, b, stride=1, padding=2, groups=2)
    y.backward(dy)


step()
times = []
for _ in range(a.iters):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
flops = 3 * 2 * a.batch * 256 * 27 * 27 * 48 * 25
med = statistics.median(times)
print(f"torch {torch.__version__} threads {torch.get_num_threads()} mkldnn {torch.backends.mkldnn.is_available()}: "
      f"conv2 step median {med*1e3:.1f} ms, min {min(times)*1e3:.1f} ms, {flops/med/1e9:.1f} GFLOP/s")
