"""EDSR — Enhanced Deep Residual Networks for Single Image Super-Resolution.

Paper: B. Lim, S. Son, H. Kim, S. Nah, K. M. Lee, CVPRW 2017, arXiv:1707.02921.
Official code: github.com/sanghyun-son/EDSR-PyTorch (``model/edsr.py``, ``model/common.py``).
BAM host version: github.com/dandingbudanding/BAM (``EDSR/edsr.py``).

Official layer names are kept (``sub_mean``, ``head.0``, ``body.i.body.{0,2}``, ``body.N``,
``tail.0.{0,2}`` (upsampler), ``tail.1``, ``add_mean``) so official checkpoints load with
``strict=True``. EDSR has no attention of its own (``attention="none"``); any other factory attention
sits where the BAM code puts its single BAM: on the body output, before the global residual, under the
BAM code's name ``attention``.

The two MeanShift layers are 1×1 convs whose parameters are frozen (``requires_grad=False``) but are
parameters, so they are counted (2 × 12 = 24 numbers), as in the official code. Exact counts:
EDSR-baseline (16×64) 1,369,883 / 1,554,523 / 1,517,595 (×2/×3/×4), with BAM +565; EDSR (32×256,
res_scale 0.1) with BAM 40,737,884 / 43,688,284 / 43,098,204.

This file also holds the EDSR-family pieces that RCAN, MSRN and s-LWSR reuse (their official code
imports them from EDSR's ``common.py``): :class:`MeanShift`, :class:`ResBlock`, :class:`Upsampler`,
and :func:`build_host_attention`.

Deviations: the model takes float RGB in [0, 1] and returns the same range; ``rgb_range`` (255, the
official setting) scales inside ``forward``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import attention_at, build_attention, list_attentions
from ..registry import register_model

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def build_host_attention(name: str, channels: int, *, reduction: int | None, host: str) -> nn.Module:
    """Factory attention for a host network; a one-line ModelError lists the choices that fit.

    An attention "fits" when the factory can build it for ``channels`` channels at ``reduction``.
    Unknown names keep the factory's own message (close matches and every valid name).
    """
    try:
        return build_attention(name, channels, reduction=reduction)
    except ModelError:
        if str(name).lower() not in list_attentions():
            raise
        valid = []
        for choice in list_attentions():
            try:
                build_attention(choice, channels, reduction=reduction)
            except ModelError:
                continue
            valid.append(choice)
        raise ModelError(
            f"{host} cannot use attention {name!r} with {channels} channels (reduction {reduction}); "
            f"valid attentions: {', '.join(valid)}"
        ) from None


def check_scale(scale: int, host: str) -> None:
    if scale not in (2, 3, 4):
        raise ModelError(f"{host} supports scales (2, 3, 4), not {scale}")


class MeanShift(nn.Conv2d):
    """EDSR's frozen 1×1 conv: ``x/std + sign·rgb_range·mean/std`` (identity weight when std = 1)."""

    def __init__(
        self,
        rgb_range: float,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
        rgb_std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        sign: int = -1,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean) / std)
        self.requires_grad_(False)


class ResBlock(nn.Module):
    """conv → ReLU → conv, scaled by ``res_scale``, plus the input. Names: ``body.0``, ``body.2``."""

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


class EDSR(nn.Module):
    """EDSR. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 64,
        num_blocks: int = 16,
        res_scale: float = 1.0,
        attention: str = "none",
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "edsr")
        self.scale = scale
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(rgb_range)
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.head = nn.Sequential(nn.Conv2d(3, num_feats, 3, padding=1))
        self.body = nn.Sequential(
            *(ResBlock(num_feats, res_scale=res_scale) for _ in range(num_blocks)),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
        )
        self.attention = build_host_attention(attention, num_feats, reduction=16, host="edsr")
        self.tail = nn.Sequential(Upsampler(scale, num_feats), nn.Conv2d(num_feats, 3, 3, padding=1))

    def trunk_blocks(self) -> list[str]:
        """The residual blocks (the body's last module is its closing conv)."""
        return [f"body.{i}" for i in range(len(self.body) - 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The one attention on the body output (outside the trunk blocks)."""
        return attention_at(self, ["attention"])

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        res = self.attention(self.body(x)) + x
        return self.add_mean(self.tail(res)) / self.rgb_range


_PAPER = "Lim et al. Enhanced Deep Residual Networks for Single Image Super-Resolution. CVPRW 2017, arXiv:1707.02921"


@register_model(default_attention="none", paper=_PAPER, test_options={"num_blocks": 2})
def edsr_baseline(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 16,
    attention: str = "none",
    rgb_range: float = 255.0,
) -> EDSR:
    """EDSR-baseline, 16 blocks × 64 (1,369,883 / 1,554,523 / 1,517,595 parameters at ×2/×3/×4;
    ``attention="bam"`` adds 565)."""
    return EDSR(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention, rgb_range=rgb_range)


@register_model(default_attention="none", paper=_PAPER, test_options={"num_blocks": 2, "num_feats": 32})
def edsr(
    *,
    scale: int = 4,
    num_feats: int = 256,
    num_blocks: int = 32,
    attention: str = "none",
    rgb_range: float = 255.0,
) -> EDSR:
    """EDSR at the paper size, 32 blocks × 256, res_scale 0.1 (with BAM: 40,737,884 / 43,688,284 /
    43,098,204 parameters at ×2/×3/×4; without: 8,257 fewer)."""
    return EDSR(
        scale=scale,
        num_feats=num_feats,
        num_blocks=num_blocks,
        res_scale=0.1,
        attention=attention,
        rgb_range=rgb_range,
    )
