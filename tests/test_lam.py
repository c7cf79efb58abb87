"""LAM and the Diffusion Index (SPEC §4): path, detector, attribution, Gini/DI, batching, manifest, CLI."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attnsr
from attnsr import save_weights
from attnsr.analysis.lam import (
    SIGMA,
    STEPS,
    Window,
    blur,
    blur_path,
    diffusion_index,
    gaussian_kernel,
    gaussian_kernels,
    gini,
    gradient_detector,
    lam_map,
    local_attribution_map,
)
from attnsr.analysis.lam_crops import build_lam_manifest, evaluate_lam_set, load_manifest, manifest_crops
from attnsr.analysis.lam_figures import saliency_image
from attnsr.cli.main import main
from attnsr.errors import AttnsrError
from attnsr.io import write_image


class Bilinear(nn.Module):
    """F(x) = bilinear ×s upsampling: each HR pixel depends on a 2×2 LR neighbourhood."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class TinySR(nn.Module):
    """A small conv SR model (×2, pixel shuffle)."""

    def __init__(self, feats: int = 2) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, feats, 3, padding=1)
        self.c2 = nn.Conv2d(feats, 12, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.c2(F.relu(self.c1(x))), 2)


class NanModel(nn.Module):
    """Bilinear ×2 whose backward gives NaN at the LR pixels where x equals ``value`` (sqrt at 0)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x):
        bad = 0 * torch.sqrt((x - self.value).abs())  # d/dx at x == value: 0 * inf = NaN
        return F.interpolate(x + bad, scale_factor=2, mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------------------- path


@pytest.mark.parametrize("sigma", [0.0, 1e-3, 0.024, 0.6, SIGMA, 3.0])
def test_gaussian_kernels_sum_to_one(sigma):
    k = gaussian_kernel(sigma)
    assert k.shape == (9, 9)
    assert abs(float(k.sum()) - 1) < 1e-12
    assert torch.equal(k, k.T) and torch.equal(k, k.flip(0))
    assert int(k.argmax()) == 40  # the centre


def test_path_kernels_all_sum_to_one():
    sigmas = [SIGMA * (1 - k / STEPS) for k in range(STEPS + 1)]
    ks = gaussian_kernels(sigmas)
    torch.testing.assert_close(ks.sum(dim=(1, 2)), torch.ones(STEPS + 1, dtype=torch.float64), rtol=0, atol=1e-12)
    # σ = 1.2 matches the closed form of the normalised 2-D Gaussian
    ax = np.arange(-4, 5)
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * SIGMA**2))
    np.testing.assert_allclose(ks[0].numpy(), g / g.sum(), rtol=1e-12)


def test_sigma_zero_blur_is_identity():
    img = torch.rand(2, 3, 12, 15)
    assert torch.equal(blur(img, 0.0), img)
    delta = torch.zeros(9, 9, dtype=torch.float64)
    delta[4, 4] = 1
    assert torch.equal(gaussian_kernel(0.0), delta)
    points, _ = blur_path(img[:1], steps=10)
    assert torch.equal(points[-1], img[0])
    # and a delta kernel through the reflect-padded convolution reproduces the image exactly
    from attnsr.analysis.lam import _blur_stack

    assert torch.equal(_blur_stack(img[:1], gaussian_kernels([0.0], dtype=torch.float32)), img[:1])


def test_blur_uses_reflect_padding_and_preserves_constants():
    const = torch.full((1, 3, 10, 10), 0.3)
    torch.testing.assert_close(blur(const, SIGMA), const)
    img = torch.rand(1, 1, 10, 10, dtype=torch.float64)
    k = gaussian_kernel(SIGMA)
    ref = F.conv2d(F.pad(img, (4, 4, 4, 4), mode="reflect"), k[None, None])
    torch.testing.assert_close(blur(img, SIGMA), ref)


def test_path_increments_telescope_to_image_minus_baseline():
    lr = torch.rand(1, 3, 16, 20)
    points, inc = blur_path(lr)
    assert points.shape == (STEPS + 1, 3, 16, 20) and inc.shape == (STEPS, 3, 16, 20)
    baseline = blur(lr.double(), SIGMA).float()
    torch.testing.assert_close(points[0], baseline[0], rtol=0, atol=1e-6)
    assert torch.equal(points[-1], lr[0])
    torch.testing.assert_close(inc.double().sum(0), (lr[0] - baseline[0]).double(), rtol=0, atol=1e-6)
    # σ_k = σ(1 − k/m): point k is the blur at that σ
    k = 17
    torch.testing.assert_close(points[k], blur(lr.double(), SIGMA * (1 - k / STEPS)).float()[0], rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------ detector


def test_detector_matches_a_direct_sum():
    out = torch.rand(2, 3, 12, 13, dtype=torch.float64)
    w = Window(3, 4, 5, 6)
    ref = torch.zeros(2, dtype=torch.float64)
    for i in range(w.row, w.row + w.height):
        for j in range(w.col, w.col + w.width):
            ref += torch.sqrt(
                (out[:, :, i, j] - out[:, :, i + 1, j]) ** 2 + (out[:, :, i, j] - out[:, :, i, j + 1]) ** 2
            ).sum(1)
    torch.testing.assert_close(gradient_detector(out, w, eps=0.0), ref)


def test_detector_gradient_is_finite_on_flat_output_and_window_must_fit():
    out = torch.zeros(1, 3, 20, 20, requires_grad=True)
    (g,) = torch.autograd.grad(gradient_detector(out, Window(2, 2)), out)
    assert torch.isfinite(g).all()
    (g0,) = torch.autograd.grad(gradient_detector(out, Window(2, 2), eps=0.0), out)
    assert torch.isnan(g0).any()  # why the default eps exists
    Window(3, 3).check(20, 20)
    with pytest.raises(AttnsrError):
        Window(4, 0).check(20, 20)  # row 4 + 16 rows + 1 neighbour > 20
    assert Window.parse("10,20,16") == Window(10, 20, 16, 16)
    assert Window.parse("10,20") == Window(10, 20, 16, 16)
    assert Window.parse("1,2,3,4") == Window(1, 2, 3, 4)
    with pytest.raises(AttnsrError):
        Window.parse("1,x")


# -------------------------------------------------------------------------------------- Gini/DI


def test_di_of_uniform_map_is_100():
    assert abs(diffusion_index(torch.ones(64, 64)) - 100) < 1e-6
    assert abs(diffusion_index(np.full((7, 9), 0.25)) - 100) < 1e-6


def test_di_of_a_single_pixel_in_64x64():
    m = torch.zeros(64, 64)
    m[10, 20] = 1
    assert abs(diffusion_index(m) - 0.0653) < 1e-3
    n = 64 * 64  # closed form with v = M + 1e-7
    g = (n - 1) / (n * (1 + n * 1e-7))
    assert abs(gini(m) - g) < 1e-12


def test_gini_matches_reference_formula():
    rng = np.random.default_rng(0)
    v = rng.random((13, 11))
    s = np.sort(v.flatten() + 1e-7)
    n = s.size
    ref = np.sum((2 * np.arange(1, n + 1) - n - 1) * s) / (n * np.sum(s))
    assert abs(gini(v) - ref) < 1e-12
    assert gini(v) == gini(np.random.default_rng(1).permutation(v.flatten()))  # order-free


def test_lam_map_normalises_absolute_channel_sum():
    a = torch.zeros(3, 4, 4, dtype=torch.float64)
    a[0, 1, 1], a[1, 1, 1], a[2, 2, 3] = 1.0, -3.0, 0.5
    m = lam_map(a)
    assert float(m.max()) == 1.0 and float(m[1, 1]) == 1.0 and float(m[2, 3]) == 0.25


def test_saliency_colouring():
    img = saliency_image(torch.zeros(4, 5), scale=3)
    assert img.shape == (12, 15, 3) and img.dtype == np.uint8
    assert (img == img[0, 0]).all()  # seismic at 0.5: near white
    assert img[0, 0].min() > 240


# ---------------------------------------------------------------------------------- attribution


@pytest.mark.parametrize("scale", [2, 4])
def test_attribution_stays_inside_the_receptive_field(scale):
    torch.manual_seed(0)
    lr = torch.rand(1, 3, 20, 22)
    w = Window(17, 21, 8, 6)
    res = local_attribution_map(Bilinear(scale), lr, w, steps=20, batch_size=7)
    # HR rows r..r+h (window + the +1 neighbour) read LR rows floor((i+0.5)/s−0.5) and the next one
    lo_r = max(int(np.floor((w.row + 0.5) / scale - 0.5)), 0)
    hi_r = min(int(np.floor((w.row + w.height + 0.5) / scale - 0.5)) + 1, 19)
    lo_c = max(int(np.floor((w.col + 0.5) / scale - 0.5)), 0)
    hi_c = min(int(np.floor((w.col + w.width + 0.5) / scale - 0.5)) + 1, 21)
    inside = torch.zeros(20, 22, dtype=torch.bool)
    inside[lo_r : hi_r + 1, lo_c : hi_c + 1] = True
    assert float(res.attribution.abs().sum(0)[~inside].max()) == 0.0
    assert float(res.map[inside].max()) == 1.0
    assert int((res.map[inside] > 0).sum()) > inside.sum() // 2
    assert res.nan_gradients == 0
    assert 0 < res.di < 100
    torch.testing.assert_close(res.sr, Bilinear(scale)(lr))


def test_nan_gradients_are_zeroed_and_counted():
    lr = torch.rand(1, 3, 12, 12)
    lr[0, 1, 5, 6] = 0.5  # a pixel where the model's backward is NaN at the last path point (x_m = I)
    res = local_attribution_map(NanModel(0.5), lr, Window(4, 4, 12, 12), steps=10, batch_size=4)
    assert res.nan_gradients >= 1
    assert torch.isfinite(res.attribution).all() and torch.isfinite(res.map).all()
    assert float(res.attribution[1, 5, 6]) == 0.0 or res.nan_gradients > 1
    clean = local_attribution_map(Bilinear(2), lr, Window(4, 4, 12, 12), steps=10, batch_size=4)
    assert clean.nan_gradients == 0


def _timed(model, lr, window, batch_size) -> tuple[float, object]:
    start = time.perf_counter()
    res = local_attribution_map(model, lr, window, batch_size=batch_size)
    return time.perf_counter() - start, res


def test_batched_equals_sequential_and_is_3x_faster():
    """Batching amortises the per-call cost of forward + backward over the 50 path points; on a CPU
    that cost dominates for small models (a compute-bound model gains less: benchmarks/lam_speed.py).
    Timed on one thread: with two on this shared 2-core machine the one-point-at-a-time run spends most
    of its time in thread barriers (9x slower than batched, and very noisy)."""
    torch.manual_seed(0)
    model = TinySR().eval()
    lr = torch.rand(1, 3, 12, 12)
    window = Window(4, 4, 16, 16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seq_t, batch_t = [], []
        for _ in range(5):  # interleaved, median: robust to the other jobs on the machine
            t, seq = _timed(model, lr, window, 1)
            seq_t.append(t)
            t, bat = _timed(model, lr, window, STEPS)
            batch_t.append(t)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(bat.map, seq.map, rtol=1e-4, atol=1e-5)
    scale = float(seq.attribution.abs().max())
    torch.testing.assert_close(bat.attribution, seq.attribution, rtol=1e-4, atol=1e-6 * scale)
    assert abs(bat.di - seq.di) < 1e-3
    ratio = statistics.median(seq_t) / statistics.median(batch_t)
    assert ratio >= 3.0, f"batched only {ratio:.2f}x faster (sequential {seq_t}, batched {batch_t})"


def test_batch_sizes_agree_on_a_registered_model():
    torch.manual_seed(0)
    model = attnsr.create_model("pan", scale=2, num_blocks=1).eval()
    lr = torch.rand(1, 3, 12, 12)
    a = local_attribution_map(model, lr, Window(3, 5, 8, 8), steps=8, batch_size=3)
    b = local_attribution_map(model, lr, Window(3, 5, 8, 8), steps=8, batch_size=8)
    torch.testing.assert_close(a.map, b.map, rtol=1e-4, atol=1e-5)
    assert model.training is False and all(p.grad is None for p in model.parameters())


# -------------------------------------------------------------------------------------- manifest


def test_committed_manifest_is_well_formed():
    m = load_manifest()
    assert len(m["crops"]) == 150 and m["scale"] == 4 and m["crop"] == 256
    assert [c["id"] for c in m["crops"]] == list(range(150))
    assert len({(c["file"], tuple(c["box"])) for c in m["crops"]}) == 150
    for c in m["crops"]:
        top, left, h, w = c["box"]
        r, col, wh, ww = c["window"]
        assert h == w == 256 and top % 4 == 0 and left % 4 == 0
        assert wh == ww == 16 and r + wh + 1 <= 256 and col + ww + 1 <= 256
        assert c["file"] in m["sha256_16"]
    assert len(m["sha256_16"]) == 100  # every Urban100 image at least once


def test_manifest_is_deterministic_and_matches_the_data(shared):
    hr_dir = shared / "data" / "Urban100" / "HR"
    committed = load_manifest()
    prefix = build_lam_manifest(hr_dir, count=3, seed=0)
    assert prefix["crops"] == committed["crops"][:3]
    assert build_lam_manifest(hr_dir, count=2, seed=0)["crops"] == prefix["crops"][:2]
    assert build_lam_manifest(hr_dir, count=2, seed=1)["crops"] != prefix["crops"][:2]
    entries = list(manifest_crops(committed, hr_dir, limit=2))
    assert [e["id"] for e, _ in entries] == [0, 1]
    assert all(img.shape == (1, 3, 256, 256) for _, img in entries)


# ------------------------------------------------------------------------------------------- CLI


def test_cli_lam_writes_di_and_gini(tmp_path):
    torch.manual_seed(0)
    model = attnsr.create_model("pan", scale=2, num_blocks=1)
    save_weights(model, tmp_path / "pan.safetensors")
    write_image(tmp_path / "hr.png", torch.rand(1, 3, 40, 40))
    out = tmp_path / "lam.json"
    fig = tmp_path / "lam.png"
    rc = main(
        [
            "analyze",
            "lam",
            "--weights",
            str(tmp_path / "pan.safetensors"),
            "--image",
            str(tmp_path / "hr.png"),
            "--window",
            "10,12,16",
            "--steps",
            "10",
            "--json",
            str(out),
            "-o",
            str(fig),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert 0 < data["di"] < 100 and abs(data["di"] - (1 - data["gini"]) * 100) < 1e-9
    assert data["window"] == [10, 12, 16, 16]
    assert fig.stat().st_size > 1000
    # a window that does not fit is a one-line error
    rc = main(
        [
            "analyze",
            "lam",
            "--weights",
            str(tmp_path / "pan.safetensors"),
            "--image",
            str(tmp_path / "hr.png"),
            "--window",
            "30,0,16",
        ]
    )
    assert rc == 2


def _random_hr_folder(tmp_path, height: int, width: int):
    """Two random HR images (seed 0) in tmp_path/HR."""
    torch.manual_seed(0)
    hr_dir = tmp_path / "HR"
    hr_dir.mkdir()
    for i in range(2):
        write_image(hr_dir / f"im{i}.png", torch.rand(1, 3, height, width))
    return hr_dir


def test_cli_lam_manifest_and_lam_set(tmp_path):
    hr_dir = _random_hr_folder(tmp_path, 60, 72)
    manifest = tmp_path / "m.json"
    assert (
        main(
            [
                "analyze",
                "lam-manifest",
                "--data",
                str(hr_dir),
                "--count",
                "3",
                "--crop",
                "40",
                "--window",
                "8",
                "--margin",
                "4",
                "-o",
                str(manifest),
            ]
        )
        == 0
    )
    m = load_manifest(manifest)
    assert len(m["crops"]) == 3 and all(c["box"][2:] == [40, 40] for c in m["crops"])
    model = attnsr.create_model("pan", scale=4, num_blocks=1)
    save_weights(model, tmp_path / "pan.safetensors")
    out = tmp_path / "set.json"
    assert (
        main(
            [
                "analyze",
                "lam-set",
                "--weights",
                str(tmp_path / "pan.safetensors"),
                "--manifest",
                str(manifest),
                "--data",
                str(hr_dir),
                "--limit",
                "1",
                "--json",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert len(data["crops"]) == 1
    assert abs(data["di"] - np.mean([c["di"] for c in data["crops"]])) < 1e-9
    assert all(np.isfinite(c["psnr"]) for c in data["crops"])


def test_lam_set_resumes_from_earlier_results_and_refuses_foreign_ones(tmp_path):
    hr_dir = _random_hr_folder(tmp_path, 48, 56)
    manifest = build_lam_manifest(hr_dir, count=3, crop=32, window=8, margin=4)
    model = attnsr.create_model("pan", scale=4, num_blocks=1).eval()
    full = evaluate_lam_set(model, manifest, scale=4, hr_dir=hr_dir, batch_size=25)
    assert len(full.crops) == 3
    computed = []
    resumed = evaluate_lam_set(
        model, manifest, scale=4, hr_dir=hr_dir, batch_size=25, done=full.crops[:2], on_crop=computed.append
    )
    assert [c.id for c in computed] == [full.crops[2].id]  # only the missing crop is computed
    assert [c.id for c in resumed.crops] == [c.id for c in full.crops]
    assert resumed.di == pytest.approx(full.di, rel=1e-6) and resumed.psnr == pytest.approx(full.psnr, rel=1e-6)
    foreign = dataclasses.replace(full.crops[0], window=[0, 0, 8, 8])
    with pytest.raises(AttnsrError, match="not a crop of this manifest"):
        evaluate_lam_set(model, manifest, scale=4, hr_dir=hr_dir, done=[foreign])
