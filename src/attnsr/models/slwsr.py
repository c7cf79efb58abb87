"""s-LWSR — Super Lightweight Super-Resolution Network.

Paper: B. Li, J. Liu, B. Wang, Z. Qi, Y. Shi, IEEE TIP 2020, arXiv:1909.10774.
Official code: github.com/Sudo-Biao/s-LWSR (``Train/code/model/lwsr.py``, class ``LWSR``; the
s-LWSR32 configuration is ``n_feats=32``). BAM host version: github.com/dandingbudanding/BAM
(``s_LWSR/s_LWSR.py``).

A U-Net-like trunk of EDSR residual blocks: an encoder of five stages (``feat2_*`` .. ``feat6_*``;
each stage's input is the sum of the previous stage's first and last block outputs), a 1×1 conv
(``conv1``, no bias) fusing the head output and the encoder stage outputs, and a decoder of four
stages (``feat7_*`` .. ``feat10_*`` with ``conv7`` .. ``conv10``) that each start from the previous
decoder output concatenated with ``0.5·skip + 0.5·conv1`` (``ResBlock2``: 1×1 conv 2C→C, then a
residual block). Official layer names are kept, so official checkpoints load with ``strict=True``.

s-LWSR has no attention of its own (``attention="none"``). Any factory attention goes where the BAM
code puts its one BAM (r = 16): on the decoder output ``conv10``, before the global residual, under the
name ``attention``. Exact counts (32 ch, frozen MeanShift counted): 534,139 / 580,379 / 571,131 at
×2/×3/×4; with BAM +179.

Deviations: input and output are float RGB in [0, 1]; ``input_range`` (255: the official ``rgb_range``) scales inside.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.attention import attention_at, build_attention
from ..layers.blocks import MeanShift, ResBlock, Upsampler, check_scale
from ..registry import register_model

# Residual blocks per encoder stage (stages 2..6) and the decoder stages (7..10), as the official code.
_ENCODER = {2: 3, 3: 3, 4: 3, 5: 3, 6: 2}
_DECODER = (7, 8, 9, 10)


class ResBlock2(nn.Module):
    """1×1 conv 2C→C (with bias), then a residual block on its output."""

    def __init__(self, num_feats: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(num_feats * 2, num_feats, 1)
        self.body = ResBlock(num_feats).body

    def forward(self, x: Tensor) -> Tensor:
        ori = self.conv(x)
        return self.body(ori) + ori


class SLWSR(nn.Module):
    """s-LWSR. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self, *, scale: int = 4, num_feats: int = 32, attention: str = "none", input_range: float = 255.0
    ) -> None:
        super().__init__()
        check_scale(scale, "slwsr")
        self.scale = scale
        self.input_range = input_range
        self.sub_mean = MeanShift(input_range)
        self.head = nn.Sequential(nn.Conv2d(3, num_feats, 3, padding=1))
        for stage, n in _ENCODER.items():
            for i in range(1, n + 1):
                setattr(self, f"feat{stage}_{i}", ResBlock(num_feats))
        self.conv1 = nn.Conv2d(6 * num_feats, num_feats, 1, bias=False)
        for stage in _DECODER:
            setattr(self, f"feat{stage}_1", ResBlock2(num_feats))
            setattr(self, f"feat{stage}_2", ResBlock(num_feats))
            setattr(self, f"conv{stage}", ResBlock(num_feats))
        self.attention = build_attention(attention, num_feats, reduction=16, host="slwsr")
        self.tail = nn.Sequential(Upsampler(scale, num_feats), nn.Conv2d(num_feats, 3, 3, padding=1))
        self.add_mean = MeanShift(input_range, sign=1)

    def trunk_blocks(self) -> list[str]:
        """No trunk of blocks to index: the U-Net stages hold no attention."""
        return []

    def attention_taps(self) -> dict[str, nn.Module]:
        """The one attention on the decoder output."""
        return attention_at(self, ["attention"])

    def _stage(self, stage: int, x: Tensor) -> list[Tensor]:
        outs = []
        for i in range(1, _ENCODER[stage] + 1):
            x = getattr(self, f"feat{stage}_{i}")(x)
            outs.append(x)
        return outs

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.head(self.sub_mean(x * self.input_range))
        # Encoder: stage s+1 starts from (first + last) block output of stage s.
        stages = [self._stage(2, x1)]
        for s in (3, 4, 5, 6):
            prev = stages[-1]
            stages.append(self._stage(s, prev[0] + prev[-1]))
        fused = self.conv1(torch.cat([x1] + [st[0] for st in stages[1:]] + [stages[-1][-1]], dim=1))  # 6C → C
        # Decoder: skips from the last block of stages 5, 4, 3, 2, each averaged with the fused map.
        y = stages[-1][-1]
        for stage, skip in zip(_DECODER, (stages[3][-1], stages[2][-1], stages[1][-1], stages[0][-1])):
            y = getattr(self, f"feat{stage}_1")(torch.cat([y, 0.5 * skip + 0.5 * fused], dim=1))
            y = getattr(self, f"conv{stage}")(getattr(self, f"feat{stage}_2")(y))
        y = self.attention(y) + x1
        return self.add_mean(self.tail(y)) / self.input_range


@register_model(
    default_attention="none",
    paper="Li et al. s-LWSR: Super Lightweight Super-Resolution Network. IEEE TIP 2020, arXiv:1909.10774",
)
def slwsr32(*, scale: int = 4, num_feats: int = 32, attention: str = "none", input_range: float = 255.0) -> SLWSR:
    """s-LWSR32 (534,139 / 580,379 / 571,131 parameters at ×2/×3/×4; ``attention="bam"`` adds 179)."""
    return SLWSR(scale=scale, num_feats=num_feats, attention=attention, input_range=input_range)
