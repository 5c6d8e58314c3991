#!/usr/bin/env python3
"""PyTorch CPU speed of the report's CNN (SPEC section 2), channels-last,
for `repro bench train`. Prints "train_images_per_s infer_images_per_s"."""
import argparse
import time

import torch
from torch import nn

from torch_reference import model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = model().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(64, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.arange(64) % 10
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(m(x), y).backward()
        opt.step()

    m.train()
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    train = 64 * a.steps / (time.perf_counter() - t)
    m.eval()
    xi = torch.rand(256, 3, 32, 32).to(memory_format=torch.channels_last)
    rounds = max(a.steps // 4, 3)
    with torch.no_grad():
        m(xi)
        t = time.perf_counter()
        for _ in range(rounds):
            m(xi)
    infer = 256 * rounds / (time.perf_counter() - t)
    print(f"{train:.2f} {infer:.2f}")


if __name__ == "__main__":
    main()
