"""AWSRN — Adaptive Weighted Super-Resolution Network.

Paper: C. Wang, Z. Li, J. Shi, "Lightweight Image Super-Resolution with Adaptive Weighted Learning
Network", arXiv:1904.02358 (2019). Official code: github.com/ChaofWang/AWSRN.
BAM host version: github.com/dandingbudanding/BAM (``AWSRN/awsrn.py``).

Configuration (AWSRN, the largest of the paper): 32 features, 4 local fusion blocks (LFB) of 4
adaptive weighted residual units (AWRU) widened to 128 channels inside, every conv weight-normalised,
learned scalar weights (``Scale``) on every residual and skip, and the adaptive weighted multi-scale
tail (AWMS: 3/5/7/9 convs → PixelShuffle, each with a learned weight) plus a 3×3 skip from the input.
Counts: 1,396,872 / 1,476,147 / 1,587,132 at ×2/×3/×4; ``attention="bam"`` adds BAM(32, r=8) = 309
between the body and the AWMS tail (the BAM placement). Other factory attentions go to the same place
with reduction 8.

Official layer names are kept (``head.0``, ``body.i.lfl.j.body.{0,2}``, ``body.i.reduction``,
``res_scale``/``x_scale``, ``tail.tail_k3..k9``, ``tail.scale_k3..k9``, ``skip.0``, ``attention``).
Deviations: weight norm uses ``torch.nn.utils.parametrizations.weight_norm`` (same g and v numbers;
state-dict keys ``…parametrizations.weight.original0/1`` — its load hook converts the official
``weight_g``/``weight_v`` keys). The model takes RGB in [0, 1] and applies the official AWSRN
normalisation ``(255·x − 255·mean) / 127.5`` inside (the BAM code's BAM variant comments it out; we keep
one normalisation for every variant).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ..layers.attention import attention_at, build_attention
from ..layers.blocks import DIV2K_MEAN, check_scale
from ..registry import register_model


def wn_conv(cin: int, cout: int, ksize: int) -> nn.Conv2d:
    """A weight-normalised ``ksize``×``ksize`` conv with same padding (g: ``cout`` numbers, v, bias)."""
    return weight_norm(nn.Conv2d(cin, cout, ksize, padding=ksize // 2))


class Scale(nn.Module):
    """A learned scalar weight: ``x * scale``."""

    def __init__(self, init_value: float = 1e-3) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([init_value]))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class AWRU(nn.Module):
    """Adaptive weighted residual unit: ``λ_res · conv(relu(conv(x))) + λ_x · x`` (wide activation)."""

    def __init__(self, num_feats: int, block_feats: int, *, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = Scale(res_scale)
        self.x_scale = Scale(1.0)
        self.body = nn.Sequential(
            wn_conv(num_feats, block_feats, 3), nn.ReLU(inplace=True), wn_conv(block_feats, num_feats, 3)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.res_scale(self.body(x)) + self.x_scale(x)


class LFB(nn.Module):
    """Local fusion block: ``num_awru`` AWRUs in a chain, outputs concatenated and fused by a 3×3 conv."""

    def __init__(self, num_feats: int, block_feats: int, *, num_awru: int = 4, res_scale: float = 1.0) -> None:
        super().__init__()
        self.lfl = nn.ModuleList(AWRU(num_feats, block_feats, res_scale=res_scale) for _ in range(num_awru))
        self.reduction = wn_conv(num_feats * num_awru, num_feats, 3)
        self.res_scale = Scale(res_scale)
        self.x_scale = Scale(1.0)

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        y = x
        for unit in self.lfl:
            y = unit(y)
            outs.append(y)
        res = self.reduction(torch.cat(outs, dim=1))  # (N, num_awru·C, H, W) -> (N, C, H, W)
        return self.res_scale(res) + self.x_scale(x)


class AWMS(nn.Module):
    """Adaptive weighted multi-scale reconstruction: Σ_k λ_k · PixelShuffle(conv_k×k(x)), k = 3, 5, 7, 9."""

    def __init__(self, num_feats: int, *, scale: int) -> None:
        super().__init__()
        out_feats = scale * scale * 3
        self.tail_k3 = wn_conv(num_feats, out_feats, 3)
        self.tail_k5 = wn_conv(num_feats, out_feats, 5)
        self.tail_k7 = wn_conv(num_feats, out_feats, 7)
        self.tail_k9 = wn_conv(num_feats, out_feats, 9)
        self.pixelshuffle = nn.PixelShuffle(scale)
        self.scale_k3 = Scale(0.25)
        self.scale_k5 = Scale(0.25)
        self.scale_k7 = Scale(0.25)
        self.scale_k9 = Scale(0.25)

    def forward(self, x: Tensor) -> Tensor:
        pairs = (
            (self.tail_k3, self.scale_k3),
            (self.tail_k5, self.scale_k5),
            (self.tail_k7, self.scale_k7),
            (self.tail_k9, self.scale_k9),
        )
        return sum(self.pixelshuffle(weight(conv(x))) for conv, weight in pairs)


class AWSRN(nn.Module):
    """Adaptive Weighted Super-Resolution Network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 32,
        block_feats: int = 128,
        num_blocks: int = 4,
        num_awru: int = 4,
        attention: str = "none",
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "AWSRN")
        self.scale = scale
        self.input_range = 255.0
        self.register_buffer("rgb_mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Sequential(wn_conv(3, num_feats, 3))
        self.body = nn.Sequential(
            *(LFB(num_feats, block_feats, num_awru=num_awru, res_scale=res_scale) for _ in range(num_blocks))
        )
        # BAM(32, r=8) in the BAM code; the same reduction for any other channel attention.
        self.attention = build_attention(attention, num_feats, reduction=8)
        self.tail = AWMS(num_feats, scale=scale)
        self.skip = nn.Sequential(wn_conv(3, scale * scale * 3, 3), nn.PixelShuffle(scale))

    def trunk_blocks(self) -> list[str]:
        """The local fusion blocks."""
        return [f"body.{i}" for i in range(len(self.body))]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The one attention between the body and the AWMS tail (outside the trunk blocks)."""
        return attention_at(self, ["attention"])

    def forward(self, x: Tensor) -> Tensor:
        # Official AWSRN works on 0–255 input: (x·255 − mean·255) / 127.5, and the inverse at the end.
        x = (x - self.rgb_mean) * (self.input_range / 127.5)
        s = self.skip(x)
        x = self.tail(self.attention(self.body(self.head(x))))
        return (x + s) * (127.5 / self.input_range) + self.rgb_mean


@register_model(
    default_attention="none",
    paper="Wang, Li, Shi. Lightweight Image Super-Resolution with Adaptive Weighted Learning Network. arXiv:1904.02358",
    test_options={"num_blocks": 1, "num_awru": 2},
)
def awsrn(
    *,
    scale: int = 4,
    num_feats: int = 32,
    num_blocks: int = 4,
    num_awru: int = 4,
    block_feats: int = 128,
    attention: str = "none",
) -> AWSRN:
    """AWSRN (1,396,872 / 1,476,147 / 1,587,132 parameters at ×2/×3/×4); ``attention="bam"``: +309.

    ``num_blocks`` counts LFBs and ``num_awru`` the AWRUs in each (4 and 4 in AWSRN).
    """
    return AWSRN(
        scale=scale,
        num_feats=num_feats,
        block_feats=block_feats,
        num_blocks=num_blocks,
        num_awru=num_awru,
        attention=attention,
    )
