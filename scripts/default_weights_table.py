"""The default weights' table: ours (from each weight record) against bicubic (measured here), VDSR and the
A2N paper (published), standard protocol, whole image.

Usage: python scripts/default_weights_table.py [--out docs/training/default_weights.md] [--readme README.md]
Reads the built-in A2N records (src/attnsr/weights/*.json and the files beside them); measures
bicubic (MATLAB imresize up of the MATLAB-bicubic LR) on the same sets; writes Markdown, the same tables
between the README's ``default-weights`` markers, and benchmarks/results/default_weights_table.json.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from attnsr import read_checkpoint
from attnsr._pretrained import builtin_records, verify_builtin
from attnsr.data.imresize import imresize
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import evaluate_folder
from attnsr.outputs import write_text
from attnsr.settings import shared_root

README_BLOCK = re.compile(r"(<!-- default-weights:start[^\n]*-->\n).*?(\n<!-- default-weights:end -->)", re.S)
DATASETS = ["Set5", "Set14", "B100", "Urban100"]
# VDSR (Kim et al., CVPR 2016, Table 3; trained on the same 291 images) and A2N (Table 5, DIV2K, chopped).
VDSR = {
    2: {"Set5": (37.53, 0.9587), "Set14": (33.03, 0.9124), "B100": (31.90, 0.8960), "Urban100": (30.76, 0.9140)},
    3: {"Set5": (33.66, 0.9213), "Set14": (29.77, 0.8314), "B100": (28.82, 0.7976), "Urban100": (27.14, 0.8279)},
    4: {"Set5": (31.35, 0.8838), "Set14": (28.01, 0.7674), "B100": (27.29, 0.7251), "Urban100": (25.18, 0.7524)},
}
A2N = {
    2: {"Set5": (38.06, 0.9608), "Set14": (33.75, 0.9194), "B100": (32.22, 0.9002), "Urban100": (32.43, 0.9311)},
    3: {"Set5": (34.47, 0.9279), "Set14": (30.44, 0.8437), "B100": (29.14, 0.8059), "Urban100": (28.41, 0.8570)},
    4: {"Set5": (32.30, 0.8966), "Set14": (28.71, 0.7842), "B100": (27.61, 0.7374), "Urban100": (26.27, 0.7920)},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/training/default_weights.md"))
    ap.add_argument("--readme", type=Path, default=Path("README.md"), help="file whose marked block is rewritten")
    ap.add_argument(
        "--remeasure-bicubic", action="store_true", help="measure bicubic again instead of reusing the last table's"
    )
    args = ap.parse_args()
    print(render_tables(readme=args.readme, out=args.out, remeasure_bicubic=args.remeasure_bicubic))


def render_tables(*, readme: Path, out: Path, remeasure_bicubic: bool = False) -> str:
    """Render the default-weights tables from the built-in records (read afresh: a release has just written
    one) into ``out``, the README's marked block and the results JSON; returns the Markdown."""
    root = shared_root()
    last = Path("benchmarks/results/default_weights_table.json")
    known = {} if remeasure_bicubic or not last.is_file() else json.loads(last.read_text())
    records = {}
    for record in (r for r in builtin_records() if r.arch == "a2n"):
        _, info = read_checkpoint(verify_builtin(record))
        records[info["arch"]["scale"]] = {**info["record"], "training": record.training_data}
    table = {}
    for scale, rec in sorted(records.items()):
        sets = [d for d in DATASETS if d in rec["results"]]
        bicubic = {}
        for ds in sets:
            if ds in known.get(str(scale), {}).get("bicubic", {}):  # bicubic does not change between releases
                bicubic[ds] = tuple(known[str(scale)]["bicubic"][ds])
                continue
            r = evaluate_folder(
                lambda lr, s=scale: imresize(lr, scale=s),
                root / "data" / ds,
                scale=scale,
                cache_dir=default_lr_cache(),
            )
            bicubic[ds] = (round(r.psnr, 4), round(r.ssim, 4))
        table[scale] = {
            "iterations": rec["iterations"],
            "training": rec["training"],  # the record's own words (a run may have restarted from a release)
            "ours": {d: (rec["results"][d]["psnr"], rec["results"][d]["ssim"]) for d in sets},
            "bicubic": bicubic,
            "vdsr_published": {d: VDSR[scale][d] for d in sets},
            "a2n_paper": {d: A2N[scale][d] for d in sets},
        }
    lines = []
    for scale, t in table.items():
        sets = list(t["ours"])
        lines += [
            f"### ×{scale} (ours: {t['training']})",
            "",
            "| method | training data | " + " | ".join(sets) + " |",
            "|---|---|" + "---|" * len(sets),
        ]
        for label, key, data in (
            ("bicubic (measured)", "bicubic", "–"),
            ("VDSR (published)", "vdsr_published", "291"),
            ("attnsr A2N default (measured)", "ours", "291"),
            ("A2N paper (published)", "a2n_paper", "DIV2K"),
        ):
            cells = [f"{t[key][d][0]:.2f}/{t[key][d][1]:.4f}" for d in sets]
            lines.append(f"| {label} | {data} | " + " | ".join(cells) + " |")
        lines.append("")
    markdown = "\n".join(lines).strip()
    text = readme.read_text()
    if not README_BLOCK.search(text):
        raise SystemExit(f"{readme}: no <!-- default-weights:start --> ... <!-- default-weights:end --> block")
    block = re.sub(r"^### ", "#### ", markdown, flags=re.M)  # one level below the README's section heading
    write_text(out, markdown, overwrite=True)
    write_text(last, json.dumps(table, indent=2), overwrite=True)
    write_text(readme, README_BLOCK.sub(lambda m: m[1] + block + m[2], text), overwrite=True)
    return markdown


if __name__ == "__main__":
    main()
