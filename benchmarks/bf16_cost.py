"""What bf16 costs each weight file: PSNR in bf16 against fp32, standard protocol, whole image, on Set5, Set14,
B100 and Urban100. ``precision="auto"`` of the upscaler picks bf16 only for weights whose record states a
measured cost of at most ``attnsr._pretrained.BF16_MAX_COST`` dB on each of the four sets.

Usage: python benchmarks/bf16_cost.py [--names a2n_x2.builtin ...] [--threads 2] [--write-records]
(results: benchmarks/results/bf16_cost.json; --write-records puts each built-in's cost into its record,
src/attnsr/weights/<name>.json, the one place a release is described)
Needs a CPU with native bf16 (AMX or AVX512-BF16): emulated bf16 is both slow and not what auto would run.
Official weights are read from $ATTNSR_SHARED/weights/official when the file is there.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch

from attnsr import create_model
from attnsr._pretrained import BF16_SETS, RECORDS, builtin_path, sha256_file
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import evaluate_folder, make_forward
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.settings import shared_root


def weights_file(record) -> Path | None:
    """The built-in file, or the official file in $ATTNSR_SHARED/weights/official whose sha256 is the record's
    (the files there are not named as the authors name them)."""
    if record.source == "builtin":
        return builtin_path(record)
    folder = shared_root() / "weights" / "official"
    return next((p for p in sorted(folder.glob("*")) if p.is_file() and _sha256(p) == record.sha256), None)


@functools.cache
def _sha256(path: Path) -> str:
    return sha256_file(path)


def measure(record, path: Path) -> dict:
    """bf16 on each set; fp32 from the record where it holds the standard-protocol figure (measured the same
    way: whole image, fp32), else measured here too."""
    scale = record.scales[0]
    model = create_model(record.arch, scale=scale, pretrained=path)
    known = {s.dataset: s.psnr for s in record.measured if s.protocol == "standard" and s.scale == scale}
    out = {}
    for precision in ("fp32", "bf16"):
        forward = make_forward(model, scale=scale, protocol="standard", precision=precision)
        for ds in BF16_SETS:
            if precision == "fp32" and ds in known:
                out.setdefault(ds, {})["fp32"] = known[ds]
                out[ds]["fp32_from"] = "record"
                continue
            t0 = time.perf_counter()
            r = evaluate_folder(forward, shared_root() / "data" / ds, scale=scale, cache_dir=default_lr_cache())
            out.setdefault(ds, {})[precision] = round(r.psnr, 4)
            out[ds][f"{precision}_seconds"] = round(time.perf_counter() - t0, 1)
    for ds in BF16_SETS:
        out[ds]["cost"] = round(out[ds]["fp32"] - out[ds]["bf16"], 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", nargs="+", help="record names (default: every built-in and every official file at hand)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bf16_cost.json"))
    ap.add_argument("--write-records", action="store_true", help="store the built-ins' costs in their JSON records")
    args = ap.parse_args()
    if not cpu_info().native_bf16:
        raise SystemExit(f"{cpu_info().describe()} has no native bf16: nothing to measure here")
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text())["weights"] if args.out.is_file() else {}
    for record in RECORDS:
        if (args.names and record.name not in args.names) or (path := weights_file(record)) is None:
            continue
        results[record.name] = measure(record, path)
        print(record.name, {ds: results[record.name][ds]["cost"] for ds in BF16_SETS}, flush=True)
        payload = {"cpu": cpu_info().as_dict(), "threads": args.threads, "protocol": "standard", "weights": results}
        write_text(args.out, json.dumps(payload, indent=1), overwrite=True)
        if args.write_records and record.source == "builtin":
            write_cost(record, {ds: results[record.name][ds]["cost"] for ds in BF16_SETS})


def write_cost(record, cost: dict[str, float]) -> None:
    path = builtin_path(record).with_suffix(".json")
    entry = json.loads(path.read_text())
    if entry["sha256"] != record.sha256:
        raise SystemExit(f"{path} describes another file than the one measured")
    write_text(path, json.dumps({**entry, "bf16_cost": cost}, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
