"""The web page's work, without Gradio: what the page offers, and each of its actions as library calls.

Every number the page shows comes from the library — :class:`attnsr.Upscaler` for the upscale tab,
:mod:`attnsr.analysis.lam` and :mod:`attnsr.analysis.heatmaps` for the look-inside tab — called with the
settings of the matching command (``attnsr upscale``, ``attnsr analyze lam``, ``attnsr analyze heatmap
--hr``), so the page and the command line give the same pixels and the same DI.

Weights are chosen by name only: ``builtin``, ``official`` or the label of a checkpoint the server was
started with. A path sent to the page is refused, never opened.

Images in and out of the analysis are 1×3×H×W float RGB in [0, 1]; pictures for the page are uint8 RGB
PIL images or PNG files.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn

from .._factory import WEIGHT_SOURCES, load_model
from .._pretrained import RECORDS
from ..analysis.figures import require_matplotlib
from ..analysis.heatmaps import attention_heatmaps
from ..analysis.images import image_input
from ..analysis.lam import FAST_POINTS, LamResult, Window, local_attribution_map
from ..analysis.lam_crops import CROP_SIZE
from ..analysis.lam_figures import blend_image
from ..data.imresize import bicubic_downsample, imresize
from ..errors import AttnsrError
from ..io import check_image_file, check_min_size, read_image, to_levels, write_image
from ..tiling import tile_starts
from ..upscaler import AUTO_TILE, AUTO_WHOLE_PIXELS, OVERLAP, Upscaler, resize_plane, sample_image

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 4_000_000  # LR pixels of an upload; larger uploads get a message (the server's setting)
MIN_SIDE = 2  # the smallest image side the models take
PREVIEW_MAX_SIDE = 2048  # the before/after slider shows both images downscaled to this side; the PNG is full size
CACHED_MODELS = 4
WINDOW_SIZES = (8, 12, 16, 24, 32)  # LAM window sides the page offers (HR pixels)
DISPLAY_SIDE = 480  # the look-inside pictures are enlarged (nearest, a whole factor) to about this side


# ------------------------------------------------------------------------------------------ choices


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint the server was started with: its label on the page, its file, the model it rebuilds."""

    label: str
    path: Path
    model: str
    scale: int


def _checkpoint(path: Path, label: str) -> Checkpoint:
    arch = getattr(load_model(weights=path), "arch", {})  # a checkpoint that does not load stops the server
    return Checkpoint(label, path, arch.get("name", "?"), int(arch.get("scale", 0)))


class Catalog:
    """The models and weights a page offers, and the models loaded for it (a few kept, by settings).

    ``checkpoints``: files given when the server starts; each is loaded once here, so a bad one is an error
    at start, not on the page. Labels are the file names (the full path where two names clash).
    """

    def __init__(self, checkpoints: Sequence[str | Path] = ()) -> None:
        paths = [Path(p) for p in checkpoints]
        names = [p.name for p in paths]
        self.checkpoints = {
            c.label: c for c in (_checkpoint(p, p.name if names.count(p.name) == 1 else str(p)) for p in paths)
        }
        self.upscaler = functools.lru_cache(maxsize=CACHED_MODELS)(self._upscaler)
        self.module = functools.lru_cache(maxsize=CACHED_MODELS)(self._module)

    @property
    def weights_choices(self) -> list[str]:
        return [*WEIGHT_SOURCES, *self.checkpoints]

    @property
    def model_choices(self) -> list[str]:
        return sorted({r.arch for r in RECORDS} | {c.model for c in self.checkpoints.values()})

    def weights_spec(self, weights: str) -> str | Path:
        """``builtin``/``official``, or the path of the checkpoint labelled ``weights``; anything else is refused."""
        if weights in WEIGHT_SOURCES:
            return weights
        if weights in self.checkpoints:
            return self.checkpoints[weights].path
        offered = ", ".join(self.weights_choices)
        raise AttnsrError(f"weights {weights!r} are not offered by this page; choose one of: {offered}")

    def describe(self, model: str, scale: int, weights: str) -> str:
        """How ``attnsr`` commands name these weights: ``--model M --scale S`` [``--weights W``]."""
        spec = self.weights_spec(weights)
        if isinstance(spec, Path):
            return f"--weights {spec}"
        return f"--model {model} --scale {scale}" + ("" if spec == "builtin" else f" --weights {spec}")

    def _upscaler(self, model: str, scale: int, weights: str, backend: str, precision: str) -> Upscaler:
        """As ``attnsr upscale --model --scale --weights --backend --precision`` builds it."""
        return Upscaler(model, scale=scale, weights=self.weights_spec(weights), backend=backend, precision=precision)

    def _module(self, model: str, scale: int, weights: str) -> nn.Module:
        """As ``attnsr analyze`` loads it (the one loader), in eval mode."""
        return load_model(model, scale=scale, weights=self.weights_spec(weights)).eval()


# ------------------------------------------------------------------------------------------ upscale


@dataclass
class Upscaled:
    """One upscaled upload: the full-resolution PNG, the slider's two previews (same size), what ran."""

    png: Path
    bicubic_preview: Path
    sr_preview: Path
    seconds: float
    backend: str
    precision: str
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    preview_size: tuple[int, int]


def tile_count(upscaler: Upscaler, height: int, width: int) -> int:
    """How many tiles :meth:`Upscaler.upscale_tensor` runs for an h×w LR image (its ``on_tile`` calls):
    :func:`attnsr.upscaler.upscale_tensor`'s rule (tested against the calls)."""
    tile = upscaler.tile
    if tile == "auto":
        tile = 0 if height * width <= AUTO_WHOLE_PIXELS else AUTO_TILE
    if tile == 0 or (height <= tile and width <= tile):
        return 1
    overlap = min(OVERLAP, (tile - 1) // 2)
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def _picture(levels: Tensor, bits: int) -> Image.Image:
    """1×3×H×W levels (uint8, or int32 0–65535) → an 8-bit RGB PIL image."""
    rgb = levels[0].permute(1, 2, 0)
    if bits == 16:
        rgb = (rgb.to(torch.float32) / 257).round()
    return Image.fromarray(rgb.to(torch.uint8).numpy())


def _preview(img: Image.Image, path: Path) -> Path:
    if max(img.size) > PREVIEW_MAX_SIDE:
        img = img.copy()
        img.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS)
    img.save(path)
    return path


def upscale_upload(
    path: Path,
    *,
    upscaler: Upscaler,
    out_dir: Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_tile: Callable[[int, int], None] | None = None,
) -> Upscaled:
    """Upscale the image file ``path`` as ``attnsr upscale`` does (levels out of the same runner, alpha by
    bicubic, 16-bit kept) into ``out_dir/<stem>_x<scale>.png``, and make the slider's previews: MATLAB
    bicubic and the model, the same size. ``on_tile(done, total)`` after each tile."""
    rgb, alpha, info = read_image(path, max_pixels=max_pixels)
    check_min_size(info, MIN_SIDE)
    bits = 16 if info.bit_depth == 16 else 8
    total, done = tile_count(upscaler, *rgb.shape[-2:]), [0]

    def tile_done() -> None:
        done[0] += 1
        if on_tile:
            on_tile(done[0], total)

    start = time.perf_counter()
    sr = upscaler.upscale_tensor(rgb, out_dtype=torch.int32 if bits == 16 else torch.uint8, on_tile=tile_done)
    seconds = time.perf_counter() - start
    alpha_sr = None if alpha is None else resize_plane(alpha[0, 0], sr.shape[-2], sr.shape[-1])[None, None]
    out_dir.mkdir(parents=True, exist_ok=True)
    png = write_image(out_dir / f"{path.stem}_x{upscaler.scale}.png", sr, alpha=alpha_sr, info=info, overwrite=True)
    sr_img = _picture(sr, bits)
    bicubic = Image.fromarray(to_levels(imresize(rgb, scale=upscaler.scale)[0]).permute(1, 2, 0).numpy())
    before = _preview(bicubic, out_dir / "bicubic_preview.png")
    after = _preview(sr_img, out_dir / "sr_preview.png")
    return Upscaled(
        png=png,
        bicubic_preview=before,
        sr_preview=after,
        seconds=seconds,
        backend=upscaler.backend,
        precision=upscaler.precision,
        input_size=info.size,
        output_size=(sr.shape[-1], sr.shape[-2]),
        preview_size=Image.open(after).size,
    )


# ------------------------------------------------------------------------------------- look inside


def hr_image(path: Path | None, *, scale: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> Tensor:
    """The look-inside tab's image — the upload, or (``path`` None) the sample shipped with attnsr — as
    ``attnsr analyze lam --image`` reads it: HR, mod-cropped to ``scale`` (1×3×H×W float RGB in [0, 1])."""
    p = Path(path) if path is not None else sample_image()
    check_image_file(p, max_pixels=max_pixels)
    return image_input(p, scale=scale, is_hr=True)[0]


def lam_box(height: int, width: int, x: int, y: int, *, scale: int, crop: int = CROP_SIZE) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of the HR region LAM runs on for a click at ``(x, y)``: the whole image up to
    ``crop`` pixels a side (the LAM crop set's 256), else the ``crop``-sided box around the click, on the
    ``scale`` grid and inside the image. ``height``/``width`` are multiples of ``scale``."""
    side = crop - crop % scale
    h, w = min(side, height), min(side, width)
    top = min(max(0, (y - h // 2) // scale * scale), height - h)
    left = min(max(0, (x - w // 2) // scale * scale), width - w)
    return top, left, h, w


def centred_window(x: int, y: int, *, size: int, height: int, width: int) -> Window:
    """The ``size``² window centred on ``(x, y)`` of an ``height``×``width`` SR output, moved inside it (with
    its +1 neighbours); raises :class:`AttnsrError` when it cannot fit."""
    row = min(max(0, y - size // 2), height - size - 1)
    col = min(max(0, x - size // 2), width - size - 1)
    window = Window(max(row, 0), max(col, 0), size, size)
    window.check(height, width)
    return window


@dataclass
class Click:
    """LAM at one click: the HR region it ran on (``box`` = top, left, h, w of the image), its window (in the
    region), the LR input and the result."""

    box: tuple[int, int, int, int]
    full_size: tuple[int, int]
    window: Window
    hr: Tensor
    lr: Tensor
    result: LamResult


def lam_click(
    model: nn.Module, hr: Tensor, x: int, y: int, *, scale: int, size: int, points: int | None = FAST_POINTS
) -> Click:
    """LAM of ``model`` for the ``size``² window centred on HR pixel ``(x, y)`` of ``hr`` (1×3×H×W, mod-cropped),
    with ``attnsr analyze lam``'s settings (its default ``points`` included): its LR is the MATLAB-bicubic
    downscale of the region of :func:`lam_box` (the whole image up to 256² pixels: then the command on the same
    file agrees)."""
    height, width = hr.shape[-2:]
    x, y = min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)
    top, left, h, w = lam_box(height, width, x, y, scale=scale)
    region = hr[..., top : top + h, left : left + w].contiguous()
    window = centred_window(x - left, y - top, size=size, height=h, width=w)
    lr = bicubic_downsample(region, scale)
    result = local_attribution_map(model, lr, window, points=points)
    log.info("LAM at (%d, %d): DI %.4f in %.2fs", x, y, result.di, result.seconds)
    return Click((top, left, h, w), (height, width), window, region, lr, result)


def write_region(click: Click, path: Path) -> Path:
    """The HR region LAM ran on, as a PNG (``attnsr analyze lam --image`` of it gives the same DI)."""
    return write_image(path, click.hr, overwrite=True)


def picture(img: Tensor) -> Image.Image:
    """1×3×H×W float RGB in [0, 1] → 8-bit RGB PIL image."""
    return Image.fromarray(to_levels(img[0].detach().float().cpu()).permute(1, 2, 0).numpy())


def display_factor(height: int, width: int) -> int:
    """The whole factor the look-inside tab enlarges an image of this size by, so small images can be clicked
    pixel by pixel (Gradio maps a click to the shown picture's pixels; the page divides by this factor)."""
    return max(1, DISPLAY_SIDE // max(height, width))


def enlarged(img: Image.Image, factor: int) -> Image.Image:
    return img if factor == 1 else img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)


def with_box(img: Image.Image, box: tuple[int, int, int, int], *, colour: str = "red") -> Image.Image:
    """A copy of ``img`` with the outline of ``box`` = (top, left, h, w) drawn just outside it."""
    out = img.convert("RGB")
    top, left, h, w = box
    ImageDraw.Draw(out).rectangle((left - 1, top - 1, left + w, top + h), outline=colour)
    return out


def click_pictures(click: Click, hr_full: Tensor, *, scale: int) -> tuple[Image.Image, Image.Image]:
    """The clicked image with the region (yellow) and window (red) outlined, and the LAM map blended over the
    bicubic-upscaled LR of the region with the window outlined (the official LAM colouring)."""
    top, left, h, w = click.box
    clicked = picture(hr_full)
    if (h, w) != tuple(hr_full.shape[-2:]):
        clicked = with_box(clicked, click.box, colour="yellow")
    win = click.window
    clicked = with_box(clicked, (top + win.row, left + win.col, win.height, win.width))
    blend = Image.fromarray(blend_image(click.result.map, click.lr, scale=scale))
    return clicked, with_box(blend, (win.row, win.col, win.height, win.width))


def heat_pictures(model: nn.Module, hr: Tensor, *, scale: int) -> list[tuple[Image.Image, str]]:
    """Per trunk block with attention: its channel-mean mask for the image's LR (``attnsr analyze heatmap
    --hr``), coloured with ``jet`` over its own range, ×``scale`` nearest; with a caption."""
    jet = require_matplotlib().colormaps["jet"]
    out = []
    with torch.no_grad():
        maps = attention_heatmaps(model, bicubic_downsample(hr, scale))
    for m in maps:
        lo, hi = float(m.mask.min()), float(m.mask.max())
        norm = (m.mask - lo) / (hi - lo) if hi > lo else np.zeros_like(m.mask)
        rgb = (255 * jet(norm)[..., :3]).astype(np.uint8)
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
        out.append((Image.fromarray(rgb), f"block {m.block} ({lo:.2f}…{hi:.2f})"))
    return out
