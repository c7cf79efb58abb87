"""One LAM click on a 256x256 crop (64x64 LR at x4): which speed options keep DI within 1 % of the 50-point sum.

Models: PAN x4 (official weights, ../shared/weights/official/pan_x4.pth) and A2N x4 (built-in). Crops: the
first ``--crops`` (20) of the committed 150-crop Urban100 manifest, each with its own window.

1. Accuracy. Per model, precision (fp32; bf16, native on this CPU) and crop, the gradient at all 51 points
   of the 50-step path is computed once (``attnsr.analysis.lam.path_gradients``); every integration option
   is then a different weighting of those same gradients:
   - ``steps m`` (m = 25, 10, 5): the plain m-step path (its points are every 50/m-th point of the 50-step
     path), SPEC §4's right-point sum with fewer steps;
   - ``stride s`` (s = 2, 3, 5, 7, 10): ``lam.path_weights``, the 50-step sum with gradients at every s-th
     point and linear in between (s = 1 is the reference itself).
   The reference is fp32 ``stride 1``. Per option: the error of the set's mean DI (the figure A2N Table 7
   reports; the rule: at most 1 % for both models) and the largest and mean error of one crop's DI.
   ``chosen``: per precision, the largest stride s with every stride up to s allowed.
2. Library check: ``local_attribution_map(stride=FAST_STRIDE)`` gives the composed DI (to float rounding).
3. Time. One click end to end (``local_attribution_map``: path, gradients, map, DI) on the first
   ``--time-crops`` crops, configurations interleaved ``--repeats`` times, median per configuration; all on
   ``--threads`` threads, the before/now pair also on each of ``--timing-threads``.

Usage: python benchmarks/lam_speed_click.py [--crops 20] [--time-crops 2] [--repeats 2] [--threads 1]
       python benchmarks/lam_speed_click.py --skip-accuracy --timing-threads 1   # re-time only
Writes benchmarks/results/lam_speed_click.json (``--out``), after each part.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from attnsr import build_from_checkpoint, create_model
from attnsr.analysis.lam import (
    BATCH_SIZE,
    FAST_STRIDE,
    STEPS,
    Window,
    blur_path,
    gini,
    lam_map,
    local_attribution_map,
    path_gradients,
    path_weights,
)
from attnsr.analysis.lam_crops import load_manifest, manifest_crops
from attnsr.data.imresize import bicubic_downsample
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.settings import shared_root

OUT = Path("benchmarks/results/lam_speed_click.json")
PLAIN_STEPS = (25, 10, 5)
STRIDES = (2, 3, 5, 7, 10)
PRECISIONS = ("fp32", "bf16")
TOLERANCE = 0.01
BEFORE = "50 points, batch 10, fp32 (analyze lam before)"
NOW = f"stride {FAST_STRIDE}, batch {BATCH_SIZE}, fp32 (analyze lam and the page now)"
# (label, steps, stride, batch_size, precision) of the timed clicks
TIMED = (
    (BEFORE, STEPS, 1, 10, "fp32"),
    ("50 points, batch 1, fp32", STEPS, 1, 1, "fp32"),
    (f"50 points, batch {BATCH_SIZE}, fp32 (lam-set and --stride 1 now)", STEPS, 1, BATCH_SIZE, "fp32"),
    ("50 points, batch 10, bf16", STEPS, 1, 10, "bf16"),
    ("plain 25 steps, batch 5, fp32", 25, 1, 5, "fp32"),
    ("stride 2, batch 5, fp32", STEPS, 2, 5, "fp32"),
    (f"stride {FAST_STRIDE}, batch 1, fp32", STEPS, FAST_STRIDE, 1, "fp32"),
    (NOW, STEPS, FAST_STRIDE, BATCH_SIZE, "fp32"),
    (f"stride {FAST_STRIDE}, batch 10, fp32", STEPS, FAST_STRIDE, 10, "fp32"),
    (f"stride {FAST_STRIDE}, batch {BATCH_SIZE}, bf16", STEPS, FAST_STRIDE, BATCH_SIZE, "bf16"),
)


def models() -> dict:
    pan = shared_root() / "weights/official/pan_x4.pth"
    if not pan.is_file():
        raise SystemExit(f"{pan} not found (set ATTNSR_SHARED)")
    return {
        "pan_x4_official": build_from_checkpoint(pan, name="pan", scale=4).eval(),
        "a2n_x4_builtin": create_model("a2n", scale=4, pretrained="builtin").eval(),
    }


def crops(limit: int) -> list[tuple[dict, torch.Tensor]]:
    return [(entry, bicubic_downsample(hr, 4)) for entry, hr in manifest_crops(load_manifest(), limit=limit)]


def di_of(attribution: torch.Tensor) -> float:
    return (1 - gini(lam_map(attribution))) * 100


def option_dis(model, lr: torch.Tensor, window: Window, precision: str) -> dict[str, float]:
    """DI of every integration option for one crop, from the gradients at all 51 points of the 50-step path."""
    points, increments = blur_path(lr, steps=STEPS)
    grads = torch.cat([g for g, _, _ in path_gradients(model, points, window, batch_size=10, precision=precision)])
    grads = grads.to(torch.float64)
    out = {}
    for s in (1, *STRIDES):
        nodes, weights = path_weights(increments, stride=s)
        out[f"stride {s}"] = di_of((grads[nodes] * weights).sum(dim=0))
    for m in PLAIN_STEPS:
        _, inc_m = blur_path(lr, steps=m)  # the same points as every (50/m)-th point of the 50-step path
        idx = [STEPS // m * j for j in range(1, m + 1)]
        out[f"steps {m}"] = di_of((grads[idx] * inc_m.to(torch.float64)).sum(dim=0))
    return out


def summarise(per_crop: list[dict]) -> dict:
    """Per option: the set's mean DI and its error against the reference's (the figure Table 7 reports), and
    the per-crop errors (what one click may differ by)."""
    ref = [c["fp32 stride 1"] for c in per_crop]
    out = {}
    for key in (k for k in per_crop[0] if k != "id"):
        vals = [c[key] for c in per_crop]
        errs = [abs(v - r) / r for v, r in zip(vals, ref)]
        out[key] = {
            "mean_di": statistics.fmean(vals),
            "set_rel_error": abs(statistics.fmean(vals) - statistics.fmean(ref)) / statistics.fmean(ref),
            "max_crop_rel_error": max(errs),
            "mean_crop_rel_error": statistics.fmean(errs),
        }
    return out


def accuracy(nets: dict, data: list) -> dict:
    result = {}
    for name, model in nets.items():
        per_crop = []
        for entry, lr in data:
            window = Window(*entry["window"])
            dis = {p: option_dis(model, lr, window, p) for p in PRECISIONS}
            per_crop.append({"id": entry["id"], **{f"{p} {k}": v for p, d in dis.items() for k, v in d.items()}})
            print(name, entry["id"], {k: round(v, 4) for k, v in per_crop[-1].items()}, flush=True)
        result[name] = {"options": summarise(per_crop), "crops": per_crop}
    return result


def evaluations(option: str) -> int:
    """Forward/backward passes of one click with this option (50-step path)."""
    kind, n = option.split()[1:]
    if kind == "steps":
        return int(n)
    return len(path_weights(torch.zeros(STEPS, 1, 1, 1), stride=int(n))[0])


def choose(acc: dict) -> dict:
    """Per precision: the largest stride s such that every stride up to s keeps the set DI within TOLERANCE for
    every model (a larger stride that passes after one that fails passes by chance: its errors cancelled)."""
    options = next(iter(acc.values()))["options"]
    ok = {k for k in options if all(a["options"][k]["set_rel_error"] <= TOLERANCE for a in acc.values())}
    chosen = {}
    for p in PRECISIONS:
        chosen[p] = None
        for s in (1, *STRIDES):
            if f"{p} stride {s}" not in ok:
                break
            chosen[p] = f"{p} stride {s}"
    return chosen


def library_check(nets: dict, data: list, acc: dict, precision: str) -> dict:
    """local_attribution_map with FAST_STRIDE gives the composed DI of the same option."""
    worst = {}
    for name, model in nets.items():
        by_id = {c["id"]: c for c in acc[name]["crops"]}
        diffs = [
            abs(
                local_attribution_map(model, lr, Window(*e["window"]), stride=FAST_STRIDE, precision=precision).di
                - by_id[e["id"]][f"{precision} stride {FAST_STRIDE}"]
            )
            for e, lr in data
        ]
        worst[name] = max(diffs)
    return {"stride": FAST_STRIDE, "precision": precision, "max_abs_di_difference": worst}


def timing(nets: dict, data: list, repeats: int, configs) -> dict:
    out = {}
    for name, model in nets.items():
        times: dict[str, list[float]] = {label: [] for label, *_ in configs}
        for _ in range(repeats):
            for entry, lr in data:
                for label, steps, stride, batch, precision in configs:  # interleaved: the machine's load hits all
                    t = time.perf_counter()
                    local_attribution_map(
                        model,
                        lr,
                        Window(*entry["window"]),
                        steps=steps,
                        stride=stride,
                        batch_size=batch,
                        precision=precision,
                    )
                    times[label].append(time.perf_counter() - t)
            print(name, {k: round(statistics.median(v), 2) for k, v in times.items()}, flush=True)
        out[name] = {label: {"median_s": statistics.median(v), "runs_s": v} for label, v in times.items()}
    return out


def machine() -> dict:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else None
    return {
        "cpu": cpu_info().describe(),
        "lscpu_model_name": model,
        "cpus": len(os.sched_getaffinity(0)),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "loadavg_at_start": load,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=20)
    ap.add_argument("--time-crops", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the accuracy part and the full timing")
    ap.add_argument(
        "--timing-threads", type=int, nargs="+", default=[1, 2], help="thread counts timed (others: before/now only)"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--skip-accuracy", action="store_true", help="keep the accuracy part of the existing JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    nets = models()
    data = crops(args.crops)
    result = {"machine": machine(), "crops": args.crops, "tolerance": TOLERANCE, "fast_stride": FAST_STRIDE}
    earlier = json.loads(args.out.read_text()) if args.skip_accuracy else {}
    if args.skip_accuracy:
        result["accuracy"] = earlier["accuracy"]
    else:
        result["accuracy"] = accuracy(nets, data)
    for model in result["accuracy"].values():
        for key, option in model["options"].items():
            option["passes"] = evaluations(key)
    result["chosen"] = choose(result["accuracy"])
    print("chosen:", result["chosen"], flush=True)
    if result["chosen"]["fp32"] != f"fp32 stride {FAST_STRIDE}":
        print(f"note: attnsr.analysis.lam.FAST_STRIDE is {FAST_STRIDE}, the measurement chose {result['chosen']}")
    result["library_check"] = library_check(nets, data, result["accuracy"], "fp32")
    write_text(args.out, json.dumps(result, indent=1), overwrite=True)
    result["timing"] = earlier.get("timing", {})  # thread counts not timed now keep their earlier figures
    for threads in args.timing_threads:
        torch.set_num_threads(threads)
        configs = TIMED if threads == args.threads else [c for c in TIMED if c[0] in (BEFORE, NOW)]
        result["timing"][f"{threads} thread(s)"] = timing(nets, data[: args.time_crops], args.repeats, configs)
        write_text(args.out, json.dumps(result, indent=1), overwrite=True)
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    write_text(args.out, json.dumps(result, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
