"""IMDN — Information Multi-Distillation Network.

Paper: Z. Hui, X. Gao, Y. Yang, X. Wang, "Lightweight Image Super-Resolution with Information
Multi-distillation Network", ACM MM 2019, arXiv:1909.11856. Official code: github.com/Zheng222/IMDN.
BAM host version: github.com/dandingbudanding/BAM (``IMDN.py``).

64 features, 6 information multi-distillation blocks (IMDB), each ending in contrast-aware channel
attention (CCA, r=16) on the 4 × 16 distilled channels before its 1×1 fusion conv. ``attention``
replaces the CCA in every IMDB: ``"bam"`` (BAM(64, r=16), the BAM placement), or the BAM paper's
Table 2 ablations ``"ca"``, ``"se"``, ``"cbam"``, ``"acam"``, ``"msam"``, or any other factory
attention, or ``"none"``. Counts: 694,404 / 703,059 / 715,176 (×2/×3/×4); BAM 694,314 / 702,969 /
715,086; at ×4 ACAM 714,792, MSAM 711,990, CBAM 715,356.

Official layer names are kept (``fea_conv``, ``IMDB1..IMDB6`` with ``c1..c5`` and ``cca.conv_du``,
``c.0``, ``LR_conv``, ``upsampler.0``) so official IMDN checkpoints load strictly. A replacement
attention is called ``attention`` (the name in the BAM code's ``IMDModule_blancedattention``).
Input and output: float RGB in [0, 1], NCHW — IMDN's own range (no mean shift).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import attention_at, build_attention
from ..layers.blocks import check_scale
from ..registry import register_model


def conv_layer(cin: int, cout: int, ksize: int) -> nn.Conv2d:
    """Same-padded conv with bias (IMDN's ``conv_layer``)."""
    return nn.Conv2d(cin, cout, ksize, padding=(ksize - 1) // 2)


class IMDModule(nn.Module):
    """Information multi-distillation block.

    Three 3×3 conv → LeakyReLU(0.05) steps each split off ``C/4`` distilled channels and pass the
    remaining ``3C/4`` on; a fourth conv yields the last ``C/4``. The four distilled parts are
    concatenated, re-weighted by the attention and fused by a 1×1 conv, plus the block input.
    """

    def __init__(self, in_channels: int, *, attention: str = "cca", distillation_rate: float = 0.25) -> None:
        super().__init__()
        self.distilled_channels = int(in_channels * distillation_rate)
        self.remaining_channels = in_channels - self.distilled_channels
        self.c1 = conv_layer(in_channels, in_channels, 3)
        self.c2 = conv_layer(self.remaining_channels, in_channels, 3)
        self.c3 = conv_layer(self.remaining_channels, in_channels, 3)
        self.c4 = conv_layer(self.remaining_channels, self.distilled_channels, 3)
        self.act = nn.LeakyReLU(0.05, inplace=True)
        self.c5 = conv_layer(self.distilled_channels * 4, in_channels, 1)
        # The host's own CCA keeps its official name; a replacement takes the BAM code's name.
        self.att_name = "cca" if attention.lower() == "cca" else "attention"
        self.add_module(self.att_name, build_attention(attention, self.distilled_channels * 4))

    def forward(self, input: Tensor) -> Tensor:
        split = (self.distilled_channels, self.remaining_channels)
        d1, r1 = torch.split(self.act(self.c1(input)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        d4 = self.c4(r3)
        out = torch.cat([d1, d2, d3, d4], dim=1)  # (N, 4·C/4, H, W)
        return self.c5(getattr(self, self.att_name)(out)) + input


class IMDN(nn.Module):
    """Information Multi-Distillation Network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(self, *, scale: int = 4, num_feats: int = 64, num_blocks: int = 6, attention: str = "cca") -> None:
        super().__init__()
        check_scale(scale, "IMDN")
        if num_blocks < 1 or num_feats < 4:
            raise ModelError(f"IMDN needs num_blocks >= 1 and num_feats >= 4, got {num_blocks} and {num_feats}")
        self.scale = scale
        self.num_blocks = num_blocks
        self.fea_conv = conv_layer(3, num_feats, 3)
        for i in range(1, num_blocks + 1):
            self.add_module(f"IMDB{i}", IMDModule(num_feats, attention=attention))
        self.c = nn.Sequential(nn.Conv2d(num_feats * num_blocks, num_feats, 1), nn.LeakyReLU(0.05, inplace=True))
        self.LR_conv = conv_layer(num_feats, num_feats, 3)
        self.upsampler = nn.Sequential(conv_layer(num_feats, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def trunk_blocks(self) -> list[str]:
        """The IMDBs (top-level ``IMDB1..IMDB<n>``; the 1×1 fusion ``c`` after them is no trunk)."""
        return [f"IMDB{i}" for i in range(1, self.num_blocks + 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention of every IMDB (``cca``, or ``attention`` for a replacement)."""
        return attention_at(self, [f"{b}.{self.get_submodule(b).att_name}" for b in self.trunk_blocks()])

    def forward(self, input: Tensor) -> Tensor:
        out_fea = self.fea_conv(input)
        outs = []
        x = out_fea
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"IMDB{i}")(x)
            outs.append(x)
        out_b = self.c(torch.cat(outs, dim=1))  # (N, num_blocks·C, H, W) -> (N, C, H, W)
        return self.upsampler(self.LR_conv(out_b) + out_fea)


@register_model(
    default_attention="cca",
    paper="Hui, Gao, Yang, Wang. Lightweight Image Super-Resolution with Information Multi-distillation "
    "Network. ACM MM 2019, arXiv:1909.11856",
    test_options={"num_blocks": 2},
)
def imdn(*, scale: int = 4, num_feats: int = 64, num_blocks: int = 6, attention: str = "cca") -> IMDN:
    """IMDN (694,404 / 703,059 / 715,176 parameters at ×2/×3/×4); ``attention="bam"``: 90 fewer."""
    return IMDN(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention)
