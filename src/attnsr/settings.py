"""Project-wide settings read from the environment (one place).

``ATTNSR_SHARED``: the read-only folder with benchmark data and official checkpoints; default
``../shared`` next to the repository (checked relative to the working directory, then the source tree).
``ATTNSR_CACHE``: the project's cache folder (downloaded weights, LR images made on the fly); default the
user's cache folder (``$XDG_CACHE_HOME/attnsr``, else ``~/.cache/attnsr``).
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
    """The cache folder: ``$ATTNSR_CACHE``, else ``$XDG_CACHE_HOME/attnsr``, else ``~/.cache/attnsr``."""
    env = os.environ.get("ATTNSR_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "attnsr"


def expand(path: str) -> Path:
    """Expand ``${shared}`` and ``~`` in a configured path."""
    return Path(path.replace("${shared}", str(shared_root()))).expanduser()
