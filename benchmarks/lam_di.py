"""Diffusion Index and PSNR over the 150-crop Urban100 LAM set (A2N Table 7), for one model.

The crops are the committed manifest src/attnsr/analysis/manifests/lam_urban100_150.json (256x256 HR
crops of ../shared/data/Urban100/HR, one 16x16 window each; LR = MATLAB bicubic /4). The paper's own 150
images are not public, so numbers are comparable between models run here, not with the paper's
(A2N 14.77 / 21.44 dB; IMDN 14.643; CARN 1.807).

Usage (from the repository root; ~15-20 s per crop for PAN x4 on one CPU thread, ~45 min for 150):
    python benchmarks/lam_di.py --model pan --scale 4 --weights ../shared/weights/official/pan_x4.pth
    python benchmarks/lam_di.py --weights runs/a2n_x4_291/a2n_x4.safetensors --name a2n_x4_291
    python benchmarks/lam_di.py ... --limit 10          # a quick partial run
    python benchmarks/lam_di.py ... --resume            # continue an interrupted run (same weights)
The per-crop JSON is rewritten (atomically) after every crop, so an interrupted run loses at most one crop.
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
from attnsr._pretrained import find_record, sha256_file
from attnsr.analysis.lam_crops import LamCropResult, evaluate_lam_set, load_manifest
from attnsr.outputs import write_text

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
    ap.add_argument("--resume", action="store_true", help="keep the crops already in the JSON of this --name")
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
    if args.weights:
        weights_sha256 = sha256_file(Path(args.weights))
    else:
        weights_sha256 = find_record(arch["name"], arch["scale"], "builtin").sha256
    record = OUT / f"lam_di_{name}.json"
    done, seconds_before = [], 0.0
    if args.resume and record.is_file():
        earlier = json.loads(record.read_text())
        same = (earlier.get("model"), earlier.get("weights_sha256"), earlier.get("manifest"))
        if same != (arch, weights_sha256, manifest.get("name")):
            raise SystemExit(f"{record}: made with other weights, model or manifest; not resuming ({same})")
        done = [LamCropResult(**c) for c in earlier["crops"]]
        seconds_before = earlier["seconds"]
    payload = {
        "name": name,
        "model": arch,
        "weights": args.weights,
        "weights_sha256": weights_sha256,
        "manifest": manifest.get("name"),
        "threads": args.threads,
        "device": args.device,
    }
    start = time.perf_counter()
    crops = list(done)

    def save(results: list[LamCropResult], di: float | None, psnr: float | None) -> None:
        seconds = seconds_before + time.perf_counter() - start
        body = {**payload, "crops_done": len(results), "seconds": round(seconds, 1), "di": di, "psnr": psnr}
        write_text(record, json.dumps({**body, "crops": [asdict(r) for r in results]}, indent=1), overwrite=True)

    def on_crop(r: LamCropResult) -> None:  # partial record after every crop: an interruption loses one crop
        crops.append(r)
        save(crops, None, None)

    res = evaluate_lam_set(
        model,
        manifest,
        scale=arch["scale"],
        hr_dir=args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        on_crop=on_crop,
        done=done,
    )
    seconds = seconds_before + time.perf_counter() - start
    save(res.crops, res.di, res.psnr)
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
    write_text(
        table,
        "# LAM Diffusion Index over the Urban100 150-crop set (A2N Table 7 protocol)\n\n"
        "DI = (1 − Gini)·100 of the LAM map (SPEC §4), mean over crops; PSNR: standard protocol (Y, 4 px border) "
        "on the 256x256 crops. Rows: `python benchmarks/lam_di.py ...` (see its docstring).\n\n"
        "| model | crops | DI | PSNR (dB) | time per crop |\n|---|---|---|---|---|\n"
        + "\n".join(rows[k] for k in sorted(rows))
        + "\n",
        overwrite=True,
    )
    print(
        f"{name}: {len(res.crops)} crops, DI {res.di:.3f}, PSNR {res.psnr:.3f} dB, "
        f"{seconds / len(res.crops):.1f} s per crop"
    )


if __name__ == "__main__":
    main()
