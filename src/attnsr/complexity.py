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
    for mod in [] if meta else model.modules():
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


def paper_input_size(name: str, scale: int) -> tuple[int, int]:
    """The input size at which each paper reports multiply-adds: A2N/PAN-family 1280x720 output;
    BAM hosts 240x360 input (BAM paper Table 2)."""
    if name.startswith("a2n"):
        return 720 // scale, 1280 // scale
    return 240, 360


@torch.no_grad()
def measure_fps(
    model: nn.Module,
    *,
    size: tuple[int, int],
    precision: str = "fp32",
    device: str = "cpu",
    repeats: int = 3,
    warmup: int = 1,
) -> float:
    """Frames per second (median of ``repeats`` timed forwards) on a 1×3×H×W input."""
    import statistics
    import time

    dev = torch.device(device)
    model = model.eval().to(dev).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, *size, device=dev).contiguous(memory_format=torch.channels_last)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def once() -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            model(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for _ in range(warmup):
        once()
    return 1.0 / statistics.median(once() for _ in range(repeats))
