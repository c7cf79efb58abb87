"""Project-wide settings read from the environment (one place).

``ATTNSR_SHARED``: the read-only folder with benchmark data and official checkpoints; default
``../shared`` next to the repository (checked relative to the working directory, then the source tree).
``ATTNSR_CACHE``: the project's cache folder (downloaded weights, LR images made on the fly); default the
user's cache folder (``$XDG_CACHE_HOME/attnsr``, else ``~/.cache/attnsr``).
``ATTNSR_MIRROR``: a base URL that replaces ``https://github.com`` in every weight URL (mirrors, tests).
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


GITHUB = "https://github.com"


def github_base() -> str:
    """Where GitHub URLs are fetched from: ``$ATTNSR_MIRROR`` (no trailing slash) or ``https://github.com``."""
    return os.environ.get("ATTNSR_MIRROR", GITHUB).rstrip("/") or GITHUB


def expand(path: str) -> Path:
    """Expand ``${shared}``, ``${cache}`` and ``~`` in a configured path."""
    return Path(path.replace("${shared}", str(shared_root())).replace("${cache}", str(cache_root()))).expanduser()
