"""Render the package's sample image (src/attnsr/assets/sample.png): a synthetic 160x120 scene with
edges, stripes, text and gradients — the kind of structure super-resolution should restore.
It is drawn here (no third-party image), so it can ship with the package."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def render(width: int = 640, height: int = 480) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([90 + 80 * y / height, 140 + 60 * y / height, 220 - 40 * y / height], -1)
    img = Image.fromarray(sky.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for i in range(7):  # building blocks with windows
        left = 20 + i * 88
        top = 170 + (i * 53) % 120
        d.rectangle([left, top, left + 70, height], fill=(120 + i * 12, 110 + i * 7, 100 + i * 5))
        for wy in range(top + 10, height - 10, 22):
            for wx in range(left + 8, left + 62, 18):
                d.rectangle([wx, wy, wx + 9, wy + 12], fill=(250, 230, 150) if (wx + wy) % 3 else (40, 50, 70))
    for k in range(30):  # a striped awning
        d.polygon(
            [(300 + k * 6, 140), (306 + k * 6, 140), (300 + k * 6, 160)],
            fill=(200, 30, 40) if k % 2 else (245, 245, 245),
        )
    d.ellipse([520, 30, 600, 110], fill=(255, 220, 90))
    for r in range(0, 360, 15):
        a = math.radians(r)
        d.line(
            [
                (560 + 48 * math.cos(a), 70 + 48 * math.sin(a)),
                (560 + 70 * math.cos(a), 70 + 70 * math.sin(a)),
            ],
            fill=(255, 200, 60),
            width=3,
        )
    d.text((30, 30), "attnsr  x4  A2N", fill=(20, 20, 30))
    d.text((30, 60), "Attention in Attention", fill=(250, 250, 250))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return img.resize((width // 4, height // 4), Image.LANCZOS)


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "src" / "attnsr" / "assets" / "sample.png"
    render().save(out, optimize=True)
    print(out, out.stat().st_size, "bytes")
