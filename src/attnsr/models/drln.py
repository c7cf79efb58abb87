"""DRLN — Densely Residual Laplacian Super-Resolution.

Paper: S. Anwar, N. Barnes, IEEE TPAMI 2020, arXiv:1906.12021.
Official code: github.com/saeed-anwar/DRLN (``TestCode/code/model/drln.py``, ``ops.py``).
BAM host version: github.com/dandingbudanding/BAM (``DRLN/drln.py``).

64 channels, 20 blocks ``b1..b20`` in cascades of 3, 3, 3, 3, 4, 4 blocks. Inside a cascade block k
reads the previous output ``o``, its output is concatenated with everything before it and fused by a
3×3 conv + ReLU ``c<k>``; a cascade ends with a residual from its input. Each block: three densely
concatenated residual units (64, 128, 256 ch), a 1×1 conv + ReLU ``g`` (512→64) and the Laplacian
attention ``ca``. The head output is added once more before the CARN-style upsampler
(``upsample.up.body``: 3×3 conv, ReLU, PixelShuffle per ×2 or one ×3 stage) and ``tail``.
Official layer names are kept (``sub_mean.shifter``, ``head``, ``b<k>.{r1,r2,r3,g,ca}``, ``c<k>``,
``upsample.up.body``, ``tail``, ``add_mean.shifter``), so official checkpoints load with ``strict=True``.

``attention`` replaces the Laplacian attention ``ca`` in every block (the BAM placement): ``"la"``
(DRLN's own, reduction 16), ``"bam"`` (r = 16), any other factory attention, or ``"none"``. Exact counts
(frozen MeanShift counted): 34,430,155 / 34,614,795 / 34,577,867 at ×2/×3/×4; with BAM 266,700 fewer.

Kept quirks of the official code (so official checkpoints reproduce):
- block 5 (second of the second cascade) reads the cascade input ``a1``, not ``o4``; the output of
  ``c4`` is therefore unused and ``c4`` never receives a gradient (its parameters are still counted);
- the MeanShift adds/subtracts the DIV2K mean in 0–1 units (0.4488, ...) although the official
  images are 0–255 (its ``rgb_range`` 255), so the shift is almost a no-op.

Deviations: input and output are float RGB in [0, 1]; ``input_range`` (255: the official ``rgb_range``) scales inside.
``num_blocks`` generalises the cascade layout: ``num_blocks // 3`` cascades of 3, the remainder added
one each to the last cascades (20 → 3, 3, 3, 3, 4, 4, the official layout).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import attention_at, build_attention
from ..layers.blocks import BasicBlock, NamedMeanShift, ResidualBlock, check_scale
from ..registry import register_model


class Block(nn.Module):
    """Dense residual units at C, 2C, 4C channels, a 1×1 fusion 8C→C, then the attention ``ca``."""

    def __init__(self, num_feats: int, *, attention: str = "la") -> None:
        super().__init__()
        self.r1 = ResidualBlock(num_feats)
        self.r2 = ResidualBlock(num_feats * 2)
        self.r3 = ResidualBlock(num_feats * 4)
        self.g = BasicBlock(num_feats * 8, num_feats, ksize=1, pad=0)
        self.ca = build_attention(attention, num_feats, reduction=16, host="drln")

    def forward(self, x: Tensor) -> Tensor:
        c1 = torch.cat([x, self.r1(x)], dim=1)  # (N, 2C, H, W)
        c2 = torch.cat([c1, self.r2(c1)], dim=1)  # (N, 4C, H, W)
        c3 = torch.cat([c2, self.r3(c2)], dim=1)  # (N, 8C, H, W)
        return self.ca(self.g(c3))


class UpsampleBlock(nn.Module):
    """CARN/DRLN single-scale upsampler; the stages live in ``up.body``."""

    def __init__(self, num_feats: int, scale: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for factor in (2, 2) if scale == 4 else (scale,):
            layers += [nn.Conv2d(num_feats, factor * factor * num_feats, 3, 1, 1), nn.ReLU(inplace=True)]
            layers += [nn.PixelShuffle(factor)]
        self.up = nn.Module()
        self.up.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.up.body(x)


def cascade_sizes(num_blocks: int) -> list[int]:
    """``num_blocks // 3`` cascades of 3, the remainder added one each to the last ones (20 → 3,3,3,3,4,4)."""
    if num_blocks < 3:
        raise ModelError(f"drln needs at least 3 blocks (one cascade), got num_blocks={num_blocks}")
    sizes = [3] * (num_blocks // 3)
    for i in range(num_blocks % 3):
        sizes[-1 - i] += 1
    return sizes


class DRLN(nn.Module):
    """Densely residual Laplacian network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 64,
        num_blocks: int = 20,
        attention: str = "la",
        input_range: float = 255.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "drln")
        self.scale = scale
        self.input_range = input_range
        self.cascades = cascade_sizes(num_blocks)
        self.sub_mean = NamedMeanShift(sub=True)
        self.add_mean = NamedMeanShift(sub=False)
        self.head = nn.Conv2d(3, num_feats, 3, 1, 1)
        for k in range(1, num_blocks + 1):
            setattr(self, f"b{k}", Block(num_feats, attention=attention))
        k = 1
        for size in self.cascades:
            for j in range(size):  # the j-th fusion of a cascade sees j + 2 maps of num_feats channels
                setattr(self, f"c{k}", BasicBlock(num_feats * (j + 2), num_feats))
                k += 1
        self.upsample = UpsampleBlock(num_feats, scale)
        self.tail = nn.Conv2d(num_feats, 3, 3, 1, 1)

    def trunk_blocks(self) -> list[str]:
        return [f"b{k}" for k in range(1, sum(self.cascades) + 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention ``ca`` of every block."""
        return attention_at(self, [f"{block}.ca" for block in self.trunk_blocks()])

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.input_range))
        a, o, k = x, x, 1
        for ci, size in enumerate(self.cascades):
            cat = o  # the first concatenation starts from the previous cascade's last fusion output
            for j in range(size):
                # Official quirk: block 5 (second of cascade 2) reads the cascade input.
                src = a if j == 0 or (ci == 1 and j == 1) else o
                cat = torch.cat([cat, getattr(self, f"b{k}")(src)], dim=1)
                o = getattr(self, f"c{k}")(cat)
                k += 1
            a = o + a
        out = self.tail(self.upsample(a + x))
        return self.add_mean(out) / self.input_range


@register_model(
    default_attention="la",
    paper="Anwar and Barnes. Densely Residual Laplacian Super-Resolution. IEEE TPAMI 2020, arXiv:1906.12021",
    test_options={"num_blocks": 3, "num_feats": 32},
)
def drln(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 20,
    attention: str = "la",
    input_range: float = 255.0,
) -> DRLN:
    """DRLN, 20 blocks × 64 (34,430,155 / 34,614,795 / 34,577,867 parameters at ×2/×3/×4;
    ``attention="bam"``: 266,700 fewer)."""
    return DRLN(scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention=attention, input_range=input_range)
