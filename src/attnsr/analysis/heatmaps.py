"""Attention heat maps per block (A2N Fig. 2): channel means of a block attention module's input,
mask and output for one image, captured by forward hooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from ..errors import AttnsrError
from .figures import new_figure, save_figure
from .hooks import block_attention, capture_attention, eval_forward


@dataclass
class BlockHeatmap:
    """Channel-mean maps (h×w float32) of block ``block``'s attention module ``name`` for one image."""

    block: int
    name: str
    input: np.ndarray
    mask: np.ndarray
    output: np.ndarray


def select_blocks(model: nn.Module, blocks: Sequence[int] | None) -> dict[int, str]:
    """Block index → attention module name for the requested 1-based ``blocks`` (None: all)."""
    available = block_attention(model)
    if not available:
        raise AttnsrError(f"{type(model).__name__} has no attention inside its trunk blocks")
    if blocks is None:
        return available
    missing = [b for b in blocks if b not in available]
    if missing:
        raise AttnsrError(
            f"blocks {missing} have no attention; blocks with attention: {', '.join(map(str, available))}"
        )
    return {b: available[b] for b in blocks}


def attention_heatmaps(model: nn.Module, lr: Tensor, *, blocks: Sequence[int] | None = None) -> list[BlockHeatmap]:
    """Heat maps of the chosen trunk blocks for one LR image ``lr`` (1×3×h×w float RGB in [0, 1])."""
    chosen = select_blocks(model, blocks)
    with capture_attention(model, include=list(chosen.values()), reduce="channel_mean") as cap:
        eval_forward(model, lr)
    out = []
    for b, name in chosen.items():
        r = cap[name]
        out.append(BlockHeatmap(b, name, r.input[0, 0].numpy(), r.mask[0, 0].numpy(), r.output[0, 0].numpy()))
    return out


def plot_heatmaps(
    maps: Sequence[BlockHeatmap],
    path: str | Path,
    *,
    image: Tensor | None = None,
    title: str | None = None,
    cmap: str = "jet",
) -> Path:
    """A2N Fig. 2 style figure: one row per block (input, mask, output), the LR image on top."""

    if not maps:
        raise AttnsrError("no heat maps to plot")
    rows = len(maps) + (image is not None)
    fig = new_figure((9, 3 * rows))
    row = 0
    if image is not None:
        ax = fig.add_subplot(rows, 3, 2)
        ax.imshow(image[0].detach().float().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title("input image")
        ax.axis("off")
        row = 1
    for m in maps:
        for col, (label, arr) in enumerate((("input", m.input), ("mask", m.mask), ("output", m.output))):
            ax = fig.add_subplot(rows, 3, 3 * row + col + 1)
            im = ax.imshow(arr, cmap=cmap)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            ax.set_title(f"block {m.block} {label}")
            ax.axis("off")
        row += 1
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=80)
