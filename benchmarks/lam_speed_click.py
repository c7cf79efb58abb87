"""One LAM click on a 256x256 crop (64x64 LR at x4): how few gradient points keep every crop's DI within 1 %.

Models: PAN x4 (official weights, ../shared/weights/official/pan_x4.pth) and A2N x4 (built-in). Crops: the
first ``--crops`` (20) of the committed 150-crop Urban100 manifest, each with its own window (the acceptance
set), and the next ``--more`` (20) crops, on which the choice must hold too (a rule fitted to 20 crops may
just miss on others).

1. Accuracy. Per model, precision (fp32; ``--precisions fp32 bf16`` adds bf16, native on AMX/AVX512-BF16 CPUs)
   and crop, the gradient at all 51 points of the 50-step path is computed once
   (``attnsr.analysis.lam.path_gradients``); every integration option is then a different use of those same
   gradients:
   - ``points N`` (N = 10 … 24): ``lam.adaptive_nodes`` with the precomputed gradients as its oracle (the
     library's own choice of points, so the same N points and DI as ``local_attribution_map(points=N)``);
   - ``stride s`` (s = 2, 3, 5): a gradient at every s-th point, linear in between (the rule before this one);
   - ``steps m`` (m = 25, 10, 5): the plain m-step path (its points are every 50/m-th point of the 50-step
     path), SPEC §4's right-point sum with fewer steps.
   The reference is fp32 with every point. Per option: the largest and mean error of one crop's DI (what a
   click shows) and the error of the set's mean DI (the figure A2N Table 7 reports).
   ``chosen``: the fewest fp32 points N whose largest crop error on the acceptance crops and on the next crops
   is at most 1 % for both models, with every larger N measured passing too. (bf16, measured before with the
   all-point sum: one PAN crop's DI moved by 5.9 %, so no bf16 option can pass; git history of the results.)
2. Library check: ``local_attribution_map(points=FAST_POINTS)`` gives the composed DI. Not to float rounding:
   a batch's gradients differ from one point's at float rounding, which can tip the choice of a later point;
   the largest relative difference is reported.
3. Layout: one point's forward and backward with the input in NCHW and in channels_last (the library's
   choice), interleaved, per thread count.
4. Time. One click end to end (``local_attribution_map``: path, gradients, map, DI) on the first
   ``--time-crops`` crops, configurations interleaved ``--repeats`` times, median per configuration, on each
   of ``--timing-threads``.

Usage: python benchmarks/lam_speed_click.py [--crops 20] [--more 20] [--time-crops 2] [--repeats 2]
       python benchmarks/lam_speed_click.py --skip-accuracy --timing-threads 1 2
       (--skip-accuracy: the per-crop DIs of the existing JSON, summaries, choice and library check made again)
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
    FAST_POINTS,
    STEPS,
    Window,
    adaptive_nodes,
    blur_path,
    gini,
    integrate,
    lam_map,
    local_attribution_map,
    path_gradients,
)
from attnsr.analysis.lam_crops import load_manifest, manifest_crops
from attnsr.data.imresize import bicubic_downsample
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.settings import shared_root

OUT = Path("benchmarks/results/lam_speed_click.json")
POINTS = (10, 12, 14, 16, 18, 20, 22, 24)
STRIDES = (2, 3, 5)
PLAIN_STEPS = (25, 10, 5)
TOLERANCE = 0.01
BEFORE = "50 points, batch 10, fp32 (the old default's points)"
NOW = f"{FAST_POINTS} adaptive points, fp32 (analyze lam and the page now)"
# (label, points, batch_size, precision) of the timed clicks
TIMED = (
    (BEFORE, None, 10, "fp32"),
    (f"50 points, batch {BATCH_SIZE}, fp32 (--points all, lam-set)", None, BATCH_SIZE, "fp32"),
    ("12 adaptive points, fp32", 12, BATCH_SIZE, "fp32"),
    ("16 adaptive points, fp32", 16, BATCH_SIZE, "fp32"),
    (NOW, FAST_POINTS, BATCH_SIZE, "fp32"),
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
    out = {"all": di_of(integrate(increments, *adaptive_nodes(increments, lambda n: grads[n], points=None)))}
    for n in POINTS:
        out[f"points {n}"] = di_of(integrate(increments, *adaptive_nodes(increments, lambda k: grads[k], points=n)))
    for s in STRIDES:
        nodes = sorted(set(range(0, STEPS, s)) | {STEPS})
        out[f"stride {s}"] = di_of(integrate(increments, nodes, grads[nodes]))
    for m in PLAIN_STEPS:
        _, inc_m = blur_path(lr, steps=m)  # the same points as every (50/m)-th point of the 50-step path
        idx = [STEPS // m * j for j in range(1, m + 1)]
        out[f"steps {m}"] = di_of((grads[idx] * inc_m.to(torch.float64)).sum(dim=0))
    return out


def summarise(per_crop: list[dict]) -> dict:
    """Per option: the set's mean DI and its error against the reference's (the figure Table 7 reports), and
    the per-crop errors (what one click may differ by)."""
    ref = [c["fp32 all"] for c in per_crop]
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


def accuracy(nets: dict, data: list, precisions: list[str]) -> dict:
    result = {}
    for name, model in nets.items():
        per_crop = []
        for entry, lr in data:
            window = Window(*entry["window"])
            dis = {p: option_dis(model, lr, window, p) for p in precisions}
            per_crop.append({"id": entry["id"], **{f"{p} {k}": v for p, d in dis.items() for k, v in d.items()}})
            print(name, entry["id"], {k: round(v, 4) for k, v in per_crop[-1].items()}, flush=True)
        result[name] = per_crop
    return result


def evaluations(option: str) -> int:
    """Forward/backward passes of one click with this option (50-step path)."""
    kind, n = option.split()[1:] if len(option.split()) == 3 else (option.split()[1], None)
    if kind == "all":
        return STEPS
    if kind == "stride":
        return len(set(range(0, STEPS, int(n))) | {STEPS})
    return int(n)


def choose(options: dict[str, dict[str, dict]]) -> str | None:
    """The fewest fp32 points N whose largest crop error is within TOLERANCE for every model on every part of the
    crops, with every larger N measured passing too (one that passes after a larger one fails passes by chance)."""
    chosen = None
    for n in sorted(POINTS, reverse=True):
        key = f"fp32 points {n}"
        if not all(part[key]["max_crop_rel_error"] <= TOLERANCE for o in options.values() for part in o.values()):
            break
        chosen = key
    return chosen


def library_check(nets: dict, data: list, per_crop: dict) -> dict:
    """local_attribution_map with FAST_POINTS against the DI composed from the precomputed gradients."""
    worst, worst_rel = {}, {}
    for name, model in nets.items():
        by_id = {c["id"]: c for c in per_crop[name]}
        pairs = [
            (
                local_attribution_map(model, lr, Window(*e["window"]), points=FAST_POINTS).di,
                by_id[e["id"]][f"fp32 points {FAST_POINTS}"],
            )
            for e, lr in data
        ]
        worst[name] = max(abs(a - b) for a, b in pairs)
        worst_rel[name] = max(abs(a - b) / b for a, b in pairs)
    return {
        "points": FAST_POINTS,
        "precision": "fp32",
        "max_abs_di_difference": worst,
        "max_rel_di_difference": worst_rel,
    }


def timing(nets: dict, data: list, repeats: int, configs) -> dict:
    out = {}
    for name, model in nets.items():
        times: dict[str, list[float]] = {label: [] for label, *_ in configs}
        for _ in range(repeats):
            for entry, lr in data:
                for label, points, batch, precision in configs:  # interleaved: the machine's load hits all
                    t = time.perf_counter()
                    local_attribution_map(
                        model, lr, Window(*entry["window"]), points=points, batch_size=batch, precision=precision
                    )
                    times[label].append(time.perf_counter() - t)
            print(name, {k: round(statistics.median(v), 2) for k, v in times.items()}, flush=True)
        out[name] = {label: {"median_s": statistics.median(v), "runs_s": v} for label, v in times.items()}
    return out


def layout_timing(nets: dict, data: list, repeats: int) -> dict:
    """One point's forward and backward (``path_gradients``, batch 1) in NCHW and channels_last, interleaved."""
    formats = {"contiguous (NCHW)": torch.contiguous_format, "channels_last (now)": torch.channels_last}
    out = {}
    for name, model in nets.items():
        times: dict[str, list[float]] = {label: [] for label in formats}
        for _ in range(repeats):
            for entry, lr in data:
                for label, memory_format in formats.items():
                    t = time.perf_counter()
                    next(path_gradients(model, lr, Window(*entry["window"]), memory_format=memory_format))
                    times[label].append(time.perf_counter() - t)
        med = {label: statistics.median(v) for label, v in times.items()}
        print(name, {k: round(v, 3) for k, v in med.items()}, flush=True)
        out[name] = {label: {"median_s": med[label], "runs_s": v} for label, v in times.items()}
        out[name]["speedup"] = med["contiguous (NCHW)"] / med["channels_last (now)"]
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
    ap.add_argument("--crops", type=int, default=20, help="the acceptance crops: the first N of the manifest")
    ap.add_argument("--more", type=int, default=20, help="the next N crops, on which the choice must hold too")
    ap.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    ap.add_argument("--time-crops", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the accuracy part")
    ap.add_argument("--timing-threads", type=int, nargs="*", default=[1, 2], help="thread counts timed (none: skip)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--skip-accuracy", action="store_true", help="reuse the per-crop DIs of the existing JSON")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    nets = models()
    data = crops(args.crops + args.more)
    parts = {"acceptance": data[: args.crops], "more": data[args.crops :]}
    result = {"machine": machine(), "crops": args.crops, "more": args.more, "tolerance": TOLERANCE}
    result["fast_points"] = FAST_POINTS
    if args.skip_accuracy:
        per_crop = {name: a["crops"] for name, a in json.loads(args.out.read_text())["accuracy"].items()}
    else:
        per_crop = accuracy(nets, data, args.precisions)
    result["accuracy"] = {}
    for name, rows in per_crop.items():
        ids = {part: {e["id"] for e, _ in d} for part, d in parts.items()}
        options = {part: summarise([r for r in rows if r["id"] in ids[part]]) for part in parts if ids[part]}
        for part in options.values():
            for key, option in part.items():
                option["passes"] = evaluations(key)
        result["accuracy"][name] = {"options": options, "crops": rows}
    result["chosen"] = choose({n: a["options"] for n, a in result["accuracy"].items()})
    print("chosen:", result["chosen"], flush=True)
    if result["chosen"] != f"fp32 points {FAST_POINTS}":
        print(f"note: attnsr.analysis.lam.FAST_POINTS is {FAST_POINTS}, the measurement chose {result['chosen']}")
    result["library_check"] = library_check(nets, parts["acceptance"], per_crop)
    write_text(args.out, json.dumps(result, indent=1), overwrite=True)
    result["timing"], result["layout"] = {}, {}
    for threads in args.timing_threads:
        torch.set_num_threads(threads)
        result["layout"][f"{threads} thread(s)"] = layout_timing(nets, data[: args.time_crops], 5)
        result["timing"][f"{threads} thread(s)"] = timing(nets, data[: args.time_crops], args.repeats, TIMED)
        write_text(args.out, json.dumps(result, indent=1), overwrite=True)
    result["machine"]["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    write_text(args.out, json.dumps(result, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
