"""Image I/O into the project's single image contract.

Every tensor that enters or leaves this module is ``float32``, RGB (sRGB-encoded values as stored in
the file, no colour management or linearisation), in ``[0, 1]``, laid out NCHW with ``N = 1``. Alpha
travels separately as ``1x1xHxW`` in ``[0, 1]``. :class:`ImageInfo` records what is needed to write a
result back faithfully (grayscale, bit depth, alpha, ICC profile, EXIF).

Pillow limits, handled explicitly: 16-bit *grayscale* PNG/TIFF is read and written at full 16-bit
precision; 16-bit *colour* PNGs (RGB48/RGBA64) are decoded by Pillow at 8 bits, so they are reported
with ``bit_depth=8`` (a warning is logged); Pillow cannot write 16-bit colour, so colour output is
always 8-bit. Multi-frame files (TIFF pages, animated WebP or PNG) yield their first frame, with a warning
that names the file and its frame count (not for MPO: a JPEG's extra pictures are previews or stereo views).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageError, OutputExistsError
from .outputs import atomic_path

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS: int = 100_000_000

_SUFFIX_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_READ_FORMATS = {"PNG", "JPEG", "MPO", "BMP", "DIB", "TIFF", "WEBP"}
_MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}  # the largest side each encoder stores
_PIL_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
)
_ORIENTATION = 0x0112
# TIFF image-structure tags: Pillow's getexif() of a TIFF returns the file's own IFD, whose layout tags
# (size, strips, tiles, compression, sample format, palette, ICC and XMP blocks) describe *that* file only
# and must not be written into another image's EXIF.
_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284, 317, 320, 322, 323, 324, 325}
    | {338, 339, 340, 341, 347, 530, 531, 532, 700, 33723, 34377, 34675, 37724}
)


@dataclass
class ImageInfo:
    """What is needed to write a result back faithfully (see module docstring)."""

    path: Path | None
    format: str  # Pillow format name: 'PNG', 'JPEG', ...
    mode: str  # original Pillow mode
    bit_depth: int  # 8 or 16 (precision of the decoded values)
    grayscale: bool  # source had no colour
    has_alpha: bool
    icc_profile: bytes | None
    exif: bytes | None  # orientation reset to 1 once it has been applied
    size: tuple[int, int]  # (width, height) after EXIF transpose


def _name(path: Path | None) -> str:
    return "image" if path is None else str(path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _open_unguarded(path: Path) -> Image.Image:
    """``Image.open`` (header only) with Pillow's bomb guard off: ``max_pixels`` decides instead."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _png_header_depth(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24], head[25]
    return None


def _icc_space(icc: bytes | None) -> str | None:
    """ICC header colour space ('RGB', 'GRAY', 'CMYK', ...), or None."""
    return icc[16:20].decode("ascii", "replace").strip() if icc and len(icc) >= 20 else None


def _gray_palette(im: Image.Image) -> bool:
    pal = np.asarray(im.getpalette("RGB") or [0, 0, 0], dtype=np.uint8).reshape(-1, 3)
    return bool((pal[:, 0] == pal[:, 1]).all() and (pal[:, 1] == pal[:, 2]).all())


def _decode(
    im: Image.Image, path: Path, icc: bytes | None
) -> tuple[np.ndarray, np.ndarray | None, bool, int, bytes | None]:
    """Pixels of a loaded image -> (HxWx3 or HxW float32 [0,1], HxW alpha or None, gray, depth, icc)."""
    mode = im.mode
    if mode == "P" or mode == "PA":
        gray = _gray_palette(im)
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
        mode = im.mode
        if gray:
            a = np.asarray(im)
            return (
                a[..., 0] / np.float32(255),
                (a[..., 3] / np.float32(255) if mode == "RGBA" else None),
                True,
                8,
                icc,
            )
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode in ("L", "LA", "La"):
        a = np.asarray(im.convert("LA") if mode == "La" else im)
        if a.ndim == 2:
            return a / np.float32(255), None, True, 8, icc
        return a[..., 0] / np.float32(255), a[..., 1] / np.float32(255), True, 8, icc
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I (32-bit int, 16-bit PNG in old Pillow)
        a = np.asarray(im)
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise ImageError(
                f"cannot read '{path}': integer image with values in [{lo}, {hi}], "
                "only 16-bit unsigned [0, 65535] is supported"
            )
        return a.astype(np.float32) / np.float32(65535), None, True, 16, icc
    if mode == "F":
        a = np.array(im, dtype=np.float32)
        if a.size and not (np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0):
            raise ImageError(
                f"cannot read '{path}': 32-bit float image with values outside [0, 1] "
                f"(min {np.nanmin(a):.4g}, max {np.nanmax(a):.4g}) is not supported"
            )
        return a, None, True, 16, icc
    if mode == "CMYK" and icc is not None and _icc_space(icc) == "CMYK":
        try:
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            im = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
            icc, mode = srgb.tobytes(), "RGB"
        except (ImageCms.PyCMSError, OSError, ValueError) as e:
            log.warning("%s: CMYK profile conversion failed (%s); using a plain conversion", path, e)
    if mode == "LAB":  # Pillow's plain convert() reinterprets Lab bytes; a colour transform is needed
        lab_to_srgb = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        im, mode = ImageCms.applyTransform(im, lab_to_srgb), "RGB"
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    try:
        im = im if mode in ("RGB", "RGBA") else im.convert("RGBA" if has_alpha else "RGB")
    except ValueError as e:
        raise ImageError(f"cannot read '{path}': unsupported pixel mode {mode!r} ({_one_line(e)})") from e
    if _icc_space(icc) not in (None, "RGB"):
        icc = None  # profile described the original (CMYK/Lab/...) encoding, not the RGB we return
    a = np.asarray(im)
    alpha = a[..., 3] / np.float32(255) if im.mode == "RGBA" else None
    return a[..., :3] / np.float32(255), alpha, False, 8, icc


@contextmanager
def _reading(p: Path, *, report: bool = True) -> Iterator[None]:
    """Turn what Pillow and the OS raise while reading ``p`` into one :class:`ImageError` line, and what Pillow
    warns about a damaged file that still loads (corrupt EXIF, tags past its end) into one log warning per
    message naming ``p`` (``report=False``: not at all): library code logs, Pillow's warnings would print."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        except ImageError:
            raise
        except PermissionError as e:
            raise ImageError(f"cannot read '{p}': permission denied") from e
        except UnidentifiedImageError as e:
            raise ImageError(f"cannot read '{p}': not a recognised image (wrong suffix, or not an image file)") from e
        except _PIL_ERRORS as e:
            raise ImageError(f"cannot read '{p}': not a valid image (truncated or corrupt: {_one_line(e)})") from e
    pillow = [w for w in caught if issubclass(w.category, UserWarning)]
    for message in dict.fromkeys(_one_line(w.message) for w in pillow) if report else ():
        log.warning("'%s': %s", p, message)
    for w in caught:  # anything else is not about the file: warned as it would have been
        if not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def check_image_file(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Check a file's name, header and structure without decoding its pixels; return its (width, height)
    as stored (before EXIF rotation). Raises :class:`ImageError` for what :func:`read_image` would refuse
    before decoding: missing, unreadable, empty, unsupported, corrupt structure, over ``max_pixels``."""
    p = Path(path)
    if p.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ImageError(
            f"cannot read '{p}': unsupported file type {p.suffix or '(no suffix)'!r} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if not p.exists():
        raise ImageError(f"cannot read '{p}': no such file")
    if not p.is_file():
        raise ImageError(f"cannot read '{p}': not a regular file")
    if p.stat().st_size == 0:
        raise ImageError(f"cannot read '{p}': empty file (0 bytes)")
    with _reading(p, report=False), _open_unguarded(p) as im:  # read_image reports what Pillow warns
        if im.format not in _READ_FORMATS:
            raise ImageError(
                f"cannot read '{p}': unsupported image format {im.format} (supported: PNG, JPEG, BMP, TIFF, WebP)"
            )
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(
                f"'{p}' is {w}x{h} = {w * h / 1e6:.1f} MP, above the limit of "
                f"{max_pixels / 1e6:.1f} MP (raise max_pixels to read it)"
            )
        im.verify()  # structure/CRC check without decoding pixels (PNG chunks, ...)
    return w, h


def check_encodable(path: str | os.PathLike, width: int, height: int) -> None:
    """Refuse, before any work, an output larger than its format can store (JPEG 65500, WebP 16383 a side)."""
    fmt = _SUFFIX_FORMAT.get(Path(path).suffix.lower())
    limit = _MAX_SIDE.get(fmt)
    if limit is not None and max(width, height) > limit:
        raise ImageError(
            f"cannot write '{path}': {fmt} stores at most {limit} pixels a side and this output is "
            f"{width}x{height} (choose PNG or TIFF)"
        )


def read_image(
    path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS, apply_exif: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, ImageInfo]:
    """Read an image file.

    Returns ``(rgb, alpha, info)``: ``rgb`` is a contiguous float32 ``1x3xHxW`` tensor in ``[0, 1]``,
    RGB as stored (grayscale replicated to 3 channels, CMYK converted to sRGB); ``alpha`` is
    ``1x1xHxW`` float32 in ``[0, 1]`` or None. EXIF orientation is applied when ``apply_exif``.
    Raises :class:`ImageError` (one line, naming the file) for missing, empty, corrupt, truncated,
    unsupported or over-``max_pixels`` files.
    """
    p = Path(path)
    check_image_file(p, max_pixels=max_pixels)
    with _reading(p):
        with _open_unguarded(p) as im:
            fmt, mode = im.format, im.mode
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and fmt != "MPO":
                log.warning("%s holds %d frames (pages); only the first is read", p, frames)
            im.load()
            exif_bytes, had_exif = None, len(im.getexif()) > 0
            if apply_exif:
                ImageOps.exif_transpose(im, in_place=True)
            exif = im.getexif()
            for tag in _LAYOUT_TAGS & set(exif):
                del exif[tag]
            if had_exif:
                if apply_exif:
                    exif[_ORIENTATION] = 1
                exif_bytes = exif.tobytes()
            icc = im.info.get("icc_profile") or None
            rgb, alpha, gray, depth, icc = _decode(im, p, icc)
        if fmt == "PNG" and depth == 8 and (_png_header_depth(p) or (8, 0))[0] == 16:
            log.warning("%s: 16-bit PNG with colour or alpha decoded at 8-bit precision (Pillow limitation)", p)
    hh, ww = rgb.shape[:2]
    t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))
    t = (t[None].expand(3, hh, ww) if t.ndim == 2 else t.permute(2, 0, 1))[None].contiguous()
    a = None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha, dtype=np.float32))[None, None]
    info = ImageInfo(
        path=p,
        format="JPEG" if fmt == "MPO" else fmt,
        mode=mode,
        bit_depth=depth,
        grayscale=gray,
        has_alpha=a is not None,
        icc_profile=icc,
        exif=exif_bytes,
        size=(ww, hh),
    )
    return t, a, info


def load_rgb(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read just the RGB image: float32 ``1x3xHxW`` in ``[0, 1]`` (alpha dropped, grayscale replicated)."""
    return read_image(path, max_pixels=max_pixels)[0]


def check_min_size(info: ImageInfo, min_side: int) -> None:
    """Raise :class:`ImageError` when the image's width or height is below ``min_side``."""
    w, h = info.size
    if w < min_side or h < min_side:
        raise ImageError(
            f"'{_name(info.path)}' is {w}x{h}, smaller than the minimum {min_side}x{min_side} this command needs"
        )


# The dtype levels travel in → their bits (16-bit levels as int32: torch lacks uint16 arithmetic).
LEVEL_BITS = {torch.uint8: 8, torch.int32: 16}


def to_levels(img: torch.Tensor, *, bits: int = 8, inplace: bool = False) -> torch.Tensor:
    """Float in ``[0, 1]`` (any layout) -> integer levels of the same shape: uint8 ``[0, 255]``
    (``bits=8``) or int32 ``[0, 65535]`` (``bits=16``). Clamps, rounds half to even. The one
    float-to-levels conversion of the project.

    ``inplace``: a float32/float64 ``img`` is consumed (the levels are computed in its memory) — for a
    frame-sized tensor nobody else reads, where fresh allocations cost a pass and page faults each."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits!r}")
    x = img if img.dtype in (torch.float32, torch.float64) else img.float()  # fp16 cannot hold 65535
    x = x.clamp_(0, 1) if inplace or x is not img else x.clamp(0, 1)
    return x.mul_(255 if bits == 8 else 65535).round_().to(torch.uint8 if bits == 8 else torch.int32)


def _plane(t: torch.Tensor, channels: int, what: str) -> torch.Tensor:
    """``1xCxHxW`` / ``CxHxW`` (or ``HxW`` for one channel) -> float ``CxHxW`` on the CPU."""
    t = t.detach().to("cpu", torch.float32)
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if channels == 1 and t.ndim == 2:
        t = t[None]
    if t.ndim != 3 or t.shape[0] != channels:
        raise ValueError(f"{what} must be 1x{channels}xHxW, got shape {tuple(t.shape)}")
    return t


def write_image(
    path: str | os.PathLike,
    rgb: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    info: ImageInfo | None = None,
    quality: int = 95,
    overwrite: bool = False,
    parents: bool = False,
) -> Path:
    """Write a float32 RGB ``1x3xHxW`` tensor in ``[0, 1]`` (values clamped) atomically; return the path.

    ``rgb`` may also hold integer levels (uint8 0-255, or int32 0-65535 for 16-bit output), which
    writes very large images without a float copy.

    The format follows the suffix. With ``info`` from :func:`read_image`: grayscale sources are written
    as L (I;16 for 16-bit PNG/TIFF, values ``round(gray * 65535)``, gray = BT.601 luma of the three
    channels), ICC profile and EXIF are carried over where the format stores them. ``alpha``
    (``1x1xHxW`` in ``[0, 1]``) gives RGBA/LA (dropped with a warning for JPEG and BMP). The image is
    encoded to a hidden temp file in the destination folder and moved into place with ``os.replace``.
    ``parents=True`` creates a missing destination folder. Raises :class:`ImageError` when the target
    exists and ``overwrite`` is False, the folder is missing or not writable, the suffix is unsupported
    or encoding fails.
    """
    p = Path(path)
    fmt = _SUFFIX_FORMAT.get(p.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"cannot write '{p}': unsupported file type {p.suffix or '(no suffix)'!r} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if p.is_dir():
        raise ImageError(f"cannot write '{p}': a folder of that name exists")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"'{p}' exists")
    if alpha is not None and fmt in ("JPEG", "BMP"):
        log.warning("%s: %s cannot store alpha; alpha dropped (write PNG, TIFF or WebP to keep it)", p, fmt)
        alpha = None
    gray = info is not None and info.grayscale
    if not rgb.is_floating_point():  # integer levels (uint8 0-255, or int32 0-65535): no float copy of a huge image
        img = _from_levels(rgb, alpha=alpha, gray=gray, fmt=fmt, deep=info is not None and info.bit_depth == 16)
    else:
        img = _from_float(rgb, alpha=alpha, info=info, fmt=fmt)
    params: dict = {}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = int(quality)
    if info is not None and fmt != "BMP":
        want = "GRAY" if img.mode in ("L", "LA", "I;16") else "RGB"
        if info.icc_profile and _icc_space(info.icc_profile) == want:
            params["icc_profile"] = info.icc_profile
        if info.exif:
            params["exif"] = info.exif
    folder = p.parent if str(p.parent) else Path(".")
    if parents:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ImageError(f"cannot write '{p}': cannot create folder '{folder}' ({_one_line(e)})") from e
    if not folder.is_dir():
        raise ImageError(f"cannot write '{p}': folder '{folder}' does not exist or is not a folder")
    check_encodable(p, img.width, img.height)
    try:
        with atomic_path(p, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
            img.save(f, format=fmt, **params)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ImageError(f"cannot write '{p}': {_one_line(e)}") from e
    return p


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Supported image files directly in ``folder`` (not recursive, hidden files skipped), sorted by name."""
    d = Path(folder)
    if not d.exists():
        raise ImageError(f"image folder '{d}' does not exist")
    if not d.is_dir():
        raise ImageError(f"'{d}' is not a folder")
    return sorted(
        f for f in d.iterdir() if f.suffix.lower() in SUPPORTED_SUFFIXES and not f.name.startswith(".") and f.is_file()
    )


def _from_float(rgb: torch.Tensor, *, alpha: torch.Tensor | None, info: ImageInfo | None, fmt: str) -> Image.Image:
    """Float RGB in [0, 1] (+ alpha) -> the Pillow image to encode (grayscale/16-bit per ``info``)."""
    c = _plane(rgb, 3, "rgb").clamp(0, 1)
    a = None if alpha is None else _plane(alpha, 1, "alpha").clamp(0, 1)
    if a is not None and a.shape[1:] != c.shape[1:]:
        raise ValueError(f"alpha size {tuple(a.shape[1:])} differs from rgb size {tuple(c.shape[1:])}")
    gray = info is not None and info.grayscale
    if gray:
        g = (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]).clamp(0, 1)
        if info.bit_depth == 16 and fmt in ("PNG", "TIFF") and a is None:
            img = Image.fromarray(to_levels(g, bits=16).numpy().astype(np.uint16))
        elif a is not None and fmt in ("PNG", "TIFF"):
            img = Image.fromarray(to_levels(torch.stack([g, a[0]], -1)).numpy(), "LA")
        elif a is not None:
            img = Image.fromarray(to_levels(torch.stack([g, g, g, a[0]], -1)).numpy(), "RGBA")
        else:
            img = Image.fromarray(to_levels(g).numpy(), "L")
    elif a is not None:
        img = Image.fromarray(to_levels(torch.cat([c, a]).permute(1, 2, 0)).numpy(), "RGBA")
    else:
        img = Image.fromarray(to_levels(c.permute(1, 2, 0)).numpy(), "RGB")
    return img


def _from_levels(rgb: torch.Tensor, *, alpha: torch.Tensor | None, gray: bool, fmt: str, deep: bool) -> Image.Image:
    """Integer levels ``1x3xHxW`` (uint8 0-255, or int32 0-65535 when ``deep``) -> Pillow image.

    Keeps memory at the size of the levels for very large outputs; alpha (float [0, 1]) is attached as
    8-bit. 16-bit levels are only stored as 16-bit grayscale (Pillow writes no 16-bit colour).
    """
    t = rgb.detach().cpu()
    t = t[0] if t.ndim == 4 else t
    peak = 65535 if t.dtype == torch.int32 else 255
    if gray:
        g = t[0].to(torch.float32) * 0.299 + t[1].to(torch.float32) * 0.587 + t[2].to(torch.float32) * 0.114
        if peak == 65535 and deep and fmt in ("PNG", "TIFF") and alpha is None:
            return Image.fromarray(g.round().clamp(0, 65535).to(torch.int32).numpy().astype(np.uint16))
        g8 = (g * (255 / peak)).round().clamp(0, 255).to(torch.uint8)
        if alpha is not None and fmt in ("PNG", "TIFF"):
            return Image.fromarray(torch.stack([g8, to_levels(_plane(alpha, 1, "alpha")[0])], -1).numpy(), "LA")
        return Image.fromarray(g8.numpy(), "L")
    u8 = t if t.dtype == torch.uint8 else (t.to(torch.float32) * (255 / peak)).round().clamp(0, 255).to(torch.uint8)
    if alpha is not None:  # write_image has dropped it for formats without alpha
        a8 = to_levels(_plane(alpha, 1, "alpha"))
        return Image.fromarray(torch.cat([u8, a8]).permute(1, 2, 0).numpy(), "RGBA")
    return Image.fromarray(u8.permute(1, 2, 0).contiguous().numpy(), "RGB")
