"""Local Attribution Maps (LAM) and the Diffusion Index (DI).

Method: J. Gu, C. Dong, "Interpreting Super-Resolution Networks with Local Attribution Maps",
CVPR 2021 (arXiv:2011.11036); official code github.com/X-Lowlevel-Vision/LAM_Demo. Used by A2N
(Table 7, Fig. 8). Exactly SPEC §4:

- detector ``D(O) = Σ_c Σ_{(i,j) ∈ window} sqrt((O[i,j]−O[i+1,j])² + (O[i,j]−O[i,j+1])² + eps)``: the
  window's h×w pixels with their +1 neighbours below and to the right (so the window plus one row and
  one column must lie inside the SR output);
- baseline ``x_0 = blur(I, σ)``, a normalised 9×9 Gaussian with σ = 1.2 and reflect padding;
- path ``σ_k = σ(1 − k/m)``, ``x_k = blur(I, σ_k)`` for k = 0..m (m = 50; σ = 0 is the identity, so
  ``x_m = I``);
- ``LAM = Σ_{k=1..m} ∇D(F(x_k)) ⊙ (x_k − x_{k−1})``; NaN gradient entries are set to 0 and counted;
- ``M = |Σ_channels LAM| / max``; ``G = Σ_i (2i − n − 1) v_i / (n Σ v)`` over ascending ``v = M + 1e-7``,
  i = 1..n; ``DI = (1 − G) · 100``.

Deviations and choices, each deliberate:

- ``eps`` (default 1e-12) inside the detector's square root. Without it the gradient of sqrt at an exact
  zero difference is inf·0 = NaN, and that NaN spreads through the backward pass to every input pixel
  whose receptive field covers the pixel; zeroing them (as the official code does) then silently
  removes a whole region from the attribution. Exact zeros happen on flat image regions (any conv net
  gives a constant output in the interior of a constant input). For float32 outputs in [0, 1] a
  squared difference of one 8-bit level is 1.5e-5, so 1e-12 changes no other gradient by more than a
  part in 10⁷. ``eps=0`` gives the official detector.
- ``reflect`` padding is PyTorch's (mirror without repeating the edge), which is also OpenCV's default
  ``BORDER_REFLECT_101`` used by the official ``cv2.filter2D``.
- The official code averages ``grad·(x_k − x_{k−1})·m`` over the m points; that is ``LAM`` times a
  constant, which the normalisation of ``M`` removes.
- Path points are evaluated in batches (``batch_size``); in eval mode a sample's output does not
  depend on the rest of its batch, so the gradient of ``Σ_batch D`` is each point's own gradient. The
  result equals the one-point-at-a-time map to float rounding (tested).
- LR images are made with the project's MATLAB bicubic (the official demo uses PIL bicubic).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.imresize import bicubic_downsample, imresize
from ..errors import AttnsrError, DataError
from ..io import list_images, load_rgb, to_levels
from ..metrics import evaluate_pair
from ..settings import expand
from .figures import new_figure, save_figure

log = logging.getLogger(__name__)

SIGMA = 1.2
STEPS = 50
KERNEL_SIZE = 9
GINI_OFFSET = 1e-7
DETECTOR_EPS = 1e-12
MANIFEST_PATH = Path(__file__).parent / "manifests" / "lam_urban100_150.json"
CROP_KEYS = ("id", "file", "box", "window")  # what every crop of a manifest names


@dataclass(frozen=True)
class Window:
    """An HR window: top-left ``(row, col)``, ``height`` × ``width`` pixels."""

    row: int
    col: int
    height: int = 16
    width: int = 16

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"ROW,COL"`` (16×16), ``"ROW,COL,SIZE"`` or ``"ROW,COL,H,W"``."""
        parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (2, 3, 4) or any(n < 0 for n in nums) or any(n == 0 for n in nums[2:]):
            raise AttnsrError(f"window {text!r} is not ROW,COL[,SIZE] or ROW,COL,H,W with positive sizes")
        if len(nums) == 3:
            nums.append(nums[2])
        return cls(*nums)

    def check(self, height: int, width: int) -> None:
        """Raise unless the window and its +1 neighbours fit an image of ``height`` × ``width``."""
        if self.row + self.height + 1 > height or self.col + self.width + 1 > width:
            raise AttnsrError(
                f"window {self.height}x{self.width} at ({self.row}, {self.col}) plus its +1 neighbours does "
                f"not fit the {height}x{width} SR output (needs row + h < {height} and col + w < {width})"
            )


# ---------------------------------------------------------------------------------------------- path


def gaussian_kernels(
    sigmas: Tensor | list[float], size: int = KERNEL_SIZE, *, dtype: torch.dtype = torch.float64
) -> Tensor:
    """K normalised isotropic ``size``×``size`` Gaussians (K×size×size), one per sigma, in one go;
    ``sigma == 0`` gives the identity (a delta)."""
    s = torch.as_tensor(sigmas, dtype=torch.float64).reshape(-1)
    if bool((s < 0).any()):
        raise ValueError(f"sigmas must be >= 0, got {s.min().item()}")
    if size % 2 != 1:
        raise ValueError(f"kernel size must be odd, got {size}")
    ax = torch.arange(size, dtype=torch.float64) - size // 2
    r2 = (ax[:, None] ** 2 + ax[None, :] ** 2)[None]  # (1, s, s)
    var = (2 * s**2).clamp_min(torch.finfo(torch.float64).tiny)[:, None, None]
    k = torch.exp(-r2 / var)  # σ = 0 (or tiny): exp(−r²/tiny) is 1 at the centre and 0 elsewhere
    return (k / k.sum(dim=(1, 2), keepdim=True)).to(dtype)


def gaussian_kernel(sigma: float, size: int = KERNEL_SIZE, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """Normalised isotropic ``size``×``size`` Gaussian; ``sigma == 0`` gives the identity (a delta)."""
    return gaussian_kernels([sigma], size, dtype=dtype)[0]


def _blur_stack(img: Tensor, kernels: Tensor) -> Tensor:
    """Blur one 1×C×H×W image by K kernels (K×s×s) at once → K×C×H×W (reflect padding)."""
    n_k, size = kernels.shape[0], kernels.shape[-1]
    pad = size // 2
    c = img.shape[1]
    x = F.pad(img.permute(1, 0, 2, 3), (pad, pad, pad, pad), mode="reflect")  # (C, 1, H+2p, W+2p)
    out = F.conv2d(x, kernels[:, None].to(x.dtype))  # (C, K, H, W)
    return out.permute(1, 0, 2, 3).reshape(n_k, c, *img.shape[-2:])


def blur(img: Tensor, sigma: float, size: int = KERNEL_SIZE) -> Tensor:
    """Gaussian blur of N×C×H×W ``img`` (any range) with a normalised ``size``² kernel, reflect padding.

    ``sigma == 0`` returns ``img`` unchanged. Computed in ``img``'s dtype.
    """
    if sigma == 0:
        return img.clone()
    k = gaussian_kernel(sigma, size, dtype=img.dtype)
    return torch.cat([_blur_stack(img[i : i + 1], k[None]) for i in range(img.shape[0])])


def blur_path(
    lr: Tensor, *, sigma: float = SIGMA, steps: int = STEPS, size: int = KERNEL_SIZE
) -> tuple[Tensor, Tensor]:
    """The progressive-blur path of LAM for one LR image ``lr`` (1×C×h×w, [0, 1]).

    Returns ``(points, increments)``: ``points`` is (m+1)×C×h×w with ``points[k] = blur(lr, σ(1 − k/m))``
    (``points[0]`` the baseline, ``points[m] = lr``); ``increments[k-1] = points[k] − points[k-1]`` for
    k = 1..m. Computed in float64 (so the increments telescope to ``lr − baseline`` to 1e-15) and
    returned in ``lr``'s dtype.
    """
    if lr.dim() != 4 or lr.shape[0] != 1:
        raise ValueError(f"blur_path takes one image 1×C×H×W, got {tuple(lr.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    pad = size // 2
    if min(lr.shape[-2:]) <= pad:
        raise AttnsrError(f"LR image {tuple(lr.shape[-2:])} too small for a {size}x{size} reflect-padded blur")
    sigmas = [sigma * (1 - k / steps) for k in range(steps + 1)]
    kernels = gaussian_kernels(sigmas, size)
    points = _blur_stack(lr.detach().to(torch.float64), kernels)
    points[-1] = lr.detach().to(torch.float64)  # σ = 0: exactly the image
    increments = points[1:] - points[:-1]
    return points.to(lr.dtype), increments.to(lr.dtype)


# ------------------------------------------------------------------------------------ attribution


def gradient_detector(out: Tensor, window: Window, *, eps: float = DETECTOR_EPS) -> Tensor:
    """LAM's detector per sample: Σ over channels and the window of the local gradient magnitude.

    ``out``: N×C×H×W model output. Returns (N,). See the module docstring for ``eps``.
    """
    window.check(out.shape[-2], out.shape[-1])
    r, c, h, w = window.row, window.col, window.height, window.width
    o = out[..., r : r + h + 1, c : c + w + 1]  # the window plus one row below and one column right
    dv = o[..., :h, :w] - o[..., 1:, :w]  # O[i,j] − O[i+1,j]
    dh = o[..., :h, :w] - o[..., :h, 1:]  # O[i,j] − O[i,j+1]
    return torch.sqrt(dv * dv + dh * dh + eps).sum(dim=(1, 2, 3))


def lam_map(attribution: Tensor) -> Tensor:
    """``M = |Σ_channels LAM| / max`` (h×w, float64, in [0, 1]); all zeros when LAM is zero."""
    m = attribution.to(torch.float64).sum(dim=0).abs()
    peak = m.max()
    return m / peak if peak > 0 else m


def gini(values: Tensor | np.ndarray) -> float:
    """Gini coefficient ``Σ_i (2i − n − 1) v_i / (n Σ v)`` of ascending ``v = values + 1e-7``, i = 1..n.

    ``values``: a non-negative map (any shape), e.g. the LAM map M.
    """
    v = torch.as_tensor(np.asarray(values), dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("gini of an empty map")
    v = torch.sort(v + GINI_OFFSET).values
    n = v.numel()
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(((2 * i - n - 1) * v).sum() / (n * v.sum()))


def diffusion_index(values: Tensor | np.ndarray) -> float:
    """DI = (1 − Gini) · 100 of a LAM map: 100 for a uniform map, near 0 for a single pixel."""
    return (1 - gini(values)) * 100


@dataclass
class LamResult:
    """LAM of one image and window.

    ``attribution``: C×h×w float64 LAM; ``map``: h×w M in [0, 1]; ``sr``: 1×C×H×W model output for the
    image itself (unclamped); ``nan_gradients``: number of NaN gradient entries set to zero over the path.
    """

    window: Window
    attribution: Tensor
    map: Tensor
    gini: float
    di: float
    nan_gradients: int
    sr: Tensor
    seconds: float = 0.0


def local_attribution_map(
    model: nn.Module,
    lr: Tensor,
    window: Window,
    *,
    sigma: float = SIGMA,
    steps: int = STEPS,
    kernel_size: int = KERNEL_SIZE,
    batch_size: int = 10,
    eps: float = DETECTOR_EPS,
    device: torch.device | str | None = None,
) -> LamResult:
    """LAM of ``model`` for the HR ``window`` of its output on ``lr`` (1×3×h×w float RGB in [0, 1]).

    The m path points x_1..x_m are evaluated ``batch_size`` at a time (``batch_size=1``: one at a
    time). The model runs in eval mode (its training flag is restored); its parameters get no gradients.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    start = time.perf_counter()
    device = torch.device(device) if device is not None else next(model.parameters(), lr).device
    points, increments = blur_path(lr.to(torch.float32), sigma=sigma, steps=steps, size=kernel_size)
    points, increments = points[1:].to(device), increments.to(device)  # x_1..x_m, x_k − x_{k−1}
    attribution = torch.zeros(points.shape[1:], dtype=torch.float64, device=device)
    nan_count = 0
    sr = None
    was_training = model.training
    model.eval()
    try:
        for b in range(0, steps, batch_size):
            x = points[b : b + batch_size].clone().requires_grad_(True)
            out = model(x)
            detector = gradient_detector(out, window, eps=eps).sum()
            (grad,) = torch.autograd.grad(detector, x)
            nan = torch.isnan(grad)
            n_nan = int(nan.sum())
            if n_nan:
                nan_count += n_nan
                grad = grad.masked_fill(nan, 0.0)
            attribution += (grad.to(torch.float64) * increments[b : b + batch_size].to(torch.float64)).sum(dim=0)
            sr = out[-1:].detach()
    finally:
        model.train(was_training)
    if nan_count:
        log.warning("LAM: %d NaN gradient entries set to 0", nan_count)
    m = lam_map(attribution)
    if not bool((m > 0).any()):
        log.warning("LAM: the attribution is zero everywhere (window %s)", window)
    g = gini(m)
    return LamResult(
        window=window,
        attribution=attribution.cpu(),
        map=m.cpu(),
        gini=g,
        di=(1 - g) * 100,
        nan_gradients=nan_count,
        sr=sr.float().cpu(),
        seconds=time.perf_counter() - start,
    )


# -------------------------------------------------------------------------------------- rendering


def saliency_image(lam: Tensor | np.ndarray, *, scale: int) -> np.ndarray:
    """The official LAM colouring: ``seismic`` at ``0.5 + 0.5·M``, ×``scale`` nearest → (H, W, 3) uint8."""
    import matplotlib

    m = np.asarray(lam, dtype=np.float64)
    rgba = matplotlib.colormaps["seismic"](0.5 + 0.5 * m)
    rgb = (255 * rgba[..., :3]).astype(np.uint8)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def _to_hwc_uint8(img: Tensor) -> np.ndarray:
    return to_levels(img[0].detach().float()).permute(1, 2, 0).numpy()


def blend_image(lam: Tensor | np.ndarray, lr: Tensor, *, scale: int, alpha: float = 0.5) -> np.ndarray:
    """``saliency`` blended ``alpha`` : ``1 − alpha`` over the bicubic-upscaled LR (1×3×h×w) → uint8."""
    sal = saliency_image(lam, scale=scale).astype(np.float64)
    up = _to_hwc_uint8(imresize(lr.detach().float(), scale=scale)).astype(np.float64)
    return np.clip(np.round((1 - alpha) * sal + alpha * up), 0, 255).astype(np.uint8)


def plot_lam(
    path: str | Path, *, lr: Tensor, result: LamResult, scale: int, hr: Tensor | None = None, title: str | None = None
) -> Path:
    """Paper-style figure: HR (or bicubic LR) with the window box, LAM map, blend, SR → PNG at ``path``."""
    from matplotlib.patches import Rectangle

    w = result.window
    ref = hr if hr is not None else imresize(lr.float(), scale=scale)
    panels = [
        ("HR" if hr is not None else "bicubic LR", _to_hwc_uint8(ref)),
        ("LAM", saliency_image(result.map, scale=scale)),
        (f"LAM over LR, DI {result.di:.2f}", blend_image(result.map, lr, scale=scale)),
        ("SR", _to_hwc_uint8(result.sr)),
    ]
    fig = new_figure((4 * len(panels), 4.4))
    for i, (label, img) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(img, interpolation="nearest")
        if i in (0, 3):
            ax.add_patch(Rectangle((w.col - 0.5, w.row - 0.5), w.width, w.height, fill=False, edgecolor="red", lw=1.5))
        ax.set_title(label)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi=100)


# --------------------------------------------------------------------------- the 150-crop set


def _sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _edge_energy(gray: np.ndarray) -> float:
    """Mean gradient magnitude (forward differences) of a 2-D array — texture, not flat sky."""
    dv = gray[1:, :-1] - gray[:-1, :-1]
    dh = gray[:-1, 1:] - gray[:-1, :-1]
    return float(np.sqrt(dv * dv + dh * dh).mean())


def pick_window(
    gray: np.ndarray, rng: np.random.Generator, *, window: int = 16, candidates: int = 8, margin: int = 32
) -> tuple[int, int]:
    """Top-left (row, col) of the most textured of ``candidates`` random ``window``² windows at least
    ``margin`` pixels inside the 2-D image ``gray`` (edge energy over the window and its +1 neighbours)."""
    h, w = gray.shape
    if min(h, w) < 2 * margin + window + 1:
        raise DataError(f"a {w}x{h} image is too small for a {window}px window {margin}px inside")
    rows = rng.integers(margin, h - margin - window + 1, size=candidates)
    cols = rng.integers(margin, w - margin - window + 1, size=candidates)
    energies = [_edge_energy(gray[r : r + window + 1, c : c + window + 1]) for r, c in zip(rows, cols)]
    k = int(np.argmax(energies))
    return int(rows[k]), int(cols[k])


def build_lam_manifest(
    hr_dir: str | Path,
    *,
    count: int = 150,
    crop: int = 256,
    window: int = 16,
    scale: int = 4,
    seed: int = 0,
    candidates: int = 8,
    margin: int = 32,
    source: str | None = None,
) -> dict:
    """A deterministic set of ``count`` HR crops with one LAM window each.

    Rule (seeded by ``seed``): images are visited in a random permutation, cycling (150 crops from
    Urban100's 100 images: 50 images give two). For each crop, ``candidates`` top-left positions on the
    ``scale`` grid are drawn and the one with the most edge energy (mean gradient magnitude of the
    channel-mean HR) is kept; then ``candidates`` window positions at least ``margin`` pixels inside
    the crop are drawn and the most textured one is kept — LAM on a flat window says nothing. Crop *i*
    depends only on the seed and the images, so a shorter ``count`` gives a prefix of the longer set.
    """
    folder = Path(hr_dir)
    files = list_images(folder)
    if not files:
        raise DataError(f"folder {str(folder)!r} holds no images")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    crops = []
    cache: dict[int, np.ndarray] = {}
    for i in range(count):
        idx = int(order[i % len(files)])
        if idx not in cache:
            cache = {idx: load_rgb(files[idx])[0].mean(dim=0).numpy().astype(np.float64)}
        gray = cache[idx]
        h, w = gray.shape
        if h < crop or w < crop:
            raise DataError(f"{files[idx].name} is {w}x{h}, smaller than the {crop}x{crop} crop")
        tops = rng.integers(0, (h - crop) // scale + 1, size=candidates) * scale
        lefts = rng.integers(0, (w - crop) // scale + 1, size=candidates) * scale
        energies = [_edge_energy(gray[t : t + crop, s : s + crop]) for t, s in zip(tops, lefts)]
        k = int(np.argmax(energies))
        top, left = int(tops[k]), int(lefts[k])
        patch = gray[top : top + crop, left : left + crop]
        row, col = pick_window(patch, rng, window=window, candidates=candidates, margin=margin)
        crops.append(
            {"id": i, "file": files[idx].name, "box": [top, left, crop, crop], "window": [row, col, window, window]}
        )
    used = sorted({c["file"] for c in crops})
    return {
        "name": f"lam_{folder.parent.name if folder.name == 'HR' else folder.name}_{count}".lower(),
        "source": source or str(folder),
        "scale": scale,
        "crop": crop,
        "window": window,
        "seed": seed,
        "candidates": candidates,
        "margin": margin,
        "rule": "attnsr.analysis.lam.build_lam_manifest: box = [top, left, height, width] of the HR crop, "
        "window = [row, col, height, width] inside the crop (HR pixels); LR = MATLAB bicubic 1/scale of the crop",
        "sha256_16": {f: _sha16(folder / f) for f in used},
        "crops": crops,
    }


def manifest_json(manifest: dict) -> str:
    """The manifest as JSON text, one crop per line (readable diffs)."""
    head = {k: v for k, v in manifest.items() if k != "crops"}
    body = json.dumps(head, indent=1)[:-2]
    crops = ",\n".join("  " + json.dumps(c) for c in manifest["crops"])
    return f'{body},\n "crops": [\n{crops}\n ]\n}}\n'


def load_manifest(path: str | Path | None = None) -> dict:
    """Read a LAM crop manifest (default: the committed 150-crop Urban100 set)."""
    p = Path(path) if path is not None else MANIFEST_PATH
    if not p.is_file():
        raise DataError(f"LAM manifest {str(p)!r} does not exist")
    try:
        manifest = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"LAM manifest {str(p)!r} is not valid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("crops"), list):
        raise DataError(f"LAM manifest {str(p)!r} has no 'crops' list")
    for i, crop in enumerate(manifest["crops"]):
        missing = [k for k in CROP_KEYS if not isinstance(crop, dict) or k not in crop]
        if missing:
            raise DataError(f"LAM manifest {str(p)!r}: crop {i} has no {', '.join(map(repr, missing))}")
        if any(not isinstance(crop[k], list) or len(crop[k]) != 4 for k in ("box", "window")):
            raise DataError(f"LAM manifest {str(p)!r}: crop {i} needs a 4-number 'box' and 'window'")
    return manifest


def manifest_crops(
    manifest: dict, hr_dir: str | Path | None = None, *, limit: int | None = None, verify: bool = True
) -> Iterator[tuple[dict, Tensor]]:
    """Yield ``(entry, hr_crop)`` (1×3×crop×crop in [0, 1]) for the manifest's crops, in order.

    ``hr_dir`` defaults to the manifest's ``source`` (``${shared}`` expanded). With ``verify`` a source
    image whose sha256 differs from the manifest's raises :class:`DataError`.
    """
    if hr_dir is None and "source" not in manifest:
        raise DataError("the LAM manifest names no 'source' folder; give the folder of its images (--data)")
    folder = Path(hr_dir) if hr_dir is not None else expand(manifest["source"])
    if not folder.is_dir():
        raise DataError(f"LAM source folder {str(folder)!r} does not exist")
    current: tuple[str, Tensor] | None = None
    for entry in manifest["crops"][:limit]:
        name = entry["file"]
        if current is None or current[0] != name:
            path = folder / name
            if not path.is_file():
                raise DataError(f"LAM crop {entry['id']}: {str(path)!r} does not exist")
            want = manifest.get("sha256_16", {}).get(name)
            if verify and want and _sha16(path) != want:
                raise DataError(f"{str(path)!r} differs from the image the manifest was built from (sha256)")
            current = (name, load_rgb(path))
        top, left, h, w = entry["box"]
        img = current[1]
        if top + h > img.shape[-2] or left + w > img.shape[-1]:
            raise DataError(f"LAM crop {entry['id']}: box {entry['box']} outside {name} {tuple(img.shape[-2:])}")
        yield entry, img[..., top : top + h, left : left + w].contiguous()


@dataclass
class LamCropResult:
    id: int
    file: str
    window: list[int]
    di: float
    gini: float
    psnr: float
    nan_gradients: int
    seconds: float


@dataclass
class LamSetResult:
    """DI and PSNR (standard protocol, Y, ``scale`` border) over a crop set; means over crops."""

    di: float
    psnr: float
    crops: list[LamCropResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"di": self.di, "psnr": self.psnr, "crops": [asdict(c) for c in self.crops]}


def evaluate_lam_set(
    model: nn.Module,
    manifest: dict,
    *,
    scale: int,
    hr_dir: str | Path | None = None,
    limit: int | None = None,
    batch_size: int = 10,
    device: torch.device | str | None = None,
    on_crop: Callable[[LamCropResult], None] | None = None,
) -> LamSetResult:
    """LAM DI and PSNR of ``model`` over a manifest's crops (LR = MATLAB bicubic of each HR crop).

    PSNR: standard protocol (SR rounded to 8 bits, BT.601 Y, ``scale`` pixels cropped), per crop.
    """
    if manifest.get("scale", scale) != scale:
        log.warning("manifest was built for x%s, evaluating x%d", manifest.get("scale"), scale)
    results = []
    for entry, hr in manifest_crops(manifest, hr_dir, limit=limit):
        lr = bicubic_downsample(hr, scale)
        res = local_attribution_map(model, lr, Window(*entry["window"]), batch_size=batch_size, device=device)
        p, _ = evaluate_pair(res.sr, hr, scale=scale)
        r = LamCropResult(
            entry["id"], entry["file"], list(entry["window"]), res.di, res.gini, p, res.nan_gradients, res.seconds
        )
        results.append(r)
        log.info("LAM crop %d (%s): DI %.3f PSNR %.3f in %.1fs", r.id, r.file, r.di, r.psnr, r.seconds)
        if on_crop:
            on_crop(r)
    if not results:
        raise DataError("the LAM manifest selects no crops")
    di = float(np.mean([r.di for r in results]))
    finite = [r.psnr for r in results if math.isfinite(r.psnr)]
    return LamSetResult(di=di, psnr=float(np.mean(finite)) if finite else math.inf, crops=results)
