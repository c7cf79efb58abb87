"""``attnsr upscale INPUT... [-o OUT]``: the everyday command."""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..backends import BACKENDS
from ..errors import AttnsrError, ImageError
from ..io import DEFAULT_MAX_PIXELS, SUPPORTED_SUFFIXES, check_min_size, list_images, read_image, write_image
from ..precision import PRECISIONS
from ..upscaler import DEFAULT_MODEL, Upscaler, _bicubic_plane, parse_tile, sample_image
from .model_args import add_model_arguments, model_from_args

MIN_SIDE = 2


def add_parser(sub) -> None:
    p = sub.add_parser("upscale", help="upscale images (files, folders or globs)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("--sample", action="store_true", help="upscale the sample image shipped with attnsr")
    p.add_argument("-o", "--output", type=Path, help="output file (one input) or folder")
    add_model_arguments(p, default_scale=4)
    p.add_argument("--tile", default="auto", help="tile size in LR pixels, 0 for whole image, or auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: bf16 only where native")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto: openvino on the CPU when installed, else onnxruntime, else torch; torch on CUDA",
    )
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
        help="output format (default: the input's)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def expand_inputs(items: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise ImageError(f"folder '{p}' holds no supported images")
            files += found
        elif p.exists():
            files.append(p)
        elif any(c in item for c in "*?["):
            matched = sorted(Path(m) for m in glob.glob(item) if Path(m).is_file())
            if not matched:
                raise ImageError(f"no files match {item!r}")
            files += matched
        else:
            raise ImageError(f"cannot read '{p}': no such file")
    return files


def output_path(src: Path, *, output: Path | None, single: bool, scale: int, fmt: str | None) -> Path:
    suffix = f".{fmt}" if fmt else src.suffix.lower()
    name = f"{src.stem}_x{scale}{suffix}"
    if output is None:
        return src.with_name(name)
    if single and output.suffix.lower() in SUPPORTED_SUFFIXES:
        return output
    return output / name


def run(args: argparse.Namespace) -> int:
    items = list(args.inputs) + ([str(sample_image())] if args.sample else [])
    if not items:
        raise AttnsrError("give at least one INPUT (file, folder or glob), or --sample")
    tile = parse_tile(args.tile)
    files = expand_inputs(items)
    single = len(files) == 1
    targets = [output_path(f, output=args.output, single=single, scale=args.scale, fmt=args.fmt) for f in files]
    if not args.overwrite:  # refuse before any work is done
        existing = [t for t in targets if t.exists()]
        if existing:
            raise ImageError(f"'{existing[0]}' exists; pass --overwrite to replace it")
    if args.output is not None and not (single and args.output.suffix.lower() in SUPPORTED_SUFFIXES):
        try:
            args.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ImageError(f"cannot create output folder '{args.output}': {exc.strerror}") from None
    onnx_file = args.weights is not None and str(args.weights).lower().endswith(".onnx")
    upscaler = Upscaler(
        args.model if onnx_file else model_from_args(args, default_model=DEFAULT_MODEL),
        scale=args.scale,
        weights=args.weights if onnx_file else None,
        backend=args.backend,
        precision=args.precision,
        device=args.device,
        tile=tile,
    )
    bar = tqdm(total=len(files), unit="img", disable=args.no_progress or single)
    t0, pixels = time.perf_counter(), 0
    for src, dst in zip(files, targets):
        rgb, alpha, info = read_image(src, max_pixels=args.max_pixels)
        check_min_size(info, MIN_SIDE)
        deep = info.bit_depth == 16 and dst.suffix.lower() in (".png", ".tif", ".tiff")
        sr = upscaler.upscale_tensor(rgb, out_dtype=torch.int32 if deep else torch.uint8)
        del rgb
        alpha_sr = None
        if alpha is not None:
            alpha_sr = _bicubic_plane(alpha[0, 0], sr.shape[-2], sr.shape[-1])[None, None]
        write_image(dst, sr, alpha=alpha_sr, info=info, quality=args.quality, overwrite=args.overwrite)
        pixels += sr.shape[-1] * sr.shape[-2]
        bar.update(1)
        if single or args.no_progress:
            print(f"{src} -> {dst} ({info.size[0]}x{info.size[1]} -> {sr.shape[-1]}x{sr.shape[-2]})")
    bar.close()
    dt = time.perf_counter() - t0
    print(
        f"upscaled {len(files)} image{'s' * (len(files) != 1)} x{args.scale} in {dt:.1f}s "
        f"({pixels / 1e6:.1f} MP written; {upscaler.backend}, {upscaler.precision})"
    )
    return 0
