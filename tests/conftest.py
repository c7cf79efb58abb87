"""Shared test settings: the ../shared folder comes from one setting (ATTNSR_SHARED)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnsr.io import write_image
from attnsr.settings import shared_root

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if not (root / "data").is_dir():
        pytest.skip(f"shared data folder not found at {root} (set ATTNSR_SHARED)")
    return root


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    """``Tiny/HR`` with two smooth 32x36 RGB images (a benchmark-style folder for analysis tests)."""
    torch.manual_seed(1)
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    for i in range(2):
        img = F.interpolate(torch.rand(1, 3, 8, 8), size=(32, 36), mode="bilinear", align_corners=False)
        write_image(folder / f"im{i}.png", img)
    return folder


@pytest.fixture
def umask_022():
    """Run with umask 022, so a file written as a plain ``open`` would is mode 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """``$ATTNSR_CACHE`` set to a fresh folder under ``tmp_path`` (downloads, exports, LR images)."""
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny_a2n():
    """A one-block A2N x2 with seed-0 weights, in eval mode: the smallest model every backend exports."""
    import attnsr

    torch.manual_seed(0)
    return attnsr.create_model("a2n", scale=2, num_blocks=1).eval()


@pytest.fixture(scope="module")
def module_tmp_cache(tmp_path_factory):
    """For a whole module: exported models go to a temporary cache folder (CLI children inherit it), never the
    user's. Use with ``pytestmark = pytest.mark.usefixtures("module_tmp_cache")``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNSR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
