"""Argument types that validate at parse time, so a bad value is one usage line before any work.

Each is a ``type=`` for ``argparse``: it returns the converted value or raises ``ArgumentTypeError``
whose text argparse shows as ``error: attnsr CMD: argument --X: <text>``.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from ..devices import resolve_device
from ..errors import AttnsrError
from ..outputs import check_suffix
from ..upscaler import parse_tile


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def int_at_least(least: int) -> Callable[[str], int]:
    """A whole number ``>= least``."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value

    parse.__name__ = f"int_at_least_{least}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def int_range(low: int, high: int) -> Callable[[str], int]:
    """A whole number in ``[low, high]`` (e.g. a JPEG quality, 1-100)."""

    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    parse.__name__ = f"int_range_{low}_{high}"
    return parse


def lam_points(text: str) -> int | None:
    """``all`` (``None``: a gradient at every path point) or a whole number of at least 3."""
    if text.strip().lower() == "all":
        return None
    value = _int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(f"must be 'all' or at least 3, not {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number ``>= 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, not {text}")
    return value


def size_hw(text: str) -> tuple[int, int]:
    """``HxW`` with two positive whole numbers, e.g. ``180x320``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"must be HxW with positive sides (e.g. 180x320), not {text!r}")
    return int(m.group(1)), int(m.group(2))


def _checked(check: Callable, *args):
    """``check(*args)``, a library check, with its error as argparse's usage error."""
    try:
        return check(*args)
    except AttnsrError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tile(text: str) -> int | str:
    """``auto``, 0 (the whole image) or a tile side of at least :data:`attnsr.upscaler.MIN_TILE`."""
    return _checked(parse_tile, text)


def device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` that exists on this machine."""
    if text == "auto":
        raise argparse.ArgumentTypeError("must be cpu, cuda or cuda:N, not 'auto'")
    return str(_checked(resolve_device, text))


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """A file path whose suffix is one of ``suffixes``; whether it may be written is checked when the
    command starts (:func:`attnsr.outputs.check_output`, which knows ``--overwrite``)."""

    def parse(text: str) -> Path:
        if not text:
            raise argparse.ArgumentTypeError("an empty file name")
        return _checked(check_suffix, text, suffixes)

    parse.__name__ = "output_file"
    return parse


def folder_path(text: str) -> Path:
    """A folder path that is not an existing file (created when written to)."""
    p = Path(text)
    try:
        is_file = p.exists() and not p.is_dir()
    except OSError as exc:  # e.g. a name too long
        raise argparse.ArgumentTypeError(f"{text!r}: {exc.strerror}") from None
    if not text or is_file:
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder")
    return p
