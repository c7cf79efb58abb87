"""What int8 costs each weight file: PSNR/SSIM of the NNCF-quantized OpenVINO model (``precision="int8"``,
:mod:`attnsr.quantize`) against fp32, standard protocol, whole image, on Set5, Set14, B100 and Urban100,
beside bf16 (torch autocast, from ``benchmarks/results/bf16_cost.json``, where the CPU has it natively).
Also the colour and range check: on every Set14 image, each channel's mean of the int8 output (8-bit levels)
against fp32's.

Usage: python benchmarks/int8_quality.py [--names a2n_x4.builtin ...] [--threads 2] [--write-records]
(results: benchmarks/results/int8_quality.json; --write-records ships each built-in's measured int8 model beside
its weights, src/attnsr/weights/<name>.int8.xml/.bin, and puts its drop and sha256s into the record,
src/attnsr/weights/<name>.json). Official weights are read from $ATTNSR_SHARED/weights/official.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bf16_cost import weights_file

from attnsr import create_model
from attnsr._pretrained import BF16_SETS, RECORDS, builtin_path, sha256_file
from attnsr.backends import openvino_runner
from attnsr.data.imresize import mod_crop
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import benchmark_files, evaluate_folder, make_forward, make_lr
from attnsr.export import copy_ir
from attnsr.io import load_rgb, to_levels
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.quantize import DEFAULT_CALIBRATION, cached_int8, nncf_version
from attnsr.settings import shared_root

DEFAULT_NAMES = ("a2n_x2.builtin", "a2n_x3.builtin", "a2n_x4.builtin", "pan_x4.official", "imdn_x4.official")


def colour_check(fp32, int8, *, scale: int) -> dict:
    """Largest difference, over Set14's images and the three channels, of the mean 8-bit level of the int8
    output against fp32's; and the largest difference of the share of clipped (0 or 255) pixels."""
    root, _, files = benchmark_files(shared_root() / "data" / "Set14")
    worst_mean, worst_clip = 0.0, 0.0
    for path in files:
        hr = mod_crop(load_rgb(path), scale)
        lr = make_lr(path, hr, scale=scale, protocol="standard", root=root, cache_dir=default_lr_cache())
        a, b = (to_levels(f(lr).clamp(0, 1)).double() for f in (fp32, int8))
        worst_mean = max(worst_mean, (a.mean(dim=(0, 2, 3)) - b.mean(dim=(0, 2, 3))).abs().max().item())
        clip = [((t == 0) | (t == 255)).double().mean().item() for t in (a, b)]
        worst_clip = max(worst_clip, abs(clip[0] - clip[1]))
    return {"max_channel_mean_diff_levels": round(worst_mean, 4), "max_clipped_share_diff": round(worst_clip, 6)}


def measure(record, path: Path, bf16: dict | None) -> dict:
    scale = record.scales[0]
    model = create_model(record.arch, scale=scale, pretrained=path)
    t0 = time.perf_counter()
    xml = cached_int8(model)  # calibrated here (or found in the cache): the model measured is the one shipped
    calibration_s = round(time.perf_counter() - t0, 1)
    known = {s.dataset: (s.psnr, s.ssim) for s in record.measured if s.protocol == "standard" and s.scale == scale}
    # The standard protocol's forward is the whole image through the model, so the runner itself.
    forwards = {"fp32": make_forward(model, scale=scale, protocol="standard"), "int8": openvino_runner(xml)}
    out = {"calibration_seconds": calibration_s, "int8_bin_sha256": sha256_file(xml.with_suffix(".bin")), "sets": {}}
    for ds in BF16_SETS:
        row = {}
        for precision, forward in forwards.items():
            if precision == "fp32" and ds in known and known[ds][1] is not None:
                row["fp32"], row["fp32_ssim"] = known[ds]
                row["fp32_from"] = "record"
                continue
            t0 = time.perf_counter()
            r = evaluate_folder(forward, shared_root() / "data" / ds, scale=scale, cache_dir=default_lr_cache())
            row[precision], row[f"{precision}_ssim"] = round(r.psnr, 4), round(r.ssim, 4)
            row[f"{precision}_seconds"] = round(time.perf_counter() - t0, 1)
        if bf16 and ds in bf16:
            row["bf16"] = bf16[ds]["bf16"]
        row["int8_drop"] = round(row["fp32"] - row["int8"], 4)
        out["sets"][ds] = row
        print(f"  {ds}: fp32 {row['fp32']:.4f} int8 {row['int8']:.4f} drop {row['int8_drop']:+.4f}", flush=True)
    out["colour"] = colour_check(forwards["fp32"], forwards["int8"], scale=scale)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", nargs="+", default=list(DEFAULT_NAMES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/int8_quality.json"))
    ap.add_argument("--write-records", action="store_true", help="store the built-ins' drops in their JSON records")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bf16_file = Path("benchmarks/results/bf16_cost.json")
    bf16 = json.loads(bf16_file.read_text())["weights"] if bf16_file.is_file() and cpu_info().native_bf16 else {}
    results = json.loads(args.out.read_text())["weights"] if args.out.is_file() else {}
    for record in RECORDS:
        if record.name not in args.names or (path := weights_file(record)) is None:
            continue
        print(record.name, flush=True)
        # threads per entry: entries measured in different runs may have used different counts (it moves
        # the seconds, never the PSNR)
        results[record.name] = {"threads": args.threads, **measure(record, path, bf16.get(record.name))}
        payload = {
            "cpu": cpu_info().as_dict(),
            "protocol": "standard",
            "nncf": nncf_version(),
            "calibration": {**DEFAULT_CALIBRATION.__dict__},
            "bf16_from": "benchmarks/results/bf16_cost.json (torch autocast bf16)" if bf16 else "not native here",
            "weights": results,
        }
        write_text(args.out, json.dumps(payload, indent=1), overwrite=True)
        if args.write_records and record.source == "builtin":
            ship(record, path, {ds: results[record.name]["sets"][ds]["int8_drop"] for ds in BF16_SETS})
    print(markdown_table(results))


def markdown_table(results: dict) -> str:
    """The README's quality table: per weight file and set, fp32 PSNR/SSIM, bf16 and int8 drops."""
    lines = [
        "| weights | set | fp32 PSNR / SSIM | bf16 drop | int8 PSNR / SSIM | int8 drop |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for ds, row in r["sets"].items():
            bf16 = f"{row['fp32'] - row['bf16']:+.4f}" if "bf16" in row else "n/a"
            lines.append(
                f"| {name} | {ds} | {row['fp32']:.4f} / {row['fp32_ssim']:.4f} | {bf16} | "
                f"{row['int8']:.4f} / {row['int8_ssim']:.4f} | **{row['int8_drop']:+.4f}** |"
            )
    return "\n".join(lines)


def ship(record, weights: Path, drop: dict[str, float]) -> None:
    """Put the measured int8 model beside the built-in weights (``<name>.int8.xml`` / ``.bin``) and its drop and
    files' sha256 into the weights' record: what ``precision="auto"`` may then run without NNCF."""
    path = builtin_path(record).with_suffix(".json")
    entry = json.loads(path.read_text())
    if entry["sha256"] != record.sha256:
        raise SystemExit(f"{path} describes another file than the one measured")
    model = create_model(record.arch, scale=record.scales[0], pretrained=weights)
    target = copy_ir(cached_int8(model), builtin_path(record).with_suffix(".int8.xml"), overwrite=True)
    files = {f.name: sha256_file(f) for f in (target, target.with_suffix(".bin"))}
    write_text(path, json.dumps({**entry, "int8_cost": drop, "int8_files": files}, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
