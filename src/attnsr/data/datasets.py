"""Training data: HR folders (LR made by our imresize and cached) or paired LR/HR folders.

Images are held in memory as uint8 tensors (the 291-image set is ~100 MB); a batch is cut by
:class:`PatchSampler` from a ``torch.Generator`` whose state is part of the training checkpoint, so a
resumed run draws exactly the same patches as an uninterrupted one. Under DDP every rank draws the same
global batch and keeps its own shard, so training matches a single process with the same global batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import DataError
from ..io import list_images, load_rgb, to_levels
from .dihedral import dihedral
from .imresize import mod_crop
from .lr_cache import cached_lr

log = logging.getLogger(__name__)


@dataclass
class Pair:
    name: str
    lr: Tensor  # 3×h×w uint8
    hr: Tensor  # 3×(h·s)×(w·s) uint8


def load_pairs(
    hr_dirs: list[Path],
    *,
    scale: int,
    lr_dirs: list[Path] | None = None,
    cache_dir: Path | None = None,
    five_crop: bool = False,
    min_lr_side: int = 1,
) -> list[Pair]:
    """Load every image of ``hr_dirs`` (and its LR) as uint8 pairs. Raises DataError / ImageError early."""
    if lr_dirs is not None and len(lr_dirs) != len(hr_dirs):
        raise DataError("lr_dirs must list one folder per train_dirs folder")
    pairs: list[Pair] = []
    skipped: list[str] = []
    for i, folder in enumerate(hr_dirs):
        if not folder.is_dir():
            raise DataError(f"training folder {str(folder)!r} does not exist")
        files = list_images(folder)
        if not files:
            raise DataError(f"training folder {str(folder)!r} holds no images")
        for path in files:
            hr = mod_crop(load_rgb(path), scale)
            if lr_dirs is not None:
                lr_path = lr_dirs[i] / path.name
                if not lr_path.is_file():
                    raise DataError(f"no LR image {str(lr_path)!r} for {path.name}")
                lr = load_rgb(lr_path)
                if lr.shape[-2] * scale != hr.shape[-2] or lr.shape[-1] * scale != hr.shape[-1]:
                    raise DataError(f"{lr_path.name}: LR size {tuple(lr.shape[-2:])} is not HR/{scale}")
            else:
                lr = cached_lr(path, hr, scale=scale, cache_dir=cache_dir)
            crops = _five_crops(lr, hr, scale) if five_crop else [(lr, hr)]
            for j, (lr_c, hr_c) in enumerate(crops):
                if min(lr_c.shape[-2:]) < min_lr_side:  # valid but too small for a patch
                    skipped.append(path.name)
                    continue
                pairs.append(
                    Pair(f"{path.stem}#{j}" if five_crop else path.stem, to_levels(lr_c)[0], to_levels(hr_c)[0])
                )
    if skipped:
        log.warning(
            "skipped %d images whose LR is smaller than the %d-pixel patch (e.g. %s)",
            len(skipped),
            min_lr_side,
            skipped[0],
        )
    if not pairs:
        raise DataError(f"no training image is large enough for an LR patch of {min_lr_side} pixels")
    log.info("loaded %d training pairs from %d folders", len(pairs), len(hr_dirs))
    return pairs


def _five_crops(lr: Tensor, hr: Tensor, scale: int) -> list[tuple[Tensor, Tensor]]:
    """BAM's five-crop: four corners and the centre, each half the LR size."""
    h, w = lr.shape[-2:]
    ch, cw = h // 2, w // 2
    tops = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    return [
        (
            lr[..., t : t + ch, left : left + cw],
            hr[..., t * scale : (t + ch) * scale, left * scale : (left + cw) * scale],
        )
        for t, left in tops
    ]


class PatchSampler:
    """Draws random (LR, HR) patch batches with flips and 90° rotations from a seeded generator.

    ``state_dict``/``load_state_dict`` capture the generator, so the data order resumes exactly.
    """

    def __init__(
        self,
        pairs: list[Pair],
        *,
        scale: int,
        patch_size: int,
        batch_size: int,
        augment: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise DataError(f"batch size {batch_size} is not divisible by {world_size} processes")
        self.pairs, self.scale, self.patch, self.batch = pairs, scale, patch_size, batch_size
        self.augment, self.rank, self.world = augment, rank, world_size
        self.gen = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict:
        return {"generator": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["generator"])

    def next_batch(self) -> tuple[Tensor, Tensor]:
        """(LR, HR) float batches in [0,1], NCHW, this rank's shard of the global batch."""
        p, s = self.patch, self.scale
        idx = torch.randint(len(self.pairs), (self.batch,), generator=self.gen)
        u = torch.rand(self.batch, 2, generator=self.gen, dtype=torch.float64)
        aug = torch.randint(8, (self.batch,), generator=self.gen)
        lrs, hrs = [], []
        for b in range(self.rank, self.batch, self.world):
            pair = self.pairs[int(idx[b])]
            h, w = pair.lr.shape[-2:]
            top = int(u[b, 0] * (h - p + 1))
            left = int(u[b, 1] * (w - p + 1))
            lr = pair.lr[:, top : top + p, left : left + p]
            hr = pair.hr[:, top * s : (top + p) * s, left * s : (left + p) * s]
            if self.augment:
                lr, hr = dihedral(lr, int(aug[b])), dihedral(hr, int(aug[b]))
            lrs.append(lr)
            hrs.append(hr)
        return torch.stack(lrs).float().div_(255), torch.stack(hrs).float().div_(255)


def make_fake_images(folder: Path, *, count: int, size: tuple[int, int] = (64, 64), seed: int = 0) -> list[Path]:
    """Write ``count`` smooth random RGB PNGs (for tests and demos)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        base = rng.random((size[0] // 8 + 1, size[1] // 8 + 1, 3))
        img = Image.fromarray((base * 255).astype(np.uint8)).resize((size[1], size[0]), Image.BICUBIC)
        path = folder / f"img_{i:03d}.png"
        img.save(path)
        paths.append(path)
    return paths
