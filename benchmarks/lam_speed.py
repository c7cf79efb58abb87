"""LAM path points batched vs one at a time: wall time and map agreement.

Two cases, each timed interleaved (sequential, batched) ``--repeats`` times, median reported:
- ``small_conv``: the small conv model of tests/test_lam.py (x2, 12x12 LR, 50 points) — the regime
  where per-call overhead dominates and batching pays most on a CPU;
- ``pan_x4``: PAN x4 (official weights when present, else random init — same speed) on a 32x32 LR crop
  of LAM demo 7.png — a compute-bound real model.

Usage: python benchmarks/lam_speed.py [--repeats 3] [--threads 1] [--skip-pan]
Writes benchmarks/results/lam_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import attnsr
from attnsr import build_from_checkpoint
from attnsr.analysis.images import image_input
from attnsr.analysis.lam import STEPS, Window, local_attribution_map
from attnsr.outputs import write_text
from attnsr.settings import shared_root


class TinySR(nn.Module):
    """The small conv model of tests/test_lam.py (x2, pixel shuffle)."""

    def __init__(self, feats: int = 2) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, feats, 3, padding=1)
        self.c2 = nn.Conv2d(feats, 12, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.c2(F.relu(self.c1(x))), 2)


def measure(model, lr, window, batch_size: int, repeats: int) -> dict:
    seq_t, bat_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        seq = local_attribution_map(model, lr, window, batch_size=1)
        seq_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        bat = local_attribution_map(model, lr, window, batch_size=batch_size)
        bat_t.append(time.perf_counter() - t)
    diff = float((bat.map - seq.map).abs().max())
    return {
        "lr_size": list(lr.shape[-2:]),
        "window": [window.row, window.col, window.height, window.width],
        "points": STEPS,
        "batch_size": batch_size,
        "sequential_s": seq_t,
        "batched_s": bat_t,
        "speedup": statistics.median(seq_t) / statistics.median(bat_t),
        "max_abs_map_difference": diff,
        "di_sequential": seq.di,
        "di_batched": bat.di,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-pan", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the speed test uses 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "cases": {},
    }
    torch.manual_seed(0)
    out["cases"]["small_conv"] = measure(
        TinySR().eval(), torch.rand(1, 3, 12, 12), Window(4, 4, 16, 16), STEPS, max(args.repeats, 5)
    )
    print("small_conv", round(out["cases"]["small_conv"]["speedup"], 2), flush=True)
    if not args.skip_pan:
        shared = shared_root()
        ckpt = shared / "weights/official/pan_x4.pth"
        model = (
            build_from_checkpoint(ckpt, name="pan", scale=4) if ckpt.is_file() else attnsr.create_model("pan", scale=4)
        ).eval()
        _, lr = image_input(shared / "data/lam/7.png", scale=4, is_hr=True)
        lr = lr[..., 24:56, 16:48].contiguous()  # 32x32 LR around the demo window (HR 150, 110)
        out["cases"]["pan_x4"] = measure(model, lr, Window(54, 46, 16, 16), 10, args.repeats)
        out["cases"]["pan_x4"]["weights"] = "official" if ckpt.is_file() else "random"
        print("pan_x4", round(out["cases"]["pan_x4"]["speedup"], 2), flush=True)
    path = Path("benchmarks/results/lam_speed.json")
    write_text(path, json.dumps(out, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
