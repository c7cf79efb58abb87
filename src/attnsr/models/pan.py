"""PAN — Efficient Image Super-Resolution Using Pixel Attention.

Paper: H. Zhao, X. Kong, J. He, Y. Qiao, C. Dong, ECCV Workshops 2020, arXiv:2010.01073.
Official code: github.com/zhaohengyuan1/PAN.

Official layer names are kept (``conv_first``, ``SCPA_trunk.i.{conv1_a,conv1_b,k1.0,PAConv,conv3}``,
``trunk_conv``, ``upconv1``, ``att1``, ``HRconv1``, ``conv_last``). Input range 0–1 as the official code.
``attention`` chooses what sits in the upsampler at ``att1``/``att2``: the host's own pixel attention
(``"pa"``), ``"bam"`` (BAM(24, r=8), as the BAM paper), any other factory attention, or ``"none"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.attention import MaskTap, attention_at, build_attention
from ..layers.blocks import check_scale
from ..registry import register_model
from .a2n import upsample_reconstruct


class PAConv(nn.Module):
    """Pixel-attention convolution: ``k4(k3(x) * sigmoid(k2(x)))``."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(num_feats, num_feats, 1)
        self.k3 = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        return self.k4(self.k3(x) * self.tap(torch.sigmoid(self.k2(x))))


class SCPA(nn.Module):
    """Self-calibrated block with pixel attention: a plain 3×3 path and a PAConv path, 1×1 fused."""

    def __init__(self, num_feats: int, *, reduction: int = 2) -> None:
        super().__init__()
        width = num_feats // reduction
        self.conv1_a = nn.Conv2d(num_feats, width, 1, bias=False)
        self.conv1_b = nn.Conv2d(num_feats, width, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False))
        self.PAConv = PAConv(width)
        self.conv3 = nn.Conv2d(width * reduction, num_feats, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        a = self.lrelu(self.k1(self.lrelu(self.conv1_a(x))))
        b = self.lrelu(self.PAConv(self.lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(nn.Module):
    """Pixel Attention Network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 40,
        up_feats: int = 24,
        num_blocks: int = 16,
        attention: str = "pa",
    ) -> None:
        super().__init__()
        check_scale(scale, "PAN")
        self.scale = scale
        self.conv_first = nn.Conv2d(3, num_feats, 3, padding=1)
        self.SCPA_trunk = nn.Sequential(*(SCPA(num_feats) for _ in range(num_blocks)))
        self.trunk_conv = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        self.upconv1 = nn.Conv2d(num_feats, up_feats, 3, padding=1)
        self.att1 = build_attention(attention, up_feats, reduction=8, host="pan")
        self.HRconv1 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
            self.att2 = build_attention(attention, up_feats, reduction=8, host="pan")
            self.HRconv2 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
        self.conv_last = nn.Conv2d(up_feats, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def trunk_blocks(self) -> list[str]:
        return [f"SCPA_trunk.{i}" for i in range(len(self.SCPA_trunk))]

    def attention_taps(self) -> dict[str, nn.Module]:
        """Each SCPA's PAConv, then the upsampler attentions ``att1``/``att2``."""
        names = [f"{block}.PAConv" for block in self.trunk_blocks()]
        return attention_at(self, names + [a for a in ("att1", "att2") if hasattr(self, a)])

    def forward(self, x: Tensor) -> Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        fea = upsample_reconstruct(self, fea)
        return self.conv_last(fea) + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


@register_model(
    default_attention="pa",
    paper="Zhao et al. Efficient Image Super-Resolution Using Pixel Attention. ECCVW 2020, arXiv:2010.01073",
    test_options={"num_blocks": 2},
)
def pan(*, scale: int = 4, num_feats: int = 40, num_blocks: int = 16, attention: str = "pa") -> PAN:
    """PAN (261,403 parameters at ×2/×3; 272,419 at ×4); ``attention="bam"``: 260,999 / 271,611."""
    return PAN(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention)
