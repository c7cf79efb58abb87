"""How much tiling changes the output: PAN (no global pooling) and A2N (ADM pools globally).

Usage: python benchmarks/tiling_quality.py [--tiles 64 128 256] [--a2n-weights W]
For PAN x4 (official weights from $ATTNSR_SHARED): PSNR between tiled and whole-image outputs.
For A2N x4 (built-in weights): benchmark PSNR (standard protocol) whole vs tiled, and the change, on
Set5, Set14 and B100. Writes benchmarks/results/tiling_quality.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from attnsr.data.imresize import bicubic_downsample, mod_crop
from attnsr.io import list_images, load_rgb
from attnsr.metrics import evaluate_pair, psnr
from attnsr.settings import shared_root
from attnsr.upscale import load_model, make_runner, upscale_tensor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100"])
    ap.add_argument("--a2n-weights")
    args = ap.parse_args()
    root = shared_root()
    pan = make_runner(
        load_model("pan", scale=4, weights=root / "weights" / "official" / "pan_x4.pth"), precision="fp32"
    )
    a2n = make_runner(load_model("a2n", scale=4, weights=args.a2n_weights), precision="auto")
    out: dict = {"pan_tiled_vs_whole_psnr": {}, "a2n_benchmark": {}}
    for ds in args.datasets:
        files = list_images(root / "data" / ds / "HR")
        for tile in [0, *args.tiles]:
            pan_db, a2n_scores = [], []
            for f in files:
                hr = mod_crop(load_rgb(f), 4)
                lr = bicubic_downsample(hr, 4)
                if tile:
                    whole = upscale_tensor(lr, pan, scale=4, tile=0)
                    tiled = upscale_tensor(lr, pan, scale=4, tile=tile)
                    pan_db.append(psnr(tiled.clamp(0, 1), whole.clamp(0, 1), y_channel=False).item())
                a2n_scores.append(evaluate_pair(upscale_tensor(lr, a2n, scale=4, tile=tile), hr, scale=4)[0])
            if tile:
                out["pan_tiled_vs_whole_psnr"][f"{ds}/tile{tile}"] = {
                    "min": min(pan_db),
                    "mean": float(np.mean(pan_db)),
                }
            out["a2n_benchmark"][f"{ds}/tile{tile}"] = float(np.mean(a2n_scores))
            print(
                ds,
                tile,
                out["a2n_benchmark"][f"{ds}/tile{tile}"],
                out["pan_tiled_vs_whole_psnr"].get(f"{ds}/tile{tile}"),
                flush=True,
            )
    for key, value in list(out["a2n_benchmark"].items()):
        ds, tile = key.split("/")
        out.setdefault("a2n_change_db", {})[key] = value - out["a2n_benchmark"][f"{ds}/tile0"]
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/tiling_quality.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
