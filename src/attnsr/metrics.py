"""PSNR and SSIM under the standard single-image super-resolution protocol.

Inputs follow the project image contract: float tensors in NCHW layout with values in [0, 1].
With ``y_channel=True`` (the default) images are RGB (C=3) or grayscale (C=1, treated as
R=G=B) and are converted to the Y channel of ITU-R BT.601 YCbCr on the 0-255 scale (studio
range: black -> 16, white -> 235), *not* rounded. With ``y_channel=False`` every channel is
scaled by 255 and used as it is (C may be anything; e.g. a Y plane already divided by 255).

All arithmetic is float64. PSNR uses peak 255 (MSE over all remaining pixels and channels);
SSIM is Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5), K1=0.01, K2=0.03,
L=255, 'valid' filtering and no downsampling, averaged over the map (and channels).
Both return one value per image: a float64 tensor of shape (N,) on the inputs' device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "METRICS",
    "crop_border",
    "evaluate_pair",
    "psnr",
    "quantize",
    "rgb_to_y",
    "score_bam_legacy",
    "score_standard",
    "ssim",
]

_Y_COEF = (65.481, 128.553, 24.966)  # BT.601, R,G,B in [0,1] -> Y in [16, 235]
_Y_COEF_LEGACY = (64.738, 129.057, 25.064)  # coefficients used by the BAM reference code

_WIN_SIZE = 11
_WIN_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _check_4d(img: Tensor, name: str) -> None:
    if not isinstance(img, Tensor) or img.dim() != 4:
        shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
        raise ValueError(f"{name} must be an N×C×H×W tensor, got {shape}")


def rgb_to_y(img: Tensor, *, legacy: bool = False) -> Tensor:
    """BT.601 luma of an RGB (or grayscale) image.

    ``img``: N×3×H×W (or N×1×H×W grayscale, replicated to RGB) in [0, 1].
    Returns N×1×H×W float64 on the 0-255 scale, unrounded: ``16 + 65.481 R + 128.553 G + 24.966 B``
    (``legacy=True``: ``16 + 64.738 R + 129.057 G + 25.064 B``).
    """
    _check_4d(img, "img")
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    elif img.shape[1] != 3:
        raise ValueError(f"rgb_to_y needs 1 or 3 channels, got {img.shape[1]}")
    r, g, b = _Y_COEF_LEGACY if legacy else _Y_COEF
    x = img.to(torch.float64)
    return (16.0 + (r * x[:, 0] + g * x[:, 1] + b * x[:, 2])).unsqueeze(1)


def crop_border(img: Tensor, border: int) -> Tensor:
    """Remove ``border`` pixels from every edge of an N×C×H×W (or any ...×H×W) tensor."""
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border == 0:
        return img
    h, w = img.shape[-2:]
    if 2 * border >= h or 2 * border >= w:
        raise ValueError(f"border {border} leaves nothing of a {h}×{w} image")
    return img[..., border:-border, border:-border]


def quantize(img: Tensor) -> Tensor:
    """Round to 8-bit levels: ``round(clamp(img, 0, 1) * 255) / 255`` (ties to even, as torch.round).

    Same shape; floating inputs keep their dtype, others become the default float dtype.
    """
    if not img.is_floating_point():
        img = img.to(torch.get_default_dtype())
    return torch.round(img.clamp(0, 1) * 255) / 255


def _prepare(sr: Tensor, hr: Tensor, *, border: int, y_channel: bool, legacy: bool) -> tuple[Tensor, Tensor]:
    """Both images as float64 on the 0-255 scale (Y or all channels), borders cropped."""
    _check_4d(sr, "sr")
    _check_4d(hr, "hr")
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if y_channel:
        x, y = rgb_to_y(sr, legacy=legacy), rgb_to_y(hr, legacy=legacy)
    else:
        x, y = sr.to(torch.float64) * 255, hr.to(torch.float64) * 255
    return crop_border(x, border), crop_border(y, border)


def psnr(sr: Tensor, hr: Tensor, *, border: int = 0, y_channel: bool = True, legacy: bool = False) -> Tensor:
    """Peak signal-to-noise ratio in dB, peak 255, per image.

    ``sr``, ``hr``: N×C×H×W in [0, 1], same shape (see the module docstring for C and
    ``y_channel``). No clamping or rounding is done here. ``border`` pixels are cropped at each edge.
    Returns float64 (N,); ``inf`` where the images are identical.
    """
    x, y = _prepare(sr, hr, border=border, y_channel=y_channel, legacy=legacy)
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    out = 10 * torch.log10(255.0**2 / mse)
    return torch.where(mse == 0, torch.full_like(out, math.inf), out)


def _gaussian_window(device: torch.device) -> Tensor:
    coords = torch.arange(_WIN_SIZE, dtype=torch.float64, device=device) - (_WIN_SIZE - 1) / 2
    g = torch.exp(-(coords**2) / (2 * _WIN_SIGMA**2))
    win = g[:, None] * g[None, :]
    return win / win.sum()


def ssim(sr: Tensor, hr: Tensor, *, border: int = 0, y_channel: bool = True, legacy: bool = False) -> Tensor:
    """Structural similarity (Wang et al. 2004) per image, on the 0-255 scale.

    ``sr``, ``hr``: N×C×H×W in [0, 1], same shape (see the module docstring for C and
    ``y_channel``). After cropping ``border`` pixels, both sides must be at least 11 pixels.
    Returns float64 (N,): mean of the 'valid' SSIM map (averaged over channels too).
    """
    x, y = _prepare(sr, hr, border=border, y_channel=y_channel, legacy=legacy)
    _, c, h, w = x.shape
    if h < _WIN_SIZE or w < _WIN_SIZE:
        raise ValueError(f"SSIM needs at least {_WIN_SIZE}×{_WIN_SIZE} pixels after cropping, got {h}×{w}")
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    win = _gaussian_window(x.device).expand(5 * c, 1, _WIN_SIZE, _WIN_SIZE)
    mu_x, mu_y, e_xx, e_yy, e_xy = F.conv2d(stack, win, groups=5 * c).split(c, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x, var_y, cov = e_xx - mu_xx, e_yy - mu_yy, e_xy - mu_xy
    ssim_map = ((2 * mu_xy + _C1) * (2 * cov + _C2)) / ((mu_xx + mu_yy + _C1) * (var_x + var_y + _C2))
    return ssim_map.mean(dim=(1, 2, 3))


def _score(sr: Tensor, hr: Tensor, *, scale: int, legacy: bool) -> tuple[float, float]:
    _check_4d(sr, "sr")
    _check_4d(hr, "hr")
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    if sr.shape[0] != 1:
        raise ValueError(f"evaluate_pair takes one image pair (N=1), got N={sr.shape[0]}")
    sr = sr.to(device=hr.device, dtype=torch.float64)
    if not legacy:
        sr = quantize(sr)
    kw = {"border": scale, "y_channel": True, "legacy": legacy}
    return float(psnr(sr, hr, **kw)[0]), float(ssim(sr, hr, **kw)[0])


def score_standard(sr: Tensor, hr: Tensor, *, scale: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one pair, standard metric: SR quantised to 8 bits, BT.601 Y (0-255,
    unrounded), ``scale`` pixels cropped.

    ``sr``, ``hr``: 1×3×H×W RGB in [0, 1] (``sr`` may be unclamped; it is moved to ``hr``'s device).
    """
    return _score(sr, hr, scale=scale, legacy=False)


def score_bam_legacy(sr: Tensor, hr: Tensor, *, scale: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one pair as the BAM reference code scores it: no quantisation, legacy Y
    coefficients, ``scale`` pixels cropped. Same inputs as :func:`score_standard`."""
    return _score(sr, hr, scale=scale, legacy=True)


# The metrics by name; an evaluation protocol (attnsr.evaluate.PROTOCOLS) names the one it uses.
METRICS = {"standard": score_standard, "bam-legacy": score_bam_legacy}


def evaluate_pair(sr: Tensor, hr: Tensor, *, scale: int, protocol: str = "standard") -> tuple[float, float]:
    """PSNR (dB) and SSIM of one SR/HR pair under a metric named in :data:`METRICS`
    (``standard``: :func:`score_standard`; ``bam-legacy``: :func:`score_bam_legacy`)."""
    if protocol not in METRICS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(METRICS)}")
    return METRICS[protocol](sr, hr, scale=scale)
