"""``attnsr export onnx|openvino -o OUT``: a model for deployment, with dynamic height and width."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AttnsrError
from ..upscaler import load_model


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model (ONNX or OpenVINO IR, dynamic height/width)")
    p.add_argument("format", choices=("onnx", "openvino"))
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="onnx: the .onnx file; openvino: a folder or the .xml file"
    )
    p.add_argument("--model", help="registered model name (default a2n)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=4)
    p.add_argument("--weights", help="checkpoint (default: built-in weights)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (onnx only)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def openvino_target(output: Path, *, name: str, scale: int) -> Path:
    """The .xml to write: ``output`` itself when it names one, else ``output/<name>_x<scale>.xml``."""
    return output if output.suffix.lower() == ".xml" else output / f"{name}_x{scale}.xml"


def run(args: argparse.Namespace) -> int:
    from ..backends import resolve_backend

    if args.format == "openvino":
        resolve_backend("openvino")  # a one-line error when openvino (or onnx) is missing
        target = openvino_target(args.output, name=args.model or "a2n", scale=args.scale)
        existing = [t for t in (target, target.with_suffix(".bin")) if t.exists()]
    else:
        target = args.output
        existing = [target] if target.exists() else []
    if existing and not args.overwrite:  # refuse before the model is loaded
        raise AttnsrError(f"'{existing[0]}' exists; pass --overwrite to replace it")
    model = load_model(args.model, scale=args.scale, weights=args.weights)
    if args.format == "openvino":
        from ..export import export_openvino

        path = export_openvino(model, target, overwrite=args.overwrite)
        size = path.stat().st_size + path.with_suffix(".bin").stat().st_size
        print(f"wrote {path} and {path.with_suffix('.bin').name} ({size / 1e6:.1f} MB; input 'lr' N×3×H×W float [0,1])")
        return 0
    from ..export import export_onnx

    path = export_onnx(model, target, opset=args.opset)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; input 'lr' N×3×H×W float [0,1], output 'sr')")
    return 0
