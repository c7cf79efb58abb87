"""MATLAB-compatible bicubic ``imresize`` in PyTorch.

Reproduces MATLAB's ``imresize(img, 1/s, 'bicubic')`` (antialiased Keys cubic, a = -0.5, symmetric
boundary handling) bit-exactly after rounding to uint8, which is how the benchmark LR files of the SR
literature were made. Works on batches, on any device, for downscaling and upscaling.

Like MATLAB on uint8 input, each of the two separable passes is rounded to uint8 levels when
``quantize=True`` (the intermediate image in MATLAB keeps the input's class). The pass along the
dimension with the smaller scale factor runs first; on a tie the height (MATLAB dim 1) goes first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _cubic(x: Tensor) -> Tensor:
    """Keys cubic kernel with a = -0.5 (MATLAB's 'bicubic')."""
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((absx > 1) & (absx <= 2))
    return inner + outer


def _round_half_up(x: Tensor) -> Tensor:
    """MATLAB's round (half away from zero) for the non-negative values used here; torch.round is
    half-to-even, which differs on the exact .5 sums that dyadic bicubic weights produce."""
    return torch.floor(x + 0.5)


def resize_matrix(in_length: int, out_length: int, scale: float, *, antialias: bool = True) -> Tensor:
    """Dense (out_length × in_length) float64 matrix M with ``out = M @ in`` along one dimension.

    Follows MATLAB's ``contributions``: output pixel x (1-based) maps to u = x/scale + 0.5(1 - 1/scale);
    when downscaling with antialiasing the kernel is stretched by 1/scale; weights are normalised per
    output pixel; out-of-range taps are mirrored (symmetric padding).
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # (out, taps), 1-based
    distance = u[:, None] - indices
    if scale < 1 and antialias:
        weights = scale * _cubic(distance * scale)
    else:
        weights = _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Mirror 1-based indices into [1, in_length]: MATLAB's aux = [1:n, n:-1:1].
    aux = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    idx = aux[(indices.long() - 1) % (2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, idx, weights)
    return matrix


def _output_size(size: int, scale: float) -> int:
    return math.ceil(size * scale)


def imresize(
    img: Tensor,
    *,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
    quantize: bool = False,
) -> Tensor:
    """Resize like MATLAB ``imresize(..., 'bicubic')``.

    Args:
        img: float tensor, (C,H,W) or (N,C,H,W), any range (RGB in [0,1] by the project contract).
        scale: scale factor (e.g. 1/4 to downscale by 4); output size is ceil(size*scale).
        size: explicit (height, width) instead of ``scale``.
        antialias: stretch the kernel when downscaling (MATLAB default).
        quantize: emulate MATLAB on uint8 images: values are treated on the 0–255 grid and each pass is
            rounded and clipped to uint8 levels. Input must then be in [0, 1] and lie on the 1/255 grid.

    Returns:
        Tensor of the input's dtype and layout rank, (…, H', W').
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    squeeze = img.dim() == 3
    x = img.unsqueeze(0) if squeeze else img
    if x.dim() != 4:
        raise ValueError(f"expected a CHW or NCHW tensor, got shape {tuple(img.shape)}")
    in_h, in_w = x.shape[-2:]
    if size is not None:
        out_h, out_w = size
        scale_h, scale_w = out_h / in_h, out_w / in_w
    else:
        scale_h = scale_w = float(scale)
        out_h, out_w = _output_size(in_h, scale_h), _output_size(in_w, scale_w)
    dtype = x.dtype
    work = x.to(torch.float64)
    if quantize:
        work = _round_half_up(work * 255)
    # MATLAB resizes the dimension with the smaller scale first (height on a tie).
    order = ("h", "w") if scale_h <= scale_w else ("w", "h")
    for dim in order:
        if dim == "h":
            m = resize_matrix(in_h, out_h, scale_h, antialias=antialias).to(work.device)
            work = torch.einsum("oh,nchw->ncow", m, work)
        else:
            m = resize_matrix(in_w, out_w, scale_w, antialias=antialias).to(work.device)
            work = torch.einsum("ow,nchw->ncho", m, work)
        if quantize:
            work = _round_half_up(work).clamp_(0, 255)
    if quantize:
        work = work / 255
    out = work.to(dtype)
    return out.squeeze(0) if squeeze else out


def mod_crop(img: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so height and width are multiples of ``scale`` (…, H, W) → (…, H', W')."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_downsample(hr: Tensor, scale: int) -> Tensor:
    """The benchmark LR of an HR image: mod-crop, then MATLAB ``imresize(HR, 1/scale)`` on uint8 levels.

    ``hr``: float RGB in [0,1], (N,)C,H,W on the uint8 grid. Returns float in [0,1] on the uint8 grid.
    """
    return imresize(mod_crop(hr, scale), scale=1 / scale, quantize=True)
