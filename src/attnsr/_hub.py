"""Fetching official weights into the cache: resume, sha256 check, atomic rename (stdlib urllib only).

Files go to ``cache_root()/weights/<file>``; a download grows ``<file>.part`` (resumed with an HTTP
Range request after an interruption) and is renamed into place only once its sha256 equals the
record's — a mismatch deletes it, so the cache never holds a file that failed its check.
``$ATTNSR_MIRROR`` replaces ``https://github.com`` in every URL.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ._pretrained import WeightRecord, builtin_path, sha256_file
from .errors import CheckpointError, DownloadError
from .settings import GITHUB, cache_root, github_base

log = logging.getLogger(__name__)

__all__ = ["cached_path", "fetch", "local_path", "resolve_url", "verify"]

CHUNK = 1 << 16
# progress(done_bytes, total_bytes or None): called as bytes arrive (the CLI draws a bar with it).
Progress = Callable[[int, int | None], None]


def resolve_url(record: WeightRecord) -> str:
    """The record's URL with ``https://github.com`` replaced by ``$ATTNSR_MIRROR`` when set."""
    if record.url.startswith(GITHUB + "/"):
        return github_base() + record.url.removeprefix(GITHUB)
    return record.url


def cached_path(record: WeightRecord) -> Path:
    return cache_root() / "weights" / record.file


def local_path(record: WeightRecord) -> Path:
    """Where the record's file lives on this machine (the package for built-in, the cache otherwise)."""
    return builtin_path(record) if record.source == "builtin" else cached_path(record)


def verify(record: WeightRecord) -> bool | None:
    """True if the local file matches the record's sha256, False if not, None if it is absent."""
    path = local_path(record)
    if not path.is_file():
        return None
    return sha256_file(path) == record.sha256


def fetch(record: WeightRecord, *, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """The cached file of ``record``, downloaded first when absent (or damaged); its sha256 checked."""
    if record.source == "builtin":
        raise CheckpointError(f"{record.name} is built into attnsr; there is nothing to download")
    dest = cached_path(record)
    if dest.is_file():
        if sha256_file(dest) == record.sha256:
            log.debug("using cached %s", dest)
            return dest
        log.warning("cached %s does not match its sha256; downloading it again", dest)
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = resolve_url(record)
    _download(url, part, progress=progress, timeout=timeout, record=record)
    digest = sha256_file(part)
    if digest != record.sha256:
        part.unlink()
        raise CheckpointError(
            f"download of {record.name} from {url} has sha256 {digest[:16]}…, not the record's "
            f"{record.sha256[:16]}…; nothing was cached"
        )
    os.replace(part, dest)
    log.info("cached %s (%d bytes)", dest, dest.stat().st_size)
    return dest


def _download(url: str, part: Path, *, progress: Progress | None, timeout: float, record: WeightRecord) -> None:
    """Append ``url``'s bytes to ``part``, resuming from its current size with a Range request."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "attnsr"} | ({"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            if offset and resp.status != 206:  # the server ignored the range: start over
                log.info("server does not resume; downloading %s from the start", url)
                offset = 0
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            log.info("downloading %s (%s bytes, from byte %d)", url, total, offset)
            with open(part, "ab" if offset else "wb") as f:
                done = offset
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file is already whole: its sha256 decides
            return
        raise _unreachable(record, url, f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _unreachable(record, url, str(reason)) from None


def _unreachable(record: WeightRecord, url: str, reason: str) -> DownloadError:
    return DownloadError(
        f"cannot download {record.name} from {url} ({reason}); fetch that URL by hand and load the file by its path",
        url=url,
        filename=record.file,
    )
