"""Every subcommand of this table over bad arguments (issue 13 items 4, 6, 9, 11): a non-zero exit, exactly
one ``error:`` line on stderr, no traceback, and no file created or changed — checked on a snapshot of
the working folder taken before and after each case. Runs in-process (no torch start-up per case)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import attnsr
from attnsr import save_weights
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images

LONG = "a" * 300  # a file name over the usual 255-byte limit
# the resume rows train on the work folder's own images, so they reach the checkpoint without ../shared
OWN_DATA = ["--set", "data.train_dirs=[ds]", "--set", "data.val_dir=ds", "--set", "data.patch_size=8"]

CASES = {
    "eval": [
        (["--device", "cuda"], "CUDA is not available"),
        (["--device", "cuda:3"], "CUDA is not available"),
        (["--device", "banana"], "cpu, cuda or cuda:N"),
        (["--device", "mps"], "cpu, cuda or cuda:N"),
        (["--json", "/proc/no/r.json"], "not writable"),
        (["--json", "afile/r.json"], "is a file, not a folder"),
        (["--json", "folder.json"], "a folder of that name exists"),
        (["--json", "exists.json"], "pass --overwrite"),
        (["--json", "r.txt"], "must end in .json"),
        (["--csv", "exists.csv"], "pass --overwrite"),
        (["--markdown", "exists.md"], "pass --overwrite"),
        (["--markdown", "r.json"], "must end in .md"),
        (["--save-sr", "afile"], "is a file, not a folder"),
        (["--save-sr", "/proc/no/sr"], "not writable"),
        (["--save-sr", "sr"], "sr/ds/img_000_x2.png' exists"),
        (["--cache", "afile"], "is a file, not a folder"),
        (["--data", "mismatch"], "needs 16x16 at x2"),
        (["--data", LONG], "File name too long"),
        (["--data", "nowhere"], "does not exist"),
    ],
    "train": [
        (["--set", "iterations=-3"], "'iterations' must be at least 1"),
        (["--set", "data.batch_size=-2"], "'data.batch_size' must be at least 1"),
        (["--set", "data.batch_size=0"], "'data.batch_size' must be at least 1"),
        (["--set", "data.patch_size=-5"], "'data.patch_size' must be at least 1"),
        (["--set", "device=cuda", "--set", "out_dir=run_cuda"], "CUDA is not available"),
        (["--set", "device=mps"], "'device' must be auto, cpu, cuda or cuda:N"),
        (["--set", "data.train_dirs=nope", "--set", "data.val_dir=null", "--set", "out_dir=run1"], "does not exist"),
        (["--set", "out_dir=afile"], "is a file, not a folder"),
        (["--set", "out_dir=/proc/no/run"], "not writable"),
        (["missing.yaml"], "does not exist"),
        (["--set", "seed=-1"], "'seed' must be an integer in [0, 2**32 - 1]"),
        (["--set", "seed=99999999999"], "'seed' must be an integer in [0, 2**32 - 1]"),
        (["--set", "optim.lr=.inf"], "'optim.lr' must be a finite number"),
        (["--set", "optim.betas=[0.9, 1]"], "'optim.betas' must be two numbers in [0, 1)"),
        (["--set", "optim.ema=1.5"], "'optim.ema' must be a decay in (0, 1)"),
        (["--set", "model.options={num_blocks: -1}"], "'num_blocks' must be an integer of at least 1"),
        (["--set", "model.options={num_feats: 0}"], "'num_feats' must be an integer of at least 1"),
        (["--set", "model.options={nonsense: 1}"], "has no option 'nonsense'"),
        (["--set", "=3"], "is not of the form key=value"),
        (["--set", "iterations"], "is not of the form key=value"),
        (["--set", "nokey=1"], "unknown config key 'nokey'"),
        (["--set", "out_dir=damaged", *OWN_DATA, "--resume"], "does not load as a checkpoint"),
        (["--set", "out_dir=notckpt", *OWN_DATA, "--resume"], "is not a training checkpoint of attnsr"),
        (["--set", "out_dir=emptyrun", *OWN_DATA, "--resume"], "nothing to resume"),
    ],
    "analyze heatmap": [
        (["--image", "tiny.png", "-o", "h.txt"], "must end in .png"),
        (["--image", "tiny.png", "-o", "/proc/no/h.png"], "not writable"),
        (["--image", "tiny.png", "-o", "exists.png"], "pass --overwrite"),
        (["--image", "tiny.png", "-o", "h.png", "--device", "cuda"], "CUDA is not available"),
        (["--image", f"{LONG}.png", "-o", "h.png"], "File name too long"),
        (["--image", "missing.png", "-o", "h.png"], "missing.png"),
        (["--image", "tiny.png", "-o", "h.png", "--blocks", ","], "names no block"),
        (["--image", "tiny.png", "-o", "h.png", "--blocks", "0"], "outside 1..16"),
        (["--image", "tiny.png", "-o", "h.png", "--blocks", "3-1"], "is not a block or an increasing range"),
        (["--image", "tiny.png", "-o", "h.png", "--blocks", "1,x"], "is not a block or an increasing range"),
        (["--image", "tiny.png", "-o", "h.png", "--option", "=2"], "--option '=2' is not of the form key=value"),
        (["--image", "tiny.png", "-o", "h.png", "--option", "num_blocks=0"], "must be an integer of at least 1"),
    ],
    "analyze correlation": [
        (["--data", "ds", "--limit", "0"], "--limit: must be at least 1"),
        (["--data", "ds", "--limit", "-2"], "--limit: must be at least 1"),
        (["--data", "tinyds"], "too small for x4"),
        (["--data", "ds", "--json", "exists.json"], "pass --overwrite"),
        (["--data", "ds", "--plot", "p.txt"], "must end in .png"),
        (["--data", "ds", "--csv", "afile/c.csv"], "is a file, not a folder"),
        (["--data", "ds", "--blocks", "17"], "outside 1..16"),
        (["--data", "ds", "--blocks", ""], "names no block"),
    ],
    "analyze switching": [
        (["--data", "ds", "--json", "exists.json"], "pass --overwrite"),
        (["--data", "ds", "--markdown", "/proc/no/t.md"], "not writable"),
        (["--data", "ds", "--device", "cuda"], "CUDA is not available"),
        (["--data", "ds", "--settings", ";"], "names no setting"),
        (["--data", "ds", "--settings", ""], "names no setting"),
        (["--data", "ds", "--settings", "all;2-1"], "is not a block or an increasing range"),
        (["--data", "ds", "--settings", "1-99"], "outside 1..16"),
        (["--data", "ds", "--settings", "banana"], "use all, none, front, back, interleaved"),
    ],
    "analyze adm": [
        (["--data", "tinyds"], "too small for x4"),
        (["--data", "ds", "--top", "0"], "--top: must be at least 1"),
        (["--data", "ds", "--maps", "exists.png"], "pass --overwrite"),
        (["--data", "ds", "--plot", "p.png", "--maps", "p.png"], "named for two outputs"),
    ],
    "analyze lam": [
        (["--image", "ds/img_000.png", "--window", "4,4", "--steps", "0"], "--steps: must be at least 1"),
        (["--image", "ds/img_000.png", "--window", "4,4", "--batch-size", "0"], "--batch-size: must be at least 1"),
        (["--image", "ds/img_000.png", "--window", "4,4", "--sigma", "-1"], "--sigma"),
        (["--image", "ds/img_000.png", "--window", "4,4", "-o", "exists.png"], "pass --overwrite"),
    ],
    "analyze lam-set": [
        (["--manifest", "no_window.json", "--data", "ds"], "crop 0 has no 'window'"),
        (["--manifest", "no_source.json"], "no 'source'"),
        (["--limit", "0"], "--limit: must be at least 1"),
    ],
    "analyze lam-manifest": [
        (["--data", "ds", "--count", "0", "-o", "m.json"], "--count: must be at least 1"),
        (["--data", "ds", "-o", "exists.json"], "pass --overwrite"),
        (["--data", "ds", "-o", "m.txt"], "must end in .json"),
    ],
    "profile": [
        (["pan", "--sizes", "0"], "--sizes: must be at least 1"),
        (["pan", "--sizes", "-5"], "--sizes: must be at least 1"),
        (["pan", "--fps-at", "banana"], "HxW"),
        (["pan", "--fps-at", "0x0"], "HxW"),
        (["pan", "--repeats", "0"], "--repeats: must be at least 1"),
        (["pan", "--plot", "x.txt"], "must end in .png"),
        (["pan", "--no-fps", "--plot", "p.png", "--sizes", "8"], "--no-fps"),
        (["pan", "--plot", "p.png"], "--sizes"),
        (["pan", "--json", "/proc/no/p.json"], "not writable"),
        (["pan", "--json", "exists.json"], "pass --overwrite"),
        (["pan", "--device", "cuda"], "CUDA is not available"),
        (["no_such_model"], "no_such_model"),
    ],
    "models": [
        (["--bogus"], "--bogus"),
    ],
    "weights": [
        (["download", "nope"], "no weights named 'nope'"),
        (["path", "a2n_x9.builtin"], "no weights named 'a2n_x9.builtin'"),
        (["verify", "nope"], "no weights named 'nope'"),
        (["bogus"], "invalid choice"),
        ([], "ACTION"),
    ],
    "upscale": [
        (["ds/img_000.png", "--tile", "-1"], "--tile: tile -1 is too small"),
        (["ds/img_000.png", "--tile", "9"], "use at least 16"),
        (["ds/img_000.png", "--tile", "big"], "--tile"),
        (["ds/img_000.png", "--device", "banana"], "cpu, cuda or cuda:N"),
        (["ds/img_000.png", "--device", "mps"], "cpu, cuda or cuda:N"),
        (["ds/img_000.png", "--device", "cuda"], "CUDA is not available"),
        (["ds/img_000.png", "--quality", "-5"], "--quality: must be between 1 and 100"),
        (["ds/img_000.png", "--quality", "1000"], "--quality: must be between 1 and 100"),
        (["ds/img_000.png", "--max-pixels", "0"], "--max-pixels: must be at least 1"),
        (["ds/img_000.png", "-o", "x.jpg", "--format", "png"], "the suffix of the output sets its format"),
        (["ds", "-o", "out.png"], "names one file but 2 images are given"),
        (["ds/img_000.png", "-o", "out.gif"], "must end in .png"),
        (["ds/img_000.png", "-o", "exists.png"], "pass --overwrite"),
        (["ds/img_000.png", "-o", "/proc/no/o.png"], "not writable"),
        (["ds/img_000.png", "-o", "afile/o.png"], "is a file, not a folder"),
        (["collide"], "would both be written to"),
        (["wide.png", "-o", "w.webp"], "WEBP stores at most 16383 pixels a side"),
        (["ds/img_000.png", "--weights", "ds"], "is a folder"),
        (["ds/img_000.png", "--scale", "5"], "--scale"),
        ([f"{LONG}.png"], "File name too long"),
        (["nothing_here.png"], "no such file"),
        ([], "give at least one INPUT"),
    ],
    "export": [
        (["onnx", "-o", "m.onnx", "--opset", "3"], "--opset: must be between 11 and 20"),
        (["onnx", "-o", "m.onnx", "--opset", "99"], "--opset: must be between 11 and 20"),
        (["onnx", "-o", "folder.onnx"], "a folder of that name exists"),
        (["onnx", "-o", "/proc/no/m.onnx"], "not writable"),
        (["onnx", "-o", "exists.onnx"], "pass --overwrite"),
        (["onnx", "-o", "m.txt"], "must end in .onnx"),
        (["openvino", "-o", "afile"], "is a file, not a folder"),
        (["onnx", "-o", "m.onnx", "--weights", "ds"], "is a folder"),
    ],
}

MODEL_ARGS = {
    "eval": ["--weights", "w.safetensors", "--data", "ds", "--no-progress"],
    "analyze heatmap": ["--model", "a2n", "--scale", "4"],
    "analyze correlation": ["--model", "a2n", "--scale", "4", "--no-progress"],
    "analyze switching": ["--model", "a2n", "--scale", "4", "--no-progress"],
    "analyze adm": ["--model", "a2n", "--scale", "4", "--no-progress"],
    "analyze lam": ["--model", "a2n", "--scale", "4"],
    "analyze lam-set": ["--model", "a2n", "--scale", "4", "--no-progress"],
    "train": ["--no-progress"],
    "upscale": ["--weights", "w.safetensors", "--scale", "2", "--no-progress"],
    "export": ["--weights", "w.safetensors", "--scale", "2"],
}


def _table():
    for command, cases in CASES.items():
        for args, needle in cases:
            argv = [*command.split(), *MODEL_ARGS.get(command, []), *args]
            # a later --data wins over the default one (argparse keeps the last)
            yield pytest.param(argv, needle, id=f"{command}: {' '.join(args)[:60]}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("work")
    torch.manual_seed(0)
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), root / "w.safetensors")
    make_fake_images(root / "ds", count=2, size=(32, 32))
    (root / "tinyds").mkdir()
    Image.new("RGB", (3, 3), "gray").save(root / "tinyds" / "a.png")
    Image.new("RGB", (3, 3), "gray").save(root / "tiny.png")
    make_fake_images(root / "mismatch" / "HR", count=1, size=(32, 32))
    (root / "mismatch" / "LR_bicubic" / "X2").mkdir(parents=True)
    Image.new("RGB", (10, 10)).save(root / "mismatch" / "LR_bicubic" / "X2" / "img_000x2.png")
    (root / "sr" / "ds").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "sr" / "ds" / "img_000_x2.png")
    (root / "collide").mkdir()
    Image.new("RGB", (8, 8)).save(root / "collide" / "b.png")
    Image.new("RGB", (8, 8)).save(root / "collide" / "b.PNG")
    Image.new("RGB", (8200, 2)).save(root / "wide.png")  # x2: 16400 pixels wide, over WebP's 16383
    (root / "folder.onnx").mkdir()
    for name in ("exists.json", "exists.csv", "exists.md", "afile", "exists.onnx"):
        (root / name).write_text("keep me\n")
    Image.new("RGB", (4, 4)).save(root / "exists.png")
    (root / "folder.json").mkdir()
    (root / "damaged").mkdir()
    (root / "damaged" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated zip")
    (root / "notckpt").mkdir()
    torch.save({"weights": torch.zeros(2)}, root / "notckpt" / "checkpoint.pt")
    (root / "emptyrun").mkdir()
    crop = {"id": 0, "file": "img_000.png", "box": [0, 0, 32, 32], "window": [8, 8, 8, 8]}
    (root / "no_window.json").write_text(json.dumps({"crops": [{k: v for k, v in crop.items() if k != "window"}]}))
    (root / "no_source.json").write_text(json.dumps({"crops": [crop]}))
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    return {
        str(p.relative_to(root)): (p.is_dir(), None if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns))
        for p in sorted(root.rglob("*"))
    }


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("argv", "needle"), list(_table()))
def test_bad_arguments(argv, needle, workdir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the table is about a machine without CUDA
    before = snapshot(workdir)
    code, err = run_main(argv, capsys)  # a traceback would be an exception escaping here
    assert code not in (0, None), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err and "\x1b" not in err
    assert snapshot(workdir) == before, "a failed command created or changed files"
