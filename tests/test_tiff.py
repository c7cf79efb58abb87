"""TIFF in and out: a TIFF's own layout tags (size, strips) are not carried as EXIF into the output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.io import read_image, write_image

WIDTH, HEIGHT = 0x0100, 0x0101
MAKE = 0x010F


def _tiff(path, mode: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 24, len(mode)), dtype=np.uint8).squeeze()
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    Image.fromarray(a, mode).save(path, exif=exif.tobytes())


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
@pytest.mark.parametrize("suffix", [".tif", ".png", ".jpg", ".webp"])
def test_tiff_source_writes_any_format_with_true_size_and_real_exif(tmp_path, mode, suffix):
    src = tmp_path / "in.tif"
    _tiff(src, mode)
    rgb, alpha, info = read_image(src)
    up = torch.nn.functional.interpolate(rgb, scale_factor=2)
    a_up = None if alpha is None else torch.nn.functional.interpolate(alpha, scale_factor=2)
    out = write_image(tmp_path / f"out{suffix}", up, alpha=a_up, info=info)
    with Image.open(out) as im:
        assert im.size == (48, 40)
        exif = im.getexif()
        assert exif.get(MAKE) == "TestCam"  # real EXIF is kept
        if suffix != ".tif":  # no stale TIFF layout tags in another format's EXIF
            assert WIDTH not in exif and HEIGHT not in exif
        else:
            assert exif.get(WIDTH) == 48


def test_upscale_command_tiff_to_tiff(tmp_path):
    src = tmp_path / "in.tif"
    _tiff(src, "RGB")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["upscale", str(src), "-o", str(out), "--no-progress"]) == 0
    (result,) = out.iterdir()
    assert result.suffix == ".tif"
    with Image.open(result) as im:
        assert im.size == (96, 80) and im.getexif().get(MAKE) == "TestCam"
