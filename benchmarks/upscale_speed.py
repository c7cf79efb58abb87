"""Upscale speed and precision cost: A2N x4 on a 320x180 input (1280x720 output), this CPU.

Usage: python benchmarks/upscale_speed.py [--repeats 5] [--weights W]
Measures, interleaved in one run, the median time of: fp32 eager NCHW; the default path (bf16 autocast +
channels_last); onnxruntime fp32. Then the PSNR cost of bf16 against fp32 on Set5 and Set14 (standard
protocol) with the built-in weights. Writes benchmarks/results/upscale_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import attnsr
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import evaluate_folder, make_forward
from attnsr.export import export_onnx, onnx_runner
from attnsr.settings import shared_root
from attnsr.upscale import load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    model = load_model("a2n", scale=4, weights=args.weights).eval()
    x = torch.rand(1, 3, 180, 320)
    eager = attnsr.create_model("a2n", scale=4).eval()
    eager.load_state_dict(model.state_dict())
    fast = attnsr.create_model("a2n", scale=4).eval().to(memory_format=torch.channels_last)
    fast.load_state_dict(model.state_dict())
    ort_run, _ = onnx_runner(export_onnx(eager, Path(tempfile.mkdtemp()) / "a2n_x4.onnx"))

    def run_eager() -> None:
        with torch.no_grad():
            eager(x)

    def run_fast() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            fast(x.contiguous(memory_format=torch.channels_last))

    def run_ort() -> None:
        ort_run(x)

    paths = {"fp32_eager_nchw": run_eager, "bf16_channels_last": run_fast, "onnxruntime_fp32": run_ort}
    for fn in paths.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.repeats):
        for k, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "input": [180, 320],
        "threads": torch.get_num_threads(),
        "median_seconds": med,
        "all_seconds": times,
        "speedup_bf16_vs_fp32": med["fp32_eager_nchw"] / med["bf16_channels_last"],
        "speedup_onnxruntime_vs_fp32": med["fp32_eager_nchw"] / med["onnxruntime_fp32"],
    }
    print(json.dumps({k: v for k, v in result.items() if k != "all_seconds"}, indent=2), flush=True)
    if not args.skip_quality:
        quality = {}
        for ds in ("Set5", "Set14"):
            row = {}
            for precision in ("fp32", "bf16"):
                fwd = make_forward(model, scale=4, protocol="standard", precision=precision)
                r = evaluate_folder(fwd, shared_root() / "data" / ds, scale=4, cache_dir=default_lr_cache())
                row[precision] = {"psnr": r.psnr, "ssim": r.ssim}
            row["psnr_cost_db"] = row["fp32"]["psnr"] - row["bf16"]["psnr"]
            quality[ds] = row
            print(ds, row, flush=True)
        result["quality"] = quality
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/upscale_speed.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
