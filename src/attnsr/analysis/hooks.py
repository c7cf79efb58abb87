"""Forward hooks on attention modules: capture what they see and produce, or switch them off.

An *attention module* is any module with a :class:`~attnsr.layers.attention.MaskTap` child named
``tap`` (every factory attention, A2N's attention branch, PAN's PAConv), plus the ``attention`` branch of
every block that fuses branches through an ADM (a module with a ``weight_tap``: A2N's AAB), whatever
attention that branch holds. For each one :func:`capture_attention` records

- ``input``: the module's (first) input;
- ``mask``: the output of its ``tap`` (for a branch without its own tap: the shallowest ``tap`` inside);
- ``feature``: the tensor the mask multiplies — the output of the module's ``k3`` child where it has one
  (A2N's ``k4(k3(x) * mask)``, PAN's PAConv), otherwise the input (``x * mask``);
- ``output``: the module's output;
- ``branch_weights``: the (N, 2) softmax ADM weights (w_att, w_nonatt) of the enclosing block, if any.

Nothing in the model changes (STYLE §10): hooks are registered on entry and removed on exit.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import AttnsrError
from ..layers.attention import MaskTap

log = logging.getLogger(__name__)

Reduce = Literal["none", "channel_mean"]


@dataclass
class AttentionRecord:
    """What one attention module saw and produced in the last forward inside the context.

    Tensors are detached copies (float32, on ``store_device``), NCHW; with ``reduce="channel_mean"``
    each is its mean over channels, N×1×H×W (a channel mask gives N×1×1×1).
    """

    name: str
    kind: str
    input: Tensor | None = None
    mask: Tensor | None = None
    feature: Tensor | None = None
    output: Tensor | None = None
    branch_weights: Tensor | None = None  # (N, 2): (w_att, w_nonatt) of the enclosing ADM block
    calls: int = 0


@dataclass
class AttentionCapture:
    """Records by module name (in forward order) and ADM weights by block name."""

    records: dict[str, AttentionRecord] = field(default_factory=dict)
    adm: dict[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> AttentionRecord:
        try:
            return self.records[name]
        except KeyError:
            raise KeyError(f"no attention record {name!r}; captured: {', '.join(self.records) or 'none'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.records

    def names(self) -> list[str]:
        return list(self.records)

    def clear(self) -> None:
        self.records.clear()
        self.adm.clear()


def _is_tap(module: nn.Module | None) -> bool:
    return isinstance(module, MaskTap)


def attention_module_names(model: nn.Module) -> list[str]:
    """Names of every attention module of ``model`` (see the module docstring), in definition order."""
    names: list[str] = []
    for name, m in model.named_modules():
        if _is_tap(m._modules.get("tap")) and name not in names:
            names.append(name)
        if _is_tap(m._modules.get("weight_tap")) and m._modules.get("attention") is not None:
            branch = f"{name}.attention" if name else "attention"
            if branch not in names:
                names.append(branch)
    order = {n: i for i, (n, _) in enumerate(model.named_modules())}
    return sorted(names, key=order.__getitem__)


def adm_block_names(model: nn.Module) -> list[str]:
    """Names of the blocks whose branches are fused by an ADM (modules with a ``weight_tap``)."""
    return [name for name, m in model.named_modules() if _is_tap(m._modules.get("weight_tap"))]


def _mask_tap_name(model: nn.Module, name: str) -> str | None:
    """The ``tap`` that carries ``name``'s mask: its own, else the shallowest ``tap`` inside it."""
    module = model.get_submodule(name)
    if _is_tap(module._modules.get("tap")):
        return f"{name}.tap"
    # The shallowest one: BAM's own tap fires, those of its ACAM/MSAM parts (called via .mask()) do not.
    taps = [sub for sub, m in module.named_modules() if sub and sub.rsplit(".", 1)[-1] == "tap" and _is_tap(m)]
    return f"{name}.{min(taps, key=lambda s: s.count('.'))}" if taps else None


def _taps_under(model: nn.Module, name: str) -> list[str]:
    """Every ``tap`` MaskTap at or below module ``name`` ("" = the whole model)."""
    module = model.get_submodule(name) if name else model
    prefix = f"{name}." if name else ""
    return [
        f"{prefix}{sub}" for sub, m in module.named_modules() if sub and sub.rsplit(".", 1)[-1] == "tap" and _is_tap(m)
    ]


def trunk_blocks(model: nn.Module, *, trunk: str | None = None) -> tuple[str, list[str]]:
    """The model's trunk (its largest direct ``nn.Sequential`` child: ``AAB_trunk``, ``SCPA_trunk``,
    ``body``) and the names of its blocks, in order. Block *i* (1-based) of the papers is ``blocks[i-1]``."""
    if trunk is None:
        seqs = [(n, m) for n, m in model.named_children() if isinstance(m, nn.Sequential) and len(m) > 0]
        if not seqs:
            raise AttnsrError(f"{type(model).__name__} has no trunk (a Sequential of blocks) to index blocks in")
        trunk = max(seqs, key=lambda nm: len(nm[1]))[0]
    module = model.get_submodule(trunk)
    if not isinstance(module, nn.Sequential):
        raise AttnsrError(f"{trunk!r} is not a Sequential of blocks")
    return trunk, [f"{trunk}.{i}" for i in range(len(module))]


def block_attention(model: nn.Module, *, trunk: str | None = None) -> dict[int, str]:
    """Block index (1-based) → the outermost attention module inside that trunk block.

    Blocks without attention (e.g. plain blocks of ``a2n_analysis``) are left out.
    """
    _, blocks = trunk_blocks(model, trunk=trunk)
    names = attention_module_names(model)
    out: dict[int, str] = {}
    for i, block in enumerate(blocks, start=1):
        inside = [n for n in names if n == block or n.startswith(block + ".")]
        if inside:
            out[i] = min(inside, key=lambda n: n.count("."))
    return out


def _matches(name: str, include: Sequence[str] | Callable[[str], bool] | None) -> bool:
    if include is None:
        return True
    if callable(include):
        return bool(include(name))
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in include)


@contextmanager
def capture_attention(
    model: nn.Module,
    *,
    include: Sequence[str] | Callable[[str], bool] | None = None,
    reduce: Reduce = "none",
    store_device: torch.device | str = "cpu",
) -> Iterator[AttentionCapture]:
    """Record input, mask, multiplied feature and output of every attention module during forwards.

    Args:
        model: any model whose attention passes its masks through ``MaskTap``s (every registered model).
        include: module names or fnmatch patterns (or a predicate) to keep; None keeps every one.
        reduce: ``"channel_mean"`` stores channel means (N×1×H×W) — what the figures need, at 1/C memory.
        store_device: where the copies go.

    Yields an :class:`AttentionCapture`; a module that runs several times keeps its last call
    (``calls`` counts them). ADM weights are recorded for every ADM block. Hooks go on exit.
    """
    if reduce not in ("none", "channel_mean"):
        raise ValueError(f"reduce must be 'none' or 'channel_mean', not {reduce!r}")
    cap = AttentionCapture()
    names = [n for n in attention_module_names(model) if _matches(n, include)]
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def keep(t: Tensor) -> Tensor:
        t = t.detach()
        if reduce == "channel_mean":
            t = t.float().mean(dim=1, keepdim=True)
        # clone: some models apply in-place activations to these tensors after the hook (PAN's SCPA).
        return t.to(device=store_device, dtype=torch.float32, copy=True)

    def record(name: str) -> AttentionRecord:
        if name not in cap.records:
            cap.records[name] = AttentionRecord(name=name, kind=type(model.get_submodule(name)).__name__)
        return cap.records[name]

    # Several records may share one tap (a branch and the attention inside it), one k3, one parent block.
    tap_users: dict[str, list[str]] = {}
    k3_users: dict[str, list[str]] = {}
    for name in names:
        tap = _mask_tap_name(model, name)
        if tap is not None:
            tap_users.setdefault(tap, []).append(name)
        k3 = model.get_submodule(name)._modules.get("k3")
        if isinstance(k3, nn.Module):
            k3_users.setdefault(f"{name}.k3", []).append(name)
    parent_of = {name: name.rsplit(".", 1)[0] if "." in name else "" for name in names}

    def module_hook(name: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            r = record(name)
            r.calls += 1
            r.input = keep(args[0]) if args and isinstance(args[0], Tensor) else None
            r.output = keep(output) if isinstance(output, Tensor) else None
            if f"{name}.k3" not in k3_users:
                r.feature = r.input
            if parent_of[name] in cap.adm:
                r.branch_weights = cap.adm[parent_of[name]]

        return hook

    def tap_hook(users: list[str]):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            mask = keep(output)
            for name in users:
                record(name).mask = mask

        return hook

    def k3_hook(users: list[str]):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            feature = keep(output)
            for name in users:
                record(name).feature = feature

        return hook

    def adm_hook(block: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            cap.adm[block] = output.detach().to(device=store_device, dtype=torch.float32, copy=True)

        return hook

    try:
        for name in names:
            handles.append(model.get_submodule(name).register_forward_hook(module_hook(name)))
        for tap, users in tap_users.items():
            handles.append(model.get_submodule(tap).register_forward_hook(tap_hook(users)))
        for k3, users in k3_users.items():
            handles.append(model.get_submodule(k3).register_forward_hook(k3_hook(users)))
        for block in adm_block_names(model):
            handles.append(model.get_submodule(f"{block}.weight_tap").register_forward_hook(adm_hook(block)))
        log.debug("capturing %d attention modules of %s", len(names), type(model).__name__)
        yield cap
    finally:
        for h in handles:
            h.remove()
    for name, r in cap.records.items():
        if r.branch_weights is None and parent_of.get(name) in cap.adm:
            r.branch_weights = cap.adm[parent_of[name]]


def _ones(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
    return torch.ones_like(output)


@contextmanager
def disable_attention(
    model: nn.Module,
    *,
    blocks: Iterable[int] | None = None,
    names: Iterable[str] | None = None,
    trunk: str | None = None,
) -> Iterator[list[str]]:
    """Switch attention off by replacing masks with ones (a forward hook on each ``tap``).

    Give ``blocks`` (1-based trunk block indices: every ``tap`` inside those blocks) and/or ``names``
    (attention modules: every ``tap`` at or below each). With neither, every mask of the model is
    replaced. Yields the names of the hooked taps; the hooks are removed on exit. A selected block
    without attention hooks nothing (``a2n_analysis`` with attention only in some blocks).
    """
    taps: list[str] = []
    if blocks is None and names is None:
        taps = _taps_under(model, "")
    if blocks is not None:
        _, block_names = trunk_blocks(model, trunk=trunk)
        for i in blocks:
            if not 1 <= int(i) <= len(block_names):
                raise AttnsrError(f"block {i} outside 1..{len(block_names)}")
            taps += _taps_under(model, block_names[int(i) - 1])
    if names is not None:
        for n in names:
            try:
                model.get_submodule(n)
            except AttributeError:
                raise AttnsrError(f"{type(model).__name__} has no module {n!r}") from None
            taps += _taps_under(model, n)
    taps = list(dict.fromkeys(taps))
    handles = [model.get_submodule(t).register_forward_hook(_ones) for t in taps]
    log.debug("attention disabled at %d taps", len(taps))
    try:
        yield taps
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def eval_forward(model: nn.Module, x: Tensor) -> Tensor:
    """``model(x)`` in eval mode without autograd, restoring the model's training flag afterwards."""
    was_training = model.training
    model.eval()
    try:
        return model(x)
    finally:
        model.train(was_training)
