"""A disk that fills while writing ends in one ``error:`` line and leaves no partial output: image outputs of
``upscale`` and weights downloads (training checkpoints: tests/test_train_faults.py). The small disk is a tmpfs
where the test may mount one, else a file-size limit (RLIMIT_FSIZE) on the command's process."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _weights_server import MirrorServer, github_routes

from attnsr.settings import shared_root

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "attnsr" / "assets" / "sample.png"


@pytest.fixture
def small_disk(tmp_path):
    """(folder, preexec): a 96 kB tmpfs when mountable (preexec None), else a plain folder and a preexec that
    limits every file the command writes to 96 kB (SIGXFSZ ignored, so the write fails with EFBIG)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode == 0:
        yield folder, None
        subprocess.run(["umount", str(folder)], check=False)
        return

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))

    yield folder, limit


def run(args: list[str], *, preexec, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "attnsr", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        preexec_fn=preexec,
    )


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_upscale_output_on_a_full_disk(small_disk, tmp_path):
    disk, preexec = small_disk
    out = disk / "sample_x4.png"  # the x4 PNG of the sample is several hundred kB
    proc = run(
        ["upscale", str(SAMPLE), "-o", str(out), "--backend", "torch", "--no-progress"],
        preexec=preexec,
        env={"ATTNSR_CACHE": str(tmp_path / "cache")},
    )
    line = one_line(proc)
    assert "No space left on device" in line or "File too large" in line, line
    assert list(disk.iterdir()) == [], "no partial output and no temporary file left"


def test_weights_download_on_a_full_disk(small_disk):
    official = shared_root() / "weights" / "official"
    routes = github_routes(official) if official.is_dir() else {}
    if not routes:
        pytest.skip(f"official checkpoints not found at {official} (set ATTNSR_SHARED)")
    disk, preexec = small_disk
    server = MirrorServer(routes)
    try:
        proc = run(
            ["weights", "download", "pan_x4.official", "--no-progress"],  # 1.1 MB into 96 kB
            preexec=preexec,
            env={"ATTNSR_CACHE": str(disk / "cache"), "ATTNSR_MIRROR": server.url},
        )
    finally:
        server.close()
    line = one_line(proc)
    assert "No space left on device" in line or "File too large" in line, line
    names = [p.name for p in disk.rglob("*") if p.is_file()]
    assert "PANx4_DF2K.pth" not in names, "no unverified file where the cache expects a verified one"
