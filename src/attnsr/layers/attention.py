"""Every attention module of the project, built by name through :func:`build_attention`.

Contract: ``module(channels, *, reduction=...)`` and a class attribute ``reduces`` (whether
``reduction`` sets a C→C/r bottleneck or is ignored); ``forward(x)`` returns a tensor of ``x``'s shape
(N, C, H, W). Each module passes its final mask through a :class:`MaskTap` (an identity module with no
parameters) so analysis hooks can read the mask without touching the model code.

Layer names follow the official code of each paper so host checkpoints load strictly.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..errors import ModelError


class MaskTap(nn.Identity):
    """Identity marking "this tensor is the attention mask" for forward hooks."""


@runtime_checkable
class DeclaresAttention(Protocol):
    """What a model declares for the analysis hooks (STYLE §10): nothing about its structure is guessed.

    - ``attention_taps()``: every attention module the model was built with, by qualified name, in
      forward order (empty when built with ``attention="none"`` and no attention of its own);
    - ``trunk_blocks()``: the qualified names of the trunk's blocks in order — block *i* (1-based) of
      the papers is ``trunk_blocks()[i - 1]``; a block's attention is the taps at or below its name.
    """

    def attention_taps(self) -> dict[str, nn.Module]: ...

    def trunk_blocks(self) -> list[str]: ...


def attention_at(model: nn.Module, names: Iterable[str]) -> dict[str, nn.Module]:
    """The modules of ``model`` at ``names`` that hold attention (``attention="none"`` builds an
    ``nn.Identity``, which is left out), in the order given — the body of a model's ``attention_taps``."""
    out: dict[str, nn.Module] = {}
    for name in names:
        module = model.get_submodule(name)
        if not isinstance(module, nn.Identity):
            out[name] = module
    return out


class PixelAttention(nn.Module):
    """PA — pixel attention, PAN (Zhao et al., ECCVW 2020, arXiv:2010.01073).

    ``x * sigmoid(conv1x1(x))``; one weight per pixel and channel. Official name: ``conv``.
    """

    reduces = False  # no channel reduction: ``reduction`` is accepted and ignored

    def __init__(self, channels: int, *, reduction: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(torch.sigmoid(self.conv(x)))


class ChannelAttention(nn.Module):
    """CA — channel attention of RCAN (Zhang et al., ECCV 2018, arXiv:1807.02758).

    Global average pool → 1×1 conv C→C/r → ReLU → 1×1 conv C/r→C → sigmoid (biases on).
    Official names: ``conv_du.0``, ``conv_du.2``.
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(torch.sigmoid(self.conv_du(self.descriptor(x))))

    def descriptor(self, x: Tensor) -> Tensor:
        """The per-channel statistic the bottleneck sees: the global average."""
        return x.mean(dim=(2, 3), keepdim=True)


class SqueezeExcitation(nn.Module):
    """SE — squeeze-and-excitation (Hu et al., CVPR 2018, arXiv:1709.01507).

    Global average pool → Linear C→C/r → ReLU → Linear C/r→C → sigmoid (biases on, as the paper).
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        w = self.fc(x.mean(dim=(2, 3))).view(n, c, 1, 1)
        return x * self.tap(torch.sigmoid(w))


class CBAM(nn.Module):
    """CBAM (Woo et al., ECCV 2018, arXiv:1807.06521): channel then spatial attention.

    Channel: shared MLP (1×1 convs, no bias) over avg- and max-pooled descriptors, summed, sigmoid.
    Spatial: [mean, max] over channels → 7×7 conv 2→1 (no bias) → sigmoid. As in the BAM paper's
    IMDN ablation (715,356 parameters at ×4), there is no batch norm.
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )
        self.spatial = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        ca = torch.sigmoid(self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True)))
        y = x * ca
        desc = torch.cat([y.mean(dim=1, keepdim=True), y.amax(dim=1, keepdim=True)], dim=1)
        sa = torch.sigmoid(self.spatial(desc))
        return x * self.tap(ca * sa)


class ContrastChannelAttention(ChannelAttention):
    """CCA — contrast-aware channel attention of IMDN (Hui et al., ACM MM 2019, arXiv:1909.11856).

    RCAN's channel attention with (per-channel standard deviation + mean) in place of the mean.
    Official names: ``conv_du.0``, ``conv_du.2``.
    """

    def descriptor(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        return (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt() + mean


class _ConvAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, *, dilation: int, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), act)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class LaplacianAttention(nn.Module):
    """LA — Laplacian attention of DRLN (Anwar & Barnes, TPAMI 2020, arXiv:1906.12021).

    Global average pool → three dilated 3×3 convs (d = 3, 5, 7; C→C/r, ReLU) concatenated → 3×3 conv
    3C/r→C → sigmoid. On a 1×1 pooled map the dilated 3×3 convs only see their centre tap, as in the
    official code. Official names: ``c1``..``c4`` (each ``.body.0``).
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.c1 = _ConvAct(channels, hidden, dilation=3, act=nn.ReLU(inplace=True))
        self.c2 = _ConvAct(channels, hidden, dilation=5, act=nn.ReLU(inplace=True))
        self.c3 = _ConvAct(channels, hidden, dilation=7, act=nn.ReLU(inplace=True))
        self.c4 = _ConvAct(hidden * 3, channels, dilation=1, act=nn.Sigmoid())
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        y = x.mean(dim=(2, 3), keepdim=True)
        y = torch.cat([self.c1(y), self.c2(y), self.c3(y)], dim=1)
        return x * self.tap(self.c4(y))


class ACAM(nn.Module):
    """ACAM — avgpool channel attention of BAM (Wang et al., arXiv:2104.07566).

    Global average pool → 1×1 conv C→C/r (no bias) → PReLU(C/r) → 1×1 conv C/r→C (no bias) → sigmoid.
    Parameters: 2·C·(C/r) + C/r.
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.conv1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.prelu = nn.PReLU(hidden)
        self.conv2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.tap = MaskTap()

    def mask(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.conv2(self.prelu(self.conv1(x.mean(dim=(2, 3), keepdim=True)))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(self.mask(x))


class MSAM(nn.Module):
    """MSAM — maxpool spatial attention of BAM: max over channels → 7×7 conv 1→1 (no bias) → sigmoid."""

    reduces = False  # no channel reduction: ``reduction`` is accepted and ignored

    def __init__(self, channels: int, *, reduction: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 7, padding=3, bias=False)
        self.tap = MaskTap()

    def mask(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.conv(x.amax(dim=1, keepdim=True)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(self.mask(x))


class BAM(nn.Module):
    """BAM — balanced attention (Wang et al., arXiv:2104.07566): ``F ⊙ (ACAM(F) ⊗ MSAM(F))``.

    The channel (C×1×1) and spatial (1×H×W) masks are computed in parallel from F and multiplied.
    Parameters: 2·C·(C/r) + C/r + 49.
    """

    reduces = True  # a C→C/r bottleneck: ``reduction`` sets r

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        self.acam = ACAM(channels, reduction=reduction)
        self.msam = MSAM(channels)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(self.acam.mask(x) * self.msam.mask(x))


class ChannelSpatialAttention(nn.Module):
    """A2N's channel-spatial attention (Chen et al., arXiv:2104.09497), as a stand-alone module.

    ``x * sigmoid(k2(lrelu(k1(x))))`` with k1 a 3×3 conv (no bias) and k2 a 1×1 conv: one weight per
    pixel and channel, computed from a 3×3 neighbourhood.
    """

    reduces = False  # no channel reduction: ``reduction`` is accepted and ignored

    def __init__(self, channels: int, *, reduction: int | None = None) -> None:
        super().__init__()
        self.k1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.k2 = nn.Conv2d(channels, channels, 1)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.tap(torch.sigmoid(self.k2(self.lrelu(self.k1(x)))))


class SpatialAttention(nn.Module):
    """Spatial-only attention (one weight per pixel, shared by channels), used by A2N's Table 3 mixes:
    [mean, max] over channels → 7×7 conv 2→1 → sigmoid (CBAM's spatial part)."""

    reduces = False  # no channel reduction: ``reduction`` is accepted and ignored

    def __init__(self, channels: int, *, reduction: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.tap = MaskTap()

    def forward(self, x: Tensor) -> Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.tap(torch.sigmoid(self.conv(desc)))


ATTENTIONS: dict[str, Callable[..., nn.Module]] = {
    "pa": PixelAttention,
    "ca": ChannelAttention,
    "se": SqueezeExcitation,
    "cbam": CBAM,
    "cca": ContrastChannelAttention,
    "la": LaplacianAttention,
    "acam": ACAM,
    "msam": MSAM,
    "bam": BAM,
    "csa": ChannelSpatialAttention,
    "sa": SpatialAttention,
}


def list_attentions() -> list[str]:
    """Names accepted by :func:`build_attention` (plus ``"none"``)."""
    return sorted(ATTENTIONS) + ["none"]


def _reduces(cls: type[nn.Module]) -> bool:
    """Whether attention class ``cls`` reduces channels (each class says so with ``reduces``)."""
    return cls.reduces


def build_attention(
    name: str | None, channels: int, *, reduction: int | None = None, host: str | None = None
) -> nn.Module:
    """Build attention ``name`` for ``channels`` channels; ``"none"``/None gives ``nn.Identity``.

    ``reduction`` overrides the module's default channel reduction where it has one (a class with
    ``reduces = False`` ignores it). ``host`` names the model in the one-line error that lists the
    attentions which fit ``channels`` at ``reduction``.
    """
    if name is None or name == "none":
        return nn.Identity()
    key = name.lower()
    if key not in ATTENTIONS:
        close = difflib.get_close_matches(key, ATTENTIONS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown attention {name!r}.{hint} Valid attentions: {', '.join(list_attentions())}")
    cls = ATTENTIONS[key]
    if channels < 1:
        raise ModelError(f"attention {name!r} needs at least one channel, got {channels}")
    if reduction is not None and channels // reduction < 1 and _reduces(cls):
        fit = [n for n, c in sorted(ATTENTIONS.items()) if not _reduces(c)] + ["none"]
        raise ModelError(
            f"{host or 'attention'} cannot use attention {name!r} with {channels} channels (reduction "
            f"{reduction}); valid attentions: {', '.join(fit)}"
        )
    return cls(channels) if reduction is None else cls(channels, reduction=reduction)
