"""Evaluation protocols are records (LR maker, forward, metric) in one place: attnsr.evaluate.PROTOCOLS.

Each protocol is checked against its definition written out by hand (SPEC §3), bit for bit, on a tiny
folder and a tiny model whose output depends on the whole image (so chop and whole-image differ).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr.data.datasets import make_fake_images
from attnsr.data.imresize import bicubic_downsample, mod_crop
from attnsr.evaluate import PROTOCOLS, Protocol, evaluate_folder, forward_chop, get_protocol, make_forward, make_lr
from attnsr.io import load_rgb
from attnsr.metrics import evaluate_pair


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    make_fake_images(root / "ds", count=2, size=(44, 52))
    return root / "ds"


class GlobalShift(torch.nn.Module):
    """×2 nearest upscale shifted by the image mean: a whole-image model, so chop changes its output."""

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest") + (x.mean() - 0.5) * 0.5


@pytest.fixture(scope="module", params=["a2n", "global-shift"])
def model(request):
    torch.manual_seed(0)
    if request.param == "a2n":
        return attnsr.create_model("a2n", scale=2, num_blocks=1).eval()
    return GlobalShift()


def _reference(protocol: str, model, path, *, scale: int) -> tuple[float, float]:
    """SPEC §3 written out without the records."""
    hr = mod_crop(load_rgb(path), scale)
    if protocol == "bam-legacy":
        arr = np.asarray(Image.open(path).convert("RGB"))[: hr.shape[2], : hr.shape[3]]
        lr_img = Image.fromarray(arr).resize((arr.shape[1] // scale, arr.shape[0] // scale), Image.BICUBIC)
        lr = torch.from_numpy(np.asarray(lr_img).copy()).permute(2, 0, 1)[None].float() / 255
    else:
        lr = bicubic_downsample(hr, scale)

    def single(t):
        return model(t.contiguous(memory_format=torch.channels_last)).float()

    with torch.no_grad():
        sr = forward_chop(single, lr, scale=scale) if protocol == "chop" else single(lr)
    return evaluate_pair(sr, hr, scale=scale, protocol="bam-legacy" if protocol == "bam-legacy" else "standard")


def test_the_three_protocols_are_records():
    assert list(PROTOCOLS) == ["standard", "chop", "bam-legacy"]
    for name, proto in PROTOCOLS.items():
        assert isinstance(proto, Protocol) and proto.name == name
        assert callable(proto.make_lr) and callable(proto.forward) and callable(proto.metric)
    assert PROTOCOLS["chop"].forward is forward_chop
    assert PROTOCOLS["standard"].metric is PROTOCOLS["chop"].metric is not PROTOCOLS["bam-legacy"].metric
    assert PROTOCOLS["standard"].make_lr is PROTOCOLS["chop"].make_lr is not PROTOCOLS["bam-legacy"].make_lr
    with pytest.raises(AttributeError):
        PROTOCOLS["standard"].name = "other"  # frozen


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_each_protocol_matches_its_definition_bit_for_bit(folder, model, protocol):
    result = evaluate_folder(make_forward(model, scale=2, protocol=protocol), folder, scale=2, protocol=protocol)
    assert result.protocol == protocol and len(result.images) == 2
    for image, path in zip(result.images, sorted(folder.glob("*.png")), strict=True):
        assert (image.psnr, image.ssim) == _reference(protocol, model, path, scale=2)


def test_protocols_give_different_numbers(folder):
    model = GlobalShift()
    psnrs = {
        p: evaluate_folder(make_forward(model, scale=2, protocol=p), folder, scale=2, protocol=p).psnr
        for p in PROTOCOLS
    }
    assert len(set(psnrs.values())) == 3, psnrs


def test_unknown_protocol_is_refused_everywhere(folder):
    """make_forward used to fall back to the whole-image forward for any name but "chop"."""
    for call in (
        lambda: get_protocol("matlab"),
        lambda: make_forward(GlobalShift(), scale=2, protocol="matlab"),
        lambda: evaluate_folder(lambda x: x, folder, scale=2, protocol="matlab"),
        lambda: make_lr(
            folder / "img_000.png", torch.zeros(1, 3, 8, 8), scale=2, protocol="matlab", root=folder, cache_dir=None
        ),
    ):
        with pytest.raises(ValueError, match="unknown protocol 'matlab'; valid: standard, chop, bam-legacy"):
            call()
