"""The attention-analysis figures and tables of docs/analysis/ (SPEC §4), from the official checkpoints.

- heat maps (A2N Fig. 2) and mask/high-pass correlation (A2N Table 1): official A2N x2 on Set14
  (official LR_bicubic files, whole-image forward);
- ADM weights (A2N Fig. 7): official A2N x2 on Set14;
- LAM (A2N Fig. 8): official PAN x4 on the seven LAM demo crops (../shared/data/lam), one 16x16
  window each, picked by the same seeded edge-energy rule as the 150-crop manifest (seed 0 + image
  index) — the demo's own windows are not published, except 7.png's (150, 110) of the LAM notebook,
  which is added as an eighth figure.

Usage (from the repository root):
    python benchmarks/analysis_figures.py                      # everything (LAM: ~15 s per image, 1 thread)
    python benchmarks/analysis_figures.py --only heatmaps,correlation,adm
    python benchmarks/analysis_figures.py --only lam
Writes docs/analysis/* and docs/analysis/timings.json (seconds per part, merged with earlier runs).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from attnsr import build_from_checkpoint
from attnsr.analysis.adm import adm_weights, extreme_maps, plot_adm_distribution, plot_extreme_maps
from attnsr.analysis.correlation import FILTERS, correlate_attention, plot_correlation
from attnsr.analysis.heatmaps import attention_heatmaps, plot_heatmaps
from attnsr.analysis.images import benchmark_images, image_input
from attnsr.analysis.lam import Window, local_attribution_map
from attnsr.analysis.lam_crops import pick_window
from attnsr.analysis.lam_figures import plot_lam
from attnsr.cli.render import markdown, to_csv
from attnsr.outputs import write_text
from attnsr.settings import shared_root

OUT = Path("docs/analysis")
HEATMAP_IMAGES = ("zebra", "comic")
HEATMAP_BLOCKS = (1, 4, 8, 12, 16)
LAM_OFFICIAL_WINDOW = {"7.png": (150, 110)}  # LAM_Demo notebook: h = 150, w = 110, window 16


def _took(start: float) -> dict:
    return {"seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads()}


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def a2n_parts(shared: Path, parts: set[str], timings: dict) -> None:
    model = build_from_checkpoint(shared / "weights/official/a2n_x2.pt", name="a2n", scale=2).eval()
    images = [(name, lr) for name, _, lr in benchmark_images(shared / "data/Set14", scale=2)]
    title = "official A2N x2, Set14"
    if "heatmaps" in parts:
        start = time.perf_counter()
        for name, lr in images:
            if name in HEATMAP_IMAGES:
                maps = attention_heatmaps(model, lr, blocks=list(HEATMAP_BLOCKS))
                plot_heatmaps(maps, OUT / f"a2n_x2_heatmaps_{name}.png", image=lr, title=f"{title}: {name}")
        timings["heatmaps"] = _took(start)
    if "correlation" in parts:
        start = time.perf_counter()
        res = correlate_attention(model, images)
        timings["correlation"] = _took(start)
        rows = res.rows()
        headers = ["block", "feature", *FILTERS]
        cells = [[r["block"], r["feature"], *(_fmt(r[f]) for f in FILTERS)] for r in rows]
        write_text(
            OUT / "a2n_x2_set14_correlation.csv",
            to_csv(
                ["block", "module", "feature", *FILTERS, "images"],
                [[r["block"], r["module"], r["feature"], *(r[f] for f in FILTERS), r["images"]] for r in rows],
            ),
            overwrite=True,
        )
        means = {
            (feat, f): float(np.nanmean([r[f] for r in rows if r["feature"] == feat]))
            for feat in ("input", "multiplied")
            for f in FILTERS
        }
        summary = [[feat, *(_fmt(means[(feat, f)]) for f in FILTERS)] for feat in ("input", "multiplied")]
        write_text(
            OUT / "a2n_x2_set14_correlation.md",
            f"# Mask vs high-pass feature correlation — {title} ({len(images)} images)\n\n"
            "Mean Pearson r per block (channel-mean mask vs |Laplace| / Sobel / Scharr magnitude of the "
            "channel-mean feature; `input` = branch input x, `multiplied` = k3(x), the feature the mask "
            "multiplies). Command: `python benchmarks/analysis_figures.py --only correlation`\n\n"
            "Mean over the 16 blocks:\n\n"
            + markdown(["feature", *FILTERS], summary)
            + "\n\nPer block:\n\n"
            + markdown(headers, cells)
            + "\n",
            overwrite=True,
        )
        plot_correlation(res, OUT / "a2n_x2_set14_correlation.png", title=title)
    if "adm" in parts:
        start = time.perf_counter()
        stats = adm_weights(model, images)
        hi, lo = extreme_maps(model, dict(images), stats, k=4)
        timings["adm"] = _took(start)
        plot_adm_distribution(stats, OUT / "a2n_x2_set14_adm_violin.png", title=f"{title}: ADM w_att per block")
        plot_extreme_maps(hi, lo, OUT / "a2n_x2_set14_adm_extremes.png", title=f"{title}: by ADM w_att")
        write_text(
            OUT / "a2n_x2_set14_adm.json",
            json.dumps(
                {
                    "summary": stats.summary(),
                    "w_att": {n: [round(v, 6) for v in row.tolist()] for n, row in zip(stats.images, stats.w_att)},
                    "enhanced": [{"image": m.image, "block": m.block, "w_att": m.w_att} for m in hi],
                    "suppressed": [{"image": m.image, "block": m.block, "w_att": m.w_att} for m in lo],
                },
                indent=1,
            ),
            overwrite=True,
        )


def lam_part(shared: Path, timings: dict, batch_size: int) -> None:
    model = build_from_checkpoint(shared / "weights/official/pan_x4.pth", name="pan", scale=4).eval()
    demo = sorted((shared / "data/lam").glob("*.png"))
    jobs = []
    for i, path in enumerate(demo):
        hr, lr = image_input(path, scale=4, is_hr=True)
        row, col = pick_window(hr[0].mean(0).numpy().astype(np.float64), np.random.default_rng(i))
        jobs.append((path, hr, lr, Window(row, col), "seeded"))
        if path.name in LAM_OFFICIAL_WINDOW:
            jobs.append((path, hr, lr, Window(*LAM_OFFICIAL_WINDOW[path.name]), "LAM demo"))
    rows, start = [], time.perf_counter()
    for path, hr, lr, window, how in jobs:
        res = local_attribution_map(model, lr, window, batch_size=batch_size)
        tag = f"{path.stem}_{window.row}_{window.col}"
        plot_lam(
            OUT / f"pan_x4_lam_{tag}.png",
            lr=lr,
            hr=hr,
            result=res,
            scale=4,
            title=f"official PAN x4 — LAM demo {path.name}, window ({window.row}, {window.col}) [{how}]",
        )
        rows.append(
            {
                "image": path.name,
                "window": [window.row, window.col, 16, 16],
                "window_from": how,
                "di": res.di,
                "gini": res.gini,
                "nan_gradients": res.nan_gradients,
                "seconds": res.seconds,
            }
        )
        logging.info("%s: DI %.3f (%.1fs)", tag, res.di, res.seconds)
    timings["lam_demo"] = {**_took(start), "per_image_s": round((time.perf_counter() - start) / len(jobs), 1)}
    write_text(OUT / "pan_x4_lam_demo.json", json.dumps(rows, indent=1), overwrite=True)
    seeded_di = float(np.mean([r["di"] for r in rows if r["window_from"] == "seeded"]))
    cells = [
        [r["image"], f"({r['window'][0]}, {r['window'][1]})", r["window_from"], f"{r['di']:.3f}", f"{r['seconds']:.0f}"]
        for r in rows
    ]
    write_text(
        OUT / "pan_x4_lam_demo.md",
        "# LAM of official PAN x4 on the seven LAM demo crops\n\n"
        "16x16 HR windows; LR = MATLAB bicubic /4; sigma 1.2, 50 steps. "
        "Command: `python benchmarks/analysis_figures.py --only lam`\n\n"
        + markdown(["image", "window (row, col)", "window from", "DI", "seconds"], cells)
        + f"\n\nMean DI over the seeded windows: {seeded_di:.3f}\n",
        overwrite=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="heatmaps,correlation,adm,lam")
    ap.add_argument("--shared", type=Path, default=None)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 is far slower on a busy 2-core CPU)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    shared = args.shared or shared_root()
    OUT.mkdir(parents=True, exist_ok=True)
    timings_path = OUT / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    torch.set_num_threads(args.threads)
    if parts & {"heatmaps", "correlation", "adm"}:
        a2n_parts(shared, parts, timings)
    if "lam" in parts:
        lam_part(shared, timings, args.batch_size)
    write_text(timings_path, json.dumps(dict(sorted(timings.items())), indent=1), overwrite=True)


if __name__ == "__main__":
    main()
