"""Attention dropout module (ADM) weights over a dataset (A2N Fig. 7).

Each AAB's ADM gives one pair (w_att, w_nonatt) per image, read from its ``weight_tap`` by a forward
hook. :func:`adm_weights` collects w_att per image and block; :func:`extreme_maps` finds the
(image, block) pairs with the highest w_att (attention most *enhanced*) and the lowest (most
*suppressed*) and returns their channel-mean attention masks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from ..errors import AttnsrError
from .figures import new_figure, save_figure
from .hooks import adm_block_names, capture_attention, eval_forward

TOP_K = 4  # most enhanced / most suppressed maps shown (A2N Fig. 7)


@dataclass
class AdmStats:
    """``w_att[i, j]``: attention-branch weight of block ``blocks[j]`` on image ``images[i]``."""

    blocks: list[str]
    images: list[str]
    w_att: np.ndarray

    def summary(self) -> list[dict]:
        """Per block: mean, std, min, max of w_att over the images."""
        return [
            {
                "block": j + 1,
                "module": b,
                "mean": float(col.mean()),
                "std": float(col.std()),
                "min": float(col.min()),
                "max": float(col.max()),
            }
            for j, (b, col) in enumerate(zip(self.blocks, self.w_att.T))
        ]

    def to_dict(self) -> dict:
        """JSON-ready: ``blocks``, ``summary`` and ``w_att`` as {image: [w_att per block]}."""
        return {
            "blocks": self.blocks,
            "summary": self.summary(),
            "w_att": {n: row.tolist() for n, row in zip(self.images, self.w_att)},
        }


def adm_weights(
    model: nn.Module, images: Iterable[tuple[str, Tensor]], *, on_image: Callable[[str], None] | None = None
) -> AdmStats:
    """w_att of every ADM block for each ``(name, lr)`` image (lr 1×3×h×w float RGB in [0, 1])."""
    blocks = adm_block_names(model)
    if not blocks:
        raise AttnsrError(f"{type(model).__name__} has no ADM (only A2N-style blocks with fusion='adm' have one)")
    names, rows = [], []
    for name, lr in images:
        with capture_attention(model, include=[]) as cap:  # ADM weights only: no attention records
            eval_forward(model, lr)
        rows.append([float(cap.adm[b][0, 0]) for b in blocks])
        names.append(name)
        if on_image:
            on_image(name)
    if not rows:
        raise AttnsrError("no images given")
    return AdmStats(blocks, names, np.asarray(rows, dtype=np.float64))


@dataclass
class AdmMap:
    image: str
    block: int
    w_att: float
    mask: np.ndarray  # channel-mean attention mask, h×w

    def to_dict(self) -> dict:
        """JSON-ready: every field but the mask."""
        return {"image": self.image, "block": self.block, "w_att": self.w_att}


def extreme_maps(
    model: nn.Module, images: Mapping[str, Tensor], stats: AdmStats, *, k: int = TOP_K
) -> tuple[list[AdmMap], list[AdmMap]]:
    """The ``k`` (image, block) pairs with the highest w_att and the ``k`` with the lowest, with their
    channel-mean masks (recomputed for just those images)."""
    flat = np.argsort(stats.w_att, axis=None)
    k = min(k, flat.size)
    lowest = [np.unravel_index(i, stats.w_att.shape) for i in flat[:k]]
    highest = [np.unravel_index(i, stats.w_att.shape) for i in flat[::-1][:k]]
    needed = {stats.images[i] for i, _ in lowest + highest}
    masks: dict[tuple[str, str], np.ndarray] = {}
    branches = [f"{b}.attention" for b in stats.blocks]
    for name in needed:
        with capture_attention(model, include=branches, reduce="channel_mean") as cap:
            eval_forward(model, images[name])
        for b in stats.blocks:
            masks[(name, b)] = cap[f"{b}.attention"].mask[0, 0].numpy()

    def item(ij: tuple) -> AdmMap:
        i, j = int(ij[0]), int(ij[1])
        name, block = stats.images[i], stats.blocks[j]
        return AdmMap(name, j + 1, float(stats.w_att[i, j]), masks[(name, block)])

    return [item(ij) for ij in highest], [item(ij) for ij in lowest]


def plot_adm_distribution(stats: AdmStats, path: str | Path, *, title: str | None = None) -> Path:
    """Violin plot (with box) of w_att per block over the images."""

    fig = new_figure((max(6, 0.5 * len(stats.blocks) + 2), 4))
    ax = fig.add_subplot(1, 1, 1)
    pos = np.arange(1, len(stats.blocks) + 1)
    if len(stats.images) > 1:
        ax.violinplot(list(stats.w_att.T), positions=pos, showextrema=False)
    ax.boxplot(list(stats.w_att.T), positions=pos, widths=0.25, showfliers=True)
    ax.axhline(0.5, color="gray", lw=0.5, ls="--")
    ax.set_xticks(pos)
    ax.set_xticklabels([str(p) for p in pos])
    ax.set_xlabel("block")
    ax.set_ylabel(f"w_att ({len(stats.images)} images)")
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi=100)


def plot_extreme_maps(
    enhanced: list[AdmMap], suppressed: list[AdmMap], path: str | Path, *, title: str | None = None
) -> Path:
    """Two rows: the most enhanced (highest w_att) and most suppressed attention masks."""

    cols = max(len(enhanced), len(suppressed), 1)
    fig = new_figure((3 * cols, 6.4))
    for row, (label, items) in enumerate((("enhanced", enhanced), ("suppressed", suppressed))):
        for c, m in enumerate(items):
            ax = fig.add_subplot(2, cols, row * cols + c + 1)
            ax.imshow(m.mask, cmap="jet")
            ax.set_title(f"{label}: {m.image}\nblock {m.block}, w_att {m.w_att:.3f}", fontsize=8)
            ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=90)
