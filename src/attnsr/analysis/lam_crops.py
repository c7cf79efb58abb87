"""The LAM crop set (A2N Table 7): a deterministic manifest of HR crops with one window each, its
loading, and the mean DI and PSNR of a model over it (LAM itself: :mod:`.lam`)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.imresize import bicubic_downsample
from ..errors import DataError
from ..io import list_images, load_rgb
from ..metrics import score_standard
from ..settings import expand
from .lam import BATCH_SIZE, WINDOW_SIZE, Window, local_attribution_map

log = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).parent / "manifests" / "lam_urban100_150.json"
CROP_KEYS = ("id", "file", "box", "window")  # what every crop of a manifest names
# The rule of the committed set (build_lam_manifest's defaults).
CROP_COUNT = 150
CROP_SIZE = 256
CROP_SCALE = 4
CROP_SEED = 0
CANDIDATES = 8
MARGIN = 32


def _sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _edge_energy(gray: np.ndarray) -> float:
    """Mean gradient magnitude (forward differences) of a 2-D array — texture, not flat sky."""
    dv = gray[1:, :-1] - gray[:-1, :-1]
    dh = gray[:-1, 1:] - gray[:-1, :-1]
    return float(np.sqrt(dv * dv + dh * dh).mean())


def pick_window(
    gray: np.ndarray,
    rng: np.random.Generator,
    *,
    window: int = WINDOW_SIZE,
    candidates: int = CANDIDATES,
    margin: int = MARGIN,
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
    count: int = CROP_COUNT,
    crop: int = CROP_SIZE,
    window: int = WINDOW_SIZE,
    scale: int = CROP_SCALE,
    seed: int = CROP_SEED,
    candidates: int = CANDIDATES,
    margin: int = MARGIN,
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
        "rule": "attnsr.analysis.lam_crops.build_lam_manifest: box = [top, left, height, width] of the HR crop, "
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
        raise DataError("the LAM manifest names no 'source' folder; give the folder of its images")
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


def evaluate_lam_set(
    model: nn.Module,
    manifest: dict,
    *,
    scale: int,
    hr_dir: str | Path | None = None,
    limit: int | None = None,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str | None = None,
    on_crop: Callable[[LamCropResult], None] | None = None,
    done: Iterable[LamCropResult] = (),
) -> LamSetResult:
    """LAM DI and PSNR of ``model`` over a manifest's crops (LR = MATLAB bicubic of each HR crop).

    PSNR: standard protocol (SR rounded to 8 bits, BT.601 Y, ``scale`` pixels cropped), per crop.
    ``done``: results of an interrupted run of the same model and manifest; those crops are taken as they
    are (each must name its crop's file and window) and only the others are computed.
    """
    if manifest.get("scale", scale) != scale:
        log.warning("manifest was built for x%s, evaluating x%d", manifest.get("scale"), scale)
    selected = manifest["crops"][:limit]
    by_id = {c["id"]: c for c in selected}
    reused = {}
    for r in done:
        entry = by_id.get(r.id)
        if entry is None or entry["file"] != r.file or list(entry["window"]) != list(r.window):
            raise DataError(f"earlier LAM result for crop {r.id} ({r.file}) is not a crop of this manifest")
        reused[r.id] = r
    if reused:
        log.info("LAM set: %d of %d crops taken from the earlier run", len(reused), len(selected))
    todo = {**manifest, "crops": [c for c in selected if c["id"] not in reused]}
    results = list(reused.values())
    for entry, hr in manifest_crops(todo, hr_dir):
        lr = bicubic_downsample(hr, scale)
        res = local_attribution_map(model, lr, Window(*entry["window"]), batch_size=batch_size, device=device)
        p, _ = score_standard(res.sr, hr, scale=scale)
        r = LamCropResult(
            entry["id"], entry["file"], list(entry["window"]), res.di, res.gini, p, res.nan_gradients, res.seconds
        )
        results.append(r)
        log.info("LAM crop %d (%s): DI %.3f PSNR %.3f in %.1fs", r.id, r.file, r.di, r.psnr, r.seconds)
        if on_crop:
            on_crop(r)
    if not results:
        raise DataError("the LAM manifest selects no crops")
    order = {c["id"]: i for i, c in enumerate(selected)}
    results.sort(key=lambda r: order[r.id])
    di = float(np.mean([r.di for r in results]))
    finite = [r.psnr for r in results if math.isfinite(r.psnr)]
    return LamSetResult(di=di, psnr=float(np.mean(finite)) if finite else math.inf, crops=results)
