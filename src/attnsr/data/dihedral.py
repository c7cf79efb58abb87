"""The 8 flips and transposes of an image (the dihedral group): training augmentation and ×8 self-ensemble."""

from __future__ import annotations

from torch import Tensor


def dihedral(x: Tensor, code: int, *, inverse: bool = False) -> Tensor:
    """Transform ``code`` (0-7) of the last two dims: bit 0 h-flip, bit 1 v-flip, bit 2 transpose, applied
    in that order; ``inverse=True`` undoes it (the same steps in reverse order)."""
    steps = [(1, lambda t: t.flip(-1)), (2, lambda t: t.flip(-2)), (4, lambda t: t.transpose(-1, -2))]
    for bit, step in reversed(steps) if inverse else steps:
        if code & bit:
            x = step(x)
    return x
