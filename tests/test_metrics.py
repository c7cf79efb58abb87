"""PSNR/SSIM checked against an independent NumPy reference and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnsr.metrics import crop_border, evaluate_pair, psnr, quantize, rgb_to_y, ssim

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


# ----------------------------------------------------------------------------- NumPy reference
def ref_y(rgb: np.ndarray, legacy: bool = False) -> np.ndarray:
    """H×W×3 in [0,1] -> H×W BT.601 Y on the 0-255 scale (unrounded)."""
    cr, cg, cb = (64.738, 129.057, 25.064) if legacy else (65.481, 128.553, 24.966)
    return 16.0 + cr * rgb[..., 0] + cg * rgb[..., 1] + cb * rgb[..., 2]


def ref_window() -> np.ndarray:
    w = np.empty((11, 11))
    for i in range(11):
        for j in range(11):
            w[i, j] = math.exp(-((i - 5) ** 2 + (j - 5) ** 2) / (2 * 1.5**2))
    return w / w.sum()


def ref_filter_valid(img: np.ndarray, win: np.ndarray) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(img, win.shape)
    return np.einsum("abij,ij->ab", windows, win)


def ref_crop(img: np.ndarray, b: int) -> np.ndarray:
    return img[b : img.shape[0] - b, b : img.shape[1] - b] if b else img


def ref_psnr_plane(planes_x: list[np.ndarray], planes_y: list[np.ndarray]) -> float:
    mse = np.mean([(px - py) ** 2 for px, py in zip(planes_x, planes_y, strict=True)])
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ref_ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    win = ref_window()
    mx, my = ref_filter_valid(x, win), ref_filter_valid(y, win)
    vx = ref_filter_valid(x * x, win) - mx**2
    vy = ref_filter_valid(y * y, win) - my**2
    cxy = ref_filter_valid(x * y, win) - mx * my
    m = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    return float(m.mean())


def ref_planes(img: np.ndarray, *, border: int, y_channel: bool, legacy: bool) -> list[np.ndarray]:
    """H×W×3 [0,1] -> list of cropped 0-255 planes (one Y plane, or R, G, B)."""
    if y_channel:
        return [ref_crop(ref_y(img, legacy), border)]
    return [ref_crop(img[..., c] * 255.0, border) for c in range(img.shape[-1])]


def ref_metrics(
    sr: np.ndarray, hr: np.ndarray, *, border: int, y_channel: bool = True, legacy: bool = False
) -> tuple[float, float]:
    px = ref_planes(sr, border=border, y_channel=y_channel, legacy=legacy)
    py = ref_planes(hr, border=border, y_channel=y_channel, legacy=legacy)
    return ref_psnr_plane(px, py), float(np.mean([ref_ssim_plane(a, b) for a, b in zip(px, py, strict=True)]))


def to_t(img: np.ndarray) -> torch.Tensor:
    """H×W×3 numpy -> 1×3×H×W float64 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def random_pair(seed: int, h: int = 37, w: int = 53, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.random((h, w, 3))
    sr = np.clip(hr + rng.normal(0, noise, hr.shape), 0, 1)
    return sr, hr


# ----------------------------------------------------------------------------- reference comparison
@pytest.mark.parametrize("border", [0, 1, 2, 3, 4, 8])
@pytest.mark.parametrize("legacy", [False, True])
def test_matches_numpy_reference_y(border: int, legacy: bool) -> None:
    sr, hr = random_pair(border + 10 * legacy)
    p_ref, s_ref = ref_metrics(sr, hr, border=border, legacy=legacy)
    p = psnr(to_t(sr), to_t(hr), border=border, legacy=legacy)
    s = ssim(to_t(sr), to_t(hr), border=border, legacy=legacy)
    assert p.shape == (1,) and p.dtype == torch.float64
    assert s.shape == (1,) and s.dtype == torch.float64
    assert abs(p.item() - p_ref) < 1e-10
    assert abs(s.item() - s_ref) < 1e-10
    assert 0.0 < s.item() < 1.0 and 10.0 < p.item() < 60.0


@pytest.mark.parametrize("border", [0, 3])
def test_matches_numpy_reference_rgb(border: int) -> None:
    sr, hr = random_pair(100 + border, h=41, w=29)
    p_ref, s_ref = ref_metrics(sr, hr, border=border, y_channel=False)
    assert abs(psnr(to_t(sr), to_t(hr), border=border, y_channel=False).item() - p_ref) < 1e-10
    assert abs(ssim(to_t(sr), to_t(hr), border=border, y_channel=False).item() - s_ref) < 1e-10
    # RGB and Y results are genuinely different quantities
    assert abs(psnr(to_t(sr), to_t(hr), border=border).item() - p_ref) > 1e-3


def test_float32_input_is_evaluated_in_float64() -> None:
    sr, hr = random_pair(7)
    sr32, hr32 = to_t(sr).float(), to_t(hr).float()
    p_ref, s_ref = ref_metrics(
        sr32[0].permute(1, 2, 0).double().numpy(), hr32[0].permute(1, 2, 0).double().numpy(), border=2
    )
    assert abs(psnr(sr32, hr32, border=2).item() - p_ref) < 1e-10
    assert abs(ssim(sr32, hr32, border=2).item() - s_ref) < 1e-10


# ----------------------------------------------------------------------------- hand-computed cases
def test_identical_images() -> None:
    _, hr = random_pair(3)
    t = to_t(hr)
    assert psnr(t, t.clone(), border=2).item() == math.inf
    assert psnr(t, t.clone(), y_channel=False).item() == math.inf
    assert abs(ssim(t, t.clone(), border=2).item() - 1.0) < 1e-12
    assert abs(ssim(t, t.clone(), y_channel=False).item() - 1.0) < 1e-12


@pytest.mark.parametrize("d", [1.0, 2.5, 10.0, 40.0])
def test_constant_images_known_y_difference(d: float) -> None:
    # grey g has Y = 16 + 219 g, so grey levels g and g + d/219 differ by exactly d in Y
    g = 0.3
    hr = torch.full((1, 3, 24, 30), g, dtype=torch.float64)
    sr = torch.full((1, 3, 24, 30), g + d / 219.0, dtype=torch.float64)
    a, b = 16 + 219 * (g + d / 219.0), 16 + 219 * g
    assert abs((a - b) - d) < 1e-12
    assert abs(psnr(sr, hr, border=2).item() - 20 * math.log10(255 / d)) < 1e-9
    expected_ssim = (2 * a * b + C1) / (a * a + b * b + C1)
    assert abs(ssim(sr, hr, border=2).item() - expected_ssim) < 1e-12
    assert expected_ssim < 1.0


def test_constant_rgb_channels_hand_psnr() -> None:
    # RGB mode: only G differs, by 6/255 -> mse over 3 channels = 36 / 3 = 12
    hr = torch.full((1, 3, 16, 16), 0.5, dtype=torch.float64)
    sr = hr.clone()
    sr[:, 1] += 6 / 255
    assert abs(psnr(sr, hr, y_channel=False).item() - 10 * math.log10(255**2 / 12)) < 1e-9
    # SSIM averaged over channels: two channels are 1, one is the constant-image formula
    a, b = 0.5 * 255 + 6, 0.5 * 255
    expected = (2 + (2 * a * b + C1) / (a * a + b * b + C1)) / 3
    assert abs(ssim(sr, hr, y_channel=False).item() - expected) < 1e-12


@pytest.mark.parametrize(
    ("rgb", "y", "y_legacy"),
    [
        ((0, 0, 0), 16.0, 16.0),
        ((1, 1, 1), 235.0, 234.859),
        ((1, 0, 0), 81.481, 80.738),
        ((0, 1, 0), 144.553, 145.057),
        ((0, 0, 1), 40.966, 41.064),
    ],
)
def test_y_of_pure_colours(rgb: tuple[int, int, int], y: float, y_legacy: float) -> None:
    img = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 2, 3)
    out = rgb_to_y(img)
    assert out.shape == (1, 1, 2, 3) and out.dtype == torch.float64
    assert torch.allclose(out, torch.full_like(out, y), rtol=0, atol=1e-9)
    assert torch.allclose(rgb_to_y(img, legacy=True), torch.full_like(out, y_legacy), rtol=0, atol=1e-9)


def test_y_is_not_rounded_and_grey_input_replicates() -> None:
    grey = torch.tensor([[[[0.1, 0.77]]]], dtype=torch.float64)
    y = rgb_to_y(grey)
    assert torch.equal(y, rgb_to_y(grey.expand(1, 3, 1, 2)))
    assert abs(y[0, 0, 0, 0].item() - (16 + 21.9)) < 1e-12  # 37.9, not rounded to 38
    _, hr = random_pair(5)
    g = to_t(hr)[:, :1]
    rgb = g.expand(1, 3, -1, -1)
    assert torch.equal(psnr(g * 0.9, g, border=1), psnr(rgb * 0.9, rgb, border=1))
    assert torch.equal(ssim(g * 0.9, g, border=1), ssim(rgb * 0.9, rgb, border=1))


def test_rgb_to_y_rejects_bad_channels() -> None:
    with pytest.raises(ValueError, match="channels"):
        rgb_to_y(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="N×C×H×W"):
        rgb_to_y(torch.zeros(3, 4, 4))


# ----------------------------------------------------------------------------- batching, cropping
def test_batched_equals_per_image() -> None:
    pairs = [random_pair(s, noise=0.02 * (s + 1)) for s in range(4)]
    sr = torch.cat([to_t(p[0]) for p in pairs])
    hr = torch.cat([to_t(p[1]) for p in pairs])
    for kw in ({"border": 3}, {"border": 0, "legacy": True}, {"border": 2, "y_channel": False}):
        pb, sb = psnr(sr, hr, **kw), ssim(sr, hr, **kw)
        assert pb.shape == (4,) and sb.shape == (4,)
        for i in range(4):
            assert abs(pb[i].item() - psnr(sr[i : i + 1], hr[i : i + 1], **kw).item()) < 1e-12
            assert abs(sb[i].item() - ssim(sr[i : i + 1], hr[i : i + 1], **kw).item()) < 1e-12
        assert len(set(pb.tolist())) == 4  # different noise levels -> different values


def test_crop_border() -> None:
    x = torch.arange(2 * 3 * 10 * 12, dtype=torch.float32).view(2, 3, 10, 12)
    assert crop_border(x, 0) is x
    c = crop_border(x, 2)
    assert c.shape == (2, 3, 6, 8)
    assert torch.equal(c, x[:, :, 2:8, 2:10])
    with pytest.raises(ValueError):
        crop_border(x, -1)
    with pytest.raises(ValueError):
        crop_border(x, 5)


def test_border_only_pixels_are_ignored() -> None:
    _, hr = random_pair(9)
    t = to_t(hr)
    sr = t.clone()
    sr[..., :2, :] = 0.0
    sr[..., :, -2:] = 1.0
    assert psnr(sr, t, border=2).item() == math.inf
    assert math.isfinite(psnr(sr, t, border=1).item())


def test_ssim_too_small_after_crop_raises() -> None:
    x = torch.rand(1, 3, 14, 20)
    with pytest.raises(ValueError, match="11"):
        ssim(x, x, border=2)
    assert ssim(x, x, border=1).shape == (1,)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 21))
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(torch.rand(1, 3, 20, 20), torch.rand(2, 3, 20, 20))


# ----------------------------------------------------------------------------- quantize
def test_quantize_rounding_and_clamping() -> None:
    eps = 1e-4
    vals = torch.tensor(
        [
            -0.3,
            0.5 / 255 - eps / 255,
            0.5 / 255 + eps / 255,
            100.4 / 255,
            100.6 / 255,
            254.5 / 255 + eps / 255,
            1.7,
        ],
        dtype=torch.float64,
    )
    expected = torch.tensor([0, 0, 1, 100, 101, 255, 255], dtype=torch.float64) / 255
    assert torch.equal(quantize(vals), expected)
    x = torch.rand(2, 3, 5, 7) * 1.4 - 0.2
    q = quantize(x)
    assert q.shape == x.shape and q.dtype == torch.float32
    levels = q.double() * 255
    assert torch.allclose(levels, levels.round(), rtol=0, atol=1e-4)
    assert q.min() >= 0 and q.max() <= 1
    assert torch.equal(quantize(q), q)
    assert quantize(torch.tensor([0, 1], dtype=torch.uint8)).is_floating_point()


# ----------------------------------------------------------------------------- evaluate_pair
def test_evaluate_pair_standard_matches_reference() -> None:
    sr, hr = random_pair(21, h=48, w=36, noise=0.03)
    sr = sr + 0.002  # not on 8-bit levels, a little above 1 in places
    sr32 = to_t(sr).float()
    q = np.round(np.clip(sr32[0].permute(1, 2, 0).double().numpy(), 0, 1) * 255) / 255
    p_ref, s_ref = ref_metrics(q, hr, border=3)
    p, s = evaluate_pair(sr32, to_t(hr), scale=3)
    assert isinstance(p, float) and isinstance(s, float)
    assert abs(p - p_ref) < 1e-10 and abs(s - s_ref) < 1e-10


def test_evaluate_pair_protocols_differ_as_expected() -> None:
    sr, hr = random_pair(22, h=40, w=44, noise=0.03)
    srt, hrt = to_t(sr), to_t(hr)
    std = evaluate_pair(srt, hrt, scale=4)
    leg = evaluate_pair(srt, hrt, scale=4, protocol="bam-legacy")
    assert std == (psnr(quantize(srt), hrt, border=4).item(), ssim(quantize(srt), hrt, border=4).item())
    assert leg == (psnr(srt, hrt, border=4, legacy=True).item(), ssim(srt, hrt, border=4, legacy=True).item())
    assert abs(std[0] - leg[0]) > 1e-4 and abs(std[1] - leg[1]) > 1e-7
    # on an already-quantised SR only the Y coefficients separate the two protocols
    qs = quantize(srt)
    std_q = evaluate_pair(qs, hrt, scale=4)
    leg_q = evaluate_pair(qs, hrt, scale=4, protocol="bam-legacy")
    assert std_q == std
    assert leg_q == (psnr(qs, hrt, border=4, legacy=True).item(), ssim(qs, hrt, border=4, legacy=True).item())
    assert leg_q != std_q
    # standard clamps an out-of-range SR before measuring; legacy does not
    over = hrt + 0.3
    assert evaluate_pair(over, hrt, scale=2)[0] > evaluate_pair(over, hrt, scale=2, protocol="bam-legacy")[0]


def test_evaluate_pair_errors() -> None:
    a, b = torch.rand(1, 3, 30, 30), torch.rand(1, 3, 30, 32)
    with pytest.raises(ValueError, match="shapes differ") as err:
        evaluate_pair(a, b, scale=2)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="protocol"):
        evaluate_pair(a, a, scale=2, protocol="matlab")
    with pytest.raises(ValueError, match="N=1"):
        evaluate_pair(torch.rand(2, 3, 30, 30), torch.rand(2, 3, 30, 30), scale=2)
