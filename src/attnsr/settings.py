"""Project-wide settings read from the environment (one place).

``ATTNSR_SHARED``: the read-only folder with benchmark data and official checkpoints; default
``../shared`` next to the repository (checked relative to the working directory, then the source tree).
``ATTNSR_CACHE``: the cache folder (default ``~/.cache/attnsr``).
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_root() -> Path:
    """The ``shared`` folder: ``$ATTNSR_SHARED`` or ``../shared`` beside the repository."""
    env = os.environ.get("ATTNSR_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    for base in (Path.cwd(), _REPO_ROOT):
        candidate = (base / ".." / "shared").resolve()
        if candidate.is_dir():
            return candidate
    return (_REPO_ROOT / ".." / "shared").resolve()


def cache_root() -> Path:
    """The cache folder: ``$ATTNSR_CACHE`` or ``~/.cache/attnsr`` (LR images live in its ``lr/``)."""
    env = os.environ.get("ATTNSR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "attnsr"


def expand(path: str) -> Path:
    """Expand ``${shared}``, ``${cache}`` and ``~`` in a configured path."""
    return Path(path.replace("${shared}", str(shared_root())).replace("${cache}", str(cache_root()))).expanduser()
