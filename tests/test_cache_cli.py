"""``attnsr cache info|clear``: the one cache folder, size and entries per kind; clearing one kind or all."""

from __future__ import annotations

import importlib.util

import pytest

from attnsr import backends
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.data.lr_cache import cached_lr
from attnsr.io import load_rgb


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx not installed")
def test_cache_info_and_clear(tiny_a2n, tmp_path, tmp_cache, capsys):
    cache = tmp_cache
    make_fake_images(tmp_path / "hr", count=2, size=(24, 24))
    for path in sorted((tmp_path / "hr").iterdir()):
        cached_lr(path, load_rgb(path), scale=2, cache_dir=cache / "lr")
    backends.cached_onnx(tiny_a2n)
    (cache / "weights").mkdir()
    for name in ("a.pth", "b.pth.part", "b.pth.lock"):  # one weight file, one download in progress
        (cache / "weights" / name).write_bytes(b"0")
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert rows["onnx"][-1] == "1" and rows["lr"][-1] == "2" and rows["weights"][-1] == "1"
    assert main(["cache", "clear", "--kind", "lr"]) == 0
    assert "lr: deleted 2 entries" in capsys.readouterr().out
    assert not (cache / "lr").exists() and (cache / "onnx").is_dir()
    assert main(["cache", "clear"]) == 0 and not any(cache.iterdir())
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        main(["cache", "clear", "--kind", "everything"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
