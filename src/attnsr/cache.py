"""The one cache folder (``settings.cache_root()``): its kinds, entries that check themselves, info and clear.

Kinds, one sub-folder each: ``weights`` (downloaded checkpoints, checked against their records by
:mod:`attnsr._hub`), ``onnx`` and ``openvino`` (model exports and OpenVINO's compiled models,
:mod:`attnsr.backends`), ``lr`` (LR images, :mod:`attnsr.data.lr_cache`).

An entry of the export and LR caches is one or more files, each written atomically and then *sealed*: its
sha256 goes into ``<file>.sha256`` (``sha256sum`` format), written atomically after the file itself.
:func:`load_entry` trusts an entry only while every file matches its seal. A damaged file (bytes changed,
truncated), an unsealed one (a crash between the two writes, or an older attnsr) and an entry that fails to
load are re-created once, a warning naming the entry, so a damaged cache never gives a silently wrong
result and never stays damaged.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ._pretrained import sha256_file
from .errors import AttnsrError
from .outputs import write_text
from .settings import cache_root

log = logging.getLogger(__name__)

KINDS = ("weights", "onnx", "openvino", "lr")
SEAL_SUFFIX = ".sha256"
# What each kind counts as one entry (a glob below its folder): a weight file, an ONNX export, an OpenVINO
# IR (its .xml; the compiled models are counted in the size only), an LR image. Seals, partial downloads and
# download locks are not entries.
ENTRY_GLOBS = {"weights": "*", "onnx": "*.onnx", "openvino": "*/model.xml", "lr": "x*/*.png"}
NOT_ENTRIES = (SEAL_SUFFIX, ".part", ".lock")
MISSING = "missing"
UNSEALED = "has no checksum"

T = TypeVar("T")


def seal_path(path: Path) -> Path:
    """The seal of a cache file: ``<file>.sha256`` beside it."""
    return path.with_name(path.name + SEAL_SUFFIX)


def seal(path: Path) -> str:
    """Write the seal of ``path`` (after the file itself is complete); return its sha256."""
    digest = sha256_file(path)
    write_text(seal_path(path), f"{digest}  {path.name}", overwrite=True)
    return digest


def damage(files: Sequence[Path]) -> str | None:
    """Why the entry made of ``files`` cannot be trusted (:data:`MISSING` when none exists, a reason naming a
    file otherwise), or None when every file matches its seal."""
    present = [f.is_file() for f in files]
    if not any(present):
        return MISSING
    if not all(present):
        return f"{files[present.index(False)].name} is missing"
    for f in files:
        try:
            recorded = seal_path(f).read_text().split()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            return f"{f.name} {UNSEALED}"
        if sha256_file(f) != recorded:
            return f"{f.name} does not match its sha256 (damaged)"
    return None


def load_entry(files: Sequence[Path], *, load: Callable[[], T], build: Callable[[], T], what: str) -> T:
    """``load()`` of the cache entry made of ``files`` when it is intact; else ``build()`` — which writes the
    files and returns what ``load`` would — and seal them. An entry that is damaged or that ``load`` fails on
    (an :class:`AttnsrError`) is re-created once, with a warning naming it; a failure after that raises."""
    problem = damage(files)
    if problem is None:
        try:
            return load()
        except AttnsrError as exc:
            problem = f"it cannot be loaded ({exc})"
    if problem == MISSING:
        log.debug("making %s %s", what, files[-1])
    elif problem.endswith(UNSEALED):  # written by an older attnsr, or a crash before its seal: not damage
        log.info("re-creating %s %s: %s", what, files[-1], problem)
    else:
        log.warning("re-creating %s %s: %s", what, files[-1], problem)
    value = build()
    for f in files:
        seal(f)
    return value


def drop_damaged(folder: Path, *, what: str) -> None:
    """Delete every file of ``folder`` that does not match its seal (the runtime that wrote it re-creates it)."""
    if not folder.is_dir():
        return
    for f in sorted(folder.iterdir()):
        if f.is_file() and not f.name.endswith(SEAL_SUFFIX) and (problem := damage([f])) is not None:
            (log.info if problem.endswith(UNSEALED) else log.warning)("deleting %s %s: %s", what, f, problem)
            f.unlink(missing_ok=True)
            seal_path(f).unlink(missing_ok=True)


def seal_new(folder: Path) -> None:
    """Seal every file of ``folder`` that has no seal yet (files a runtime wrote there)."""
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.is_file() and not f.name.endswith(SEAL_SUFFIX) and not seal_path(f).is_file():
                seal(f)


@dataclass(frozen=True)
class KindInfo:
    """One kind's folder in the cache, its size in bytes (every file, seals included) and entry count."""

    kind: str
    folder: Path
    size: int
    entries: int


def cache_info() -> list[KindInfo]:
    """Size and entry count of every kind in :func:`attnsr.settings.cache_root`."""
    rows = []
    for kind in KINDS:
        folder = cache_root() / kind
        files = [f for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else []
        entries = sum(f.is_file() and not f.name.endswith(NOT_ENTRIES) for f in folder.glob(ENTRY_GLOBS[kind]))
        rows.append(KindInfo(kind, folder, sum(f.stat().st_size for f in files), entries))
    return rows


def clear_cache(kinds: Sequence[str] = KINDS) -> list[KindInfo]:
    """Delete the folders of ``kinds`` in the cache (nothing else there); return what each held."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise AttnsrError(f"cache kind must be one of {', '.join(KINDS)}, not {unknown[0]!r}")
    removed = [row for row in cache_info() if row.kind in kinds]
    for row in removed:
        if row.folder.is_dir():
            shutil.rmtree(row.folder)
    return removed
