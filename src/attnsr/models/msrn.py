"""MSRN — Multi-scale Residual Network for Image Super-Resolution.

Paper: J. Li, F. Fang, K. Mei, G. Zhang, ECCV 2018. Official code: github.com/MIVRC/MSRN-PyTorch
(``MSRN/Train/model/msrn.py``). BAM host version: github.com/dandingbudanding/BAM (``MSRN/msrn.py``).

Official layer names are kept (``sub_mean``, ``head.0``, ``body.i.{conv_3_1, conv_3_2, conv_5_1,
conv_5_2, confusion}``, ``tail.0`` (1×1 fusion of the 8 block outputs and the head output), ``tail.1``,
``tail.2`` upsampler, ``tail.3``, ``add_mean``) so official checkpoints load with ``strict=True``.

MSRN has no attention of its own (``attention="none"``). Any factory attention goes where the BAM code
puts BAM: in every MSRB after the 1×1 ``confusion`` conv, before the block residual, under the BAM
code's name ``attention`` (r = 16). Exact counts (64 ch, 8 MSRBs, frozen MeanShift counted):
5,930,331 / 6,114,971 / 6,078,043 at ×2/×3/×4; with BAM +4,520 (8 × 565).

Deviations: input and output are float RGB in [0, 1]; ``input_range`` (255: the official ``rgb_range``) scales inside.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.attention import attention_at, build_attention
from ..layers.blocks import MeanShift, Upsampler, check_scale
from ..registry import register_model


class MSRB(nn.Module):
    """Multi-scale residual block: parallel 3×3 and 5×5 paths, crossed once, fused by a 1×1 conv."""

    def __init__(self, num_feats: int, *, attention: str = "none") -> None:
        super().__init__()
        self.conv_3_1 = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        self.conv_3_2 = nn.Conv2d(num_feats * 2, num_feats * 2, 3, padding=1)
        self.conv_5_1 = nn.Conv2d(num_feats, num_feats, 5, padding=2)
        self.conv_5_2 = nn.Conv2d(num_feats * 2, num_feats * 2, 5, padding=2)
        self.confusion = nn.Conv2d(num_feats * 4, num_feats, 1)
        self.relu = nn.ReLU(inplace=True)
        self.attention = build_attention(attention, num_feats, reduction=16, host="msrn")

    def forward(self, x: Tensor) -> Tensor:
        y = torch.cat([self.relu(self.conv_3_1(x)), self.relu(self.conv_5_1(x))], dim=1)  # (N, 2C, H, W)
        y = torch.cat([self.relu(self.conv_3_2(y)), self.relu(self.conv_5_2(y))], dim=1)  # (N, 4C, H, W)
        return self.attention(self.confusion(y)) + x


class MSRN(nn.Module):
    """Multi-scale residual network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 64,
        num_blocks: int = 8,
        attention: str = "none",
        input_range: float = 255.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "msrn")
        self.scale = scale
        self.input_range = input_range
        self.sub_mean = MeanShift(input_range)
        self.head = nn.Sequential(nn.Conv2d(3, num_feats, 3, padding=1))
        self.body = nn.Sequential(*(MSRB(num_feats, attention=attention) for _ in range(num_blocks)))
        self.tail = nn.Sequential(
            nn.Conv2d(num_feats * (num_blocks + 1), num_feats, 1),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
            Upsampler(scale, num_feats),
            nn.Conv2d(num_feats, 3, 3, padding=1),
        )
        self.add_mean = MeanShift(input_range, sign=1)

    def trunk_blocks(self) -> list[str]:
        return [f"body.{i}" for i in range(len(self.body))]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention of every MSRB."""
        return attention_at(self, [f"{block}.attention" for block in self.trunk_blocks()])

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.input_range))
        outs = []
        fea = x
        for block in self.body:
            fea = block(fea)
            outs.append(fea)
        outs.append(x)  # the official order: the 8 block outputs, then the head output
        return self.add_mean(self.tail(torch.cat(outs, dim=1))) / self.input_range


@register_model(
    default_attention="none",
    paper="Li et al. Multi-scale Residual Network for Image Super-Resolution. ECCV 2018",
    test_options={"num_blocks": 2},
)
def msrn(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 8,
    attention: str = "none",
    input_range: float = 255.0,
) -> MSRN:
    """MSRN, 8 MSRBs × 64 (5,930,331 / 6,114,971 / 6,078,043 parameters at ×2/×3/×4;
    ``attention="bam"`` adds 4,520)."""
    return MSRN(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention, input_range=input_range)
