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
