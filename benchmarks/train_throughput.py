"""Training throughput on this CPU: A2N x4, batch 16, LR patch 48 (issue: bf16 + channels_last >= 5x fp32 eager,
full loop >= 90% of model-only speed).

Usage: python benchmarks/train_throughput.py [--iters 8] [--threads N] [--out benchmarks/results/train_throughput.json]

Four figures, all medians of per-iteration wall times measured in one run:
  * model-only fp32 eager NCHW: forward, L1, backward, Adam step on one fixed in-memory batch;
  * model-only bf16 autocast + channels_last (the CPU default of the training recipes);
  * the data pipeline alone (PatchSampler.next_batch on the 291 set: crop, flips/rotations, stacking);
  * the full loop: ``attnsr.train.train`` with the CPU recipe configs/local/a2n_x4_291.yaml (bf16 +
    channels_last), including sampling, gradient clipping, the scheduler, logging and a checkpoint every 100
    iterations (time between steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from attnsr import create_model
from attnsr.config import load_config
from attnsr.data.datasets import PatchSampler, load_pairs
from attnsr.data.lr_cache import default_lr_cache
from attnsr.outputs import write_text
from attnsr.settings import shared_root
from attnsr.train import train


def model_only(*, bf16: bool, channels_last: bool, batch, iters: int, warmup: int) -> list[float]:
    torch.manual_seed(0)
    model = create_model("a2n", scale=4)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr, hr = batch
    if channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            sr = model(lr)
        loss = F.l1_loss(sr.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/train_throughput.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = shared_root()
    dirs = [root / "data" / "T91" / "HR", root / "data" / "BSD200" / "HR"]
    pairs = load_pairs(dirs, scale=4, cache_dir=default_lr_cache(), min_lr_side=48)
    sampler = PatchSampler(pairs, scale=4, patch_size=48, batch_size=16, augment=True, seed=0)

    data_times = []
    for _ in range(50):
        t0 = time.perf_counter()
        batch = sampler.next_batch()
        data_times.append(time.perf_counter() - t0)

    fp32 = model_only(bf16=False, channels_last=False, batch=batch, iters=args.iters, warmup=args.warmup)
    bf16 = model_only(bf16=True, channels_last=True, batch=batch, iters=args.iters * 2, warmup=args.warmup)

    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            "configs/local/a2n_x4_291.yaml",
            [
                "data.val_dir=null",
                f"iterations={args.warmup + args.iters * 2}",
                "tensorboard=false",
                f"out_dir={tmp}/run",
                f"threads={args.threads}",
            ],
        )
        train(cfg, on_step=lambda info: stamps.append(time.perf_counter()))
    loop = [b - a for a, b in zip(stamps[args.warmup :], stamps[args.warmup + 1 :])]

    med = statistics.median
    res = {
        "model": "a2n",
        "scale": 4,
        "batch": 16,
        "lr_patch": 48,
        "threads": torch.get_num_threads(),
        "seconds_per_iter": {
            "fp32_eager_nchw_model_only": med(fp32),
            "bf16_channels_last_model_only": med(bf16),
            "bf16_channels_last_full_loop": med(loop),
            "data_pipeline_only": med(data_times),
        },
        "bf16_speedup_over_fp32": med(fp32) / med(bf16),
        "full_loop_fraction_of_model_only": med(bf16) / med(loop),
        "data_fraction_of_step": med(data_times) / med(loop),
        "samples": {"fp32": fp32, "bf16": bf16, "loop": loop},
    }
    write_text(args.out, json.dumps(res, indent=2), overwrite=True)
    for k, v in res["seconds_per_iter"].items():
        print(f"{k:32s} {v:.3f} s/it")
    print(f"bf16+channels_last speed-up over fp32 eager: {res['bf16_speedup_over_fp32']:.2f}x")
    print(f"full loop / model-only: {100 * res['full_loop_fraction_of_model_only']:.1f}%")
    print(f"data pipeline share of a step: {100 * res['data_fraction_of_step']:.1f}%")


if __name__ == "__main__":
    main()
