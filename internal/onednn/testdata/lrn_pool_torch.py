"""Time forward+backward of AlexNet's first LRN and max pooling in PyTorch on CPU, for
comparison with BenchmarkLRNPool.

    /usr/bin/python3 internal/onednn/testdata/lrn_pool_torch.py [--threads 2]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--iters", type=int, default=10)
a = ap.parse_args()
torch.set_num_threads(a.threads)
x = torch.rand(32, 96, 55, 55).requires_grad_()
for name, layer in [("lrn", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)),
                    ("maxpool", nn.MaxPool2d(3, 2))]:
    y = layer(x)
    dy = torch.rand_like(y)
    times = []
    for _ in range(a.iters + 1):
        t = time.perf_counter()
        y = layer(x)
        y.backward(dy)
        times.append(time.perf_counter() - t)
    times = times[1:]
    print(f"torch {name} forward+backward: median {statistics.median(times)*1e3:.1f} ms, min {min(times)*1e3:.1f} ms")
