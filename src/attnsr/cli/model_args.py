"""``--model/--scale/--weights``, declared once for every command that loads a model, and their loader."""

from __future__ import annotations

import argparse
from contextlib import contextmanager

from torch import nn
from tqdm import tqdm

from .._factory import WeightsSpec, is_weights_path, load_model
from .._hub import fetch
from .._pretrained import WeightRecord, find_record
from ..config import parse_override
from ..errors import AttnsrError, DownloadError
from .render import add_progress_argument


def add_model_arguments(p: argparse.ArgumentParser, *, default_scale: int | None = None, options: bool = False) -> None:
    """Add ``--model``, ``--scale``, ``--weights`` (and, with ``options``, ``--option``) to a subcommand's
    parser, and ``--no-progress`` for the bar of a download."""
    p.add_argument("--model", help="registered model name (read from the checkpoint when it records it)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), default=default_scale, help="upscaling factor")
    p.add_argument(
        "--weights",
        metavar="builtin|official|PATH",
        help="builtin (default): the project's own; official: the authors' checkpoint (downloaded once, "
        "sha256-checked, see `attnsr weights list`); PATH: a checkpoint, ours (.safetensors) or foreign",
    )
    if options:
        p.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="model constructor option (YAML value), e.g. num_blocks=2; repeatable",
        )
    add_progress_argument(p)


@contextmanager
def download_bar(record: WeightRecord, *, disable: bool = False):
    """A tqdm bar fed by the library's progress callback, drawn only once bytes arrive."""
    bars: list[tqdm] = []

    def progress(done: int, total: int | None) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=record.name, unit="B", unit_scale=True, disable=disable, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()


def fetch_with_bar(record: WeightRecord, *, disable: bool = False) -> None:
    """Download ``record`` into the cache (a no-op when cached), rendering progress and a failure's way out."""
    try:
        with download_bar(record, disable=disable) as progress:
            fetch(record, progress=progress)
    except DownloadError as exc:
        raise AttnsrError(f"{exc}: --weights {exc.filename}") from None


def model_from_args(args: argparse.Namespace, *, default_model: str | None = None) -> nn.Module:
    """The model of ``--model/--scale/--weights`` (and ``--option``, where declared) through the factory's one
    loader: absent ``--weights`` means the built-in weights."""
    options = dict(parse_override(text, what="--option") for text in getattr(args, "option", ()))
    weights: WeightsSpec = args.weights or "builtin"
    name = args.model
    if not is_weights_path(weights):
        name = name or default_model
        if not name or not args.scale:
            raise AttnsrError("give --model and --scale (or --weights of a checkpoint that records them)")
        if weights == "official":
            fetch_with_bar(find_record(name, args.scale, "official"), disable=args.no_progress)
    return load_model(name, scale=args.scale, weights=weights, options=options or None)
