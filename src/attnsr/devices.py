"""The one device vocabulary of every command: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.

:func:`resolve_device` checks a name against this machine before any work, so asking for CUDA where
there is none is one clear line instead of a traceback from deep inside the first CUDA call.
"""

from __future__ import annotations

import re

import torch

from .errors import AttnsrError

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str) -> torch.device:
    """``auto|cpu|cuda|cuda:N`` → a device that exists here (``auto``: CUDA when there is one)."""
    if DEVICE_PATTERN.fullmatch(name) is None:
        raise AttnsrError(f"device must be cpu, cuda or cuda:N, not {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AttnsrError(f"device {name!r} asked for, but CUDA is not available on this machine (use cpu)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise AttnsrError(f"device {name!r} asked for, but this machine has {count} CUDA device(s)")
    return device
