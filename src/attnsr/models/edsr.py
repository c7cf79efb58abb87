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

The EDSR-family pieces that RCAN, MSRN and s-LWSR reuse (their official code imports them from EDSR's
``common.py``) live in :mod:`attnsr.layers.blocks`: ``MeanShift``, ``ResBlock``, ``Upsampler``.

Deviations: the model takes float RGB in [0, 1] and returns the same range; ``input_range`` (255, the
official ``rgb_range``) scales inside ``forward``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..layers.attention import attention_at, build_attention
from ..layers.blocks import MeanShift, ResBlock, Upsampler, check_scale
from ..registry import register_model


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
        input_range: float = 255.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "edsr")
        self.scale = scale
        self.input_range = input_range
        self.sub_mean = MeanShift(input_range)
        self.add_mean = MeanShift(input_range, sign=1)
        self.head = nn.Sequential(nn.Conv2d(3, num_feats, 3, padding=1))
        self.body = nn.Sequential(
            *(ResBlock(num_feats, res_scale=res_scale) for _ in range(num_blocks)),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
        )
        self.attention = build_attention(attention, num_feats, reduction=16, host="edsr")
        self.tail = nn.Sequential(Upsampler(scale, num_feats), nn.Conv2d(num_feats, 3, 3, padding=1))

    def trunk_blocks(self) -> list[str]:
        """The residual blocks (the body's last module is its closing conv)."""
        return [f"body.{i}" for i in range(len(self.body) - 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The one attention on the body output (outside the trunk blocks)."""
        return attention_at(self, ["attention"])

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.input_range))
        res = self.attention(self.body(x)) + x
        return self.add_mean(self.tail(res)) / self.input_range


_PAPER = "Lim et al. Enhanced Deep Residual Networks for Single Image Super-Resolution. CVPRW 2017, arXiv:1707.02921"


@register_model(default_attention="none", paper=_PAPER, test_options={"num_blocks": 2})
def edsr_baseline(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 16,
    attention: str = "none",
    input_range: float = 255.0,
) -> EDSR:
    """EDSR-baseline, 16 blocks × 64 (1,369,883 / 1,554,523 / 1,517,595 parameters at ×2/×3/×4;
    ``attention="bam"`` adds 565)."""
    return EDSR(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention, input_range=input_range)


@register_model(default_attention="none", paper=_PAPER, test_options={"num_blocks": 2, "num_feats": 32})
def edsr(
    *,
    scale: int = 4,
    num_feats: int = 256,
    num_blocks: int = 32,
    attention: str = "none",
    input_range: float = 255.0,
) -> EDSR:
    """EDSR at the paper size, 32 blocks × 256, res_scale 0.1 (with BAM: 40,737,884 / 43,688,284 /
    43,098,204 parameters at ×2/×3/×4; without: 8,257 fewer)."""
    return EDSR(
        scale=scale,
        num_feats=num_feats,
        num_blocks=num_blocks,
        res_scale=0.1,
        attention=attention,
        input_range=input_range,
    )
