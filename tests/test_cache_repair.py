"""A damaged cache repairs itself (issue "No silent wrong output"): every export and LR image in the cache is
sealed with its sha256; bytes overwritten, a truncated file, a wrong-but-readable LR image or a damaged
OpenVINO compiled model give the right result again (the entry re-created once) and a warning naming it.
Also: a model that contradicts an ONNX file, and multi-frame images."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import backends, save_weights
from attnsr.cache import seal_path
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.data.lr_cache import cached_lr, lr_cache_path
from attnsr.export import export_onnx
from attnsr.io import load_rgb, read_image, write_image

CPU_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(not backends.is_installed(name), reason=f"{name} not installed"))
    for name in ("onnxruntime", "openvino")
]


@pytest.fixture(autouse=True)
def cache(tmp_cache) -> Path:
    return tmp_cache


def overwrite_middle(path: Path, size: int = 4096) -> None:
    """Random bytes over ``size`` bytes in the middle of ``path`` (its length and mtime aside, unchanged)."""
    n = path.stat().st_size
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(max(0, n // 2 - size // 2))
        f.write(np.random.default_rng(0).bytes(min(size, n)))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def export_files(tiny_a2n, backend: str) -> list[Path]:
    if backend == "onnxruntime":
        return [backends.cached_onnx(tiny_a2n)]
    xml = backends.cached_openvino(tiny_a2n)
    return [xml.with_suffix(".bin"), xml]


def repaired(caplog, name: str) -> bool:
    return any(
        r.levelno == logging.WARNING and "re-creating" in r.message and name in r.message for r in caplog.records
    )


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("damage", [overwrite_middle, truncate])
def test_a_damaged_export_is_rebuilt_with_a_warning(tiny_a2n, backend, damage, cache, caplog):
    x = torch.rand(3, 20, 18, generator=torch.Generator().manual_seed(1))
    ref = attnsr.Upscaler(tiny_a2n, scale=2, backend=backend, precision="fp32")(x)
    target = export_files(tiny_a2n, backend)[0]  # the .onnx, or the IR's model.bin
    damage(target)
    # OpenVINO's own compiled-model cache, gone (another precision, a cleared folder): the IR is compiled again
    for blob in (cache / "openvino" / "compiled").rglob("*.blob"):
        blob.unlink()
    with caplog.at_level(logging.WARNING):
        out = attnsr.Upscaler(tiny_a2n, scale=2, backend=backend, precision="fp32")(x)
    assert torch.equal(out, ref), "the rebuilt export gives the same pixels, not black ones"
    assert repaired(caplog, str(export_files(tiny_a2n, backend)[-1])) and target.name in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert torch.equal(attnsr.Upscaler(tiny_a2n, scale=2, backend=backend, precision="fp32")(x), ref)
    assert "re-creating" not in caplog.text, "repaired once: the next run trusts the entry"


@pytest.mark.skipif(not backends.is_installed("openvino"), reason="openvino not installed")
def test_a_damaged_openvino_compiled_model_is_dropped(tiny_a2n, cache, caplog):
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    ref = attnsr.Upscaler(tiny_a2n, scale=2, backend="openvino", precision="fp32")(x)
    (blob,) = (cache / "openvino" / "compiled").rglob("*.blob")
    overwrite_middle(blob)
    with caplog.at_level(logging.WARNING):
        out = attnsr.Upscaler(tiny_a2n, scale=2, backend="openvino", precision="fp32")(x)
    assert torch.equal(out, ref) and str(blob) in caplog.text and "damaged" in caplog.text


def test_a_wrong_but_readable_lr_image_is_rebuilt(tmp_path, cache, caplog):
    make_fake_images(tmp_path / "hr", count=1, size=(36, 40))
    (hr_path,) = sorted((tmp_path / "hr").iterdir())
    hr = load_rgb(hr_path)
    lr = cached_lr(hr_path, hr, scale=2, cache_dir=cache / "lr")
    entry = lr_cache_path(hr_path, 2, cache / "lr")
    write_image(entry, torch.rand_like(lr), overwrite=True)  # a valid PNG of the right size, wrong pixels
    with caplog.at_level(logging.WARNING):
        again = cached_lr(hr_path, hr, scale=2, cache_dir=cache / "lr")
    assert torch.equal(again, lr) and repaired(caplog, str(entry))
    assert torch.equal(load_rgb(entry), (lr * 255).round() / 255), "the entry on disk is the right LR again"
    assert seal_path(entry).read_text().split()[1] == entry.name


def test_eval_psnr_is_right_after_the_lr_cache_is_damaged(tmp_path, cache, caplog):
    torch.manual_seed(0)
    weights = tmp_path / "pan.safetensors"
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), weights)
    make_fake_images(tmp_path / "ds", count=1, size=(32, 32))
    out = tmp_path / "r.json"
    argv = ["eval", "--weights", str(weights), "--data", str(tmp_path / "ds"), "--no-progress", "--json", str(out)]

    def psnr() -> float:
        assert main([*argv, "--overwrite"]) == 0
        return json.loads(out.read_text())["results"][0]["psnr"]

    psnr()  # makes the LR entry; the second run reads it, as every later one does
    clean = psnr()
    (entry,) = (cache / "lr").rglob("*.png")
    write_image(entry, load_rgb(entry).flip(-1), overwrite=True)  # mirrored: readable, the wrong LR
    with caplog.at_level(logging.WARNING):
        assert psnr() == clean
    assert repaired(caplog, str(entry))


@pytest.mark.skipif(not backends.is_installed("onnxruntime"), reason="onnxruntime not installed")
def test_a_model_that_contradicts_the_onnx_file_is_refused(tiny_a2n, tmp_path, capsys):
    onnx = export_onnx(tiny_a2n, tmp_path / "tiny.onnx")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in.png")
    argv = ["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--weights", str(onnx)]
    argv += ["--scale", "2", "--backend", "onnxruntime"]
    assert main([*argv, "--model", "pan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "holds a2n x2, not pan" in err[0], err
    assert not (tmp_path / "out.png").exists()
    assert main([*argv, "--model", "a2n"]) == 0 and (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("suffix", [".tif", ".webp"])
def test_a_multi_frame_image_says_only_its_first_frame_is_read(tmp_path, caplog, suffix):
    frames = [Image.fromarray(np.full((6, 5, 3), v, np.uint8)) for v in (10, 200)]
    path = tmp_path / f"two{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], **({"lossless": True} if suffix == ".webp" else {}))
    with caplog.at_level(logging.WARNING):
        rgb, _, _ = read_image(path)
    assert rgb.shape == (1, 3, 6, 5) and round(rgb.max().item() * 255) == 10
    assert f"{path} holds 2 frames" in caplog.text
    caplog.clear()
    frames[0].save(tmp_path / f"one{suffix}")
    with caplog.at_level(logging.WARNING):
        read_image(tmp_path / f"one{suffix}")
    assert "frames" not in caplog.text
