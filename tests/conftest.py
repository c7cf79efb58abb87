"""Shared test settings: the ../shared folder comes from one setting (ATTNSR_SHARED)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnsr.settings import shared_root

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_root()
    if not (root / "data").is_dir():
        pytest.skip(f"shared data folder not found at {root} (set ATTNSR_SHARED)")
    return root
