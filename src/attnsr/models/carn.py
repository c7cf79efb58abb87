"""CARN and CARN-M — Cascading Residual Network.

Paper: N. Ahn, B. Kang, K.-A. Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading
Residual Network", ECCV 2018, arXiv:1803.08664. Official code: github.com/nmhkahn/CARN-pytorch.
BAM host versions: github.com/dandingbudanding/BAM (``CARN/carn.py``, ``CARN/carn_m.py``).

Official layer names are kept (``sub_mean.shifter``, ``entry``, ``b1..b3`` with ``b*/c*`` inside,
``c1..c3``, ``upsample.up2/up3/up4.body``, ``exit``, ``add_mean.shifter``). With an attention other
than ``"none"`` each top-level ``c<i>`` becomes ``Sequential(BasicBlock, attention)`` — the BAM code's
layout, so its keys are ``c1.0.body.0.weight`` and ``c1.1.*``.

As in the official code (and the BAM code, which fixes ``multi_scale=True``) one model holds the
×2, ×3 and ×4 upsamplers and uses the one for ``scale``; the two frozen MeanShift 1×1 convs
(``requires_grad=False``, 2 × (9 + 3) numbers) are parameters and are counted. Counts at every scale:
CARN 1,591,963 (BAM 1,593,658), CARN-M with ``groups=1`` 1,161,307 (BAM 1,163,002).
``multi_scale=False`` (an official option) builds only the upsampler for ``scale``.

Input and output: float RGB in [0, 1], NCHW — CARN's own range; the mean shift happens inside.
Deviations: ``num_feats`` and ``num_blocks`` (top-level cascading blocks) are options (official: 64, 3);
CARN-M's ``groups`` defaults to 1 as in the BAM code (the CARN paper uses 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import attention_at, build_attention
from ..layers.blocks import BasicBlock, NamedMeanShift, ResidualBlock, check_scale
from ..registry import register_model


class EResidualBlock(nn.Module):
    """CARN-M's efficient residual unit: two (group) 3×3 convs and a 1×1 conv, then the residual."""

    def __init__(self, num_feats: int, *, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feats, num_feats, 3, 1, 1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feats, num_feats, 3, 1, 1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feats, num_feats, 1, 1, 0),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + x)


class _UpsampleBlock(nn.Module):
    """(conv → ReLU → PixelShuffle(2)) × log2(s) for s = 2, 4; conv → ReLU → PixelShuffle(3) for s = 3."""

    def __init__(self, num_feats: int, *, scale: int, groups: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if scale in (2, 4):
            for _ in range(scale // 2):
                layers += [nn.Conv2d(num_feats, 4 * num_feats, 3, 1, 1, groups=groups), nn.ReLU(inplace=True)]
                layers += [nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feats, 9 * num_feats, 3, 1, 1, groups=groups), nn.ReLU(inplace=True)]
            layers += [nn.PixelShuffle(3)]
        else:
            raise ModelError(f"CARN supports scales 2, 3 and 4, not {scale}")
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class UpsampleBlock(nn.Module):
    """All three upsamplers (``up2``, ``up3``, ``up4``) when ``multi_scale``, else only ``up``."""

    def __init__(self, num_feats: int, *, scale: int, multi_scale: bool, groups: int = 1) -> None:
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            self.up2 = _UpsampleBlock(num_feats, scale=2, groups=groups)
            self.up3 = _UpsampleBlock(num_feats, scale=3, groups=groups)
            self.up4 = _UpsampleBlock(num_feats, scale=4, groups=groups)
        else:
            self.up = _UpsampleBlock(num_feats, scale=scale, groups=groups)

    def forward(self, x: Tensor, scale: int) -> Tensor:
        if not self.multi_scale:
            return self.up(x)
        return {2: self.up2, 3: self.up3, 4: self.up4}[scale](x)


class Block(nn.Module):
    """Cascading block: three residual units, each output concatenated and fused by a 1×1 conv.

    CARN-M (``efficient=True``) has one efficient residual unit ``b1`` applied three times (weights
    shared, as in the official code).
    """

    def __init__(self, num_feats: int, *, efficient: bool = False, groups: int = 1) -> None:
        super().__init__()
        self.efficient = efficient
        if efficient:
            self.b1 = EResidualBlock(num_feats, groups=groups)
        else:
            self.b1 = ResidualBlock(num_feats)
            self.b2 = ResidualBlock(num_feats)
            self.b3 = ResidualBlock(num_feats)
        self.c1 = BasicBlock(num_feats * 2, num_feats, ksize=1, pad=0)
        self.c2 = BasicBlock(num_feats * 3, num_feats, ksize=1, pad=0)
        self.c3 = BasicBlock(num_feats * 4, num_feats, ksize=1, pad=0)

    def forward(self, x: Tensor) -> Tensor:
        units = (self.b1, self.b1, self.b1) if self.efficient else (self.b1, self.b2, self.b3)
        cat = o = x
        for unit, fuse in zip(units, (self.c1, self.c2, self.c3), strict=True):
            cat = torch.cat([cat, unit(o)], dim=1)  # (N, k·C, H, W), growing by C each step
            o = fuse(cat)
        return o


class CARN(nn.Module):
    """Cascading Residual Network (CARN or, with ``efficient=True``, CARN-M).

    Input and output: float RGB in [0, 1], NCHW. ``attention`` goes after each top-level 1×1 cascade
    conv ``c1..c<num_blocks>`` (the BAM placement); ``"none"`` is the original network.
    """

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 64,
        num_blocks: int = 3,
        attention: str = "none",
        efficient: bool = False,
        groups: int = 1,
        multi_scale: bool = True,
    ) -> None:
        super().__init__()
        check_scale(scale, "CARN")
        if num_blocks < 1:
            raise ModelError(f"CARN needs at least one cascading block, got num_blocks={num_blocks}")
        self.scale = scale
        self.num_blocks = num_blocks
        attention = attention.lower()
        self.sub_mean = NamedMeanShift(sub=True)
        self.add_mean = NamedMeanShift(sub=False)
        self.entry = nn.Conv2d(3, num_feats, 3, 1, 1)
        for i in range(1, num_blocks + 1):
            self.add_module(f"b{i}", Block(num_feats, efficient=efficient, groups=groups))
            fuse = BasicBlock(num_feats * (i + 1), num_feats, ksize=1, pad=0)
            if attention != "none":
                fuse = nn.Sequential(fuse, build_attention(attention, num_feats))
            self.add_module(f"c{i}", fuse)
        self.upsample = UpsampleBlock(num_feats, scale=scale, multi_scale=multi_scale, groups=groups)
        self.exit = nn.Conv2d(num_feats, 3, 3, 1, 1)

    def trunk_blocks(self) -> list[str]:
        """The cascade stages, each named by its fusion conv ``c<i>``, which holds the stage's attention
        (the BAM placement; the stage's cascading block ``b<i>`` holds none)."""
        return [f"c{i}" for i in range(1, self.num_blocks + 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention after each top-level cascade conv (``c<i>.1``); none with ``attention="none"``."""
        stages = [c for c in self.trunk_blocks() if isinstance(getattr(self, c), nn.Sequential)]
        return attention_at(self, [f"{c}.1" for c in stages])

    def forward(self, x: Tensor) -> Tensor:
        x = self.entry(self.sub_mean(x))
        cat = o = x
        for i in range(1, self.num_blocks + 1):
            cat = torch.cat([cat, getattr(self, f"b{i}")(o)], dim=1)  # (N, (i+1)·C, H, W)
            o = getattr(self, f"c{i}")(cat)
        out = self.exit(self.upsample(o, self.scale))
        return self.add_mean(out)


_CARN_PAPER = (
    "Ahn, Kang, Sohn. Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network. "
    "ECCV 2018, arXiv:1803.08664"
)
# Unused upsamplers get no gradient, so the registry-wide tests build the single-scale variant.
_TEST_OPTIONS = {"num_blocks": 1, "multi_scale": False}


@register_model(default_attention="none", paper=_CARN_PAPER, test_options=_TEST_OPTIONS)
def carn(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 3,
    attention: str = "none",
    multi_scale: bool = True,
) -> CARN:
    """CARN (1,591,963 parameters at every scale; ``attention="bam"``: 1,593,658)."""
    return CARN(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention, multi_scale=multi_scale)


@register_model(default_attention="none", paper=_CARN_PAPER, test_options=_TEST_OPTIONS)
def carn_m(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 3,
    attention: str = "none",
    groups: int = 1,
    multi_scale: bool = True,
) -> CARN:
    """CARN-M with ``groups=1`` as the BAM code (1,161,307 parameters; ``attention="bam"``: 1,163,002).

    ``groups=4`` gives the CARN paper's group convolutions.
    """
    if num_feats % groups:
        raise ModelError(f"num_feats ({num_feats}) must be divisible by groups ({groups})")
    return CARN(
        scale=scale,
        num_feats=num_feats,
        num_blocks=num_blocks,
        attention=attention,
        efficient=True,
        groups=groups,
        multi_scale=multi_scale,
    )
