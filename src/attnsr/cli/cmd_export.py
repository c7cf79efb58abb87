"""``attnsr export onnx|openvino -o OUT``: a model for deployment, with dynamic height and width."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AttnsrError
from ..export import DEFAULT_OPSET, ONNX_OPSETS
from ..outputs import check_output
from ..upscaler import DEFAULT_MODEL
from . import argtypes
from .model_args import add_model_arguments, model_from_args


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model (ONNX or OpenVINO IR, dynamic height/width)")
    p.add_argument("format", choices=("onnx", "openvino"))
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="onnx: the .onnx file; openvino: a folder or the .xml file"
    )
    add_model_arguments(p, default_scale=4)
    p.add_argument(
        "--opset",
        type=argtypes.int_range(ONNX_OPSETS.start, ONNX_OPSETS.stop - 1),
        default=DEFAULT_OPSET,
        help="ONNX opset (onnx only)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "int8"),
        default="fp32",
        help="openvino only: int8 writes the model quantized by NNCF (attnsr[int8]; calibrated once, cached)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def openvino_target(output: Path, *, name: str, scale: int) -> Path:
    """The .xml to write: ``output`` itself when it names one, else ``output/<name>_x<scale>.xml``."""
    return output if output.suffix.lower() == ".xml" else output / f"{name}_x{scale}.xml"


def run(args: argparse.Namespace) -> int:
    if args.precision == "int8" and args.format != "openvino":
        raise AttnsrError("--precision int8 exports OpenVINO IR only (export openvino)")
    if args.format == "openvino":
        from ..backends import resolve_backend

        resolve_backend("openvino")  # a one-line error when openvino (or onnx) is missing
        if args.precision == "int8":
            from ..quantize import nncf_version

            nncf_version()  # a one-line error naming the extra when NNCF is missing
        target = openvino_target(args.output, name=args.model or DEFAULT_MODEL, scale=args.scale)
        for path in (target, target.with_suffix(".bin")):  # refused before the model is loaded
            check_output(path, overwrite=args.overwrite)
    else:
        target = check_output(args.output, overwrite=args.overwrite, suffixes=(".onnx",))
    model = model_from_args(args, default_model=DEFAULT_MODEL)
    if args.format == "openvino":
        from ..export import copy_ir, export_openvino

        if args.precision == "int8":
            from ..quantize import int8_model

            path = copy_ir(int8_model(model), target, overwrite=args.overwrite)
        else:
            path = export_openvino(model, target, overwrite=args.overwrite)
        size = path.stat().st_size + path.with_suffix(".bin").stat().st_size
        print(f"wrote {path} and {path.with_suffix('.bin').name} ({size / 1e6:.1f} MB; input 'lr' N×3×H×W float [0,1])")
        return 0
    from ..export import export_onnx

    path = export_onnx(model, target, opset=args.opset, overwrite=args.overwrite)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; input 'lr' N×3×H×W float [0,1], output 'sr')")
    return 0
