"""PSNR/SSIM (minimal version; the full module replaces it)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rgb_to_y(img, *, legacy=False):
    c = (64.738, 129.057, 25.064) if legacy else (65.481, 128.553, 24.966)
    img = img.double()
    return (16 + c[0] * img[:, 0] + c[1] * img[:, 1] + c[2] * img[:, 2])[:, None]


def quantize(img):
    return torch.round(img.clamp(0, 1) * 255) / 255


def _ssim(x, y):
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :])[None, None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = F.conv2d(x, k), F.conv2d(y, k)
    sxx = F.conv2d(x * x, k) - mx**2
    syy = F.conv2d(y * y, k) - my**2
    sxy = F.conv2d(x * y, k) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return m.mean(dim=(1, 2, 3))


def evaluate_pair(sr, hr, *, scale, protocol="standard"):
    legacy = protocol == "bam-legacy"
    if not legacy:
        sr = quantize(sr)
    y1 = rgb_to_y(sr, legacy=legacy)[..., scale:-scale, scale:-scale]
    y2 = rgb_to_y(hr, legacy=legacy)[..., scale:-scale, scale:-scale]
    mse = ((y1 - y2) ** 2).mean()
    return float(10 * torch.log10(255**2 / mse)), float(_ssim(y1, y2)[0])
