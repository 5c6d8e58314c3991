#!/usr/bin/env python3
"""An independent PyTorch implementation of the report's training protocol
(SPEC sections 2-4), to check repro's burn training against.

It reads a build record (artifacts/records/<profile>.lock.json): for every
train stage there, it takes the stage's parameters and the very dataset
artifact that stage trained on, trains the same protocol in PyTorch with the
same seed number (its own random streams: init, shuffling, dropout and
augmentation are drawn by torch and numpy, not by repro's generators), and
prints our test accuracy and loss beside repro's. Runs that share a label
(model c at several seeds) are also compared as mean +- std.

    python3 bench/torch_reference.py --record artifacts/records/reference.lock.json \
        --out bench/results/reference.json
"""
import argparse
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MAGIC = b"REPRODS1"
# Keras defaults where SPEC is silent; the record only holds what a stage set.
DEFAULTS = {
    "batch_size": 64, "eval_batch_size": 256, "lr": 1e-3, "lr_schedule": [], "optimizer": "adam",
    "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "momentum": 0.9, "rho": 0.9, "patience": 100,
    "rotation_degrees": 0.0, "horizontal_flip": False, "seed": 0, "batch_norm": True,
    "bn_momentum": 0.99, "bn_epsilon": 1e-3, "dropout_conv": 0.25, "dropout_dense": 0.5,
}


def model(batch_norm=True, bn_momentum=0.99, bn_epsilon=1e-3, dropout_conv=0.25, dropout_dense=0.5):
    """SPEC section 2: Conv-ReLU-BN blocks, Keras initialisation (Glorot-uniform
    kernels, zero biases) and Keras BatchNorm (momentum weighs the old value)."""

    def block(c_in, c_out, second):
        layers = [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out, momentum=1.0 - bn_momentum, eps=bn_epsilon))
        if second:
            layers += [nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU()]
        return layers + [nn.MaxPool2d(2), nn.Dropout(dropout_conv)]

    net = nn.Sequential(
        *block(3, 64, True), *block(64, 128, True), *block(128, 256, False),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 512), nn.ReLU(), nn.Dropout(dropout_dense), nn.Linear(512, 10),
    )
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def read_dataset(path):
    """repro's dataset artifact: magic, u64 header length, JSON header, then
    train images (u8 HWC), train labels, test images, test labels."""
    raw = Path(path).read_bytes()
    if raw[:8] != MAGIC:
        sys.exit(f"{path} is not a repro dataset (bad magic)")
    (n,) = struct.unpack("<Q", raw[8:16])
    header = json.loads(raw[16:16 + n])
    at = 16 + n
    splits = []
    for count in (header["train"], header["test"]):
        images = np.frombuffer(raw, np.uint8, count * 3072, at).reshape(count, 32, 32, 3)
        at += count * 3072
        labels = np.frombuffer(raw, np.uint8, count, at).astype(np.int64)
        at += count
        splits.append((torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float() / 255.0, torch.from_numpy(labels)))
    return splits


def learning_rate(lr, schedule, epoch):
    """lr times the factor of the last step whose (0-based) epoch is passed."""
    factor = 1.0
    for after, f in schedule:
        if epoch > after:
            factor = f
    return lr * factor


def augment(x, p, gen):
    """Keras ImageDataGenerator: rotation in [-r, r] degrees (bilinear,
    nearest-edge fill) and a coin-flip horizontal mirror."""
    n = x.shape[0]
    if p["rotation_degrees"] > 0:
        angles = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(p["rotation_degrees"])
        c, s = torch.cos(angles), torch.sin(angles)
        zero = torch.zeros(n)
        theta = torch.stack([torch.stack([c, s, zero], 1), torch.stack([-s, c, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    if p["horizontal_flip"]:
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def optimizer(p, params):
    kind = p["optimizer"]
    if kind == "adam":
        return torch.optim.Adam(params, lr=p["lr"], betas=(p["beta_1"], p["beta_2"]), eps=p["epsilon"])
    if kind == "sgd":
        return torch.optim.SGD(params, lr=p["lr"], momentum=p["momentum"])
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=p["lr"], alpha=p["rho"], eps=p["epsilon"], momentum=0.0, centered=False)
    sys.exit(f"unknown optimizer {kind!r}")


@torch.no_grad()
def evaluate(net, x, y, batch):
    net.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        xb = x[i:i + batch].contiguous(memory_format=torch.channels_last)
        out = net(xb)
        loss += F.cross_entropy(out, y[i:i + batch], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(y), correct / len(y)


def train(p, data, log):
    (xtr, ytr), (xte, yte) = data
    seed = p["seed"]
    torch.manual_seed(seed)
    net = model(p["batch_norm"], p["bn_momentum"], p["bn_epsilon"], p["dropout_conv"], p["dropout_dense"])
    net = net.to(memory_format=torch.channels_last)
    opt = optimizer(p, net.parameters())
    order_rng = np.random.default_rng(seed)
    aug_gen = torch.Generator().manual_seed(seed + 1_000_003)
    history, best, wait = [], math.inf, 0
    for epoch in range(p["epochs"]):
        started = time.perf_counter()
        lr = learning_rate(p["lr"], p["lr_schedule"], epoch)
        for group in opt.param_groups:
            group["lr"] = lr
        net.train()
        order = torch.from_numpy(order_rng.permutation(len(ytr)))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), p["batch_size"]):
            idx = order[i:i + p["batch_size"]]
            xb = augment(xtr[idx], p, aug_gen).contiguous(memory_format=torch.channels_last)
            out = net(xb)
            loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == ytr[idx]).sum().item()
        val_loss, val_acc = evaluate(net, xte, yte, p["eval_batch_size"])
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / len(ytr), "train_accuracy": correct / len(ytr),
               "val_loss": val_loss, "val_accuracy": val_acc, "seconds": time.perf_counter() - started}
        history.append(row)
        log(f"  epoch {epoch + 1}/{p['epochs']} lr {lr:.2e} train {row['train_loss']:.4f}/{row['train_accuracy']:.4f} "
            f"val {val_loss:.4f}/{val_acc:.4f} ({row['seconds']:.0f} s)")
        # Keras EarlyStopping(val_loss, patience), no weight restore.
        if val_loss < best:
            best, wait = val_loss, 0
        else:
            wait += 1
            if wait >= p["patience"] and epoch + 1 < p["epochs"]:
                break
    return {"test_loss": history[-1]["val_loss"], "test_accuracy": history[-1]["val_accuracy"], "history": history}


def store_object(store, sha):
    return Path(store) / "objects" / sha[:2] / sha[2:]


def mean_std(values):
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, s


def table(runs):
    lines = ["| stage | model | seed | test acc (burn) | test acc (PyTorch) | test loss (burn) | test loss (PyTorch) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['stage']} | {r['label']} | {r['seed']} | {100 * r['burn']['test_accuracy']:.2f}% | "
                     f"{100 * r['torch']['test_accuracy']:.2f}% | {r['burn']['test_loss']:.4f} | {r['torch']['test_loss']:.4f} |")
    labels = sorted({r["label"] for r in runs if sum(q["label"] == r["label"] for q in runs) > 1})
    for label in labels:
        group = [r for r in runs if r["label"] == label]
        b = mean_std([100 * r["burn"]["test_accuracy"] for r in group])
        t = mean_std([100 * r["torch"]["test_accuracy"] for r in group])
        lines.append("")
        lines.append(f"model {label}, {len(group)} seeds: burn {b[0]:.2f} +- {b[1]:.2f}, PyTorch {t[0]:.2f} +- {t[1]:.2f}, "
                     f"difference {b[0] - t[0]:+.2f} points")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", required=True, help="a build record, artifacts/records/<profile>.lock.json")
    ap.add_argument("--store", default="artifacts")
    ap.add_argument("--stages", nargs="*", help="train stages to run (default: every one in the record)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the runs as JSON here")
    ap.add_argument("--reuse", nargs="*", default=[], metavar="JSON",
                    help="earlier --out files: a stage whose params and dataset match one of their runs takes that "
                         "PyTorch result instead of training again (only the burn side is read anew)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    record = json.loads(Path(a.record).read_text())
    stages = {k: v for k, v in record["stages"].items() if v["kind"] == "train" and (not a.stages or k in a.stages)}
    if not stages:
        sys.exit(f"{a.record}: no train stage to run")
    earlier = [r for f in a.reuse for r in json.loads(Path(f).read_text())["runs"]]
    datasets, runs = {}, []
    for name, st in stages.items():
        p = {**DEFAULTS, **st["params"]}
        if p.get("center_weight"):
            print(f"{name}: skipped (center loss is not in this reference)", file=sys.stderr)
            continue
        sha = st["inputs"]["data"]["dataset.bin"]
        burn = json.loads(store_object(a.store, st["outputs"]["metrics.json"]["sha256"]).read_text())
        print(f"{name} (model {p['label']}, seed {p['seed']}, {p['epochs']} epochs)", file=sys.stderr)
        same = [r for r in earlier if r["params"] == p and r.get("dataset", sha) == sha]
        if same:
            result = same[0]["torch"]
            print("  PyTorch result reused from an earlier run of the same params and dataset", file=sys.stderr)
        else:
            if sha not in datasets:
                datasets[sha] = read_dataset(store_object(a.store, sha))
            result = train(p, datasets[sha], lambda s: print(s, file=sys.stderr))
        runs.append({"stage": name, "label": p["label"], "seed": p["seed"], "params": p, "dataset": sha, "torch": result,
                     "burn": {"test_loss": burn["test_loss"], "test_accuracy": burn["test_accuracy"]}})
        print(f"  burn {100 * burn['test_accuracy']:.2f}%  PyTorch {100 * result['test_accuracy']:.2f}%", file=sys.stderr)
    print(table(runs))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"record": a.record, "torch": torch.__version__, "threads": a.threads, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
