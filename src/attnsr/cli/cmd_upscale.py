"""``attnsr upscale INPUT... [-o OUT]``: the everyday command.

Every output is planned before any work: names (``<stem>_x<scale>.<suffix>`` beside the input, in the
folder ``-o``, or the one file ``-o``), collisions between inputs, the overwrite rule, writability and the
output format's size limit — so a run either writes every image or stops before the first.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..backends import BACKENDS
from ..errors import AttnsrError, ImageError
from ..io import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    check_encodable,
    check_image_file,
    check_min_size,
    list_images,
    read_image,
    write_image,
)
from ..outputs import check_output, check_suffix
from ..precision import INFERENCE_PRECISIONS
from ..upscaler import DEFAULT_MODEL, Upscaler, resize_plane, sample_image
from . import argtypes
from .model_args import add_model_arguments, model_from_args

log = logging.getLogger(__name__)

MIN_SIDE = 2


def add_parser(sub) -> None:
    p = sub.add_parser("upscale", help="upscale images (files, folders or globs)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument(
        "--sample", action="store_true", help="upscale the sample image shipped with attnsr (into this folder)"
    )
    p.add_argument(
        "-o",
        "--output",
        help="output file (one input; its suffix is the format) or folder (several inputs, or a name ending in /)",
    )
    add_model_arguments(p, default_scale=4)
    p.add_argument(
        "--tile", type=argtypes.tile, default="auto", help="tile size in LR pixels, 0 for whole image, or auto"
    )
    p.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="auto",
        help="auto: bf16 or int8 only where measured harmless and faster (README); int8 needs attnsr[int8]",
    )
    p.add_argument("--device", type=argtypes.device, default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto: openvino on the CPU when installed, else onnxruntime, else torch; torch on CUDA",
    )
    p.add_argument("--quality", type=argtypes.int_range(1, 100), default=95, help="JPEG/WebP quality, 1-100")
    p.add_argument(
        "--format",
        dest="fmt",
        choices=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
        help="output format (default: the input's)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--max-pixels", type=argtypes.positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger inputs")
    p.set_defaults(run=run)


def expand_inputs(items: list[str]) -> tuple[list[Path], set[Path]]:
    """Files named by ``items`` (files, folders, globs), each once, in order; and those found by listing."""
    files: list[Path] = []
    listed: set[Path] = set()
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise ImageError(f"folder '{p}' holds no supported images")
            files += found
            listed.update(found)
        elif p.exists():
            files.append(p)
        elif any(c in item for c in "*?["):
            matched = sorted(Path(m) for m in glob.glob(item) if Path(m).is_file())
            if not matched:
                raise ImageError(f"no files match {item!r}")
            files += matched
            listed.update(matched)
        else:
            raise ImageError(f"cannot read '{p}': no such file")
    unique = {f.resolve(): f for f in reversed(files)}  # the first naming of a file wins
    return [f for f in files if unique[f.resolve()] is f], listed


def _names_a_file(output: str | None) -> bool:
    """``-o`` names one file: not an existing folder, no trailing slash, and a suffix."""
    return (
        bool(output) and not output.endswith(("/", os.sep)) and not Path(output).is_dir() and bool(Path(output).suffix)
    )


def output_path(src: Path, *, output: str | None, scale: int, fmt: str | None) -> Path:
    """Where ``src`` is written: ``-o`` itself when it names a file, else ``<stem>_x<scale>.<suffix>`` in the
    folder ``-o`` or beside the input (the sample image: in the current folder)."""
    if _names_a_file(output):
        return Path(output)
    name = f"{src.stem}_x{scale}{f'.{fmt}' if fmt else src.suffix.lower()}"
    if output:
        return Path(output) / name
    return Path(name) if src == sample_image() else src.with_name(name)


def plan(args: argparse.Namespace, items: list[str]) -> list[tuple[Path, Path]]:
    """(input, output) pairs, every check that needs no model done: refuses before any work."""
    files, listed = expand_inputs(items)
    if _names_a_file(args.output):
        check_suffix(args.output, SUPPORTED_SUFFIXES)
        if len(files) > 1:
            raise AttnsrError(f"'{args.output}' names one file but {len(files)} images are given; name a folder")
        if args.fmt and Path(args.output).suffix.lower().lstrip(".") != args.fmt:
            raise AttnsrError(f"'{args.output}' is not a .{args.fmt} name; the suffix of the output sets its format")
    targets = {f.resolve(): output_path(f, output=args.output, scale=args.scale, fmt=args.fmt) for f in files}
    if not args.output:  # earlier outputs found beside their inputs are not inputs again
        earlier = {t.resolve() for t in targets.values()}
        skipped = [f for f in files if f in listed and f.resolve() in earlier]
        if skipped:
            log.warning("skipping %d earlier output(s) of these inputs, e.g. '%s'", len(skipped), skipped[0])
        files = [f for f in files if f not in skipped]
    pairs = [(f, targets[f.resolve()]) for f in files]
    seen: dict[str, Path] = {}
    for src, dst in pairs:
        key = os.path.normcase(str(dst.resolve())).casefold()  # a.png and a.PNG meet on case-blind disks
        if key in seen:
            raise AttnsrError(f"'{seen[key]}' and '{src}' would both be written to '{dst}'; use -o or --format")
        if dst.resolve() == src.resolve():
            raise AttnsrError(f"'{src}' would be written over itself")
        seen[key] = src
        w, h = check_image_file(src, max_pixels=args.max_pixels)  # the input first: its error says more
        check_output(dst, overwrite=args.overwrite, suffixes=SUPPORTED_SUFFIXES)
        check_encodable(dst, w * args.scale, h * args.scale)
    return pairs


def run(args: argparse.Namespace) -> int:
    items = list(args.inputs) + ([str(sample_image())] if args.sample else [])
    if not items:
        raise AttnsrError("give at least one INPUT (file, folder or glob), or --sample")
    pairs = plan(args, items)
    single = len(pairs) == 1
    onnx_file = args.weights is not None and str(args.weights).lower().endswith(".onnx")
    upscaler = Upscaler(
        args.model if onnx_file else model_from_args(args, default_model=DEFAULT_MODEL),
        scale=args.scale,
        weights=args.weights if onnx_file else None,
        backend=args.backend,
        precision=args.precision,
        device=args.device,
        tile=args.tile,
    )
    bar = tqdm(total=len(pairs), unit="img", disable=args.no_progress or single)
    t0, pixels = time.perf_counter(), 0
    for src, dst in pairs:
        rgb, alpha, info = read_image(src, max_pixels=args.max_pixels)
        check_min_size(info, MIN_SIDE)
        deep = info.bit_depth == 16 and dst.suffix.lower() in (".png", ".tif", ".tiff")
        sr = upscaler.upscale_tensor(rgb, out_dtype=torch.int32 if deep else torch.uint8)
        del rgb
        alpha_sr = None
        if alpha is not None:
            alpha_sr = resize_plane(alpha[0, 0], sr.shape[-2], sr.shape[-1])[None, None]
        write_image(dst, sr, alpha=alpha_sr, info=info, quality=args.quality, overwrite=args.overwrite, parents=True)
        pixels += sr.shape[-1] * sr.shape[-2]
        bar.update(1)
        if single or args.no_progress:
            print(f"{src} -> {dst} ({info.size[0]}x{info.size[1]} -> {sr.shape[-1]}x{sr.shape[-2]})")
    bar.close()
    dt = time.perf_counter() - t0
    print(
        f"upscaled {len(pairs)} image{'s' * (len(pairs) != 1)} x{args.scale} in {dt:.1f}s "
        f"({pixels / 1e6:.1f} MP written; {upscaler.backend}, {upscaler.precision})"
    )
    return 0
