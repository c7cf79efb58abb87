"""``attnsr eval`` on bad input: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import attnsr
from attnsr import save_weights
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.evaluate import forward_chop, make_forward, self_ensemble


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attnsr", *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    paths = {}
    for name, scale in (("pan", 2), ("pan", 4), ("a2n", 2)):
        model = attnsr.create_model(name, scale=scale, num_blocks=1)
        paths[(name, scale)] = root / f"{name}_x{scale}.safetensors"
        save_weights(model, paths[(name, scale)])
    return paths


def test_corrupt_png_in_folder(tmp_path, tiny_weights):
    make_fake_images(tmp_path / "ds", count=1, size=(32, 32))
    good = (tmp_path / "ds" / "img_000.png").read_bytes()
    (tmp_path / "ds" / "broken.png").write_bytes(good[: len(good) // 2])
    proc = run_cli(
        "eval",
        "--weights",
        str(tiny_weights[("pan", 2)]),
        "--data",
        str(tmp_path / "ds"),
        "--no-progress",
        "--cache",
        str(tmp_path / "c"),
    )
    assert_one_line_error(proc, "broken.png")


def test_text_file_named_png(tmp_path, tiny_weights):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "notes.png").write_text("hello, I am not an image\n")
    proc = run_cli("eval", "--weights", str(tiny_weights[("pan", 2)]), "--data", str(tmp_path / "ds"), "--no-progress")
    assert_one_line_error(proc, "notes.png")


def test_empty_and_missing_folder(tmp_path, tiny_weights):
    (tmp_path / "empty").mkdir()
    proc = run_cli("eval", "--weights", str(tiny_weights[("pan", 2)]), "--data", str(tmp_path / "empty"))
    assert_one_line_error(proc, "no images")
    proc = run_cli("eval", "--weights", str(tiny_weights[("pan", 2)]), "--data", str(tmp_path / "nowhere"))
    assert_one_line_error(proc, "does not exist")


def test_checkpoint_of_wrong_model_or_scale(tmp_path, tiny_weights):
    make_fake_images(tmp_path / "ds", count=1, size=(32, 32))
    proc = run_cli(
        "eval",
        "--model",
        "a2n",
        "--scale",
        "2",
        "--weights",
        str(tiny_weights[("pan", 2)]),
        "--data",
        str(tmp_path / "ds"),
    )
    assert_one_line_error(proc, "is a pan model, not a2n")
    proc = run_cli("eval", "--scale", "3", "--weights", str(tiny_weights[("pan", 4)]), "--data", str(tmp_path / "ds"))
    assert_one_line_error(proc, "scale x4, not x3")


def test_foreign_checkpoint_mismatches(tmp_path, shared):
    make_fake_images(tmp_path / "ds", count=1, size=(32, 32))
    official = shared / "weights" / "official"
    proc = run_cli(
        "eval",
        "--model",
        "pan",
        "--scale",
        "2",
        "--weights",
        str(official / "a2n_x2.pt"),
        "--data",
        str(tmp_path / "ds"),
    )
    assert_one_line_error(proc, "holds a2n weights (its sha256 is a2n_x2.official's), not pan")
    proc = run_cli(
        "eval",
        "--model",
        "a2n",
        "--scale",
        "3",
        "--weights",
        str(official / "a2n_x2.pt"),
        "--data",
        str(tmp_path / "ds"),
    )
    assert_one_line_error(proc, "holds a2n x2 weights (its sha256 is a2n_x2.official's), not x3")
    proc = run_cli(
        "eval",
        "--model",
        "pan",
        "--scale",
        "2",
        "--weights",
        str(official / "pan_x4.pth"),
        "--data",
        str(tmp_path / "ds"),
    )
    assert_one_line_error(proc, "holds pan x4 weights (its sha256 is pan_x4.official's), not x2")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    proc = run_cli("eval", "--model", "pan", "--scale", "2", "--weights", str(junk), "--data", str(tmp_path / "ds"))
    assert_one_line_error(proc, "cannot read checkpoint")


def test_json_markdown_csv_and_saved_images(tmp_path, tiny_weights):
    make_fake_images(tmp_path / "ds", count=2, size=(24, 28))
    out = tmp_path / "out"
    rc = main(
        [
            "eval",
            "--weights",
            str(tiny_weights[("pan", 2)]),
            "--data",
            str(tmp_path / "ds"),
            "--no-progress",
            "--json",
            str(out / "r.json"),
            "--markdown",
            str(out / "r.md"),
            "--csv",
            str(out / "r.csv"),
            "--save-sr",
            str(out / "sr"),
            "--cache",
            str(tmp_path / "c"),
            "--precision",
            "bf16",
            "--ensemble",
        ]
    )
    assert rc == 0
    import json

    res = json.loads((out / "r.json").read_text())["results"][0]
    assert set(res) >= {"dataset", "scale", "psnr", "ssim", "images"} and res["dataset"] == "ds"
    assert len(res["images"]) == 2 and res["scale"] == 2
    assert (out / "r.md").read_text().startswith("| dataset")
    assert (out / "r.csv").read_text().startswith("dataset,scale")
    assert sorted(p.name for p in (out / "sr" / "ds").iterdir()) == ["img_000_x2.png", "img_001_x2.png"]
    assert list((tmp_path / "c" / "x2").glob("*.png")), "LR made on the fly is cached (the one LR cache layout)"


def test_forward_chop_matches_whole_image_for_a_local_model():
    conv = torch.nn.Conv2d(3, 3 * 4, 3, padding=1)
    model = torch.nn.Sequential(conv, torch.nn.PixelShuffle(2)).eval()
    x = torch.rand(1, 3, 41, 37)
    with torch.no_grad():
        whole = model(x)
        chopped = forward_chop(model, x, scale=2, shave=10, min_size=800)  # one level of recursion
    torch.testing.assert_close(chopped, whole, rtol=1e-5, atol=1e-6)


def test_self_ensemble_of_equivariant_model_is_identity():
    model = torch.nn.Upsample(scale_factor=2, mode="nearest")
    x = torch.rand(1, 3, 7, 9)
    torch.testing.assert_close(self_ensemble(model, x), model(x))


def test_chop_changes_a2n_output_but_not_pan_much():
    torch.manual_seed(0)
    a2n = attnsr.create_model("a2n", scale=2, num_blocks=2)
    x = torch.rand(1, 3, 40, 40)
    whole = make_forward(a2n, scale=2, protocol="standard")(x)
    chop = make_forward(a2n, scale=2, protocol="chop")(x)
    assert whole.shape == chop.shape == (1, 3, 80, 80)


def test_two_sets_of_one_name_with_save_sr_are_refused_before_any_work(tmp_path, tiny_weights, capsys):
    for side in ("a", "b"):
        make_fake_images(tmp_path / side / "Set5" / "HR", count=2, size=(24, 28))
    args = ["eval", "--weights", str(tiny_weights[("pan", 2)]), "--no-progress", "--cache", str(tmp_path / "c")]
    data = ["--data", str(tmp_path / "a" / "Set5"), str(tmp_path / "b" / "Set5")]
    for extra in ([], ["--overwrite"]):
        assert main([*args, *data, "--save-sr", str(tmp_path / "sr"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "would both save" in err[0], err
        assert not (tmp_path / "sr").exists()
    # The same folder named twice is evaluated (and saved) once.
    same = ["--data", str(tmp_path / "a" / "Set5"), str(tmp_path / "a" / "Set5" / ".." / "Set5")]
    assert main([*args, *same, "--save-sr", str(tmp_path / "sr"), "--json", str(tmp_path / "r.json")]) == 0
    import json

    assert len(json.loads((tmp_path / "r.json").read_text())["results"]) == 1
