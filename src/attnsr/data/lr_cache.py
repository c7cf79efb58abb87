"""The one LR cache: MATLAB-bicubic LR images of HR files, shared by training and evaluation.

Location: ``attnsr.settings.cache_root() / "lr"`` unless a caller names another folder. An entry is
``<cache>/x<scale>/<stem>_<key>.png`` with ``key`` a hash of the HR file's resolved path, size and
modification time and the scale, so an edited or moved HR file gets a fresh entry. Entries are written
atomically (temporary file, then rename) and sealed with the sha256 of their bytes (``<entry>.sha256``,
:mod:`attnsr.cache`); one that is unreadable or no longer matches its seal is re-created, with a warning.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from torch import Tensor

from ..cache import load_entry
from ..io import load_rgb, write_image
from ..settings import cache_root
from .imresize import bicubic_downsample


def default_lr_cache() -> Path:
    """``cache_root() / "lr"``: where LR images are cached when no folder is named."""
    return cache_root() / "lr"


def lr_cache_path(hr_path: Path, scale: int, cache_dir: Path) -> Path:
    """The cache entry of ``hr_path``'s ×``scale`` LR in ``cache_dir``."""
    st = hr_path.stat()
    key = hashlib.sha1(f"{hr_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|x{scale}".encode()).hexdigest()[:16]
    return cache_dir / f"x{scale}" / f"{hr_path.stem}_{key}.png"


def cached_lr(hr_path: Path, hr: Tensor, *, scale: int, cache_dir: Path | None) -> Tensor:
    """LR (1×3×h×w float RGB in [0, 1]) of the HR image ``hr`` read from ``hr_path``, by MATLAB bicubic,
    cached as an 8-bit PNG in ``cache_dir`` (None: computed, not cached)."""
    if cache_dir is None:
        return bicubic_downsample(hr, scale)
    cached = lr_cache_path(hr_path, scale, cache_dir)

    def build() -> Tensor:
        lr = bicubic_downsample(hr, scale)
        write_image(cached, lr, overwrite=True, parents=True)  # atomic: a reader never sees half a file
        return lr

    return load_entry([cached], load=lambda: load_rgb(cached), build=build, what="the cached LR image")
