"""Benchmark evaluation under named protocols (SPEC §3), each a :class:`Protocol` record in
:data:`PROTOCOLS` (how the LR is made, how the model is run, how the SR is scored):

- ``standard``: whole-image forward; LR = MATLAB bicubic of the mod-cropped HR; SR rounded to uint8;
  Y (BT.601) PSNR/SSIM with ``scale`` pixels cropped at the border.
- ``chop``: as standard, but the forward is EDSR's quadrant chop (shave 10 LR pixels, recursive above
  160,000 LR pixels per quadrant) — the setting of A2N's published numbers.
- ``bam-legacy``: the BAM paper's own numbers: PIL bicubic LR, Y constant 64.738, no rounding. For
  reproducing those numbers only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from .data.dihedral import dihedral
from .data.imresize import mod_crop
from .data.lr_cache import cached_lr
from .errors import DataError
from .io import list_images, load_rgb, to_levels, write_image
from .metrics import score_bam_legacy, score_standard
from .precision import autocast, resolve_precision

log = logging.getLogger(__name__)


@dataclass
class ImageResult:
    name: str
    psnr: float
    ssim: float


@dataclass
class DatasetResult:
    dataset: str
    scale: int
    protocol: str
    psnr: float
    ssim: float
    images: list[ImageResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def forward_chop(
    model: Callable[[Tensor], Tensor], x: Tensor, *, scale: int, shave: int = 10, min_size: int = 160_000
) -> Tensor:
    """EDSR's memory-saving forward: four overlapping quadrants, each run separately and stitched.

    Each quadrant is (h//2 + shave) × (w//2 + shave) LR pixels; one of ``min_size`` pixels or more is
    split again. Because A2N's ADM pools globally, this changes A2N's output (it is the setting of its
    published numbers).
    """
    _, _, h, w = x.shape
    h_half, w_half = h // 2, w // 2
    h_size, w_size = h_half + shave, w_half + shave
    patches = [
        x[..., 0:h_size, 0:w_size],
        x[..., 0:h_size, w - w_size : w],
        x[..., h - h_size : h, 0:w_size],
        x[..., h - h_size : h, w - w_size : w],
    ]
    if h_size * w_size < min_size:
        outs = [model(p) for p in patches]
    else:
        outs = [forward_chop(model, p, scale=scale, shave=shave, min_size=min_size) for p in patches]
    h, w, h_half, w_half, h_size, w_size = (v * scale for v in (h, w, h_half, w_half, h_size, w_size))
    out = x.new_empty(x.shape[0], outs[0].shape[1], h, w, dtype=outs[0].dtype)
    out[..., 0:h_half, 0:w_half] = outs[0][..., 0:h_half, 0:w_half]
    out[..., 0:h_half, w_half:w] = outs[1][..., 0:h_half, w_size - w + w_half : w_size]
    out[..., h_half:h, 0:w_half] = outs[2][..., h_size - h + h_half : h_size, 0:w_half]
    out[..., h_half:h, w_half:w] = outs[3][..., h_size - h + h_half : h_size, w_size - w + w_half : w_size]
    return out


def self_ensemble(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """×8 geometric self-ensemble: mean of the outputs over the 8 flips/transposes, undone."""
    outs = []
    for code in range(8):
        outs.append(dihedral(fn(dihedral(x, code, inverse=True)), code))
    return torch.stack(outs).mean(0)


def dataset_name(folder: Path) -> str:
    """``.../Set5/HR`` and ``.../Set5`` are both called Set5."""
    return folder.parent.name if folder.name.upper() == "HR" else folder.name


def hr_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise DataError(f"data folder {str(folder)!r} does not exist")
    return folder / "HR" if (folder / "HR").is_dir() else folder


def benchmark_files(folder: Path) -> tuple[Path, Path, list[Path]]:
    """``(root, hr_dir, files)`` of a benchmark folder (``DIR`` or ``DIR/HR``): ``root`` holds its
    ``LR_bicubic`` folder when it has one, ``files`` are its HR images sorted by name (DataError if none)."""
    hr_dir = hr_folder(folder)
    root = hr_dir.parent if hr_dir.name == "HR" else hr_dir
    files = list_images(hr_dir)
    if not files:
        raise DataError(f"data folder {str(hr_dir)!r} holds no images")
    return root, hr_dir, files


def pil_bicubic_lr(hr_path: Path, hr: Tensor, *, scale: int, root: Path, cache_dir: Path | None) -> Tensor:
    """LR of the BAM reference code: PIL bicubic of ``hr`` rounded to 8 bits (1×3×h×w, [0, 1]); the
    other arguments are those of every LR maker and unused."""
    arr = to_levels(hr[0]).permute(1, 2, 0).numpy()
    img = Image.fromarray(arr).resize((arr.shape[1] // scale, arr.shape[0] // scale), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


def official_or_matlab_lr(hr_path: Path, hr: Tensor, *, scale: int, root: Path, cache_dir: Path | None) -> Tensor:
    """LR for an HR image: the official ``root/LR_bicubic/X{s}/<stem>x{s}.png`` when present, else our
    MATLAB imresize of ``hr`` (cached in ``cache_dir``, the one LR cache of :mod:`attnsr.data.lr_cache`;
    None: not cached). 1×3×h×w float RGB in [0, 1]."""
    official = root / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png"
    if official.is_file():
        lr = load_rgb(official)
        want = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        if tuple(lr.shape[-2:]) != want:
            raise DataError(
                f"LR image '{official}' is {lr.shape[-1]}x{lr.shape[-2]}, but its HR image '{hr_path.name}' "
                f"needs {want[1]}x{want[0]} at x{scale}"
            )
        return lr
    return cached_lr(hr_path, hr, scale=scale, cache_dir=cache_dir)


def whole_image(fn: Callable[[Tensor], Tensor], x: Tensor, *, scale: int) -> Tensor:
    """The plain forward: ``fn`` on the whole LR image (``scale`` unused; every protocol forward takes it)."""
    return fn(x)


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol: how the LR is made from an HR file, how the model is run on it, how the
    SR is scored against the HR.

    ``make_lr(hr_path, hr, *, scale, root, cache_dir) -> lr``; ``forward(fn, lr, *, scale) -> sr`` runs
    the model function ``fn``; ``metric(sr, hr, *, scale) -> (psnr, ssim)``. Images are 1×3×H×W float
    RGB in [0, 1].
    """

    name: str
    make_lr: Callable[..., Tensor]
    forward: Callable[..., Tensor]
    metric: Callable[..., tuple[float, float]]


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("standard", make_lr=official_or_matlab_lr, forward=whole_image, metric=score_standard),
        Protocol("chop", make_lr=official_or_matlab_lr, forward=forward_chop, metric=score_standard),
        Protocol("bam-legacy", make_lr=pil_bicubic_lr, forward=whole_image, metric=score_bam_legacy),
    )
}


def get_protocol(name: str) -> Protocol:
    """The protocol record called ``name``; ValueError naming the valid ones otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def make_lr(hr_path: Path, hr: Tensor, *, scale: int, protocol: str, root: Path, cache_dir: Path | None) -> Tensor:
    """LR for an HR image as the named protocol makes it (see :class:`Protocol`)."""
    return get_protocol(protocol).make_lr(hr_path, hr, scale=scale, root=root, cache_dir=cache_dir)


def make_forward(
    model: nn.Module,
    *,
    scale: int,
    protocol: str = "standard",
    precision: str = "fp32",
    ensemble: bool = False,
    device: torch.device | str = "cpu",
) -> Callable[[Tensor], Tensor]:
    """A function LR (1×3×h×w, [0,1], CPU) → SR (1×3×H×W float32, CPU, unclamped) for a protocol."""
    device = torch.device(device)
    if precision == "int8":  # the OpenVINO model quantized by NNCF (attnsr.quantize), on the CPU
        from .backends import resolve_backend, resolve_backend_precision
        from .quantize import int8_runner

        resolve_backend_precision(resolve_backend("auto", device), "int8", device)  # one line where it cannot run
        single = int8_runner(model)
    else:
        single = torch_forward(model, precision=resolve_precision(precision, device), device=device)

    protocol_forward = get_protocol(protocol).forward

    def core(t: Tensor) -> Tensor:
        return protocol_forward(single, t, scale=scale)

    @torch.no_grad()
    def run(lr: Tensor) -> Tensor:
        x = lr.to(device)
        y = self_ensemble(core, x) if ensemble else core(x)
        return y.cpu()

    return run


def torch_forward(model: nn.Module, *, precision: str, device: torch.device) -> Callable[[Tensor], Tensor]:
    """``model`` in eval mode on ``device``, channels_last, autocast at the *resolved* ``precision``."""
    model.eval().to(device)
    # channels_last is faster for fp32 and needed for fast bf16 (AVX512-BF16 or AMX) on CPU;
    # results agree to float rounding.
    model.to(memory_format=torch.channels_last)

    def single(t: Tensor) -> Tensor:
        t = t.contiguous(memory_format=torch.channels_last)
        with autocast(precision, device):
            return model(t).float()

    return single


def sr_paths(folder: Path, save_dir: Path, *, scale: int) -> list[Path]:
    """Where :func:`evaluate_folder` saves the SR images of ``folder``'s HR images: ``save_dir/<dataset>/``."""
    hr_dir = hr_folder(folder)
    return [save_dir / dataset_name(hr_dir) / f"{path.stem}_x{scale}.png" for path in list_images(hr_dir)]


def evaluate_folder(
    forward: Callable[[Tensor], Tensor],
    folder: Path,
    *,
    scale: int,
    protocol: str = "standard",
    cache_dir: Path | None = None,
    save_dir: Path | None = None,
    overwrite: bool = True,
    on_image: Callable[[ImageResult], None] | None = None,
) -> DatasetResult:
    """Evaluate a forward function on one benchmark folder (``DIR`` or ``DIR/HR`` of HR images).

    With ``save_dir`` the SR images are written to :func:`sr_paths` (an existing one replaced only with
    ``overwrite``)."""
    proto = get_protocol(protocol)
    root, hr_dir, files = benchmark_files(folder)
    name = dataset_name(hr_dir)
    targets = sr_paths(folder, save_dir, scale=scale) if save_dir is not None else [None] * len(files)
    results = []
    for path, target in zip(files, targets):
        hr = mod_crop(load_rgb(path), scale)
        sr = forward(proto.make_lr(path, hr, scale=scale, root=root, cache_dir=cache_dir))
        if target is not None:
            write_image(target, sr.clamp(0, 1), overwrite=overwrite, parents=True)
        p, s = proto.metric(sr, hr, scale=scale)
        r = ImageResult(path.stem, p, s)
        results.append(r)
        if on_image:
            on_image(r)
    return DatasetResult(
        name,
        scale,
        protocol,
        float(np.mean([r.psnr for r in results])),
        float(np.mean([r.ssim for r in results])),
        results,
    )
