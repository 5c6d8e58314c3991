#!/usr/bin/env python3
"""Eager PyTorch epochs of the report's CNN (SPEC section 2) on a GPU, the
baseline of `repro bench epoch --backend vulkan` (same sizes: batches of 64
in a seeded shuffle, Adam, the evaluation at batch 256 after each epoch).
Random images stand in for CIFAR-10: speed depends on shapes, not pixels.
Prints one line an epoch: "epoch N: S s"."""
import argparse
import time

import torch
from torch import nn

from torch_reference import model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=50_000)
    ap.add_argument("--eval", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.rand(a.train, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (a.train,), device=dev)
    xe = torch.rand(a.eval, 3, 32, 32, device=dev)
    ye = torch.randint(0, 10, (a.eval,), device=dev)
    m = model().to(dev)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    for epoch in range(1, a.epochs + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        m.train()
        order = torch.randperm(a.train, device=dev)
        total = torch.zeros((), device=dev)
        for i in range(0, a.train, 64):
            idx = order[i:i + 64]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        m.eval()
        correct = torch.zeros((), device=dev, dtype=torch.long)
        with torch.no_grad():
            for i in range(0, a.eval, 256):
                correct += (m(xe[i:i + 256]).argmax(1) == ye[i:i + 256]).sum()
        _ = (total.item(), correct.item())
        print(f"epoch {epoch}: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
