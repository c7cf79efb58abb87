"""Blocks that several architectures share, each written once.

Official layer names are kept inside each block (``body.0``, ``shifter`` …) so the host checkpoints that
use them load with ``strict=True``. :func:`check_scale` is the one scale check of every model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)  # RGB mean of DIV2K in [0, 1], as EDSR's common.py


def check_scale(scale: int, host: str, scales: tuple[int, ...] = (2, 3, 4)) -> None:
    """ModelError (one line) unless ``host`` supports ``scale``."""
    if scale not in scales:
        raise ModelError(f"{host} supports scales {', '.join(map(str, scales))}, not {scale}")


class MeanShift(nn.Conv2d):
    """EDSR's frozen 1×1 conv: ``x/std + sign·input_range·mean/std`` (identity weight when std = 1).

    Its parameters are frozen (``requires_grad=False``) but counted, as in the official code.
    """

    def __init__(
        self,
        input_range: float,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
        rgb_std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        sign: int = -1,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1))
            self.bias.copy_(sign * input_range * torch.tensor(rgb_mean) / std)
        self.requires_grad_(False)


class NamedMeanShift(nn.Module):
    """CARN's and DRLN's layout of the same frozen shift by ±``mean`` (in [0, 1] units): the conv is the
    child ``shifter`` (official keys ``sub_mean.shifter.weight`` …)."""

    def __init__(self, mean: tuple[float, float, float] = DIV2K_MEAN, *, sub: bool) -> None:
        super().__init__()
        self.shifter = MeanShift(1.0, mean, sign=-1 if sub else 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.shifter(x)


class BasicBlock(nn.Module):
    """conv → ReLU (``body.0``); CARN's and DRLN's fusion convs."""

    def __init__(self, cin: int, cout: int, *, ksize: int = 3, pad: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, ksize, stride, pad), nn.ReLU(inplace=True))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class ResidualBlock(nn.Module):
    """CARN's and DRLN's residual unit: ``relu(conv(relu(conv(x))) + x)`` (``body.0``, ``body.2``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


class ResBlock(nn.Module):
    """EDSR's block: conv → ReLU → conv, scaled by ``res_scale``, plus the input (``body.0``, ``body.2``)."""

    def __init__(self, num_feats: int, *, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) * self.res_scale + x


class Upsampler(nn.Sequential):
    """EDSR's sub-pixel upsampler: (3×3 conv C→4C, PixelShuffle(2)) × log2(s), or C→9C, PixelShuffle(3)."""

    def __init__(self, scale: int, num_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feats, 4 * num_feats, 3, padding=1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feats, 9 * num_feats, 3, padding=1), nn.PixelShuffle(3)]
        else:
            raise ModelError(f"the EDSR upsampler supports scales 2, 3 and powers of two, not {scale}")
        super().__init__(*layers)
