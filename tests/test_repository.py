"""The repository stays lean: no run checkpoint is tracked, and no tracked file is over 1 MB except the
named allowances (the built-in weights, their int8 models and two committed figures)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1_000_000  # bytes
ALLOWED = {
    # the package's built-in weights (about 4.2 MB each): trained here, shipped in the wheel
    "src/attnsr/weights/a2n_x2.safetensors",
    "src/attnsr/weights/a2n_x3.safetensors",
    "src/attnsr/weights/a2n_x4.safetensors",
    # their int8 OpenVINO models (about 1.1 MB per file), quantized here by benchmarks/int8_quality.py
    *(f"src/attnsr/weights/a2n_x{s}.int8.{ext}" for s in (2, 3, 4) for ext in ("xml", "bin")),
    # figures the README and docs/analysis show (1.1-1.3 MB each)
    "docs/analysis/a2n_x2_heatmaps_comic.png",
    "docs/analysis/a2n_x2_set14_adm_extremes.png",
}
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"{ROOT} is not a git checkout (an installed package or an sdist): nothing tracked to check")
    return [p for p in out.stdout.decode().split("\0") if p]


def test_no_tracked_file_is_over_the_limit(tracked):
    big = {p: (ROOT / p).stat().st_size for p in tracked if (ROOT / p).is_file() and (ROOT / p).stat().st_size > LIMIT}
    assert set(big) <= ALLOWED, {p: s for p, s in big.items() if p not in ALLOWED}


def test_no_checkpoint_is_tracked_under_runs_training_or_benchmarks(tracked):
    found = [
        p for p in tracked if p.startswith(("runs/", "training/", "benchmarks/")) and p.endswith(CHECKPOINT_SUFFIXES)
    ]
    assert not found


@pytest.mark.parametrize(
    "path", ["training/a2n_x2_291/checkpoint.pt", "training/x/checkpoint.prev.pt", "runs/x/checkpoint.pt"]
)
def test_checkpoints_are_ignored(path):
    out = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT, capture_output=True, timeout=60)
    if out.returncode == 128:
        pytest.skip(f"{ROOT} is not a git checkout")
    assert out.returncode == 0, f"{path} is not ignored"
