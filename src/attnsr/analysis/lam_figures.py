"""LAM figures: the official saliency colouring, its blend over the LR, the paper-style panel (A2N Fig. 8).

Images in are 1×3×H×W float RGB in [0, 1]; maps are h×w in [0, 1] (:attr:`LamResult.map`); arrays
out are H×W×3 uint8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from ..data.imresize import imresize
from ..io import to_levels
from .figures import new_figure, require_matplotlib, save_figure
from .lam import LamResult


def saliency_image(lam: Tensor | np.ndarray, *, scale: int) -> np.ndarray:
    """The official LAM colouring: ``seismic`` at ``0.5 + 0.5·M``, ×``scale`` nearest → (H, W, 3) uint8."""
    m = np.asarray(lam, dtype=np.float64)
    rgba = require_matplotlib().colormaps["seismic"](0.5 + 0.5 * m)
    rgb = (255 * rgba[..., :3]).astype(np.uint8)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def _to_hwc_uint8(img: Tensor) -> np.ndarray:
    return to_levels(img[0].detach().float()).permute(1, 2, 0).numpy()


def blend_image(lam: Tensor | np.ndarray, lr: Tensor, *, scale: int, alpha: float = 0.5) -> np.ndarray:
    """``saliency`` blended ``alpha`` : ``1 − alpha`` over the bicubic-upscaled LR (1×3×h×w) → uint8."""
    sal = saliency_image(lam, scale=scale).astype(np.float64)
    up = _to_hwc_uint8(imresize(lr.detach().float(), scale=scale)).astype(np.float64)
    return np.clip(np.round((1 - alpha) * sal + alpha * up), 0, 255).astype(np.uint8)


def plot_lam(
    path: str | Path, *, lr: Tensor, result: LamResult, scale: int, hr: Tensor | None = None, title: str | None = None
) -> Path:
    """Paper-style figure: HR (or bicubic LR) with the window box, LAM map, blend, SR → PNG at ``path``."""
    require_matplotlib()
    from matplotlib.patches import Rectangle

    w = result.window
    ref = hr if hr is not None else imresize(lr.float(), scale=scale)
    panels = [
        ("HR" if hr is not None else "bicubic LR", _to_hwc_uint8(ref)),
        ("LAM", saliency_image(result.map, scale=scale)),
        (f"LAM over LR, DI {result.di:.2f}", blend_image(result.map, lr, scale=scale)),
        ("SR", _to_hwc_uint8(result.sr)),
    ]
    fig = new_figure((4 * len(panels), 4.4))
    for i, (label, img) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(img, interpolation="nearest")
        if i in (0, 3):
            ax.add_patch(Rectangle((w.col - 0.5, w.row - 0.5), w.width, w.height, fill=False, edgecolor="red", lw=1.5))
        ax.set_title(label)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=100)
