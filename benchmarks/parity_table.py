"""Official-checkpoint table on Set5, Set14, B100 and Urban100 (A2N x2/x3 chopped and whole; PAN x2/x3/x4).

Usage: python benchmarks/parity_table.py [--out benchmarks/results/parity.json] [--datasets Set5 Set14 B100 Urban100]
Writes machine-readable JSON and a Markdown table (same stem, .md). Runs fp32 on the CPU (about an hour on
2 cores for everything); results are compared with the published figures in docs/REFERENCE.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attnsr import build_from_checkpoint
from attnsr.data.lr_cache import default_lr_cache
from attnsr.evaluate import evaluate_folder, make_forward
from attnsr.outputs import write_text
from attnsr.settings import shared_root

RUNS = [
    ("pan_x2.pth", "pan", 2, "standard"),
    ("pan_x3.pth", "pan", 3, "standard"),
    ("pan_x4.pth", "pan", 4, "standard"),
    ("a2n_x2.pt", "a2n", 2, "chop"),
    ("a2n_x3.pt", "a2n", 3, "chop"),
    ("a2n_x2.pt", "a2n", 2, "standard"),
    ("a2n_x3.pt", "a2n", 3, "standard"),
]
# Published figures (docs/REFERENCE.md): A2N Table 5 and PAN's B100.
PUBLISHED = {
    ("a2n", 2): {
        "Set5": (38.06, 0.9608),
        "Set14": (33.75, 0.9194),
        "B100": (32.22, 0.9002),
        "Urban100": (32.43, 0.9311),
    },
    ("a2n", 3): {
        "Set5": (34.47, 0.9279),
        "Set14": (30.44, 0.8437),
        "B100": (29.14, 0.8059),
        "Urban100": (28.41, 0.8570),
    },
    ("pan", 2): {"B100": (32.18, 0.8997)},
    ("pan", 3): {"B100": (29.11, 0.8050)},
    ("pan", 4): {"B100": (27.59, 0.7363)},
}
# REFERENCE.md's anchors: the official code's own figures to four decimals (Set5 / Set14).
ANCHORS = {
    ("a2n", 2, "chop"): {"Set5": (38.0607, 0.9608), "Set14": (33.7534, 0.9194)},
    ("a2n", 2, "standard"): {"Set5": (38.0581, 0.9607), "Set14": (33.7188, 0.9187)},
    ("a2n", 3, "chop"): {"Set5": (34.4732, 0.9279), "Set14": (30.4374, 0.8437)},
    ("a2n", 3, "standard"): {"Set5": (34.4648, 0.9278), "Set14": (30.3830, 0.8424)},
    ("pan", 2, "standard"): {"Set5": (38.0007, 0.9605), "Set14": (33.5927, 0.9181)},
    ("pan", 3, "standard"): {"Set5": (34.4003, 0.9272), "Set14": (30.3553, 0.8422)},
    ("pan", 4, "standard"): {"Set5": (32.1311, 0.8948), "Set14": (28.6107, 0.7822)},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/parity.json"))
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "B100", "Urban100"])
    ap.add_argument("--only", nargs="*", help="subset of checkpoints, e.g. pan_x4.pth")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--render", nargs="+", type=Path, help="only merge these result JSONs into --out (.json/.md)")
    args = ap.parse_args()
    if args.render:
        rows = [r for f in args.render for r in json.loads(f.read_text())["results"]]
        write_text(args.out, json.dumps({"results": rows}, indent=2), overwrite=True)
        render(rows, args.out.with_suffix(".md"))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    root = shared_root()
    rows = []
    for ckpt, name, scale, protocol in RUNS:
        if args.only and ckpt not in args.only:
            continue
        model = build_from_checkpoint(root / "weights" / "official" / ckpt, name=name, scale=scale)
        fwd = make_forward(model, scale=scale, protocol=protocol)
        for ds in args.datasets:
            if name == "a2n" and protocol == "standard" and ds not in ("Set5", "Set14"):
                continue  # A2N's published B100/Urban100 figures are chopped; whole-image only where REFERENCE has it
            t0 = time.perf_counter()
            r = evaluate_folder(fwd, root / "data" / ds, scale=scale, protocol=protocol, cache_dir=default_lr_cache())
            pub = PUBLISHED.get((name, scale), {}).get(ds) if (name == "pan" or protocol == "chop") else None
            rows.append(
                {
                    "checkpoint": ckpt,
                    "model": name,
                    "scale": scale,
                    "protocol": protocol,
                    "dataset": ds,
                    "psnr": r.psnr,
                    "ssim": r.ssim,
                    "images": len(r.images),
                    "published_psnr": pub[0] if pub else None,
                    "published_ssim": pub[1] if pub else None,
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
            write_text(args.out, json.dumps({"results": rows}, indent=2), overwrite=True)
    render(rows, args.out.with_suffix(".md"))


def render(rows: list[dict], path: Path) -> None:
    """Markdown table of results beside the published figures."""
    lines = [
        "| model | scale | protocol | dataset | PSNR | SSIM | published (paper) | Δ dB | REFERENCE anchor | Δ dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pub = f"{r['published_psnr']:.2f}/{r['published_ssim']:.4f}" if r["published_psnr"] else "–"
        delta = f"{r['psnr'] - r['published_psnr']:+.4f}" if r["published_psnr"] else "–"
        anchor = ANCHORS.get((r["model"], r["scale"], r["protocol"]), {}).get(r["dataset"])
        anc = f"{anchor[0]:.4f}/{anchor[1]:.4f}" if anchor else "–"
        adelta = f"{round(r['psnr'], 4) - anchor[0]:+.4f}" if anchor else "–"
        lines.append(
            f"| {r['model']} | x{r['scale']} | {r['protocol']} | {r['dataset']} | {r['psnr']:.4f} | "
            f"{r['ssim']:.4f} | {pub} | {delta} | {anc} | {adelta} |"
        )
    write_text(path, "\n".join(lines) + "\n", overwrite=True)


if __name__ == "__main__":
    main()
