"""Correlation of attention masks with high-pass filtered features (A2N Table 1, SPEC §4).

Per image and trunk block: Pearson r between the channel-mean mask and a high-pass response of a
channel-mean feature — |Laplace|, Sobel magnitude, Scharr magnitude (3×3 kernels, reflect padding) —
for both candidate features: ``input`` (the attention module's input x) and ``multiplied`` (the tensor
the mask multiplies: ``k3(x)`` in A2N's attention branch and PAN's PAConv, x itself for ``x * mask``
attentions). Then the mean over images. Masks with no spatial extent (channel attention) give NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import AttnsrError
from .figures import new_figure, save_figure
from .heatmaps import select_blocks
from .hooks import capture_attention, eval_forward

log = logging.getLogger(__name__)

LAPLACE = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
SCHARR_X = ((-3.0, 0.0, 3.0), (-10.0, 0.0, 10.0), (-3.0, 0.0, 3.0))
FILTERS = ("laplace", "sobel", "scharr")
FEATURES = ("input", "multiplied")


def _filter(x: Tensor, kernel: Sequence[Sequence[float]]) -> Tensor:
    k = torch.tensor(kernel, dtype=x.dtype, device=x.device)[None, None]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k)


def high_pass(feature: Tensor) -> dict[str, Tensor]:
    """|Laplace|, Sobel magnitude and Scharr magnitude of ``feature`` (N×1×H×W or H×W, float64 result,
    same shape), 3×3 kernels with reflect padding (H, W ≥ 2)."""
    x = feature.to(torch.float64)
    squeeze = x.dim() == 2
    x = x[None, None] if squeeze else x
    out = {"laplace": _filter(x, LAPLACE).abs()}
    for name, kx in (("sobel", SOBEL_X), ("scharr", SCHARR_X)):
        ky = tuple(zip(*kx))  # the transposed kernel responds to vertical change
        out[name] = torch.sqrt(_filter(x, kx) ** 2 + _filter(x, ky) ** 2)
    return {k: v[0, 0] if squeeze else v for k, v in out.items()}


def pearson(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """Pearson r of two same-size arrays (flattened, float64); NaN when either is constant."""
    x = torch.as_tensor(np.asarray(a), dtype=torch.float64).flatten()
    y = torch.as_tensor(np.asarray(b), dtype=torch.float64).flatten()
    if x.shape != y.shape:
        raise ValueError(f"pearson needs arrays of one size, got {x.numel()} and {y.numel()}")
    x = x - x.mean()
    y = y - y.mean()
    den = torch.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else math.nan


def mask_correlations(mask: Tensor, feature: Tensor) -> dict[str, float]:
    """r between one channel-mean ``mask`` and each high-pass response of a channel-mean ``feature``
    (both H×W); NaN for every filter when their sizes differ (a channel mask is 1×1)."""
    if mask.shape != feature.shape or mask.numel() < 4:
        return {f: math.nan for f in FILTERS}
    responses = high_pass(feature)
    return {f: pearson(mask, responses[f]) for f in FILTERS}


@dataclass
class BlockCorrelation:
    """Per-image r of one block for each (feature, filter); ``mean`` ignores NaN images."""

    block: int
    name: str
    r: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def mean(self, feature: str, filt: str) -> float:
        vals = [v for v in self.r.get((feature, filt), []) if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan


@dataclass
class CorrelationResult:
    blocks: list[BlockCorrelation]
    images: list[str]

    def rows(self) -> list[dict]:
        """One row per block and feature: mean r for each filter, over the images."""
        out = []
        for b in self.blocks:
            for feat in FEATURES:
                out.append(
                    {
                        "block": b.block,
                        "module": b.name,
                        "feature": feat,
                        **{f: b.mean(feat, f) for f in FILTERS},
                        "images": len(self.images),
                    }
                )
        return out

    def to_dict(self) -> dict:
        """JSON-ready: ``images``, ``mean`` (:meth:`rows`) and ``per_image`` r as
        {module: {"feature/filter": [r per image]}} (NaN where a mask has no spatial extent)."""
        per_image = {b.name: {f"{feat}/{f}": v for (feat, f), v in b.r.items()} for b in self.blocks}
        return {"images": self.images, "mean": self.rows(), "per_image": per_image}


def correlate_attention(
    model: nn.Module,
    images: Iterable[tuple[str, Tensor]],
    *,
    blocks: Sequence[int] | None = None,
    on_image: Callable[[str], None] | None = None,
) -> CorrelationResult:
    """Table 1 over ``images`` — ``(name, lr)`` pairs, ``lr`` 1×3×h×w float RGB in [0, 1]."""
    chosen = select_blocks(model, blocks)
    result = [BlockCorrelation(b, n, {(feat, f): [] for feat in FEATURES for f in FILTERS}) for b, n in chosen.items()]
    names: list[str] = []
    for name, lr in images:
        with capture_attention(model, include=list(chosen.values()), reduce="channel_mean") as cap:
            eval_forward(model, lr)
        for bc in result:
            rec = cap[bc.name]
            feats = {"input": rec.input, "multiplied": rec.feature}
            for feat in FEATURES:
                for f, r in mask_correlations(rec.mask[0, 0], feats[feat][0, 0]).items():
                    bc.r[(feat, f)].append(r)
        names.append(name)
        log.debug("correlation: %s done", name)
        if on_image:
            on_image(name)
    if not names:
        raise AttnsrError("no images given")
    return CorrelationResult(result, names)


def plot_correlation(result: CorrelationResult, path: str | Path, *, title: str | None = None) -> Path:
    """Mean r against block index: one colour per filter, solid for the multiplied feature, dashed for
    the input."""

    fig = new_figure((7, 4))
    ax = fig.add_subplot(1, 1, 1)
    xs = [b.block for b in result.blocks]
    for color, f in zip(("tab:blue", "tab:orange", "tab:green"), FILTERS):
        for feat, style in (("multiplied", "-"), ("input", "--")):
            ax.plot(
                xs,
                [b.mean(feat, f) for b in result.blocks],
                style,
                marker="o",
                ms=3,
                color=color,
                label=f"{f} / {feat}",
            )
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xlabel("block")
    ax.set_ylabel(f"mean Pearson r ({len(result.images)} images)")
    ax.set_xticks(xs)
    ax.legend(fontsize=7, ncol=2)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi=100)
