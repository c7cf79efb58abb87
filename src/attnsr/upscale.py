"""Upscaling API: ``attnsr.upscale(image, scale=4)`` for PIL images, numpy arrays and tensors.

The default path is the fast one: the built-in A2N, bf16 autocast with channels_last on CPUs with
native bf16 (AMX/AVX512-BF16), fp16 on CUDA, tiles only when the image is too large to run whole
(A2N's attention dropout pools globally, so tiling changes its output slightly; whole-image runs keep
benchmark results unchanged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ._factory import load_model as _load
from .errors import AttnsrError, ModelError
from .precision import autocast, resolve_precision
from .tiling import tiled_forward

log = logging.getLogger(__name__)

DEFAULT_MODEL = "a2n"
# Whole-image inference up to this many LR pixels with --tile auto (about 1.2 GB of activations for A2N
# x4 in bf16); larger inputs are tiled.
AUTO_WHOLE_PIXELS = 1024 * 1024
AUTO_TILE = 256
OVERLAP = 16
SAMPLE_IMAGE = Path(__file__).parent / "assets" / "sample.png"


def sample_image() -> Path:
    """Path of the sample image shipped with the package."""
    return SAMPLE_IMAGE


def load_model(model: str | nn.Module | None = None, *, scale: int = 4, weights: str | Path | None = None) -> nn.Module:
    """A ready model: an ``nn.Module`` as given, a checkpoint, or a registered name with built-in weights."""
    if isinstance(model, nn.Module):
        return model
    if weights is not None:
        return _load(model, scale=scale, weights=weights)
    return _load(model or DEFAULT_MODEL, scale=scale, weights="builtin")


def make_runner(model: nn.Module, *, precision: str = "auto", device: str = "cpu") -> Callable[[Tensor], Tensor]:
    """LR tile (1×3×h×w, [0,1], CPU) → SR tile (float32, on ``device``)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AttnsrError("device cuda asked for, but CUDA is not available on this machine")
    dev = torch.device(device)
    precision = resolve_precision(precision, dev)
    model = model.eval().to(dev).to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(x: Tensor) -> Tensor:
        x = x.to(dev).contiguous(memory_format=torch.channels_last)
        with autocast(precision, dev):
            return model(x).float()

    return run


def upscale_tensor(
    lr: Tensor,
    run: Callable[[Tensor], Tensor],
    *,
    scale: int,
    tile: int | str = "auto",
    out_dtype: torch.dtype = torch.float32,
    on_tile: Callable[[], None] | None = None,
) -> Tensor:
    """SR of a 1×3×h×w float RGB [0,1] CPU tensor with a runner from :func:`make_runner` (or the
    onnxruntime runner). The result is on the CPU: ``out_dtype`` float32 gives [0,1] unclamped values,
    uint8 / int32 give 8- / 16-bit levels. ``tile``: LR tile side, 0 for the whole image, or "auto"
    (whole image up to AUTO_WHOLE_PIXELS, else tiles of AUTO_TILE)."""
    h, w = lr.shape[-2:]
    if tile == "auto":
        tile_px = 0 if h * w <= AUTO_WHOLE_PIXELS else AUTO_TILE
    else:
        tile_px = int(tile)
        if 0 < tile_px < 2 * 4 + 1:
            raise AttnsrError(f"tile {tile_px} is too small; use at least 16 (or 0 for the whole image)")
    if tile_px == 0 or (h <= tile_px and w <= tile_px):
        sr = run(lr).float().cpu()
        if on_tile:
            on_tile()
        if out_dtype == torch.uint8:
            return (sr.clamp(0, 1) * 255).round().to(torch.uint8)
        if out_dtype == torch.int32:
            return (sr.clamp(0, 1) * 65535).round().to(torch.int32)
        return sr
    return tiled_forward(
        run,
        lr,
        scale=scale,
        tile=tile_px,
        overlap=min(OVERLAP, (tile_px - 1) // 2),
        out_dtype=out_dtype,
        on_tile=on_tile,
    )


def upscale(
    image,
    *,
    scale: int = 4,
    model: str | nn.Module | None = None,
    weights: str | Path | None = None,
    tile: int | str = "auto",
    precision: str = "auto",
    device: str = "cpu",
):
    """Upscale ``image`` and return the same kind.

    ``image``: a PIL image (any mode; alpha upscaled separately with bicubic), a numpy array HxW or HxWxC
    (uint8 0–255, uint16 0–65535 or float 0–1), or a float tensor (3×H×W or N×3×H×W RGB in [0,1]).
    ``model``: a registered name or an ``nn.Module`` (default: the built-in A2N).
    """
    net = load_model(model, scale=scale, weights=weights)
    if isinstance(model, nn.Module) and getattr(net, "scale", scale) != scale:
        raise ModelError(f"the given model upscales x{net.scale}, not x{scale}")
    kwargs = dict(run=make_runner(net, precision=precision, device=device), scale=net.scale, tile=tile)
    if isinstance(image, Tensor):
        x = image[None] if image.dim() == 3 else image
        if x.dim() != 4 or x.shape[1] != 3:
            raise AttnsrError(f"expected a 3xHxW or Nx3xHxW RGB tensor, got shape {tuple(image.shape)}")
        out = torch.cat([upscale_tensor(x[i : i + 1].float().cpu(), **kwargs) for i in range(x.shape[0])])
        out = out.clamp(0, 1).to(image.device)
        return out[0] if image.dim() == 3 else out
    if isinstance(image, np.ndarray):
        return _upscale_array(image, net, **kwargs)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _upscale_pil(image, net, **kwargs)
    raise AttnsrError(f"cannot upscale a {type(image).__name__}; give a PIL image, numpy array or tensor")


def _upscale_array(arr: np.ndarray, net: nn.Module, **kwargs) -> np.ndarray:
    if arr.dtype == np.uint8:
        peak = 255.0
    elif arr.dtype == np.uint16:
        peak = 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        peak = 1.0
    else:
        raise AttnsrError(f"unsupported array dtype {arr.dtype}; use uint8, uint16 or float in [0,1]")
    a = arr.astype(np.float32) / peak
    gray = a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1)
    plane = a.reshape(a.shape[0], a.shape[1], -1)
    if plane.shape[2] not in (1, 3, 4):
        raise AttnsrError(f"expected HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
    rgb = np.repeat(plane, 3, axis=2) if plane.shape[2] == 1 else plane[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    sr = upscale_tensor(x, **kwargs).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    if plane.shape[2] == 4:
        alpha = _bicubic_plane(torch.from_numpy(np.ascontiguousarray(plane[..., 3])), sr.shape[0], sr.shape[1])
        sr = np.concatenate([sr, alpha.numpy()[..., None]], axis=2)
    if gray:
        sr = sr[..., :3].mean(axis=2)
        sr = sr if arr.ndim == 2 else sr[..., None]
    if peak == 1.0:
        return sr.astype(arr.dtype)
    return np.round(sr * peak).astype(arr.dtype)


def _bicubic_plane(plane: Tensor, height: int, width: int) -> Tensor:
    """Bicubic upscaling of one H×W float plane in [0,1] (used for alpha)."""
    import torch.nn.functional as F

    return F.interpolate(plane[None, None], size=(height, width), mode="bicubic", align_corners=False)[0, 0].clamp(0, 1)


def _upscale_pil(img, net: nn.Module, **kwargs):
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.uint16)
        out = _upscale_array(arr, net, **kwargs)
        return Image.fromarray(out)
    if mode in ("L", "RGB", "RGBA"):
        conv = img
    elif mode == "LA":
        conv = img.convert("RGBA")
    elif mode == "P":
        conv = img.convert("RGBA" if "transparency" in img.info else "RGB")
    else:
        conv = img.convert("RGB")
    out = _upscale_array(np.asarray(conv), net, **kwargs)
    result = Image.fromarray(out)
    if mode == "LA":
        result = result.convert("LA")
    return result
