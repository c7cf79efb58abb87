"""Downloads that cannot collide or restart from zero: one download per file at a time (threads and
processes), a dropped connection resumed with Range, retries with back-off, one error line when they run
out. Everything goes through a local server (tests/_weights_server.py), never the network."""

from __future__ import annotations

import hashlib
import logging
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from _weights_server import Fault, MirrorServer, github_routes

from attnsr import _hub
from attnsr._hub import cached_path, fetch
from attnsr._pretrained import WeightRecord, get_record, sha256_file
from attnsr.cli.main import main
from attnsr.errors import CheckpointError, DownloadError
from attnsr.settings import shared_root

TINY_PATH = "/attnsr-tests/tiny/raw/main/tiny.bin"


def make_tiny(folder: Path, size: int = 300_000) -> tuple[WeightRecord, bytes]:
    """A made-up official record and its bytes: a few hundred kB instead of a real checkpoint."""
    data = random.Random(0).randbytes(size)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.bin").write_bytes(data)
    record = WeightRecord(
        name="tiny.official",
        arch="pan",
        scales=(2,),
        source="official",
        file="tiny.bin",
        sha256=hashlib.sha256(data).hexdigest(),
        num_params=0,
        size=size,
        url="https://github.com" + TINY_PATH,
    )
    return record, data


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """(server, record, bytes): the tiny record served by a local mirror, a fresh cache."""
    record, data = make_tiny(tmp_path / "served")
    server = MirrorServer({TINY_PATH: tmp_path / "served" / "tiny.bin"})
    monkeypatch.setenv("ATTNSR_MIRROR", server.url)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    yield server, record, data
    server.close()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local mirror of the official checkpoints in ../shared (skips without them), a fresh cache."""
    official = shared_root() / "weights" / "official"
    routes = github_routes(official) if official.is_dir() else {}
    if not routes:
        pytest.skip(f"official checkpoints not found at {official} (set ATTNSR_SHARED)")
    server = MirrorServer(routes)
    monkeypatch.setenv("ATTNSR_MIRROR", server.url)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    yield server
    server.close()


def cache_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())


def url_path(record: WeightRecord) -> str:
    return record.url.removeprefix("https://github.com")


def wait_for(condition, *, seconds: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- a dropped connection: resumed, never restarted from zero ------------------------------------------


def test_cut_connection_is_resumed_with_range_and_verified(tiny, tmp_path):
    server, record, data = tiny
    server.faults = [Fault(at=0.5)]
    seen = []
    path = fetch(record, progress=lambda done, total: seen.append((done, total)), retry_delays=(0,))
    half = len(data) // 2
    assert server.requests == [(TINY_PATH, None), (TINY_PATH, f"bytes={half}-")]
    assert path.read_bytes() == data and cache_files(tmp_path) == ["tiny.bin"]  # no .part, no .lock
    resumed = seen[seen.index((half, len(data))) + 1 :]  # after the cut: counting on from half, not from 0
    assert resumed[0][0] > half and seen[-1] == (len(data), len(data))


def test_out_of_retries_keeps_the_part_and_the_next_call_resumes(tiny, tmp_path):
    server, record, data = tiny
    server.faults = [Fault(at=0.25), Fault(at=0.5)]
    with pytest.raises(DownloadError) as info:
        fetch(record, retry_delays=(0,))
    message = str(info.value)
    assert "\n" not in message and "2 tries" in message and "tiny.bin.part" in message
    assert "sha256" not in message and "nothing was cached" not in message  # a short body is no checksum failure
    part = cached_path(record).with_name("tiny.bin.part")
    kept = part.stat().st_size
    assert kept == len(data) // 4 + (len(data) - len(data) // 4) // 2 and part.read_bytes() == data[:kept]
    assert fetch(record).read_bytes() == data
    assert server.requests[-1] == (TINY_PATH, f"bytes={kept}-") and cache_files(tmp_path) == ["tiny.bin"]


def test_a_server_that_ignores_range_restarts_cleanly(tiny):
    server, record, data = tiny
    server.ignore_range = True
    server.faults = [Fault(at=0.5)]
    assert fetch(record, retry_delays=(0,)).read_bytes() == data
    assert server.requests == [(TINY_PATH, None), (TINY_PATH, f"bytes={len(data) // 2}-")]  # answered with 200


def test_a_stalled_server_times_out_and_the_download_resumes(tiny):
    server, record, data = tiny
    server.faults = [Fault(at=0.5, close=True, stall=3.0)]
    started = time.monotonic()
    assert fetch(record, timeout=0.5, retry_delays=(0,)).read_bytes() == data
    assert time.monotonic() - started < 3.0  # the client gave up on the stall, it did not wait it out
    (_, first), (_, second) = server.requests
    # the bytes of the read that timed out are lost, whole chunks before it were kept
    assert first is None and 0 < int(second.removeprefix("bytes=").rstrip("-")) <= len(data) // 2


def test_retries_wait_the_given_delays(tiny, monkeypatch):
    server, record, data = tiny
    server.faults = [Fault(at=0.2), Fault(at=0.2)]
    slept: list[float] = []
    monkeypatch.setattr(_hub, "time", SimpleNamespace(sleep=slept.append))
    monkeypatch.setattr(_hub, "RETRY_DELAYS", (0.5, 2.0, 8.0))
    assert fetch(record).read_bytes() == data
    assert slept == [0.5, 2.0] and len(server.requests) == 3


def test_a_complete_file_with_the_wrong_sha256_is_deleted_without_retrying(tiny, tmp_path):
    server, record, data = tiny
    server.mutate = lambda b: b[:1000] + bytes([b[1000] ^ 1]) + b[1001:]
    with pytest.raises(CheckpointError, match="nothing was cached"):
        fetch(record, retry_delays=(0, 0))
    assert cache_files(tmp_path) == [] and len(server.requests) == 1


def test_always_cut_fails_after_the_retries_with_one_line_then_resumes(mirror, tmp_path, monkeypatch, capsys):
    record = get_record("pan_x2.official")
    mirror.always = Fault(at=0.5)
    monkeypatch.setattr(_hub, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    assert main(["weights", "download", record.name, "--no-progress"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot download pan_x2.official from "), lines
    assert "the connection closed after" in lines[0] and "4 tries" in lines[0]
    assert lines[0].endswith("--weights PANx2_DF2K.pth")
    assert len(mirror.requests) == 4 and all(rng for _, rng in mirror.requests[1:])
    mirror.always = None
    assert main(["weights", "download", record.name, "--no-progress"]) == 0
    assert mirror.requests[-1][1] is not None and len(mirror.requests) == 5  # resumed, not restarted
    assert sha256_file(cached_path(record)) == record.sha256 and cache_files(tmp_path) == ["PANx2_DF2K.pth"]


# --- two downloads of one file at once: the second waits, then finds it cached --------------------------


class _Seen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_two_threads_download_once(tiny, tmp_path):
    server, record, data = tiny
    gate = threading.Event()
    server.faults = [Fault(at=0.5, close=False, gate=gate)]  # the first download stops half-way until told
    seen = _Seen()
    logger = logging.getLogger("attnsr._hub")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(seen)
    results: dict[str, Path | BaseException] = {}

    def run(name: str) -> None:
        try:
            results[name] = fetch(record)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            results[name] = exc

    try:
        first = threading.Thread(target=run, args=("first",))
        first.start()
        wait_for(lambda: len(server.requests) == 1, what="the first request")
        second = threading.Thread(target=run, args=("second",))
        second.start()
        wait_for(lambda: any("waiting for another" in m for m in seen.messages), what="the second to wait")
        gate.set()
        first.join(60)
        second.join(60)
    finally:
        gate.set()
        logger.removeHandler(seen)
        logger.setLevel(old_level)
    assert results == {"first": cached_path(record), "second": cached_path(record)}
    assert server.requests == [(TINY_PATH, None)]
    assert cached_path(record).read_bytes() == data and cache_files(tmp_path) == ["tiny.bin"]


def test_two_processes_download_once_and_both_end_verified(mirror, tmp_path):
    record = get_record("pan_x4.official")
    gate = threading.Event()
    mirror.faults = [Fault(at=0.5, close=False, gate=gate)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # ATTNSR_MIRROR and ATTNSR_CACHE come from the fixture
    command = [sys.executable, "-m", "attnsr", "-v", "weights", "download", record.name, "--no-progress"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs = []
    try:
        with open(logs[0], "w") as err:
            procs.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=err))
        wait_for(lambda: len(mirror.requests) == 1, seconds=120, what="the first process's request")
        with open(logs[1], "w") as err:
            procs.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=err))
        wait_for(lambda: "waiting for another" in logs[1].read_text(), seconds=120, what="the second to wait")
        gate.set()
        outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    finally:
        gate.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [log.read_text()[-2000:] for log in logs]
    dest = cached_path(record)
    assert all(out.strip() == f"{record.name}: {dest}" for out in outs)
    assert dest.stat().st_size == record.size and sha256_file(dest) == record.sha256
    assert mirror.requests == [(url_path(record), None)]  # one download; the second process fetched nothing
    assert cache_files(tmp_path) == ["PANx4_DF2K.pth"]


# --- URL-level failures are one DownloadError, made in _hub ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nosuchscheme://example.org/tiny.bin", "unknown url type"),
        ("http://127.0.0.1:8765 extra/tiny.bin", "nonnumeric port"),
        ("http://[::1/tiny.bin", "Invalid IPv6 URL"),
    ],
)
def test_url_errors_are_one_download_error(tmp_path, monkeypatch, url, reason):
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    record, _ = make_tiny(tmp_path / "served")
    record = replace(record, url=url)
    with pytest.raises(DownloadError) as info:
        fetch(record, retry_delays=())
    assert reason in str(info.value) and "\n" not in str(info.value) and info.value.filename == "tiny.bin"
    assert cache_files(tmp_path) == []
