"""Upscaling API: ``attnsr.upscale(image, scale=4)`` and ``attnsr.Upscaler`` for many images.

An :class:`Upscaler` loads its model and prepares its backend (export, compile) once and is then called on
any number of images; :func:`upscale` keeps a few of them cached by their arguments, so repeated calls cost
one forward each. The default path is the fast one: the built-in A2N on the backend ``auto`` picks
(:mod:`attnsr.backends`: OpenVINO on the CPU when installed), bf16 only where the CPU computes it natively
and the weights' record says it is harmless, int8 only where the record says so, an int8 model ships with the
weights and it is measured faster on this CPU (:func:`auto_int8`), tiles only when the image is too large to
run whole (A2N's attention dropout pools globally, so tiling changes its output slightly; whole-image runs
keep benchmark results unchanged).

An :class:`Upscaler` and :func:`upscale` may be called from several threads at once, on every backend; each
call's result is the one a single thread would get (the runners of :mod:`attnsr.backends` are thread-safe,
and :func:`upscale`'s cache builds each Upscaler once, under a lock).

Images come back as the kind and type they came in: PIL in → PIL out (same mode), numpy → numpy (same
dtype), tensor → tensor (same dtype and device). Integer data is read as levels (uint8 0–255, uint16
0–65535); float data must hold values in [0, 1] — 0–255 floats are refused rather than returned white.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ._factory import is_weights_path, load_model
from .backends import Runner, build_runner, file_runner, model_digest, resolve_backend, resolve_backend_precision
from .errors import AttnsrError, CheckpointError, ModelError
from .io import LEVEL_BITS, to_levels
from .tiling import tiled_forward

log = logging.getLogger(__name__)

DEFAULT_MODEL = "a2n"
# Whole-image inference up to this many LR pixels with --tile auto (about 1.2 GB of activations for A2N
# x4 in bf16); larger inputs are tiled.
AUTO_WHOLE_PIXELS = 1024 * 1024
AUTO_TILE = 256
OVERLAP = 16
MIN_TILE = 16
# Float images may stray this far outside [0, 1] (rounding, an unclamped SR output) and are clamped;
# anything further is refused as the wrong range (0–255 floats).
FLOAT_SLACK = 0.05
CACHED_UPSCALERS = 4
# numpy level dtypes → the levels tensor the SR comes back as (16-bit levels travel as int32).
LEVEL_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.int32}
SIXTEEN_BIT_MODES = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2"}  # PIL mode → numpy byte order
SAMPLE_IMAGE = Path(__file__).parent / "assets" / "sample.png"


def sample_image() -> Path:
    """Path of the sample image shipped with the package."""
    return SAMPLE_IMAGE


def parse_tile(tile: int | str) -> int | str:
    """``"auto"``, 0 (whole image) or a tile side of at least MIN_TILE LR pixels."""
    if tile == "auto":
        return tile
    try:
        tile_px = int(tile)
    except (TypeError, ValueError):
        raise AttnsrError(f"tile must be a number of pixels or auto, not {tile!r}") from None
    if tile_px < 0 or 0 < tile_px < MIN_TILE:
        raise AttnsrError(f"tile {tile_px} is too small; use at least {MIN_TILE} (or 0 for the whole image)")
    return tile_px


def upscale_tensor(
    lr: Tensor,
    run: Runner,
    *,
    scale: int,
    tile: int | str = "auto",
    out_dtype: torch.dtype = torch.float32,
    on_tile: Callable[[], None] | None = None,
) -> Tensor:
    """SR of a 1×3×h×w float RGB [0,1] CPU tensor with a runner of :mod:`attnsr.backends`. The result is on
    the CPU: ``out_dtype`` float gives [0,1] values, uint8 / int32 give 8- / 16-bit levels. ``tile``: LR tile
    side, 0 for the whole image, or "auto" (whole image up to AUTO_WHOLE_PIXELS, else tiles of AUTO_TILE)."""
    h, w = lr.shape[-2:]
    tile_px = parse_tile(tile)
    if tile_px == "auto":
        tile_px = 0 if h * w <= AUTO_WHOLE_PIXELS else AUTO_TILE
    if tile_px == 0 or (h <= tile_px and w <= tile_px):
        sr = run(lr).float().cpu()  # the runner's fresh tensor: levels made in place, floats copied by clamp
        out = _to_dtype(sr, out_dtype)
        if on_tile:
            on_tile()
        return out
    overlap = min(OVERLAP, (tile_px - 1) // 2)
    out = tiled_forward(run, lr, scale=scale, tile=tile_px, overlap=overlap, out_dtype=out_dtype, on_tile=on_tile)
    return out.clamp_(0, 1) if out.is_floating_point() else out


def _to_dtype(sr: Tensor, dtype: torch.dtype) -> Tensor:
    """Float ``sr`` → ``dtype``: uint8 / int32 levels (:func:`attnsr.io.to_levels`, made in ``sr``'s memory, so
    pass a tensor nobody else reads), or floats clamped to [0, 1]."""
    bits = LEVEL_BITS.get(dtype)
    return sr.clamp(0, 1).to(dtype) if bits is None else to_levels(sr, bits=bits, inplace=True)


def _check_scale(model_scale: int, scale: int) -> None:
    if model_scale != scale:
        raise ModelError(f"the model upscales x{model_scale}, not x{scale}")


def _check_file_model(path: Path, arch: dict, model: str | nn.Module | None) -> None:
    """Refuse a ``model`` that contradicts the architecture an exported file records: the file is the model."""
    if isinstance(model, nn.Module):
        raise AttnsrError(f"'{path}' is a whole model; give it as weights without a model, or the model alone")
    if model is None:
        return
    if "name" not in arch:
        log.warning("'%s' records no architecture: the model name %r is not checked against it", path, model)
    elif model != arch["name"]:
        raise CheckpointError(f"'{path}' holds {arch['name']} x{arch.get('scale', '?')}, not {model}")


def auto_precision(resolved: str, net: nn.Module | None) -> str:
    """What ``precision="auto"`` runs for ``net``: bf16 (where the CPU has it natively) only for weights whose
    record states a measured bf16 cost of at most ``BF16_MAX_COST`` dB on each of Set5/Set14/B100/Urban100;
    fp32 for every other weight file (an official one that loses more, or weights nobody measured)."""
    if resolved != "bf16":
        return resolved
    record = getattr(net, "weight_record", None)
    if record is not None and record.bf16_harmless:
        return "bf16"
    why = f"{record.name}: bf16 not measured harmless" if record is not None else "weights without a record"
    log.info("precision auto runs fp32 (%s; benchmarks/bf16_cost.py)", why)
    return "fp32"


def auto_int8(net: nn.Module, other: Runner, other_precision: str) -> Runner | None:
    """The int8 runner ``precision="auto"`` switches to on the openvino backend, or None. Only for weights
    whose record states a measured int8 drop of at most ``INT8_MAX_COST`` dB on each of Set5/Set14/B100/
    Urban100 and that ship their int8 model (auto never calibrates), and only where the int8 model is measured
    faster than ``other`` on this CPU (:func:`attnsr.quantize.int8_faster`, once per machine)."""
    from ._pretrained import shipped_int8
    from .backends import openvino_runner
    from .quantize import int8_faster

    record = getattr(net, "weight_record", None)
    if record is None or not record.int8_harmless or (xml := shipped_int8(record)) is None:
        return None
    if not int8_faster(xml, other=other, other_name=f"openvino {other_precision}"):
        return None
    return openvino_runner(xml, precision="fp32")


class Upscaler:
    """A model on a backend, loaded and prepared once, then called on many images.

    ``model``: a registered name (default the built-in A2N), an ``nn.Module``, or None; ``weights``: a
    checkpoint, or an exported ``.onnx`` file (run by onnxruntime or openvino). ``backend``:
    ``auto|torch|onnxruntime|openvino`` (:mod:`attnsr.backends`); ``precision``: ``auto|fp32|bf16|fp16``
    (:mod:`attnsr.precision`); ``tile``: ``"auto"``, 0 (whole image) or an LR tile side. A ``model`` given
    with an ``.onnx`` file must be the architecture the file records.
    ``upscaler(image)`` returns the same kind as ``image`` (see the module docstring); thread-safe.
    """

    def __init__(
        self,
        model: str | nn.Module | None = None,
        *,
        scale: int = 4,
        weights: str | Path | None = None,
        backend: str = "auto",
        precision: str = "auto",
        device: str = "cpu",
        tile: int | str = "auto",
    ) -> None:
        self.tile = parse_tile(tile)
        self.device = str(device)
        self.backend = resolve_backend(backend, device)
        self.precision = resolve_backend_precision(self.backend, precision, device)
        if weights is not None and str(weights).lower().endswith(".onnx"):
            if precision == "auto":  # an exported file carries no weight record: nothing measured its bf16 cost
                self.precision = auto_precision(self.precision, None)
            self._run, arch = file_runner(Path(weights), backend=self.backend, precision=self.precision)
            self.scale, self.model_name = arch.get("scale", scale), arch.get("name", str(weights))
            _check_file_model(Path(weights), arch, model)
            _check_scale(self.scale, scale)
        else:
            net = model
            if not isinstance(net, nn.Module):  # no weights: the built-in ones; a checkpoint names its own model
                weights = weights or "builtin"
                name = model if model or is_weights_path(weights) else DEFAULT_MODEL
                net = load_model(name, scale=scale, weights=weights)
            self.scale, self.model_name = getattr(net, "scale", scale), getattr(net, "arch", {}).get("name", "model")
            _check_scale(self.scale, scale)
            if precision == "auto":
                self.precision = auto_precision(self.precision, net)
            if self.precision == "int8":
                from .quantize import int8_runner

                self._run = int8_runner(net)
            else:
                self._run = build_runner(net, backend=self.backend, precision=self.precision, device=self.device)
            if (
                precision == "auto"
                and self.backend == "openvino"
                and (int8 := auto_int8(net, self._run, self.precision))
            ):
                self._run, self.precision = int8, "int8"
        log.info("upscaler: %s x%d on %s (%s, %s)", self.model_name, self.scale, self.backend, self.precision, device)

    def __repr__(self) -> str:
        options = f"scale={self.scale}, backend={self.backend!r}, precision={self.precision!r}"
        return f"Upscaler({self.model_name!r}, {options})"

    def upscale_tensor(
        self, lr: Tensor, *, out_dtype: torch.dtype = torch.float32, on_tile: Callable[[], None] | None = None
    ) -> Tensor:
        """SR of a 1×3×h×w float RGB [0,1] CPU tensor (see :func:`upscale_tensor` for ``out_dtype``)."""
        return upscale_tensor(lr, self._run, scale=self.scale, tile=self.tile, out_dtype=out_dtype, on_tile=on_tile)

    def __call__(self, image):
        """Upscale a PIL image, a numpy array (H×W, H×W×1/3/4) or a tensor (3×H×W, N×3×H×W); same kind out."""
        if isinstance(image, Tensor):
            return _upscale_tensor_image(image, self)
        if isinstance(image, np.ndarray):
            return _upscale_array(image, self)
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover
            Image = None
        if Image is not None and isinstance(image, Image.Image):
            return _upscale_pil(image, self)
        raise AttnsrError(f"cannot upscale a {type(image).__name__}; give a PIL image, numpy array or tensor")


def _cache_key(model, weights) -> tuple:
    """What identifies a model for the cache: a module by identity and weights, a file by path and mtime."""
    if isinstance(model, nn.Module):
        return ("module", id(model), model_digest(model))
    if weights is not None:
        stat = Path(weights).stat() if Path(weights).is_file() else None
        return (model, str(Path(weights).resolve()), stat and (stat.st_mtime_ns, stat.st_size))
    return (model or DEFAULT_MODEL,)


class _UpscalerCache:
    """The last ``size`` Upscalers by their arguments, safe under threads: each is built once, by the first
    thread to ask (others asking for the same one wait for it; other Upscalers are served meanwhile)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Upscaler] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}

    def _get(self, key: Hashable) -> Upscaler | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def __call__(self, key: tuple, model, weights, **options) -> Upscaler:
        key = (key, tuple(sorted(options.items())))
        if (found := self._get(key)) is not None:
            return found
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            try:
                if (found := self._get(key)) is not None:  # built while this thread waited
                    return found
                made = Upscaler(model, weights=weights, **options)
                with self._lock:
                    self._items[key] = made
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
                return made
            finally:
                with self._lock:
                    if self._building.get(key) is building:
                        del self._building[key]

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()


_cached_upscaler = _UpscalerCache(CACHED_UPSCALERS)


def upscale(
    image,
    *,
    scale: int = 4,
    model: str | nn.Module | None = None,
    weights: str | Path | None = None,
    tile: int | str = "auto",
    precision: str = "auto",
    device: str = "cpu",
    backend: str = "auto",
):
    """Upscale ``image`` and return the same kind, through an :class:`Upscaler` cached by these arguments
    (the last CACHED_UPSCALERS kept), so only the first call loads and compiles the model.

    ``image``: a PIL image (any mode but palette and 32-bit int come back in their mode; alpha upscaled with
    bicubic), a numpy array H×W or H×W×C (uint8 0–255, uint16 0–65535 or float in [0,1]), or a tensor
    (3×H×W or N×3×H×W RGB; uint8 0–255 or float in [0,1]). Float values outside [0, 1] are refused.
    """
    options = dict(scale=scale, tile=tile, precision=precision, device=str(device), backend=backend)
    return _cached_upscaler(_cache_key(model, weights), model, weights, **options)(image)


def _check_float_range(lo: float, hi: float, what: str) -> None:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise AttnsrError(f"the {what} holds NaN or infinite values")
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        raise AttnsrError(
            f"a float {what} must hold values in [0, 1], not {lo:g}..{hi:g}; divide 0-255 data by 255 (or pass uint8)"
        )


def _upscale_tensor_image(image: Tensor, upscaler: Upscaler) -> Tensor:
    """Tensor 3×H×W / N×3×H×W, uint8 levels or float [0,1] → the same shape ×scale, dtype and device."""
    x = image[None] if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[1] != 3:
        raise AttnsrError(f"expected a 3xHxW or Nx3xHxW RGB tensor, got shape {tuple(image.shape)}")
    if image.dtype == torch.uint8:
        frames = [upscaler.upscale_tensor(frame[None].cpu().float() / 255, out_dtype=torch.uint8) for frame in x]
    elif image.is_floating_point():
        if x.numel():
            _check_float_range(x.min().item(), x.max().item(), "tensor")
        frames = [upscaler.upscale_tensor(frame[None].cpu().float().clamp(0, 1)) for frame in x]
    else:
        raise AttnsrError(f"unsupported tensor dtype {image.dtype}; use uint8 (0-255) or float in [0,1]")
    out = (frames[0] if len(frames) == 1 else torch.cat(frames)).to(device=image.device, dtype=image.dtype)
    return out[0] if image.dim() == 3 else out


def _array_peak(arr: np.ndarray) -> float:
    """The value of white for an array's dtype (float arrays are checked to hold [0,1])."""
    if arr.dtype == np.uint8:
        return 255.0
    if arr.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size:
            _check_float_range(float(np.min(arr)), float(np.max(arr)), "array")
        return 1.0
    raise AttnsrError(f"unsupported array dtype {arr.dtype}; use uint8, uint16 or float in [0,1]")


def _upscale_array(arr: np.ndarray, upscaler: Upscaler) -> np.ndarray:
    """H×W / H×W×{1,3,4} array (uint8, uint16 or float [0,1]) → ×scale, same layout and dtype."""
    peak = _array_peak(arr)
    a = np.clip(arr.astype(np.float32) / peak, 0, 1)
    gray = a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1)
    plane = a.reshape(a.shape[0], a.shape[1], -1) if a.ndim in (2, 3) else a
    if a.ndim not in (2, 3) or plane.shape[2] not in (1, 3, 4):
        raise AttnsrError(f"expected HxW, HxWx1, HxWx3 or HxWx4, got shape {arr.shape}")
    rgb = np.repeat(plane, 3, axis=2) if plane.shape[2] == 1 else plane[..., :3]
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    # Colour images get their levels straight from the SR tensor (one pass, no float HxWx3 copy in numpy);
    # gray ones average the float channels first.
    out_dtype = LEVEL_DTYPES.get(arr.dtype, torch.float32)
    sr = upscaler.upscale_tensor(x, out_dtype=torch.float32 if gray else out_dtype)[0]  # 3×H×W
    if gray:
        sr = _to_dtype(sr.mean(dim=0, keepdim=True), out_dtype)
    if plane.shape[2] == 4:
        alpha = resize_plane(torch.from_numpy(np.ascontiguousarray(plane[..., 3])), sr.shape[-2], sr.shape[-1])
        sr = torch.cat([sr, _to_dtype(alpha[None], sr.dtype)])
    out = sr.permute(1, 2, 0).contiguous().numpy()  # H×W×C
    out = out[..., 0] if arr.ndim == 2 else out
    return out if out.dtype == arr.dtype else out.astype(arr.dtype)


def resize_plane(plane: Tensor, height: int, width: int) -> Tensor:
    """Bicubic upscaling of one H×W float plane in [0,1] (used for alpha)."""
    import torch.nn.functional as F

    return F.interpolate(plane[None, None], size=(height, width), mode="bicubic", align_corners=False)[0, 0].clamp(0, 1)


def _upscale_pil(img, upscaler: Upscaler):
    """A PIL image → ×scale in its own mode; palette images ("P", "PA") come back RGB(A), since a palette
    cannot hold the new colours. 32-bit "I" must hold 0–65535 levels, "F" values in [0, 1]."""
    from PIL import Image

    mode = img.mode
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise AttnsrError(f"a mode {mode} image must hold levels 0-65535, not {arr.min()}..{arr.max()}")
        out = _upscale_array(arr.astype(np.uint16), upscaler)
        if mode == "I":
            return Image.fromarray(out.astype(np.int32))
        return Image.frombytes(mode, (out.shape[1], out.shape[0]), out.astype(SIXTEEN_BIT_MODES[mode]).tobytes())
    if mode == "F":
        return Image.fromarray(_upscale_array(np.asarray(img, dtype=np.float32), upscaler))
    if mode in ("L", "RGB", "RGBA"):
        return Image.fromarray(_upscale_array(np.asarray(img), upscaler))
    if mode == "1":  # bilevel: upscale the gray levels, threshold at the middle
        gray = Image.fromarray(_upscale_array(np.asarray(img.convert("L")), upscaler))
        return gray.convert("1", dither=Image.Dither.NONE)
    has_alpha = "A" in mode or "a" in mode or "transparency" in img.info
    try:
        working = img.convert("RGBA" if has_alpha else "RGB")
    except ValueError:
        raise AttnsrError(f"cannot upscale a PIL image of mode {mode}; convert it to RGB first") from None
    result = Image.fromarray(_upscale_array(np.asarray(working), upscaler))
    if mode in ("P", "PA"):
        return result
    try:
        return result.convert(mode)
    except ValueError:
        raise AttnsrError(f"cannot upscale a PIL image of mode {mode}; convert it to RGB first") from None
