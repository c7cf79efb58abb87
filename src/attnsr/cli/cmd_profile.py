"""``attnsr profile``: parameters, multiply-adds at the papers' sizes, and FPS against input size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm import tqdm

from .._factory import create_model
from ..complexity import count_macs, count_parameters, measure_fps, paper_input_size
from ..errors import AttnsrError
from ..registry import get_entry
from .render import markdown, table


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="parameters, multiply-adds and FPS vs input size")
    p.add_argument("models", nargs="+", help="registered names; NAME:ATTENTION picks an attention (e.g. imdn:bam)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=4)
    p.add_argument("--sizes", nargs="*", type=int, default=[], help="square input sides for FPS (e.g. 60 100 200)")
    p.add_argument("--fps-at", default="paper", help="'paper' (the MACs input size) or HxW for the FPS column")
    p.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "fp16"), default=["fp32", "bf16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--with-bam", action="store_true", help="also profile each model with attention='bam'")
    p.add_argument("--no-fps", action="store_true", help="only parameters and multiply-adds")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--plot", type=Path, help="PNG of FPS vs input size")
    p.set_defaults(run=run)


def _variants(specs: list[str], with_bam: bool) -> list[tuple[str, str | None]]:
    out = []
    for spec in specs:
        name, _, att = spec.partition(":")
        get_entry(name)
        out.append((name, att or None))
        if with_bam and att != "bam":
            out.append((name, "bam"))
    return out


def run(args: argparse.Namespace) -> int:
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise AttnsrError("--device cuda asked for, but CUDA is not available on this machine")
    rows, records = [], []
    for name, att in tqdm(_variants(args.models, args.with_bam), desc="models", leave=False):
        model = create_model(name, scale=args.scale, **({"attention": att} if att else {}))
        label = f"{name}" + (f"[{att}]" if att else "")
        size = paper_input_size(name, args.scale)
        rec = {
            "model": name,
            "attention": att or get_entry(name).default_attention,
            "scale": args.scale,
            "params": count_parameters(model),
            "macs_input": list(size),
            "gmacs": count_macs(model, input_size=size) / 1e9,
            "fps": {},
            "fps_vs_size": {},
        }
        if not args.no_fps:
            at = size if args.fps_at == "paper" else tuple(int(v) for v in args.fps_at.split("x"))
            rec["fps_input"] = list(at)
            for prec in args.precisions:
                rec["fps"][prec] = measure_fps(model, size=at, precision=prec, device=args.device, repeats=args.repeats)
                rec["fps_vs_size"][prec] = {
                    str(s): measure_fps(model, size=(s, s), precision=prec, device=args.device, repeats=args.repeats)
                    for s in args.sizes
                }
        records.append(rec)
        rows.append(
            [
                label,
                f"{rec['params']:,}",
                f"{rec['gmacs']:.2f}",
                "x".join(map(str, size)),
                *(f"{rec['fps'].get(p, float('nan')):.2f}" for p in args.precisions),
            ]
        )
    headers = ["model", "params", "GMACs", "MACs input", *(f"FPS {p}" for p in args.precisions)]
    print(table(headers, rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": args.device, "records": records}, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(headers, rows) + "\n")
    if args.plot and args.sizes and not args.no_fps:
        _plot(records, args.plot, args.precisions)
    return 0


def _plot(records: list[dict], path: Path, precisions: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for rec in records:
        for prec in precisions:
            pts = rec["fps_vs_size"].get(prec, {})
            if pts:
                xs = [int(k) for k in pts]
                ax.plot(xs, list(pts.values()), marker="o", label=f"{rec['model']}[{rec['attention']}] {prec}")
    ax.set_xlabel("input side (pixels)")
    ax.set_ylabel("frames per second")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
