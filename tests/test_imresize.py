"""MATLAB-compatible imresize: bit-exact against the official benchmark LR files, plus properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.data.imresize import bicubic_downsample, imresize, mod_crop, resize_matrix


def _official_pairs(shared):
    pairs = []
    for dataset in ("Set5", "Set14"):
        for scale in (2, 3, 4):
            for lr in sorted((shared / "data" / dataset / "LR_bicubic" / f"X{scale}").glob("*.png")):
                hr = shared / "data" / dataset / "HR" / lr.name.replace(f"x{scale}.png", ".png")
                pairs.append((hr, lr, scale))
    return pairs


def _as_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img)
    arr = arr[..., None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


def test_all_57_official_lr_files_bit_exact(shared):
    pairs = _official_pairs(shared)
    assert len(pairs) == 57
    mismatched = []
    for hr_path, lr_path, scale in pairs:
        hr = _as_tensor(Image.open(hr_path))
        ref = _as_tensor(Image.open(lr_path))
        out = bicubic_downsample(hr, scale)
        if out.shape != ref.shape or not torch.equal((out * 255).round(), (ref * 255).round()):
            mismatched.append(lr_path.name)
    assert not mismatched, f"not bit-exact: {mismatched}"


def test_weights_rows_sum_to_one_and_are_mirrored():
    m = resize_matrix(10, 5, 0.5)
    torch.testing.assert_close(m.sum(1), torch.ones(5, dtype=torch.float64))
    up = resize_matrix(5, 10, 2.0)
    torch.testing.assert_close(up.sum(1), torch.ones(10, dtype=torch.float64))
    assert (m[:, :] != 0).sum(1).min() > 0


def test_constant_image_is_preserved_and_batched_equals_single():
    x = torch.full((2, 3, 17, 23), 0.3)
    torch.testing.assert_close(imresize(x, scale=0.5), torch.full((2, 3, 9, 12), 0.3), rtol=0, atol=1e-6)
    y = torch.rand(3, 3, 20, 16)
    batched = imresize(y, scale=1 / 3)
    singles = torch.cat([imresize(y[i : i + 1], scale=1 / 3) for i in range(3)])
    torch.testing.assert_close(batched, singles)


def test_upscale_sizes_and_chw_input():
    x = torch.rand(3, 7, 9)
    assert imresize(x, scale=4).shape == (3, 28, 36)
    assert imresize(x, size=(10, 5)).shape == (3, 10, 5)
    with pytest.raises(ValueError):
        imresize(x)


def test_mod_crop():
    assert mod_crop(torch.zeros(1, 3, 13, 14), 4).shape == (1, 3, 12, 12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_cuda_matches_cpu():
    x = torch.rand(1, 3, 31, 40)
    torch.testing.assert_close(imresize(x, scale=0.25).cuda(), imresize(x.cuda(), scale=0.25))
