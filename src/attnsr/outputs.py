"""The one overwrite rule for every file a command writes: checked before any work, written atomically.

A command checks each of its output paths with :func:`check_output` (folders: :func:`check_output_folder`)
*before* it loads a model or reads data, so a typo in an output path costs nothing: the path must not be
a folder, its suffix must be one the writer supports, the nearest existing folder above it must be a
folder in which a file can be created (missing folders are made when writing), and an existing file is
refused unless ``overwrite`` is given. Files are then written through :func:`atomic_path` (or
:func:`write_text`): into a hidden temporary file in the destination folder, moved over the target with
``os.replace`` only once complete, with the mode a plain ``open`` would give (``0666`` less the umask).
Every failure is one :class:`OutputError` line.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError, OutputExistsError


def check_suffix(path: str | os.PathLike, suffixes: Iterable[str]) -> Path:
    """``path`` if its suffix (case-insensitive) is one of ``suffixes`` (``".png"``...), else OutputError."""
    p = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if p.suffix.lower() not in allowed:
        raise OutputError(f"cannot write '{p}': the file name must end in {' or '.join(allowed)}")
    return p


def _writable_ancestor(folder: Path, target: Path) -> Path:
    """The nearest existing folder at or above ``folder``, after checking that files can be created in it."""
    existing = next((c for c in (folder, *folder.parents) if c.exists()), Path("."))
    if not existing.is_dir():
        raise OutputError(f"cannot write '{target}': '{existing}' is a file, not a folder")
    probe = existing / f".attnsr-probe-{secrets.token_hex(6)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise OutputError(f"cannot write '{target}': folder '{existing}' is not writable ({exc.strerror})") from None
    probe.unlink()
    return existing


def check_output(
    path: str | os.PathLike, *, overwrite: bool, suffixes: Iterable[str] | None = None, what: str = "file"
) -> Path:
    """Check, before any work, that the file ``path`` can be written under the overwrite rule; return it."""
    p = Path(path)
    if suffixes is not None:
        check_suffix(p, suffixes)
    if p.is_dir():
        raise OutputError(f"cannot write {what} '{p}': a folder of that name exists")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"'{p}' exists")
    _writable_ancestor(p.parent, p)
    return p


def check_outputs(paths: Iterable[str | os.PathLike | None], *, overwrite: bool) -> None:
    """:func:`check_output` for each path given (None: that output was not asked for); also refuses one
    path named for two outputs."""
    seen: set[Path] = set()
    for path in paths:
        if path is None:
            continue
        p = check_output(path, overwrite=overwrite)
        key = p.resolve()
        if key in seen:
            raise OutputError(f"'{p}' is named for two outputs")
        seen.add(key)


def check_output_folder(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Check that ``path`` is a folder, or can be made one, in which files can be created; return it."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} '{p}' is a file, not a folder")
    _writable_ancestor(p, p)
    return p


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) to write to; moved over ``path`` on success.

    The temporary file exists (empty, mode ``0666`` less the umask) when the block starts, so a writer
    that opens it by name keeps that mode; it is fsynced before the move. On any failure it is removed and
    ``path`` is untouched. The one way the package writes a file (images, weights, checkpoints, exports).
    """
    p = Path(path)
    folder = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{p.stem[:100]}.{secrets.token_hex(6)}.tmp{p.suffix}"  # short: the name may be long
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies, unlike mkstemp
    try:
        yield tmp
        with open(tmp, "rb") as f:  # on disk before it replaces anything: a crash leaves old or new, never half
            os.fsync(f.fileno())
        if not overwrite and p.exists():
            raise OutputExistsError(f"'{p}' exists")
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike | None, text: str, *, overwrite: bool) -> Path | None:
    """Atomically write ``text`` (a final newline added) to ``path``; None: nothing asked, nothing written."""
    if path is None:
        return None
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text if text.endswith("\n") else text + "\n")
    return Path(path)
