#!/usr/bin/env python3
"""PyTorch's side of `alexnet predict`'s benchmarks: torchvision's AlexNet from a .pth,
torchvision's ImageNet transform (Resize 256, CenterCrop 224, normalise), top-5 per
image, on the CPU, imports included in the time (Debian's python3-torch and
python3-torchvision; use /usr/bin/python3).

    /usr/bin/python3 scripts/predict_torch.py alexnet-owt.pth rose.jpg         # one image
    /usr/bin/python3 scripts/predict_torch.py alexnet-owt.pth --folder DIR     # DIR/<class>/*.jpg

--folder is the plain loop a PyTorch user writes: ImageFolder, a DataLoader with 2
workers and batch 32, torch.no_grad(); one JSON line per image on stdout.
"""

import argparse
import json
import sys

import torch
import torchvision
from torchvision import transforms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("images", nargs="*")
    ap.add_argument("--folder")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    model = torchvision.models.alexnet()
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    model.eval()
    tf = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    out = sys.stdout
    with torch.no_grad():
        if a.folder:
            ds = torchvision.datasets.ImageFolder(a.folder, transform=tf)
            dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, num_workers=a.workers)
            i = 0
            for x, _ in dl:
                p = torch.softmax(model(x), dim=1)
                top = torch.topk(p, 5)
                for row in range(x.shape[0]):
                    out.write(json.dumps({"image": ds.samples[i][0], "top5": top.indices[row].tolist(),
                                          "p": top.values[row].tolist()}) + "\n")
                    i += 1
        else:
            from PIL import Image
            for path in a.images:
                x = tf(Image.open(path).convert("RGB")).unsqueeze(0)
                p = torch.softmax(model(x), dim=1)
                top = torch.topk(p, 5)
                out.write(json.dumps({"image": path, "top5": top.indices[0].tolist(), "p": top.values[0].tolist()}) + "\n")


if __name__ == "__main__":
    main()
