"""The 10-block attention-analysis network of A2N Sec. 3 (Table 2).

Paper: Chen, Gu, Zhang, arXiv:2104.09497, Sec. 3. The official code of this model is not public; it is
built from the paper's description: a plain residual network (shallow 3×3 conv, ``num_blocks``
residual blocks, a 3×3 trunk conv with long skip, pixel-shuffle upsampler) whose every block carries a
channel-and-spatial attention — one sigmoid weight per pixel and channel from a 3×3 → LeakyReLU → 1×1
path — applied to the block's residual. ``attention_blocks`` (1-based indices) says which blocks have
it; the others are plain residual blocks (Table 2: all, none, {1..5}, {6..10}, {2,4,6,8,10}).

Deviation: the paper's widths are not published; parameter counts therefore differ from its 9.2M /
4.4M / 6.8M (see docs/ablation_params.md). ``num_feats`` sets the width.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..errors import ModelError
from ..layers.attention import ChannelSpatialAttention, attention_at
from ..layers.blocks import check_scale
from ..registry import register_model


def table2_settings(num_blocks: int) -> dict[str, tuple[int, ...]]:
    """The five Table 2 settings for a trunk of ``num_blocks`` blocks (1-based indices with attention):
    all, none, front (first half), back (second half), interleaved (even blocks)."""
    half = num_blocks // 2
    return {
        "all": tuple(range(1, num_blocks + 1)),
        "none": (),
        "front": tuple(range(1, half + 1)),
        "back": tuple(range(half + 1, num_blocks + 1)),
        "interleaved": tuple(range(2, num_blocks + 1, 2)),
    }


TABLE2_SETTINGS = table2_settings(10)  # the paper's: {1..10}, {}, {1..5}, {6..10}, {2,4,6,8,10}


class ResidualAttentionBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3 → [attention] → + input."""

    def __init__(self, num_feats: int, *, with_attention: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        self.attention = ChannelSpatialAttention(num_feats) if with_attention else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.attention(self.conv2(self.relu(self.conv1(x))))


class AttentionAnalysisNet(nn.Module):
    """Input and output: float RGB in [0, 1], NCHW."""

    def __init__(
        self, *, scale: int = 4, num_feats: int = 64, num_blocks: int = 10, attention_blocks: Sequence[int]
    ) -> None:
        super().__init__()
        check_scale(scale, "a2n_analysis")
        bad = [i for i in attention_blocks if not 1 <= i <= num_blocks]
        if bad:
            raise ModelError(f"attention_blocks {bad} outside 1..{num_blocks}")
        self.scale = scale
        self.attention_blocks = tuple(sorted(set(attention_blocks)))
        self.conv_first = nn.Conv2d(3, num_feats, 3, padding=1)
        self.body = nn.Sequential(
            *(
                ResidualAttentionBlock(num_feats, with_attention=i + 1 in self.attention_blocks)
                for i in range(num_blocks)
            )
        )
        self.trunk_conv = nn.Conv2d(num_feats, num_feats, 3, padding=1)
        stages = [(2, 2)] if scale == 2 else [(3, 3)] if scale == 3 else [(2, 2), (2, 2)]
        up: list[nn.Module] = []
        for factor, _ in stages:
            up += [nn.Conv2d(num_feats, num_feats * factor * factor, 3, padding=1), nn.PixelShuffle(factor)]
        self.upsample = nn.Sequential(*up)
        self.conv_last = nn.Conv2d(num_feats, 3, 3, padding=1)

    def trunk_blocks(self) -> list[str]:
        return [f"body.{i}" for i in range(len(self.body))]

    def attention_taps(self) -> dict[str, nn.Module]:
        """The attention of the blocks in ``attention_blocks``."""
        return attention_at(self, [f"{block}.attention" for block in self.trunk_blocks()])

    def forward(self, x: Tensor) -> Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.body(fea))
        return self.conv_last(self.upsample(fea))


@register_model(
    default_attention="csa",
    paper="Chen, Gu, Zhang. arXiv:2104.09497, Sec. 3 (attention analysis network, Table 2)",
    test_options={"num_feats": 16},
)
def a2n_analysis(
    *,
    scale: int = 4,
    num_feats: int = 64,
    num_blocks: int = 10,
    attention_blocks: str | Sequence[int] = "all",
) -> AttentionAnalysisNet:
    """The Sec. 3 analysis model; ``attention_blocks`` is a Table 2 setting name or 1-based indices."""
    if isinstance(attention_blocks, str):
        if attention_blocks not in TABLE2_SETTINGS:
            raise ModelError(
                f"unknown attention_blocks setting {attention_blocks!r}; valid: {', '.join(TABLE2_SETTINGS)}"
            )
        attention_blocks = TABLE2_SETTINGS[attention_blocks]
    return AttentionAnalysisNet(
        scale=scale, num_feats=num_feats, num_blocks=num_blocks, attention_blocks=attention_blocks
    )
