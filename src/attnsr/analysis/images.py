"""Benchmark images for the analysis tools: (name, HR, LR) triples from a folder of HR images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from torch import Tensor

from ..data.imresize import bicubic_downsample, mod_crop
from ..errors import DataError
from ..evaluate import PROTOCOLS, benchmark_files
from ..io import load_rgb

MIN_LR_SIDE = 8  # below this a per-image statistic (Pearson r, ADM weight) says nothing about the image


def _check_lr_side(name: str, hr: Tensor, *, scale: int, least: int) -> None:
    """The mod-cropped ``hr`` must give an LR of at least ``least`` pixels a side (one DataError line)."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    if min(h, w) < least:
        raise DataError(
            f"image '{name}' is too small for x{scale}: its LR would be {w}x{h}, at least {least}x{least} is needed"
        )


def benchmark_images(
    folder: str | Path, *, scale: int, limit: int | None = None
) -> Iterator[tuple[str, Tensor, Tensor]]:
    """Yield ``(stem, hr, lr)`` for the HR images of ``folder`` (``DIR`` or ``DIR/HR``), sorted by name.

    ``hr`` is mod-cropped to a multiple of ``scale``; ``lr`` is the official ``LR_bicubic/X{s}`` file
    when the folder has one, else MATLAB bicubic of ``hr`` (the standard protocol). Both 1×3×H×W float
    RGB in [0, 1]. An image whose LR would be under ``MIN_LR_SIDE`` pixels a side raises DataError.
    """
    root, _, files = benchmark_files(Path(folder))
    make_lr = PROTOCOLS["standard"].make_lr
    for path in files[:limit]:
        hr = mod_crop(load_rgb(path), scale)
        _check_lr_side(path.name, hr, scale=scale, least=MIN_LR_SIDE)
        yield path.stem, hr, make_lr(path, hr, scale=scale, root=root, cache_dir=None)


def image_input(path: str | Path, *, scale: int, is_hr: bool) -> tuple[Tensor | None, Tensor]:
    """``(hr, lr)`` for one image file: with ``is_hr`` the file is HR (mod-cropped) and the LR is its
    MATLAB bicubic downscale; otherwise the file is the LR input and ``hr`` is None."""
    img = load_rgb(path)
    if not is_hr:
        return None, img
    hr = mod_crop(img, scale)
    _check_lr_side(Path(path).name, hr, scale=scale, least=1)
    return hr, bicubic_downsample(hr, scale)
