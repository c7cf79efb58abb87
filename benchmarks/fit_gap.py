"""Over-fitted or under-trained? The same weights measured on training images and on a held-out set.

Usage: python benchmarks/fit_gap.py --scale 2 --weights NAME=PATH [--weights NAME=PATH ...]
       [--train-images 12:BSD200 --train-images 8:T91] [--threads 1] [--out benchmarks/results/fit_gap_x2.json]

Each weights file is evaluated under the standard protocol (whole image, fp32, Y, border = scale) on the
first images of training folders of the 291 set (``COUNT:NAME``, a folder of ``$ATTNSR_SHARED/data``) and
on Set5. Between two releases of one run, a gain on the training images much larger than on Set5 says the
recipe over-fits the 291 images (more data or augmentation would help); equal gains say it is under-trained
(more or better optimisation would).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from attnsr import create_model
from attnsr._pretrained import sha256_file
from attnsr.evaluate import evaluate_folder, make_forward
from attnsr.io import list_images
from attnsr.outputs import write_text
from attnsr.precision import cpu_info
from attnsr.settings import shared_root


def subset_folder(source: Path, count: int, work: Path) -> Path:
    """A folder of links to the first ``count`` images of ``source`` (sorted by name)."""
    folder = work / source.parent.name
    folder.mkdir()
    for path in list_images(source)[:count]:
        (folder / path.name).symlink_to(path.resolve())
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--weights", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--train-images", action="append", metavar="COUNT:NAME", help="default 12:BSD200 and 8:T91")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = shared_root() / "data"
    train_specs = args.train_images or ["12:BSD200", "8:T91"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        train_folders = []
        for spec in train_specs:
            count, name = spec.split(":", 1)
            train_folders.append(subset_folder(data / name / "HR", int(count), Path(tmp)))
        for item in args.weights:
            name, path = item.split("=", 1)
            t0 = time.time()
            model = create_model("a2n", scale=args.scale, pretrained=path)
            forward = make_forward(model, scale=args.scale, precision="fp32")
            train_results = [evaluate_folder(forward, f, scale=args.scale) for f in train_folders]
            images = [r for result in train_results for r in result.images]
            set5 = evaluate_folder(forward, data / "Set5" / "HR", scale=args.scale)
            rows[name] = {
                "weights": path,
                "sha256": sha256_file(Path(path)),
                "train_psnr": round(sum(r.psnr for r in images) / len(images), 4),
                "train_images": len(images),
                "set5_psnr": round(set5.psnr, 4),
                "wall_s": round(time.time() - t0, 1),
            }
            print(name, rows[name], flush=True)
    out = args.out or Path(f"benchmarks/results/fit_gap_x{args.scale}.json")
    payload = {
        "benchmark": "fit_gap",
        "scale": args.scale,
        "protocol": "standard, whole image, fp32",
        "train_images": train_specs,
        "cpu": cpu_info().as_dict(),
        "torch": torch.__version__,
        "threads": args.threads,
        "weights": rows,
        "command": "python benchmarks/fit_gap.py "
        + " ".join([f"--scale {args.scale}", *(f"--weights {w}" for w in args.weights)]),
    }
    write_text(out, json.dumps(payload, indent=2), overwrite=True)
    print("wrote", out)


if __name__ == "__main__":
    main()
