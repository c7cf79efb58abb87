"""The web page's work without Gradio (:mod:`attnsr.web.pages`): what it offers and refuses, where a click's
LAM runs, and ``attnsr serve`` without the ``web`` extra."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import save_weights
from attnsr.analysis.lam import FAST_POINTS
from attnsr.cli.main import main
from attnsr.errors import AttnsrError
from attnsr.upscaler import Upscaler
from attnsr.web import pages


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    torch.manual_seed(0)
    save_weights(attnsr.create_model("a2n", scale=2, num_blocks=1).eval(), path)
    return path


def test_the_catalog_offers_names_and_refuses_paths_without_opening_them(checkpoint, tmp_path):
    catalog = pages.Catalog([checkpoint])
    assert catalog.weights_choices == ["builtin", "official", "tiny.safetensors"]
    assert {"a2n", "pan", "imdn"} <= set(catalog.model_choices)
    assert catalog.checkpoints["tiny.safetensors"].model == "a2n" and catalog.checkpoints["tiny.safetensors"].scale == 2
    assert catalog.weights_spec("tiny.safetensors") == checkpoint
    assert catalog.describe("a2n", 2, "tiny.safetensors") == f"--weights {checkpoint}"
    assert catalog.describe("pan", 4, "official") == "--model pan --scale 4 --weights official"
    assert catalog.describe("a2n", 4, "builtin") == "--model a2n --scale 4"
    for typed in (str(checkpoint), str(tmp_path / "nowhere.pth"), "../tiny.safetensors", "~/w.pt"):
        with pytest.raises(AttnsrError, match="not offered by this page") as exc:
            catalog.weights_spec(typed)
        assert "does not exist" not in str(exc.value)


def test_two_checkpoints_of_one_name_are_told_apart_by_path(checkpoint, tmp_path):
    other = tmp_path / "tiny.safetensors"
    other.write_bytes(checkpoint.read_bytes())
    assert pages.Catalog([checkpoint, other]).weights_choices[2:] == [str(checkpoint), str(other)]


def test_a_checkpoint_that_does_not_load_stops_the_server_at_start(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(AttnsrError):
        pages.Catalog([bad])


@pytest.mark.parametrize(("tile", "size"), [("auto", (40, 50)), (0, (40, 50)), (16, (40, 50)), (24, (17, 70))])
def test_tile_count_is_the_number_of_tiles_the_upscaler_runs(tiny_a2n, tile, size):
    upscaler = Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32", tile=tile)
    calls = []
    upscaler.upscale_tensor(torch.rand(1, 3, *size), on_tile=lambda: calls.append(1))
    assert pages.tile_count(upscaler, *size) == len(calls)


def test_upscale_upload_writes_the_full_png_and_same_size_previews(tiny_a2n, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray((np.random.default_rng(0).random((20, 26, 4)) * 255).astype(np.uint8), "RGBA").save(src)
    upscaler = Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32", tile=16)
    seen = []
    res = pages.upscale_upload(
        src, upscaler=upscaler, out_dir=tmp_path / "out", on_tile=lambda d, t: seen.append((d, t))
    )
    assert len(seen) > 1 and seen == [(i + 1, len(seen)) for i in range(len(seen))]  # tiles with their total
    out = Image.open(res.png)
    assert out.mode == "RGBA" and out.size == (52, 40) and res.output_size == (52, 40)
    assert Image.open(res.bicubic_preview).size == Image.open(res.sr_preview).size == (52, 40)
    expected = attnsr.upscale(Image.open(src), scale=2, model=tiny_a2n, backend="torch", precision="fp32", tile=16)
    assert np.array_equal(np.asarray(out), np.asarray(expected))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_lam_region_holds_the_click_on_the_scale_grid(scale):
    height, width = 600 - 600 % scale, 500 - 500 % scale
    for x, y in [(0, 0), (width - 1, height - 1), (250, 310), (7, 590 - 590 % scale)]:
        top, left, h, w = pages.lam_box(height, width, x, y, scale=scale)
        assert h == w == 256 - 256 % scale and top % scale == 0 and left % scale == 0
        assert 0 <= top <= y < top + h <= height and 0 <= left <= x < left + w <= width
    assert pages.lam_box(40, 48, 47, 0, scale=2) == (0, 0, 40, 48)  # a small image: all of it


def test_the_window_is_centred_and_kept_inside():
    assert pages.centred_window(20, 30, size=16, height=100, width=100) == attnsr.analysis.lam.Window(22, 12, 16, 16)
    assert pages.centred_window(0, 99, size=8, height=100, width=60) == attnsr.analysis.lam.Window(91, 0, 8, 8)
    with pytest.raises(AttnsrError, match="does not fit"):
        pages.centred_window(3, 3, size=16, height=16, width=40)


def test_a_click_on_a_large_image_gives_the_di_of_analyze_lam_on_its_region(checkpoint, tmp_path):
    torch.manual_seed(3)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 40), size=(300, 400), mode="bilinear")
    path = tmp_path / "large.png"
    Image.fromarray((img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    hr = pages.hr_image(path, scale=2)
    model = pages.Catalog([checkpoint]).module("a2n", 2, "tiny.safetensors")
    click = pages.lam_click(model, hr, 390, 150, scale=2, size=16)
    assert click.box == (22, 144, 256, 256)
    region = pages.write_region(click, tmp_path / "region.png")
    w = click.window
    out = tmp_path / "lam.json"
    argv = ["analyze", "lam", "--weights", str(checkpoint), "--image", str(region), "--json", str(out)]
    assert main([*argv, "--window", f"{w.row},{w.col},{w.height}"]) == 0
    cli = json.loads(out.read_text())
    assert cli["points"] == FAST_POINTS and abs(cli["di"] - click.result.di) < 1e-6


def test_serve_without_the_web_extra_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio fails as if it were not installed
    assert main(["serve", "--port", "7861"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['error: the web page needs Gradio: pip install "attnsr[web]"']


def test_serve_listens_on_this_machine_by_default(capsys):
    from attnsr.cli.main import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.checkpoint, args.threads) == ("127.0.0.1", 7860, [], None)  # torch's
    assert build_parser().parse_args(["serve", "--threads", "1"]).threads == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--port", "70000"])
