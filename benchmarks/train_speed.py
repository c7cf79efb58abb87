"""Training speed on this CPU: which way of running a training step is fastest (training issue, item 2).

Usage: python benchmarks/train_speed.py [--scale 2] [--iters 5] [--out benchmarks/results/train_speed.json]

One A2N training step (forward, L1, backward, Adam) on fixed in-memory batches, every path measured in one
process, round-robin (one step of each path per round), medians over ``--iters`` rounds after one warm-up
round (the warm-up of a compiled path includes its compilation, reported separately):

  * fp32 eager NCHW, 2 threads (the official code's way);
  * fp32 channels_last, 2 threads and 1 thread;
  * ``torch.compile`` (inductor) of the model, fp32 channels_last;
  * batch/patch shapes at equal LR pixels per step (16×48², 64×24², 36×32², 4×96²), fp32 channels_last;
  * bf16 autocast + channels_last — where the CPU computes bf16 natively (AMX/AVX512-BF16) with the same
    threads, shapes and compile variants as fp32; on other CPUs two steps only, to show the cost of emulated bf16.

Writes seconds per step, iterations/s and LR/HR pixels/s per path, with the CPU (model and the flags that
decide), to ``--out``; the fastest path that also computes fp32's gradients (``benchmarks/train_gradients.py``:
the compiled bf16 step does not) is what ``auto`` and the recipes run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from attnsr import create_model
from attnsr.outputs import write_text
from attnsr.precision import autocast, cpu_info


@dataclass
class Path_:
    name: str
    batch: int = 16
    patch: int = 48
    channels_last: bool = True
    threads: int = 2
    precision: str = "fp32"
    compile: bool = False
    max_iters: int | None = None
    times: list[float] = field(default_factory=list)
    warmup_s: float = 0.0


def build(p: Path_, scale: int):
    torch.manual_seed(0)
    model = create_model("a2n", scale=scale)
    if p.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    net = torch.compile(model) if p.compile else model
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(p.batch, 3, p.patch, p.patch, generator=g)
    hr = torch.rand(p.batch, 3, p.patch * scale, p.patch * scale, generator=g)
    if p.channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)

    def step() -> float:
        torch.set_num_threads(p.threads)
        t0 = time.perf_counter()
        with autocast(p.precision, "cpu"):
            sr = net(lr)
        loss = F.l1_loss(sr.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def channels_last_paths(precision: str) -> list[Path_]:
    """Threads, equal-pixel batch shapes and torch.compile, all channels_last, in one precision."""
    return [
        Path_(f"{precision} channels_last, 2 threads", precision=precision),
        Path_(f"{precision} channels_last, 1 thread", threads=1, precision=precision),
        *(
            Path_(f"{precision} channels_last, batch {b} x {s}^2", batch=b, patch=s, precision=precision)
            for b, s in ((64, 24), (36, 32), (4, 96))
        ),
        Path_(f"{precision} channels_last, torch.compile(model)", compile=True, precision=precision),
    ]


DEFAULT_OUT = Path("benchmarks/results/train_speed.json")
TIE = 0.03  # paths within 3% of the fastest are a tie (rounds vary by ~10% on this machine)


def choose_default(rows: list[dict]) -> dict:
    """The fastest path on both cores; among those within TIE of it, the simplest (eager before compiled)."""
    both = [r for r in rows if r["threads"] == 2]
    best = max(r["lr_pixels_per_s"] for r in both)
    ties = [r for r in both if r["lr_pixels_per_s"] >= (1 - TIE) * best]
    return min(ties, key=lambda r: (r["compiled"], r["batch"] != 16, -r["lr_pixels_per_s"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch.compile path")
    ap.add_argument("--only", nargs="+", metavar="TEXT", help="measure only the paths whose name holds one of these")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    cpu = cpu_info()
    paths = [Path_("fp32 eager NCHW, 2 threads", channels_last=False), *channels_last_paths("fp32")]
    if cpu.native_bf16:  # bf16 is a real choice here: the same threads, shapes and compile as fp32
        paths += channels_last_paths("bf16")
    else:  # emulated: two steps only, to show its cost
        paths.append(Path_("bf16 channels_last, 2 threads (emulated: no native bf16)", precision="bf16", max_iters=2))
    if args.no_compile:
        paths = [p for p in paths if not p.compile]
    if args.only:
        paths = [p for p in paths if any(text in p.name for text in args.only)]
    steps = {}
    for p in paths:
        steps[p.name] = build(p, args.scale)
        p.warmup_s = steps[p.name]()  # warm-up (and compilation) step
        print(f"warm-up {p.name}: {p.warmup_s:.1f} s", flush=True)
    for r in range(args.iters):
        for p in paths:
            if p.max_iters is None or len(p.times) < p.max_iters:
                p.times.append(steps[p.name]())
        print(f"round {r + 1}/{args.iters}: " + ", ".join(f"{p.times[-1]:.2f}" for p in paths), flush=True)
    rows = []
    for p in paths:
        s = statistics.median(p.times)
        lr_px = p.batch * p.patch**2
        rows.append(
            {
                "path": p.name,
                "batch": p.batch,
                "lr_patch": p.patch,
                "threads": p.threads,
                "precision": p.precision,
                "channels_last": p.channels_last,
                "compiled": p.compile,
                "seconds_per_step": round(s, 3),
                "iterations_per_s": round(1 / s, 4),
                "lr_pixels_per_s": round(lr_px / s),
                "hr_pixels_per_s": round(lr_px * args.scale**2 / s),
                "warmup_s": round(p.warmup_s, 1),
                "steps_measured": len(p.times),
            }
        )
    fastest = choose_default(rows)
    result = {
        "benchmark": "train_speed",
        "model": f"a2n x{args.scale}",
        "cpu": cpu.as_dict(),
        "torch": torch.__version__,
        "rounds": args.iters,
        "rows": rows,
        "fastest": fastest["path"],
        "command": f"python benchmarks/train_speed.py --scale {args.scale} --iters {args.iters}"
        + (" --no-compile" if args.no_compile else "")
        + (f" --only {' '.join(repr(o) for o in args.only)}" if args.only else "")
        + (f" --out {args.out}" if args.out != DEFAULT_OUT else ""),
    }
    write_text(args.out, json.dumps(result, indent=2), overwrite=True)
    for r in rows:
        print(f"{r['path']:<60} {r['seconds_per_step']:7.2f} s/it {r['lr_pixels_per_s']:>8} LR px/s")
    print("fastest:", fastest["path"])


if __name__ == "__main__":
    main()
