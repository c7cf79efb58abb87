"""``attnsr upscale`` and ``attnsr.upscale``: formats, API kinds, tiling, ONNX, and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import save_weights
from attnsr.backends import onnxruntime_runner, torch_runner
from attnsr.export import export_onnx, onnx_arch
from attnsr.metrics import psnr
from attnsr.upscaler import upscale, upscale_tensor

pytestmark = pytest.mark.usefixtures("module_tmp_cache")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    paths = {}
    for name, scale in (("pan", 2), ("pan", 4), ("a2n", 2)):
        paths[(name, scale)] = root / f"{name}_x{scale}.safetensors"
        save_weights(attnsr.create_model(name, scale=scale, num_blocks=1), paths[(name, scale)])
    return paths


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "attnsr", "upscale", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(proc, needle: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def rgb_png(path, size=(20, 16), mode="RGB"):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    Image.fromarray(arr[..., 0] if mode == "L" else arr, mode).save(path)
    return path


def no_outputs(folder) -> bool:
    return not [p for p in folder.rglob("*") if "_x" in p.name or p.name.endswith(".tmp")]


# ---- bad input ---------------------------------------------------------------------------------


def test_corrupt_zero_byte_text_unsupported(tmp_path, tiny):
    w = str(tiny[("pan", 2)])
    good = rgb_png(tmp_path / "good.png").read_bytes()
    (tmp_path / "corrupt.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "anim.gif")
    for name, needle in (
        ("corrupt.png", "corrupt.png"),
        ("empty.png", "empty"),
        ("text.png", "text.png"),
        ("anim.gif", "unsupported"),
    ):
        one_line_error(cli(str(tmp_path / name), "--weights", w, "--scale", "2"), needle)
    assert no_outputs(tmp_path)


def test_tiny_and_huge_images(tmp_path, tiny):
    w = str(tiny[("pan", 2)])
    rgb_png(tmp_path / "dot.png", size=(1, 1))
    one_line_error(cli(str(tmp_path / "dot.png"), "--weights", w, "--scale", "2"), "1x1")
    rgb_png(tmp_path / "big.png", size=(64, 64))
    one_line_error(cli(str(tmp_path / "big.png"), "--weights", w, "--scale", "2", "--max-pixels", "1000"), "limit")
    assert no_outputs(tmp_path)


def test_wrong_scale_or_model_weights(tmp_path, tiny):
    img = rgb_png(tmp_path / "a.png")
    one_line_error(cli(str(img), "--weights", str(tiny[("pan", 4)]), "--scale", "2"), "scale x4, not x2")
    one_line_error(
        cli(str(img), "--model", "a2n", "--weights", str(tiny[("pan", 2)]), "--scale", "2"),
        "pan model, not a2n",
    )
    assert no_outputs(tmp_path)


def test_unwritable_output_and_existing_output(tmp_path, tiny):
    img = rgb_png(tmp_path / "a.png")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(cli(str(img), "--weights", str(tiny[("pan", 2)]), "--scale", "2", "-o", str(blocker / "out")), "out")
    target = tmp_path / "a_x2.png"
    target.write_bytes(b"keep me")
    one_line_error(cli(str(img), "--weights", str(tiny[("pan", 2)]), "--scale", "2"), "--overwrite")
    assert target.read_bytes() == b"keep me"
    proc = cli(str(img), "--weights", str(tiny[("pan", 2)]), "--scale", "2", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    with Image.open(target) as im:
        assert im.size == (40, 32)


# ---- formats ----------------------------------------------------------------------------------


def test_folder_glob_and_formats(tmp_path, tiny):
    src = tmp_path / "in"
    src.mkdir()
    rgb_png(src / "gray.png", mode="L")
    rgb_png(src / "rgba.png", mode="RGBA")
    rgb_png(src / "photo.jpg")
    arr16 = np.arange(20 * 16, dtype=np.uint16).reshape(16, 20) * 200
    Image.fromarray(arr16).save(src / "deep.png")
    proc = cli(str(src), "--weights", str(tiny[("pan", 2)]), "--scale", "2", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    with Image.open(out / "gray_x2.png") as gray, Image.open(out / "rgba_x2.png") as rgba:
        assert gray.mode == "L" and rgba.mode == "RGBA" and rgba.size == (40, 32)
    with Image.open(out / "photo_x2.jpg") as photo:
        assert photo.format == "JPEG"
    deep = np.asarray(Image.open(out / "deep_x2.png"))
    assert deep.dtype in (np.uint16, np.int32) and deep.max() > 255, "16-bit stays 16-bit"
    proc = cli(str(src / "*.jpg"), "--weights", str(tiny[("pan", 2)]), "--scale", "2", "-o", str(tmp_path / "g"))
    assert proc.returncode == 0 and (tmp_path / "g" / "photo_x2.jpg").is_file()


# ---- API -------------------------------------------------------------------------------------


def test_api_returns_the_same_kind(tiny):
    model = attnsr.build_from_checkpoint(tiny[("pan", 2)])
    pil = Image.fromarray(np.zeros((10, 12, 3), np.uint8))
    out = upscale(pil, scale=2, model=model, precision="fp32")
    assert isinstance(out, Image.Image) and out.size == (24, 20)
    arr = upscale(np.zeros((10, 12), np.uint8), scale=2, model=model, precision="fp32")
    assert isinstance(arr, np.ndarray) and arr.shape == (20, 24) and arr.dtype == np.uint8
    t = upscale(torch.rand(3, 10, 12), scale=2, model=model, precision="fp32")
    assert isinstance(t, torch.Tensor) and t.shape == (3, 20, 24)
    with pytest.raises(attnsr.AttnsrError):
        upscale(pil, scale=4, model=model)


def test_tiled_equals_whole_for_pan():
    torch.manual_seed(0)
    model = attnsr.create_model("pan", scale=2, num_blocks=2).eval()
    run = torch_runner(model, precision="fp32")
    x = torch.rand(1, 3, 70, 90)
    whole = upscale_tensor(x, run, scale=2, tile=0)
    tiled = upscale_tensor(x, run, scale=2, tile=32)
    assert psnr(tiled.clamp(0, 1), whole.clamp(0, 1), y_channel=False).item() >= 50


def test_onnx_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = attnsr.create_model("a2n", scale=3, num_blocks=2).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    run, arch = onnxruntime_runner(path), onnx_arch(path)
    assert arch["name"] == "a2n" and arch["scale"] == 3
    for shape in ((1, 3, 17, 29), (1, 3, 40, 24)):  # dynamic height and width
        x = torch.rand(shape)
        with torch.no_grad():
            ref = model(x)
        assert (run(x) - ref).abs().max().item() <= 1e-4
