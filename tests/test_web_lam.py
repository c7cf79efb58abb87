"""LAM fast enough for a click on the web page (and in ``attnsr analyze lam``): gradients at every s-th point
of the 50-step path, linear in between (:func:`attnsr.analysis.lam.path_weights`). ``stride=1`` is SPEC §4's
sum exactly; the measured speed and DI error are benchmarks/lam_speed_click.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import attnsr
from attnsr import save_weights
from attnsr.analysis.lam import (
    FAST_STRIDE,
    STRIDE,
    Window,
    blur_path,
    gini,
    gradient_detector,
    lam_map,
    local_attribution_map,
    path_weights,
)
from attnsr.cli.main import main
from attnsr.io import write_image

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "lam_speed_click.json"


def test_stride_one_is_the_exact_sum():
    torch.manual_seed(0)
    _, inc = blur_path(torch.rand(1, 3, 16, 16), steps=50)
    nodes, weights = path_weights(inc, stride=1)
    assert nodes == list(range(1, 51)) and torch.equal(weights, inc.to(torch.float64))


@pytest.mark.parametrize("stride", [2, 3, 5, 7, 10, 50, 60])
def test_the_weights_telescope_and_are_exact_for_a_gradient_linear_along_the_path(stride):
    torch.manual_seed(1)
    _, inc = blur_path(torch.rand(1, 3, 12, 12), steps=50)
    inc = inc.to(torch.float64)
    nodes, weights = path_weights(inc, stride=stride)
    assert nodes[0] == 0 and nodes[-1] == 50 and len(nodes) == len(set(range(0, 50, stride)) | {50})
    torch.testing.assert_close(weights.sum(dim=0), inc.sum(dim=0))  # Σ_n W_n = Σ_k Δ_k = x_m − x_0
    a, b = torch.rand(3, 12, 12, dtype=torch.float64), torch.rand(3, 12, 12, dtype=torch.float64)
    g = torch.stack([a + k * b for k in range(51)])  # g_k linear in k: interpolation is exact
    torch.testing.assert_close((g[nodes] * weights).sum(dim=0), (g[1:] * inc).sum(dim=0))


def test_a_bad_stride_is_refused():
    with pytest.raises(ValueError, match="stride"):
        path_weights(torch.zeros(5, 1, 2, 2), stride=0)


def _by_hand(model, lr, window, nodes_weights):
    """Σ_n ∇D(F(x_n)) ⊙ W_n, one point at a time."""
    points, inc = blur_path(lr, steps=50)
    nodes, weights = nodes_weights(inc)
    total = torch.zeros(points.shape[1:], dtype=torch.float64)
    for n, w in zip(nodes, weights):
        x = points[n : n + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(gradient_detector(model(x), window).sum(), x)
        total += g[0].to(torch.float64) * w
    return total


@pytest.mark.parametrize("stride", [1, FAST_STRIDE])
def test_the_library_computes_the_weighted_sum(stride):
    torch.manual_seed(0)
    model = attnsr.create_model("pan", scale=2, num_blocks=1).eval()
    lr, window = torch.rand(1, 3, 12, 14), Window(5, 6, 8, 8)
    res = local_attribution_map(model, lr, window, stride=stride, batch_size=4)
    expected = _by_hand(model, lr, window, lambda inc: path_weights(inc, stride=stride))
    torch.testing.assert_close(res.attribution, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
    assert res.di == pytest.approx((1 - gini(lam_map(res.attribution))) * 100, abs=1e-9)
    torch.testing.assert_close(res.sr, model(lr))  # the output for the image itself (the last point)


def test_analyze_lam_defaults_to_the_fast_stride_and_records_it(tmp_path):
    torch.manual_seed(0)
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), tmp_path / "pan.safetensors")
    write_image(tmp_path / "hr.png", torch.rand(1, 3, 40, 44))
    common = ["analyze", "lam", "--weights", str(tmp_path / "pan.safetensors"), "--image", str(tmp_path / "hr.png")]
    common += ["--window", "10,12,16"]
    assert main([*common, "--json", str(tmp_path / "fast.json")]) == 0
    assert main([*common, "--stride", "1", "--json", str(tmp_path / "exact.json")]) == 0
    fast, exact = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("fast", "exact"))
    assert (fast["stride"], exact["stride"]) == (FAST_STRIDE, STRIDE) == (FAST_STRIDE, 1)
    assert fast["steps"] == exact["steps"] == 50 and 0 < fast["di"] < 100


def test_the_fast_stride_is_the_measured_choice():
    """FAST_STRIDE is what benchmarks/lam_speed_click.py chose: the set DI within 1 % for PAN and A2N x4."""
    if not RESULTS.is_file():
        pytest.skip(f"{RESULTS.name} not made yet")
    record = json.loads(RESULTS.read_text())
    assert record["chosen"]["fp32"] == f"fp32 stride {FAST_STRIDE}"
    for model in record["accuracy"].values():
        assert model["options"][f"fp32 stride {FAST_STRIDE}"]["set_rel_error"] <= record["tolerance"] == 0.01
    assert max(record["library_check"]["max_abs_di_difference"].values()) < 1e-4
