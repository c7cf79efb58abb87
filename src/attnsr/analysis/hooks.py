"""Forward hooks on attention modules: capture what they see and produce, or switch them off.

The hooks use only what a model declares (:class:`~attnsr.layers.attention.DeclaresAttention`): its
*attention modules* (``attention_taps()``: every factory attention it was built with, A2N's attention
branch, PAN's PAConv …) and its *trunk blocks* (``trunk_blocks()``). Nothing is guessed from the model's
structure; a model that declares neither is refused with one line. Each attention module passes its
mask through a :class:`~attnsr.layers.attention.MaskTap` named ``tap``. For each one
:func:`capture_attention` records

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
import functools
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from ..errors import AttnsrError
from ..layers.attention import DeclaresAttention, MaskTap

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


def declared(model: nn.Module) -> DeclaresAttention:
    """``model`` if it declares its attention taps and trunk blocks; AttnsrError (one line) if not."""
    if not isinstance(model, DeclaresAttention):
        raise AttnsrError(
            f"{type(model).__name__} declares no attention taps and trunk blocks "
            "(attention_taps(), trunk_blocks()); the analysis tools hook only what a model declares"
        )
    return model


def attention_module_names(model: nn.Module) -> list[str]:
    """Names of the attention modules ``model`` declares (``attention_taps()``), in forward order."""
    return list(declared(model).attention_taps())


def adm_block_names(model: nn.Module) -> list[str]:
    """The declared trunk blocks whose branches are fused by an ADM (blocks with a ``weight_tap``)."""
    return [b for b in trunk_blocks(model) if _is_tap(model.get_submodule(b)._modules.get("weight_tap"))]


def _mask_tap_name(model: nn.Module, name: str) -> str | None:
    """The ``tap`` that carries ``name``'s mask: its own, else the shallowest ``tap`` inside it."""
    module = model.get_submodule(name)
    if _is_tap(module._modules.get("tap")):
        return f"{name}.tap"
    # The shallowest one: BAM's own tap fires, those of its ACAM/MSAM parts (called via .mask()) do not.
    taps = [sub for sub, m in module.named_modules() if sub and sub.rsplit(".", 1)[-1] == "tap" and _is_tap(m)]
    return f"{name}.{min(taps, key=lambda s: s.count('.'))}" if taps else None


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _taps_of(model: nn.Module, attention: Iterable[str]) -> list[str]:
    """Every ``tap`` MaskTap at or below each of the declared attention modules ``attention``."""
    taps: list[str] = []
    for name in attention:
        module = model.get_submodule(name)
        taps += [f"{name}.{sub}" for sub, m in module.named_modules() if sub.rsplit(".", 1)[-1] == "tap" and _is_tap(m)]
    return list(dict.fromkeys(taps))


def trunk_blocks(model: nn.Module) -> list[str]:
    """The names of the trunk blocks ``model`` declares, in order: block *i* (1-based) of the papers is
    ``trunk_blocks(model)[i - 1]`` (``AAB_trunk.0`` …, ``SCPA_trunk.0`` …, ``IMDB1`` …)."""
    return list(declared(model).trunk_blocks())


def parse_blocks(text: str, *, num_blocks: int, what: str = "block list") -> tuple[int, ...]:
    """A list of 1-based trunk block indices and ranges (``"1,3,5"``, ``"1-5"``, ``"1-5+8"``) → sorted indices,
    each in ``1..num_blocks``; anything else (empty, a reversed range, a word, a block out of range) is one
    AttnsrError naming ``what`` and the accepted form."""
    form = f"block numbers in 1..{num_blocks} like 1,3,5 or 1-5"
    blocks: list[int] = []
    parts = [p for p in re.split(r"[,+\s]+", text.strip()) if p]
    if not parts:
        raise AttnsrError(f"{what} {text!r} names no block; use {form}")
    for part in parts:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or int(m.group(2) or m.group(1)) < int(m.group(1)):
            raise AttnsrError(f"{what} {text!r}: {part!r} is not a block or an increasing range; use {form}")
        blocks += range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1)
    bad = sorted({b for b in blocks if not 1 <= b <= num_blocks})
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise AttnsrError(f"{what} {text!r}: block(s) {shown} outside 1..{num_blocks}")
    return tuple(sorted(set(blocks)))


def block_attention(model: nn.Module) -> dict[int, str]:
    """Block index (1-based) → the outermost declared attention module inside that trunk block.

    Blocks without attention (e.g. plain blocks of ``a2n_analysis``) are left out.
    """
    names = attention_module_names(model)
    out: dict[int, str] = {}
    for i, block in enumerate(trunk_blocks(model), start=1):
        inside = [n for n in names if _inside(n, block)]
        if inside:
            out[i] = min(inside, key=lambda n: n.count("."))
    return out


def _matches(name: str, include: Sequence[str] | Callable[[str], bool] | None) -> bool:
    if include is None:
        return True
    if callable(include):
        return bool(include(name))
    return any(name == p or fnmatch.fnmatchcase(name, p) for p in include)


def _stored_copy(t: Tensor, *, reduce: Reduce, store_device: torch.device | str) -> Tensor:
    """A detached float32 copy of ``t`` on ``store_device`` (its channel mean with ``"channel_mean"``)."""
    t = t.detach()
    if reduce == "channel_mean":
        t = t.float().mean(dim=1, keepdim=True)
    # copy: some models apply in-place activations to these tensors after the hook (PAN's SCPA).
    return t.to(device=store_device, dtype=torch.float32, copy=True)


def _shared_children(model: nn.Module, names: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Mask tap → the records it serves, and ``k3`` → the records whose feature it makes: several records
    may share one tap (a branch and the attention inside it)."""
    tap_users: dict[str, list[str]] = {}
    k3_users: dict[str, list[str]] = {}
    for name in names:
        tap = _mask_tap_name(model, name)
        if tap is not None:
            tap_users.setdefault(tap, []).append(name)
        if isinstance(model.get_submodule(name)._modules.get("k3"), nn.Module):
            k3_users.setdefault(f"{name}.k3", []).append(name)
    return tap_users, k3_users


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

    keep = functools.partial(_stored_copy, reduce=reduce, store_device=store_device)

    def record(name: str) -> AttentionRecord:
        if name not in cap.records:
            cap.records[name] = AttentionRecord(name=name, kind=type(model.get_submodule(name)).__name__)
        return cap.records[name]

    tap_users, k3_users = _shared_children(model, names)
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

    def users_hook(users: list[str], field: str):  # the child's output is the users' mask or feature
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            value = keep(output)
            for name in users:
                setattr(record(name), field, value)

        return hook

    def adm_hook(block: str):
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            cap.adm[block] = output.detach().to(device=store_device, dtype=torch.float32, copy=True)

        return hook

    try:
        for name in names:
            handles.append(model.get_submodule(name).register_forward_hook(module_hook(name)))
        for tap, users in tap_users.items():
            handles.append(model.get_submodule(tap).register_forward_hook(users_hook(users, "mask")))
        for k3, users in k3_users.items():
            handles.append(model.get_submodule(k3).register_forward_hook(users_hook(users, "feature")))
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
) -> Iterator[list[str]]:
    """Switch attention off by replacing masks with ones (a forward hook on each ``tap``).

    Give ``blocks`` (1-based declared trunk block indices: the declared attention inside those blocks)
    and/or ``names`` (declared attention modules). With neither, every declared attention is switched
    off. Yields the names of the hooked taps; the hooks are removed on exit. A selected block without
    attention hooks nothing (``a2n_analysis`` with attention only in some blocks).
    """
    declared_names = attention_module_names(model)
    chosen: list[str] = []
    if blocks is None and names is None:
        chosen = declared_names
    if blocks is not None:
        block_names = trunk_blocks(model)
        for i in blocks:
            if not 1 <= int(i) <= len(block_names):
                raise AttnsrError(f"block {i} outside 1..{len(block_names)}")
            chosen += [n for n in declared_names if _inside(n, block_names[int(i) - 1])]
    for n in names or ():
        if n not in declared_names:
            raise AttnsrError(
                f"{type(model).__name__} declares no attention {n!r}; declared: {', '.join(declared_names) or 'none'}"
            )
        chosen.append(n)
    taps = _taps_of(model, chosen)
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
