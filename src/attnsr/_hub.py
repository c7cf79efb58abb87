"""Fetching official weights into the cache: one download per file at a time, resumed, sha256-checked.

Files go to ``cache_root()/weights/<file>``. A download holds ``<file>.lock`` (a file lock, so a second
process — or thread — waits and then finds the file cached), grows ``<file>.part`` and renames it into
place only once its sha256 equals the record's. A connection that drops before the announced length is
not a checksum failure: the ``.part`` stays, and the next try resumes it with an HTTP ``Range`` request
(a server that ignores ``Range`` answers 200 and the file restarts from byte 0). Within one call a dropped
download is retried after each of :data:`RETRY_DELAYS`; after the last, the ``.part`` is kept for the next
call. A complete file whose sha256 is not the record's is deleted, so the cache never holds a file that
failed its check. ``$ATTNSR_MIRROR`` replaces ``https://github.com`` in every URL.

Every failure to reach or read the server (bad URL, refused connection, timeout, HTTP error) is one
:class:`~attnsr.errors.DownloadError`, made here and nowhere else.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from filelock import FileLock, Timeout

from ._pretrained import WeightRecord, builtin_path, sha256_file
from .errors import CheckpointError, DownloadError
from .settings import GITHUB, cache_root, github_base

log = logging.getLogger(__name__)

__all__ = ["RETRY_DELAYS", "cached_path", "fetch", "local_path", "resolve_url", "verify"]

CHUNK = 1 << 16
# Seconds to wait before each retry of a download whose connection dropped (so len + 1 tries in all).
RETRY_DELAYS: tuple[float, ...] = (1.0, 3.0, 9.0)
# progress(done_bytes, total_bytes or None): called as bytes arrive (the CLI draws a bar with it).
Progress = Callable[[int, int | None], None]
# What urllib raises for a URL it cannot use or a server it cannot reach or read: ValueError (unknown
# url type), http.client.HTTPException (InvalidURL, IncompleteRead, RemoteDisconnected...), URLError,
# and OSError (refused, reset, timeouts).
_NETWORK_ERRORS = (ValueError, http.client.HTTPException, urllib.error.URLError, OSError)


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


def fetch(
    record: WeightRecord,
    *,
    progress: Progress | None = None,
    timeout: float = 30.0,
    retry_delays: Sequence[float] | None = None,
) -> Path:
    """The cached file of ``record``, downloaded first when absent (or damaged); its sha256 checked.

    ``timeout``: seconds without a byte before a connection counts as dropped; ``retry_delays``: seconds
    before each retry of a dropped download (default :data:`RETRY_DELAYS`).
    """
    if record.source == "builtin":
        raise CheckpointError(f"{record.name} is built into attnsr; there is nothing to download")
    dest = cached_path(record)
    if dest.is_file() and sha256_file(dest) == record.sha256:
        log.debug("using cached %s", dest)
        return dest
    url = resolve_url(record)  # a bad $ATTNSR_MIRROR stops here, before anything is created
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest):
        if dest.is_file():
            if sha256_file(dest) == record.sha256:
                log.info("%s was downloaded meanwhile by another process", dest)
                return dest
            log.warning("cached %s does not match its sha256; downloading it again", dest)
            dest.unlink()
        part = dest.with_name(dest.name + ".part")
        delays = RETRY_DELAYS if retry_delays is None else tuple(retry_delays)
        _download_retrying(url, part, record=record, progress=progress, timeout=timeout, delays=delays)
        _check_and_cache(part, dest, record=record, url=url)
    return dest


@contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """Hold ``<dest>.lock`` for the block: one download of ``dest`` at a time, across processes.

    The lock file is removed while still held, so the cache keeps only weights: a waiter that then wins
    the lock on the removed file sees it unlinked and locks the path afresh (filelock >= 3.20.4 checks this).
    """
    lock_path = dest.with_name(dest.name + ".lock")
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process downloading %s", dest.name)
        lock.acquire()
    try:
        yield
    finally:
        with suppress(OSError):
            lock_path.unlink()
        lock.release()


class _Dropped(Exception):
    """A download that stopped part-way (connection closed early, reset or timed out while reading)."""


def _download_retrying(
    url: str, part: Path, *, record: WeightRecord, progress: Progress | None, timeout: float, delays: tuple[float, ...]
) -> None:
    """:func:`_download`, retried after each of ``delays`` while the connection drops part-way."""
    for attempt, delay in enumerate((*delays, None), start=1):
        try:
            _download(url, part, record=record, progress=progress, timeout=timeout)
            return
        except _Dropped as exc:
            if delay is None:
                kept = part.stat().st_size if part.is_file() else 0
                reason = f"{exc}; {attempt} tries, {kept} bytes kept in {part.name} for the next try to resume"
                raise _unreachable(record, url, reason) from None
            log.info("download of %s stopped (%s); resuming in %g s", record.name, exc, delay)
            time.sleep(delay)


def _download(url: str, part: Path, *, record: WeightRecord, progress: Progress | None, timeout: float) -> None:
    """Append ``url``'s bytes to ``part``, resuming from its current size with a Range request.

    Returns when the server sent all it announced (or had nothing left to send); raises _Dropped when the
    body stopped short, DownloadError when the server cannot be reached or refuses.
    """
    offset = _resumable_size(part, record)
    if offset and offset == record.size:
        return  # the partial file is already whole: its sha256 decides
    headers = {"User-Agent": "attnsr"} | ({"Range": f"bytes={offset}-"} if offset else {})
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing after offset: the partial file is whole, its sha256 decides
            return
        raise _unreachable(record, url, f"HTTP {exc.code} {exc.reason}") from None
    except _NETWORK_ERRORS as exc:
        raise _unreachable(record, url, _reason(exc)) from None
    with resp:
        offset = _resume_offset(resp, offset, url)
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else record.size
        log.info("downloading %s (%s bytes, from byte %d)", url, total, offset)
        done = offset
        with open(part, "ab" if offset else "wb") as f:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except _NETWORK_ERRORS as exc:
                    raise _Dropped(f"{_reason(exc)} after {done} of {total or '?'} bytes") from None
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    if total is not None and done < total:
        raise _Dropped(f"the connection closed after {done} of {total} bytes")


def _resumable_size(part: Path, record: WeightRecord) -> int:
    """Bytes of ``part`` worth resuming: 0 when absent or longer than the record's file (then deleted)."""
    size = part.stat().st_size if part.is_file() else 0
    if record.size is not None and size > record.size:
        log.info("%s is longer than %s's %d bytes; starting over", part, record.name, record.size)
        part.unlink()
        return 0
    return size


def _resume_offset(resp, offset: int, url: str) -> int:
    """Where the response body starts in the file: ``offset`` for a 206 that continues there, 0 for a 200
    (a server that ignores Range sends the whole file: start over)."""
    if not offset:
        return 0
    if resp.status != 206:
        log.info("server does not resume; downloading %s from the start", url)
        return 0
    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
    if m is not None and int(m.group(1)) != offset:
        raise _Dropped(f"the server resumed at byte {m.group(1)}, not {offset}")
    return offset


def _check_and_cache(part: Path, dest: Path, *, record: WeightRecord, url: str) -> None:
    """Rename the complete ``part`` to ``dest`` if its sha256 is the record's; else delete it."""
    digest = sha256_file(part)
    if digest != record.sha256:
        part.unlink()
        raise CheckpointError(
            f"download of {record.name} from {url} has sha256 {digest[:16]}…, not the record's "
            f"{record.sha256[:16]}…; nothing was cached"
        )
    os.replace(part, dest)
    log.info("cached %s (%d bytes)", dest, dest.stat().st_size)


def _reason(exc: BaseException) -> str:
    """One line for a network failure: URLError's reason, else the exception's text, else its type."""
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else None
    text = str(reason if reason is not None else exc).strip() or type(exc).__name__
    return " ".join(text.split())


def _unreachable(record: WeightRecord, url: str, reason: str) -> DownloadError:
    return DownloadError(
        f"cannot download {record.name} from {url} ({reason}); fetch that URL by hand and load the file by its path",
        url=url,
        filename=record.file,
    )
