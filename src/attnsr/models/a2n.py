"""A2N — Attention in Attention Network for Image Super-Resolution.

Paper: H. Chen, J. Gu, Z. Zhang, arXiv:2104.09497 (2021). Official code: github.com/haoyuc/A2N.

Layer names are the official ones (``conv_first``, ``AAB_trunk.i``, ``ADM``, ``attention.k1..k4``,
``non_attention``, ``trunk_conv``, ``upconv1``, ``att1``, ``HRconv1``, ``conv_last``) so the official
checkpoints load with ``strict=True``.

Deviations from the official code: the model takes float RGB in [0, 1]; ``input_range`` (255 for the
official checkpoints) scales inside ``forward``. The paper's ablations are constructor options of the
one class rather than copies: ``fusion`` (adm / add / concat / static), ``non_attention``
(conv3 / conv1 / identity / none), ``attention`` (a2n / none / any factory attention for the Table 3
mixes), widths and depths.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import MaskTap, PixelAttention, attention_at, build_attention
from ..layers.blocks import check_scale
from ..registry import register_model

Fusion = Literal["adm", "add", "concat", "static"]
NonAttention = Literal["conv3", "conv1", "identity", "none"]


class AttentionBranch(nn.Module):
    """A2N's attention branch: ``k4(k3(x) * sigmoid(k2(lrelu(k1(x)))))``.

    With ``attention`` other than ``"a2n"`` the mask comes from a factory attention applied to
    ``k3(x)`` instead (A2N Table 3 mixes): ``k4(att(k3(x)))``.
    """

    def __init__(self, num_feats: int, *, attention: str = "a2n") -> None:
        super().__init__()
        self.kind = attention
        if attention == "a2n":
            self.k1 = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)
            self.lrelu = nn.LeakyReLU(0.2, inplace=True)
            self.k2 = nn.Conv2d(num_feats, num_feats, 1)
            self.tap = MaskTap()
        else:
            self.att = build_attention(attention, num_feats, reduction=4)
        self.k3 = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "a2n":
            mask = self.tap(torch.sigmoid(self.k2(self.lrelu(self.k1(x)))))
            return self.k4(self.k3(x) * mask)
        return self.k4(self.att(self.k3(x)))


class AAB(nn.Module):
    """Attention-in-attention block: two branches fused by the attention dropout module (ADM)."""

    def __init__(
        self,
        num_feats: int,
        *,
        fusion: Fusion = "adm",
        attention: str = "a2n",
        non_attention: NonAttention = "conv3",
        reduction: int = 4,
        temperature: float = 30.0,
    ) -> None:
        super().__init__()
        if attention == "none" and non_attention == "none":
            raise ModelError("an AAB needs at least one branch: attention and non_attention are both 'none'")
        two_branches = attention != "none" and non_attention != "none"
        self.fusion = fusion if two_branches else "single"
        self.temperature = temperature
        self.conv_first = nn.Conv2d(num_feats, num_feats, 1, bias=False)
        self.conv_last = nn.Conv2d(num_feats, num_feats, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        if self.fusion == "adm":
            self.ADM = nn.Sequential(
                nn.Linear(num_feats, num_feats // reduction, bias=False),
                nn.ReLU(inplace=True),
                nn.Linear(num_feats // reduction, 2, bias=False),
            )
            self.weight_tap = MaskTap()  # (N, 2) softmax weights (w_att, w_nonatt), for analysis hooks
        elif self.fusion == "static":
            self.static_weights = nn.Parameter(torch.zeros(2))
        elif self.fusion == "concat":
            self.fuse = nn.Conv2d(2 * num_feats, num_feats, 1, bias=False)
        if attention != "none":
            self.attention = AttentionBranch(num_feats, attention=attention)
        if non_attention == "conv3":
            self.non_attention = nn.Conv2d(num_feats, num_feats, 3, padding=1, bias=False)
        elif non_attention == "conv1":
            self.non_attention = nn.Conv2d(num_feats, num_feats, 1, bias=False)
        elif non_attention == "identity":
            self.non_attention = nn.Identity()
        elif non_attention != "none":
            raise ModelError(f"non_attention must be conv3, conv1, identity or none, not {non_attention!r}")

    def branch_weights(self, x: Tensor) -> Tensor:
        """(N, 2) weights (w_att, w_nonatt) of the ADM for the block's activated input ``x``."""
        y = self.ADM(x.mean(dim=(2, 3)))  # (N, C) -> (N, 2)
        return self.weight_tap(F.softmax(y / self.temperature, dim=1))

    def forward(self, input: Tensor) -> Tensor:
        x = self.lrelu(self.conv_first(input))
        if self.fusion == "single":
            y = self.attention(x) if hasattr(self, "attention") else self.non_attention(x)
        elif self.fusion == "adm":
            w = self.branch_weights(x)
            y = self.attention(x) * w[:, 0, None, None, None] + self.non_attention(x) * w[:, 1, None, None, None]
        elif self.fusion == "static":
            w = F.softmax(self.static_weights, dim=0)
            y = self.attention(x) * w[0] + self.non_attention(x) * w[1]
        elif self.fusion == "add":
            y = self.attention(x) + self.non_attention(x)
        elif self.fusion == "concat":
            y = self.fuse(torch.cat([self.attention(x), self.non_attention(x)], dim=1))
        else:
            raise ModelError(f"fusion must be adm, add, concat or static, not {self.fusion!r}")
        return self.conv_last(self.lrelu(y)) + input


class A2N(nn.Module):
    """Attention in Attention Network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 40,
        up_feats: int = 24,
        num_blocks: int = 16,
        fusion: Fusion = "adm",
        attention: str = "a2n",
        non_attention: NonAttention = "conv3",
        input_range: float = 1.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "A2N")
        if fusion not in ("adm", "add", "concat", "static"):
            raise ModelError(f"fusion must be adm, add, concat or static, not {fusion!r}")
        self.scale = scale
        self.input_range = input_range
        self.conv_first = nn.Conv2d(3, num_feats, 3, padding=1)
        self.AAB_trunk = nn.Sequential(
            *(
                AAB(num_feats, fusion=fusion, attention=attention, non_attention=non_attention)
                for _ in range(num_blocks)
            )
        )
        self.trunk_conv = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        self.upconv1 = nn.Conv2d(num_feats, up_feats, 3, padding=1)
        self.att1 = PixelAttention(up_feats)
        self.HRconv1 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
            self.att2 = PixelAttention(up_feats)
            self.HRconv2 = nn.Conv2d(up_feats, up_feats, 3, padding=1)
        self.conv_last = nn.Conv2d(up_feats, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def trunk_blocks(self) -> list[str]:
        return [f"AAB_trunk.{i}" for i in range(len(self.AAB_trunk))]

    def attention_taps(self) -> dict[str, nn.Module]:
        """Each AAB's attention branch (and the factory attention inside it, for the Table 3 mixes),
        then the upsampler's pixel attentions ``att1``/``att2``."""
        names = []
        for block in self.trunk_blocks():
            if hasattr(self.get_submodule(block), "attention"):
                names.append(f"{block}.attention")
                if hasattr(self.get_submodule(f"{block}.attention"), "att"):
                    names.append(f"{block}.attention.att")
        return attention_at(self, names + [a for a in ("att1", "att2") if hasattr(self, a)])

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.input_range
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.AAB_trunk(fea))
        fea = upsample_reconstruct(self, fea)
        out = self.conv_last(fea) + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out / self.input_range


def upsample_reconstruct(net: nn.Module, fea: Tensor) -> Tensor:
    """The A2N/PAN reconstruction: nearest ×s → upconv → PA → lrelu → HRconv → lrelu (twice at ×4)."""
    if net.scale in (2, 3):
        fea = net.upconv1(F.interpolate(fea, scale_factor=net.scale, mode="nearest"))
        fea = net.lrelu(net.att1(fea))
        return net.lrelu(net.HRconv1(fea))
    fea = net.upconv1(F.interpolate(fea, scale_factor=2, mode="nearest"))
    fea = net.lrelu(net.att1(fea))
    fea = net.lrelu(net.HRconv1(fea))
    fea = net.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest"))
    fea = net.lrelu(net.att2(fea))
    return net.lrelu(net.HRconv2(fea))


_A2N_PAPER = "Chen, Gu, Zhang. Attention in Attention Network for Image Super-Resolution. arXiv:2104.09497"


@register_model(default_attention="a2n", paper=_A2N_PAPER, test_options={"num_blocks": 2})
def a2n(
    *,
    scale: int = 4,
    num_feats: int = 40,
    num_blocks: int = 16,
    fusion: Fusion = "adm",
    attention: str = "a2n",
    non_attention: NonAttention = "conv3",
    input_range: float = 1.0,
) -> A2N:
    """A2N (1,036,443 parameters at ×2/×3; 1,047,459 at ×4). Sizes: S=40×16 (default), M=64×32,
    L=64×64; A2N-S: ``num_feats=32``."""
    return A2N(
        scale=scale,
        num_feats=num_feats,
        num_blocks=num_blocks,
        fusion=fusion,
        attention=attention,
        non_attention=non_attention,
        input_range=input_range,
    )


@register_model(default_attention="a2n", paper=_A2N_PAPER, test_options={"num_blocks": 2})
def a2n_m(
    *,
    scale: int = 4,
    num_feats: int = 40,
    num_blocks: int = 16,
    fusion: Fusion = "adm",
    input_range: float = 1.0,
) -> A2N:
    """A2N-M: the non-attention branch is a 1×1 conv (831,643 parameters at ×2/×3; 842,659 at ×4)."""
    return A2N(
        scale=scale,
        num_feats=num_feats,
        num_blocks=num_blocks,
        fusion=fusion,
        non_attention="conv1",
        input_range=input_range,
    )


# Named ablation variants of the paper (all are plain options of the one class).
A2N_VARIANTS: dict[str, dict] = {
    "attention-only": {"non_attention": "none"},
    "non-attention-only": {"attention": "none"},
    "addition": {"fusion": "add"},
    "concatenation": {"fusion": "concat"},
    "adaptive-weights": {"fusion": "static"},
    "a2n-s": {"num_feats": 32},
    "a2n-m": {"non_attention": "conv1"},
    "a2n": {},
    "no-op-non-attention": {"non_attention": "identity"},
    "size-m": {"num_feats": 64, "num_blocks": 32},
    "size-l": {"num_feats": 64, "num_blocks": 64},
    "channel+non-attention": {"attention": "ca", "fusion": "add"},
    "spatial+non-attention": {"attention": "sa", "fusion": "add"},
    "channel-spatial+non-attention": {"attention": "csa", "fusion": "add"},
    "channel+non-attention+adm": {"attention": "ca"},
    "spatial+non-attention+adm": {"attention": "sa"},
    "channel-spatial+non-attention+adm": {"attention": "csa"},
}
