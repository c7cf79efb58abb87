"""How much tiling changes the output: PAN (no global pooling) and A2N (ADM pools globally).

Usage: python benchmarks/tiling_quality.py [--tiles 64 128 256] [--a2n-weights W]
For PAN x4 (official weights from $ATTNSR_SHARED): PSNR between tiled and whole-image outputs.
For A2N x4 (built-in weights): benchmark PSNR (standard protocol) whole vs tiled, and the change, on
Set5, Set14 and B100. Writes benchmarks/results/tiling_quality.json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from attnsr._factory import load_model
from attnsr.backends import torch_runner
from attnsr.data.imresize import bicubic_downsample, mod_crop
from attnsr.io import list_images, load_rgb
from attnsr.metrics import evaluate_pair, psnr
from attnsr.outputs import write_text
from attnsr.settings import shared_root
from attnsr.upscaler import upscale_tensor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100"])
    ap.add_argument("--a2n-weights")
    args = ap.parse_args()
    root = shared_root()
    pan = torch_runner(
        load_model("pan", scale=4, weights=root / "weights" / "official" / "pan_x4.pth"), precision="fp32"
    )
    a2n = torch_runner(load_model("a2n", scale=4, weights=args.a2n_weights or "builtin"), precision="fp32")
    out: dict = {"pan_tiled_vs_whole_psnr": {}, "a2n_benchmark": {}}
    tiles = [0, *args.tiles]
    for ds in args.datasets:
        pan_db: dict[int, list[float]] = {t: [] for t in args.tiles}
        a2n_scores: dict[int, list[float]] = {t: [] for t in tiles}
        for f in list_images(root / "data" / ds / "HR"):
            hr = mod_crop(load_rgb(f), 4)
            lr = bicubic_downsample(hr, 4)
            whole = upscale_tensor(lr, pan, scale=4, tile=0).clamp(0, 1)
            for tile in tiles:
                if tile:
                    tiled = upscale_tensor(lr, pan, scale=4, tile=tile).clamp(0, 1)
                    pan_db[tile].append(psnr(tiled, whole, y_channel=False).item())
                a2n_scores[tile].append(evaluate_pair(upscale_tensor(lr, a2n, scale=4, tile=tile), hr, scale=4)[0])
        for tile in tiles:
            if tile:
                finite = [v for v in pan_db[tile] if np.isfinite(v)]  # inf: the image fits one tile, or equal
                out["pan_tiled_vs_whole_psnr"][f"{ds}/tile{tile}"] = {
                    "min": min(finite) if finite else None,
                    "mean_finite": float(np.mean(finite)) if finite else None,
                    "identical_images": len(pan_db[tile]) - len(finite),
                    "images": len(pan_db[tile]),
                }
            out["a2n_benchmark"][f"{ds}/tile{tile}"] = float(np.mean(a2n_scores[tile]))
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
    write_text("benchmarks/results/tiling_quality.json", json.dumps(out, indent=2), overwrite=True)


if __name__ == "__main__":
    main()
