"""The one LR cache (issue 14): training and evaluation share entries, keys and folder."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from attnsr.config import load_config
from attnsr.data.datasets import load_pairs, make_fake_images
from attnsr.data.imresize import bicubic_downsample, mod_crop
from attnsr.data.lr_cache import cached_lr, default_lr_cache, lr_cache_path
from attnsr.evaluate import make_lr
from attnsr.io import load_rgb
from attnsr.settings import cache_root, expand


def test_cache_root_and_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c" and default_lr_cache() == tmp_path / "c" / "lr"
    assert expand(load_config().data.cache_dir) == tmp_path / "c" / "lr"
    monkeypatch.delenv("ATTNSR_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "attnsr"


def test_training_and_evaluation_share_one_entry(tmp_path):
    make_fake_images(tmp_path / "hr", count=1, size=(40, 36))
    (path,) = sorted((tmp_path / "hr").iterdir())
    cache = tmp_path / "cache"
    pairs = load_pairs([tmp_path / "hr"], scale=2, cache_dir=cache)
    entries = sorted(cache.rglob("*.png"))
    assert entries == [lr_cache_path(path, 2, cache)] and entries[0].parent.name == "x2"
    written = entries[0].stat().st_mtime_ns
    hr = mod_crop(load_rgb(path), 2)
    lr = make_lr(path, hr, scale=2, protocol="standard", root=tmp_path / "hr", cache_dir=cache)
    assert sorted(cache.rglob("*.png")) == entries and entries[0].stat().st_mtime_ns == written  # read, not rewritten
    assert torch.equal((lr * 255).round().to(torch.uint8)[0], pairs[0].lr)
    torch.testing.assert_close(lr, bicubic_downsample(hr, 2), rtol=0, atol=0.5 / 255 + 1e-6)


def test_an_edited_hr_file_gets_a_fresh_entry_and_a_broken_one_is_recreated(tmp_path):
    make_fake_images(tmp_path / "hr", count=1, size=(24, 24))
    (path,) = sorted((tmp_path / "hr").iterdir())
    cache = tmp_path / "cache"
    hr = load_rgb(path)
    first = lr_cache_path(path, 3, cache)
    cached_lr(path, hr, scale=3, cache_dir=cache)
    first.write_bytes(b"broken")
    again = cached_lr(path, hr, scale=3, cache_dir=cache)
    assert load_rgb(first).shape == again.shape  # re-created
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert lr_cache_path(path, 3, cache) != first
    assert lr_cache_path(path, 3, cache).parent == Path(cache) / "x3"
