"""RCAN — Image Super-Resolution Using Very Deep Residual Channel Attention Networks.

Paper: Y. Zhang, K. Li, K. Li, L. Wang, B. Zhong, Y. Fu, ECCV 2018, arXiv:1807.02758.
Official code: github.com/yulunzhang/RCAN (``RCAN_TrainCode/code/model/rcan.py``).
BAM host version: github.com/dandingbudanding/BAM (``RCAN_ORI/RCAN.py``).

Official layer names are kept (``sub_mean``, ``head.0``, ``body.g`` residual groups with
``body.g.body.b`` RCABs and ``body.g.body.N`` the group conv, ``body.G`` the trunk conv, ``tail.0``
upsampler, ``tail.1``, ``add_mean``); inside an RCAB the attention is ``body.3`` and RCAN's channel
attention keeps ``conv_du.0``/``conv_du.2``, so official checkpoints load with ``strict=True``.

``attention`` replaces the channel attention in every RCAB (the BAM placement): ``"ca"`` (RCAN's own,
reduction 16), ``"bam"`` (BAM, r = 16), any other factory attention, or ``"none"``. Exact counts
(10 groups × 20 RCABs, 64 ch, frozen MeanShift counted): 15,444,667 / 15,629,307 / 15,592,379 at
×2/×3/×4; with BAM 3,000 fewer.

Deviations: input and output are float RGB in [0, 1]; ``input_range`` (255: the official ``rgb_range``) scales inside.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..layers.attention import attention_at, build_attention
from ..layers.blocks import MeanShift, Upsampler, check_scale
from ..registry import register_model


class RCAB(nn.Module):
    """Residual channel attention block: ``x + att(conv(relu(conv(x))))``; att is ``body.3``."""

    def __init__(self, num_feats: int, *, attention: str = "ca", reduction: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
            build_attention(attention, num_feats, reduction=reduction, host="rcan"),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class ResidualGroup(nn.Module):
    """``num_blocks`` RCABs and a 3×3 conv, with a group-level residual."""

    def __init__(self, num_feats: int, *, num_blocks: int, attention: str, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *(RCAB(num_feats, attention=attention, reduction=reduction) for _ in range(num_blocks)),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class RCAN(nn.Module):
    """Residual channel attention network. Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self,
        *,
        scale: int = 4,
        num_feats: int = 64,
        num_groups: int = 10,
        num_blocks: int = 20,
        reduction: int = 16,
        attention: str = "ca",
        input_range: float = 255.0,
    ) -> None:
        super().__init__()
        check_scale(scale, "rcan")
        self.scale = scale
        self.input_range = input_range
        self.sub_mean = MeanShift(input_range)
        self.head = nn.Sequential(nn.Conv2d(3, num_feats, 3, padding=1))
        self.body = nn.Sequential(
            *(
                ResidualGroup(num_feats, num_blocks=num_blocks, attention=attention, reduction=reduction)
                for _ in range(num_groups)
            ),
            nn.Conv2d(num_feats, num_feats, 3, padding=1),
        )
        self.tail = nn.Sequential(Upsampler(scale, num_feats), nn.Conv2d(num_feats, 3, 3, padding=1))
        self.add_mean = MeanShift(input_range, sign=1)

    def trunk_blocks(self) -> list[str]:
        """The residual groups (the body's last module is the trunk conv)."""
        return [f"body.{g}" for g in range(len(self.body) - 1)]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention ``body.3`` of every RCAB of every group."""
        names = []
        for group in self.trunk_blocks():
            rcabs = len(self.get_submodule(f"{group}.body")) - 1  # the group's last module is its conv
            names += [f"{group}.body.{b}.body.3" for b in range(rcabs)]
        return attention_at(self, names)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.input_range))
        res = self.body(x) + x
        return self.add_mean(self.tail(res)) / self.input_range


@register_model(
    default_attention="ca",
    paper="Zhang et al. Image Super-Resolution Using Very Deep Residual Channel Attention Networks. "
    "ECCV 2018, arXiv:1807.02758",
    test_options={"num_groups": 2, "num_blocks": 2},
)
def rcan(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_groups: int = 10,
    num_blocks: int = 20,
    attention: str = "ca",
    input_range: float = 255.0,
) -> RCAN:
    """RCAN, 10 groups × 20 RCABs × 64 (15,444,667 / 15,629,307 / 15,592,379 parameters at ×2/×3/×4;
    ``attention="bam"``: 3,000 fewer)."""
    return RCAN(
        scale=scale,
        num_feats=num_feats,
        num_groups=num_groups,
        num_blocks=num_blocks,
        attention=attention,
        input_range=input_range,
    )
