"""Tiled inference with smooth blending and bounded memory.

The LR image is cut into overlapping tiles; each SR tile is weighted by a separable linear ramp across
the overlaps it shares with its neighbours (weight 1 elsewhere) and accumulated in float32 on the CPU,
one band of tile rows at a time. Rows no later tile can touch are normalised and written to the output
immediately, so the float accumulator never holds more than about one band of the output; the output
itself can be uint8/uint16 to keep a 16000×12000 result within a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .io import LEVEL_BITS, to_levels


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if tile >= length:
        return [0]
    stride = max(tile - overlap, 1)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(start: int, end: int, prev_end: int | None, next_start: int | None, scale: int) -> Tensor:
    """HR weights along one axis for a tile covering LR [start, end)."""
    n = (end - start) * scale
    w = torch.ones(n)
    if prev_end is not None and prev_end > start:
        k = (prev_end - start) * scale
        w[:k] = torch.arange(1, k + 1, dtype=torch.float32) / (k + 1)
    if next_start is not None and next_start < end:
        k = (end - next_start) * scale
        w[n - k :] = torch.minimum(w[n - k :], torch.arange(k, 0, -1, dtype=torch.float32) / (k + 1))
    return w


@torch.no_grad()
def tiled_forward(
    fn: Callable[[Tensor], Tensor],
    lr: Tensor,
    *,
    scale: int,
    tile: int,
    overlap: int = 16,
    out_dtype: torch.dtype = torch.float32,
    on_tile: Callable[[], None] | None = None,
) -> Tensor:
    """SR of ``lr`` (1×C×h×w, [0,1], CPU) by tiles; returns 1×C×(h·s)×(w·s) of ``out_dtype`` on the CPU.

    ``fn`` maps an LR tile (CPU tensor) to its SR tile (any device, float). ``out_dtype`` uint8 gives
    0–255 levels and int32 gives 0–65535 levels (both rounded); float32 gives the unclamped blend.
    """
    if tile < 2 * overlap + 1:
        raise ValueError(f"tile {tile} must exceed twice the overlap {overlap}")
    _, c, h, w = lr.shape
    H, W = h * scale, w * scale
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    th, tw = min(tile, h), min(tile, w)
    out = torch.empty(1, c, H, W, dtype=out_dtype)
    bits = LEVEL_BITS.get(out_dtype)  # None: float out, the blend as it is
    acc = torch.zeros(c, 0, W)
    wacc = torch.zeros(1, 0, W)
    top = 0  # HR row where the accumulator starts
    for i, y0 in enumerate(ys):
        y1 = y0 + th
        grow = y1 * scale - top - acc.shape[1]
        if grow > 0:
            acc = torch.cat([acc, torch.zeros(c, grow, W)], dim=1)
            wacc = torch.cat([wacc, torch.zeros(1, grow, W)], dim=1)
        wy = _ramp(y0, y1, ys[i - 1] + th if i else None, ys[i + 1] if i + 1 < len(ys) else None, scale)
        for j, x0 in enumerate(xs):
            x1 = x0 + tw
            wx = _ramp(x0, x1, xs[j - 1] + tw if j else None, xs[j + 1] if j + 1 < len(xs) else None, scale)
            sr = fn(lr[..., y0:y1, x0:x1]).float().cpu()[0]
            weight = wy[:, None] * wx[None, :]
            rows = slice(y0 * scale - top, y1 * scale - top)
            acc[:, rows, x0 * scale : x1 * scale] += sr * weight
            wacc[:, rows, x0 * scale : x1 * scale] += weight
            if on_tile:
                on_tile()
        final = ys[i + 1] * scale if i + 1 < len(ys) else H
        n = final - top
        blend = acc[:, :n] / wacc[:, :n]  # a fresh tensor: its levels are made in place
        out[0, :, top:final] = blend if bits is None else to_levels(blend, bits=bits, inplace=True)
        acc, wacc, top = acc[:, n:].clone(), wacc[:, n:].clone(), final
    return out
