"""``attnsr export onnx``: export a model with dynamic height and width."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export import export_onnx
from ..upscale import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model (ONNX, dynamic height/width)")
    p.add_argument("format", choices=("onnx",))
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--model", help="registered model name (default a2n)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=4)
    p.add_argument("--weights", help="checkpoint (default: built-in weights)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import AttnsrError

    if args.output.exists() and not args.overwrite:
        raise AttnsrError(f"'{args.output}' exists; pass --overwrite to replace it")
    model = load_model(args.model, scale=args.scale, weights=args.weights)
    path = export_onnx(model, args.output, opset=args.opset)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; input 'lr' N×3×H×W float [0,1], output 'sr')")
    return 0
