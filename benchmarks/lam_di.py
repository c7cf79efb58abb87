"""Diffusion Index and PSNR over the 150-crop Urban100 LAM set (A2N Table 7), for one model.

The crops are the committed manifest src/attnsr/analysis/manifests/lam_urban100_150.json (256x256 HR
crops of ../shared/data/Urban100/HR, one 16x16 window each; LR = MATLAB bicubic /4). The paper's own 150
images are not public, so numbers are comparable between models run here, not with the paper's
(A2N 14.77 / 21.44 dB; IMDN 14.643; CARN 1.807).

Usage (from the repository root; ~15-20 s per crop for PAN x4 on one CPU thread, ~45 min for 150):
    python benchmarks/lam_di.py --model pan --scale 4 --weights ../shared/weights/official/pan_x4.pth
    python benchmarks/lam_di.py --weights runs/a2n_x4_291/a2n_x4.safetensors --name a2n_x4_291
    python benchmarks/lam_di.py ... --limit 10          # a quick partial run
The same numbers come from ``attnsr analyze lam-set --model ... --json FILE``.
Writes docs/analysis/lam_di_<name>.json (per crop) and updates docs/analysis/lam_di.md (one row per model).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

from attnsr import build_from_checkpoint, create_model
from attnsr.analysis.lam_crops import evaluate_lam_set, load_manifest

OUT = Path("docs/analysis")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--weights")
    ap.add_argument("--name", help="row name (default: MODEL_xSCALE)")
    ap.add_argument("--manifest", type=Path)
    ap.add_argument("--data", type=Path, help="Urban100/HR folder (default: the manifest's source)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 is far slower on a busy 2-core CPU)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    if args.weights:
        model = build_from_checkpoint(args.weights, name=args.model, scale=args.scale)
    else:
        model = create_model(args.model, scale=args.scale, pretrained=True)
    model = model.eval().to(args.device)
    arch = model.arch
    name = args.name or f"{arch['name']}_x{arch['scale']}"
    manifest = load_manifest(args.manifest)
    start = time.perf_counter()
    res = evaluate_lam_set(
        model,
        manifest,
        scale=arch["scale"],
        hr_dir=args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
    )
    seconds = time.perf_counter() - start
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": name,
        "model": arch,
        "weights": args.weights,
        "manifest": manifest.get("name"),
        "crops_done": len(res.crops),
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "device": args.device,
        **asdict(res),
    }
    (OUT / f"lam_di_{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    table = OUT / "lam_di.md"
    rows = {}
    if table.is_file():
        for line in table.read_text().splitlines():
            if line.startswith("| ") and not line.startswith("| model"):
                rows[line.split("|")[1].strip()] = line
    rows[name] = (
        f"| {name} | {len(res.crops)} | {res.di:.3f} | {res.psnr:.3f} | "
        f"{seconds / len(res.crops):.1f} s ({args.device}, {args.threads} thr) |"
    )
    table.write_text(
        "# LAM Diffusion Index over the Urban100 150-crop set (A2N Table 7 protocol)\n\n"
        "DI = (1 − Gini)·100 of the LAM map (SPEC §4), mean over crops; PSNR: standard protocol (Y, 4 px border) "
        "on the 256x256 crops. Rows: `python benchmarks/lam_di.py ...` (see its docstring).\n\n"
        "| model | crops | DI | PSNR (dB) | time per crop |\n|---|---|---|---|---|\n"
        + "\n".join(rows[k] for k in sorted(rows))
        + "\n"
    )
    print(
        f"{name}: {len(res.crops)} crops, DI {res.di:.3f}, PSNR {res.psnr:.3f} dB, "
        f"{seconds / len(res.crops):.1f} s per crop"
    )


if __name__ == "__main__":
    main()
