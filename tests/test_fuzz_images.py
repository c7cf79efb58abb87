"""Fuzz: seeded mutations of small PNG, JPEG, WebP, TIFF and BMP files (bit flips, truncations, inserted
chunks, header edits) through the image reader and through ``attnsr upscale``.

Each case either loads (a finite 1×3×H×W float tensor in [0, 1]) / upscales (exit 0, one output file), or
fails with the project's own error (``ImageError`` from the reader; exit ≠ 0 with one ``error:`` line and no
output from the command) — never any other exception, never a hang (a per-case alarm bounds the time).
"""

from __future__ import annotations

import io
import signal
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.errors import ImageError
from attnsr.io import read_image

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF", "bmp": "BMP"}
READER_CASES = 80  # per format: 400 in all
COMMAND_CASES = 10  # per format: 50 in all (each runs the model)
SECONDS_PER_CASE = 20
MAX_PIXELS = 1_000_000  # header edits can claim huge sizes; the limit keeps every case small


def _base(fmt: str) -> bytes:
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 8, y * 10, (x + y) * 4], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=FORMATS[fmt], **({"quality": 90} if fmt in ("jpg", "webp") else {}))
    return buf.getvalue()


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = int(rng.integers(4))
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(len(b)))
            b[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation
        b = b[: int(rng.integers(len(b)))]
    elif kind == 2:  # inserted chunk
        i = int(rng.integers(len(b) + 1))
        b[i:i] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    else:  # header edits: overwrite bytes among the first 64
        for _ in range(int(rng.integers(1, 5))):
            b[int(rng.integers(min(64, len(b))))] = int(rng.integers(256))
    return bytes(b)


@contextmanager
def time_limit(seconds: int):
    def fire(signum, frame):
        raise TimeoutError(f"case took over {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_mutate_changes_the_bytes():
    rng = np.random.default_rng(0)
    data = _base("png")
    assert sum(mutate(data, rng) != data for _ in range(50)) >= 45


@pytest.mark.parametrize("ext", list(FORMATS))
def test_reader_loads_or_raises_image_error(tmp_path, ext):
    rng = np.random.default_rng(1000 + list(FORMATS).index(ext))
    data = _base(ext)
    loaded = refused = 0
    for case in range(READER_CASES):
        path = tmp_path / f"case{case}.{ext}"
        path.write_bytes(mutate(data, rng))
        with time_limit(SECONDS_PER_CASE):
            try:
                rgb, alpha, info = read_image(path, max_pixels=MAX_PIXELS)
            except ImageError as e:
                assert "\n" not in str(e) and str(path) in str(e)
                refused += 1
                continue
        assert rgb.dtype == torch.float32 and rgb.dim() == 4 and rgb.shape[:2] == (1, 3)
        assert torch.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
        loaded += 1
    assert loaded + refused == READER_CASES and refused > 0


@pytest.mark.parametrize("ext", list(FORMATS))
def test_upscale_command_upscales_or_fails_in_one_line(tmp_path, capsys, ext):
    rng = np.random.default_rng(2000 + list(FORMATS).index(ext))
    data = _base(ext)
    for case in range(COMMAND_CASES):
        src = tmp_path / f"case{case}.{ext}"
        src.write_bytes(mutate(data, rng))
        out = tmp_path / f"out{case}"
        out.mkdir()
        with time_limit(SECONDS_PER_CASE):
            rc = main(["upscale", str(src), "-o", str(out), "--max-pixels", str(MAX_PIXELS), "--no-progress"])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if rc == 0:
            assert len(list(out.iterdir())) == 1
        else:
            assert [line for line in err.splitlines() if line.startswith("error:")], err
            assert not list(out.iterdir()), "a failed case left a file"
