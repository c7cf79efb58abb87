"""Issue 13, the output side of ``attnsr upscale`` and ``export`` (items 2, 7, 10, 11): every output planned
before any work, no collisions, no re-upscaled outputs, nothing written into the package, files written
with the mode a plain ``open`` gives, and the library's read/write messages saying what went wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import save_weights
from attnsr._pretrained import atomic_save
from attnsr.cli import cmd_upscale
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.errors import ImageError
from attnsr.export import export_onnx
from attnsr.io import read_image, write_image
from attnsr.upscaler import sample_image


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), tmp_path / "w.safetensors")
    return tmp_path


def upscale(*argv: str) -> int:
    try:
        return main(["upscale", *argv, "--weights", "w.safetensors", "--scale", "2", "--no-progress"])
    except SystemExit as exc:
        return exc.code


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_two_inputs_meeting_in_one_output_are_refused_before_any_work(work, capsys):
    (work / "in").mkdir()
    Image.new("RGB", (8, 8)).save(work / "in" / "b.png")
    Image.new("RGB", (8, 8)).save(work / "in" / "b.jpg")
    assert upscale("in", "--format", "png") == 2
    assert "would both be written to" in capsys.readouterr().err
    assert names(work / "in") == ["b.jpg", "b.png"]  # nothing written, not even the first


def test_an_input_given_twice_is_upscaled_once(work, capsys):
    make_fake_images(work / "ds", count=1, size=(16, 16))
    assert upscale("ds/img_000.png", "ds/img_000.png", "ds", "-o", "out") == 0
    assert "upscaled 1 image x2" in capsys.readouterr().out
    assert names(work / "out") == ["img_000_x2.png"]


def test_a_folder_upscaled_twice_with_overwrite_does_not_upscale_its_outputs(work, capsys):
    make_fake_images(work / "ds", count=2, size=(16, 16))
    assert upscale("ds") == 0
    assert upscale("ds", "--overwrite") == 0
    assert names(work / "ds") == ["img_000.png", "img_000_x2.png", "img_001.png", "img_001_x2.png"]
    assert "upscaled 2 images" in capsys.readouterr().out.splitlines()[-1]


def test_sample_without_output_writes_into_the_current_folder_not_the_package(work, capsys):
    package = sample_image().parent
    before = names(package)
    assert upscale("--sample") == 0
    assert upscale("--sample") == 2  # the second run meets its own output, not a file inside the package
    assert (work / f"{sample_image().stem}_x2.png").is_file()
    assert names(package) == before


def test_one_output_file_for_two_inputs_is_refused_without_a_folder(work, capsys):
    make_fake_images(work / "ds", count=2, size=(16, 16))
    assert upscale("ds", "-o", "out.png") == 2
    assert "names one file but 2 images" in capsys.readouterr().err
    assert not (work / "out.png").exists()


def test_output_suffix_and_format_must_agree(work, capsys):
    make_fake_images(work / "ds", count=1, size=(16, 16))
    assert upscale("ds/img_000.png", "-o", "x.jpg", "--format", "png") == 2
    assert "sets its format" in capsys.readouterr().err
    assert upscale("ds/img_000.png", "-o", "x.jpg", "--format", "jpg") == 0
    with Image.open(work / "x.jpg") as im:
        assert im.format == "JPEG"


def test_format_size_limit_checked_before_the_model_is_loaded(work, capsys, monkeypatch):
    Image.new("RGB", (8200, 2)).save(work / "wide.png")

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(cmd_upscale, "model_from_args", no_model)
    assert upscale("wide.png", "-o", "w.webp") == 2
    assert "WEBP stores at most 16383" in capsys.readouterr().err


def test_jpeg_output_of_an_image_with_alpha_warns_that_alpha_is_dropped(work, caplog):
    rgba = np.random.default_rng(0).integers(0, 256, (12, 12, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(work / "a.png")
    with caplog.at_level("WARNING", logger="attnsr"):
        assert upscale("a.png", "-o", "a.jpg") == 0
    assert any("alpha dropped" in r.getMessage() for r in caplog.records)
    with Image.open(work / "a.jpg") as im:
        assert im.mode == "RGB" and im.size == (24, 24)


def test_every_writer_gives_the_mode_of_a_plain_open(tmp_path, umask_022):
    model = attnsr.create_model("pan", scale=2, num_blocks=1)
    save_weights(model, tmp_path / "w.safetensors")
    atomic_save({"a": torch.zeros(2)}, tmp_path / "c.pt")
    export_onnx(model, tmp_path / "m.onnx")
    write_image(tmp_path / "i.png", torch.rand(1, 3, 4, 4))
    assert {p.name: file_mode(p) for p in tmp_path.iterdir()} == {
        n: 0o644 for n in ("w.safetensors", "c.pt", "m.onnx", "i.png")
    }


def test_export_openvino_files_have_the_mode_of_a_plain_open(work, umask_022, capsys):
    pytest.importorskip("openvino", reason="openvino is not installed")
    assert main(["export", "openvino", "-o", "ir", "--weights", "w.safetensors", "--scale", "2"]) == 0
    files = sorted((work / "ir").iterdir())
    assert [p.suffix for p in files] == [".bin", ".xml"] and all(file_mode(p) == 0o644 for p in files)


def test_an_unreadable_file_is_reported_as_such_not_as_corrupt(tmp_path, monkeypatch):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("attnsr.io._open_unguarded", denied)
    with pytest.raises(ImageError, match="permission denied") as e:
        read_image(tmp_path / "a.png")
    assert "corrupt" not in str(e.value)
