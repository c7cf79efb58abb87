"""Turn a training run into the package's built-in weights, with a measured record.

Usage: python scripts/release_weights.py training/a2n_x2_291 [--datasets Set5 Set14 B100 Urban100] [--threads N]
       [--use ema|model]

Loads the run's checkpoint (its EMA weights when the run kept them, unless ``--use model``), evaluates it
under the standard protocol (whole image, fp32) on the given benchmark sets, and writes
src/attnsr/weights/<name>_x<scale>.safetensors whose metadata holds the architecture and the release record
(recipe, data, iterations, training time, PSNR/SSIM, sha256 of the tensors) and, in the same go, everything
that describes the release: its WeightRecord as src/attnsr/weights/<name>_x<scale>.json (read by
attnsr._pretrained.builtin_records), and the tables rendered from the records (docs/training/default_weights.md,
the README's default-weights block, benchmarks/results/default_weights_table.json). A new release's bf16 cost
is unmeasured until `python benchmarks/bf16_cost.py --names <name>_x<scale>.builtin --write-records` runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
from default_weights_table import render_tables  # scripts/ is on sys.path when run as a script

from attnsr import create_model, save_weights
from attnsr._pretrained import BUILTIN_DIR, sha256_file
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import evaluate_folder, make_forward
from attnsr.outputs import write_text
from attnsr.settings import shared_root


def _train_time(ck: dict, times: list[float], first_timed: int | None) -> dict:
    if "train_seconds" in ck:  # summed step times, kept in the checkpoint since precision auto
        return {"train_seconds": round(ck["train_seconds"], 1), "train_seconds_note": "sum of step wall times"}
    # Older runs: the sum of the gaps between logged iterations, leaving out pauses between resumes (> 10 min).
    return {
        "train_seconds_active": round(sum(b - a for a, b in zip(times, times[1:]) if b - a < 600), 1),
        "train_seconds_note": f"from iteration {first_timed} on (earlier iterations were logged without times)",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100", "Urban100"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument(
        "--use", choices=("ema", "model"), default="ema", help="the run's EMA (when kept) or its raw model weights"
    )
    ap.add_argument("--note", default="", help="appended to the record's training data, e.g. 'from the x4 trunk'")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ck = torch.load(args.run / "checkpoint.pt", map_location="cpu", weights_only=False)
    arch = ck["arch"]
    model = create_model(arch["name"], scale=arch["scale"], **arch.get("options", {}))
    use = "ema" if args.use == "ema" and ck.get("ema") is not None else "model"
    model.load_state_dict(ck[use])
    history = ck.get("history", [])
    timed = [h for h in history if "time" in h]
    times = [h["time"] for h in timed]
    first_timed = timed[0]["iteration"] if timed else None
    results = {}
    fwd = make_forward(model, scale=arch["scale"], protocol="standard", precision="fp32")
    for ds in args.datasets:
        r = evaluate_folder(
            fwd,
            shared_root() / "data" / ds,
            scale=arch["scale"],
            protocol="standard",
            cache_dir=default_lr_cache(),
        )
        results[ds] = {"psnr": round(r.psnr, 4), "ssim": round(r.ssim, 4), "images": len(r.images)}
        print(ds, results[ds], flush=True)
    model = model.to(memory_format=torch.contiguous_format)
    digest = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.detach().contiguous().numpy().tobytes())
    cfg = ck["config"]
    record = {
        "name": arch["name"],
        "scale": arch["scale"],
        "input_range": "0-1",
        "parameters": sum(p.numel() for p in model.parameters()),
        "recipe": cfg,
        "training_data": cfg["data"]["train_dirs"],
        "iterations": ck["iteration"],
        "weights_used": use,
        "batch_size": cfg["data"]["batch_size"],
        "lr_patch": cfg["data"]["patch_size"],
        "precision": sorted({h["precision"] for h in timed if "precision" in h}) or [cfg["precision"]],
        "hardware": [h["environment"] for h in history if "environment" in h],  # one per (re)start
        "initialised_from": next((h["init_from"] for h in history if "init_from" in h), None),  # path + sha256
        **_train_time(ck, times, first_timed),
        "protocol": "standard (whole image, fp32)",
        "results": results,
        "tensor_sha256": digest.hexdigest(),
        "released": time.strftime("%Y-%m-%d"),
    }
    out = BUILTIN_DIR / f"{arch['name']}_x{arch['scale']}.safetensors"
    save_weights(model, out, record=record)
    write_record(out, arch, record, note=args.note)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {out.with_suffix('.json')}; rendering the tables")
    render_tables(readme=Path("README.md"), out=Path("docs/training/default_weights.md"))


def write_record(path: Path, arch: dict, record: dict, *, note: str) -> None:
    """The release's WeightRecord as JSON beside the weights (sha256, size and parameters from the file)."""
    dirs = " + ".join(Path(d).parent.name if Path(d).name == "HR" else Path(d).name for d in record["training_data"])
    weights = "EMA" if record["weights_used"] == "ema" else "final weights"
    training = f"{dirs}, {record['iterations']} iterations of batch {record['batch_size']} ({weights})"
    entry = {
        "name": f"{arch['name']}_x{arch['scale']}.builtin",
        "arch": arch["name"],
        "scales": [arch["scale"]],
        "source": "builtin",
        "file": path.name,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
        "num_params": record["parameters"],
        "options": arch.get("options", {}),
        "training_data": training + (f", {note}" if note else ""),
        "licence": "MIT (trained by this project)",
        "measured": {ds: {**r, "protocol": "standard"} for ds, r in record["results"].items()},
        "bf16_cost": {},  # measured by benchmarks/bf16_cost.py --write-records
    }
    entry["measured"] = {ds: {k: v for k, v in m.items() if k != "images"} for ds, m in entry["measured"].items()}
    write_text(path.with_suffix(".json"), json.dumps(entry, indent=1), overwrite=True)


if __name__ == "__main__":
    main()
