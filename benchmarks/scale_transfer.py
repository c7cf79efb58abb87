"""Transfer between scales (training issue, item 3): does a ×3 (or ×4) A2N starting from the project's own
weights of another scale reach a given Set5 PSNR in fewer iterations than one trained from scratch?

Usage: python benchmarks/scale_transfer.py --scale 3 --init x2=PATH [--init x4=PATH] [--iters 150]
       [--every 50] [--threads 1] [--out benchmarks/results/scale_transfer_x3.json]

Every arm runs ``attnsr.train.train`` with the same recipe, seed and data order (the 291 set, batch 8, LR
patch 32, Adam 1e-3 with a 50-iteration warm-up then constant, L1, no EMA) and differs only in
``model.init_from`` (every tensor whose shape matches is copied; the upsampler of another scale is not).
Set5 PSNR (standard protocol, Y, fp32 forward) is measured every ``--every`` iterations. The result is
written with the CPU named; the table in docs/training/ is rendered from it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from attnsr.config import load_config
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.train import train


def run_arm(*, scale: int, init: str | None, iters: int, every: int, threads: int, work: Path) -> list[dict]:
    overrides = [
        f"model.scale={scale}",
        f"iterations={iters}",
        "data.batch_size=8",
        "data.patch_size=32",
        "optim.lr=1.0e-3",
        "optim.schedule=constant",
        "optim.warmup=50",
        "optim.grad_clip=1.0",
        f"val_every={every}",
        f"ckpt_every={iters}",
        f"log_every={every}",
        f"threads={threads}",
        "precision=fp32",
        "tensorboard=false",
        f"out_dir={work}",
    ]
    if init:
        overrides.append(f"model.init_from={init}")
    cfg = load_config(None, overrides)
    train(cfg)
    history = json.loads((work / "history.json").read_text())
    return [{"iteration": h["iteration"], "set5_psnr": round(h["val_psnr"], 4)} for h in history if "val_psnr" in h]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--init", action="append", default=[], metavar="NAME=PATH", help="an arm starting from PATH")
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    arms = {"scratch": None, **dict(a.split("=", 1) for a in args.init)}
    results = {}
    for name, init in arms.items():
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            curve = run_arm(
                scale=args.scale, init=init, iters=args.iters, every=args.every, threads=args.threads, work=Path(tmp)
            )
        results[name] = {"init_from": init, "curve": curve, "wall_s": round(time.time() - t0, 1)}
        print(name, curve, flush=True)
    out = args.out or Path(f"benchmarks/results/scale_transfer_x{args.scale}.json")
    payload = {
        "benchmark": "scale_transfer",
        "scale": args.scale,
        "recipe": "291 set, batch 8, LR patch 32, Adam 1e-3 (50-it warm-up, constant), L1, fp32, seed 0",
        "cpu": cpu_info().as_dict(),
        "torch": torch.__version__,
        "arms": results,
        "command": "python benchmarks/scale_transfer.py "
        + " ".join([f"--scale {args.scale}", *(f"--init {a}" for a in args.init), f"--iters {args.iters}"]),
    }
    write_text(out, json.dumps(payload, indent=2), overwrite=True)
    print("wrote", out)


if __name__ == "__main__":
    main()
