"""Model complexity: parameters and multiply-adds, counted with forward hooks on a meta-free run.

Multiply-adds count convolutions and linear layers (weights × output elements), the convention of the
SR papers' "Multi-Adds"; element-wise products, activations, pooling and interpolation are left out.
"""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, *, input_size: tuple[int, int], channels: int = 3, meta: bool = True) -> int:
    """Multiply-adds of one forward pass on a 1×C×H×W input (H, W = ``input_size``).

    ``meta=True`` runs a copy of the model on PyTorch's meta device (shapes only).
    """
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        total += out.numel() * k

    def linear_hook(m: nn.Linear, _inp, out) -> None:
        nonlocal total
        total += out.numel() * m.in_features

    handles = []
    for mod in ([] if meta else model.modules()):
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        if meta:  # shapes only: no arithmetic, so any size is instant
            copy = _meta_copy(model)
            for mod in copy.modules():
                if isinstance(mod, nn.Conv2d):
                    handles.append(mod.register_forward_hook(conv_hook))
                elif isinstance(mod, nn.Linear):
                    handles.append(mod.register_forward_hook(linear_hook))
            copy(torch.zeros(1, channels, *input_size, device="meta"))
        else:
            model(torch.zeros(1, channels, *input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def _meta_copy(model: nn.Module) -> nn.Module:
    import copy

    clone = copy.deepcopy(model)
    return clone.to_empty(device="meta")
