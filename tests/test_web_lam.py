"""LAM fast enough for a click on the web page (and in ``attnsr analyze lam``): gradients at a few adaptively
chosen points of the 50-step path, linear in between (:func:`attnsr.analysis.lam.adaptive_nodes`,
:func:`~attnsr.analysis.lam.path_weights`). ``points=None`` is SPEC §4's sum exactly; the measured speed and
DI error are benchmarks/lam_speed_click.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import attnsr
from attnsr import save_weights
from attnsr.analysis.lam import (
    FAST_POINTS,
    START_POINTS,
    Window,
    adaptive_nodes,
    blur_path,
    gini,
    gradient_detector,
    integrate,
    lam_map,
    local_attribution_map,
    mass_nodes,
    path_weights,
)
from attnsr.cli.main import main
from attnsr.io import write_image

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "lam_speed_click.json"


def _increments(seed=0, h=16, w=16):
    torch.manual_seed(seed)
    return blur_path(torch.rand(1, 3, h, w), steps=50)[1].to(torch.float64)


def test_all_nodes_are_the_exact_sum():
    inc = _increments()
    nodes, weights = path_weights(inc, list(range(51)))
    assert nodes == list(range(1, 51)) and torch.equal(weights, inc)
    g = torch.rand(50, *inc.shape[1:], dtype=torch.float64)
    torch.testing.assert_close(integrate(inc, list(range(1, 51)), g), (g * inc).sum(dim=0), rtol=0, atol=0)


@pytest.mark.parametrize("nodes", [[0, 50], [0, 10, 50], [0, 3, 4, 17, 30, 49, 50], list(range(0, 51, 7)) + [50]])
def test_the_weights_telescope_and_are_exact_for_a_gradient_linear_along_the_path(nodes):
    inc = _increments(1, 12, 12)
    used, weights = path_weights(inc, nodes)
    assert used[-1] == 50 and set(used) <= set(nodes)
    torch.testing.assert_close(weights.sum(dim=0), inc.sum(dim=0))  # Σ_n W_n = Σ_k Δ_k = x_m − x_0
    a, b = torch.rand(3, 12, 12, dtype=torch.float64), torch.rand(3, 12, 12, dtype=torch.float64)
    g = torch.stack([a + k * b for k in range(51)])  # g_k linear in k: interpolation is exact
    torch.testing.assert_close(integrate(inc, sorted(set(nodes)), g[sorted(set(nodes))]), (g[1:] * inc).sum(dim=0))


def test_nodes_that_miss_an_end_are_refused():
    with pytest.raises(ValueError, match="from 0 to 5"):
        path_weights(torch.zeros(5, 1, 2, 2), [1, 5])


def test_mass_nodes_follow_the_increments():
    """A 9x9 Gaussian of small sigma is nearly the identity: the last increments are ~0, so no start point but
    the end lies there, and the points split the total |increment| into about equal shares."""
    inc = _increments(2, 32, 32)
    nodes = mass_nodes(inc, START_POINTS)
    assert nodes[0] == 0 and nodes[-1] == 50 and len(nodes) == START_POINTS
    assert max(nodes[:-1]) < 40  # beyond k = 40 (sigma < 0.24) the increments hold < 1 % of the mass
    mass = inc.abs().sum(dim=(1, 2, 3))
    shares = [float(mass[a:b].sum() / mass.sum()) for a, b in zip(nodes, nodes[1:])]
    assert all(abs(s - 1 / (START_POINTS - 1)) < 0.06 for s in shares), shares
    assert mass_nodes(torch.zeros(50, 1, 4, 4), 6) == [0, 10, 20, 30, 40, 50]  # no mass: evenly spread


def test_adaptive_nodes_halve_where_the_gradient_changes_and_count_the_passes():
    """A gradient that jumps between k = 30 and 31 and is constant elsewhere: after the start points every new
    point goes into the interval around the jump, until the jump is pinned down (then every estimated error is 0
    and it stops early); the oracle is asked once per point, never for more than ``points``. A gradient that
    changes everywhere gets exactly ``points`` points."""
    inc = _increments(3)
    base = torch.rand(3, 16, 16, dtype=torch.float64)
    g = torch.stack([base * (1.0 if k <= 30 else 3.0) for k in range(51)])
    asked = []

    def oracle(nodes):
        asked.extend(nodes)
        return g[nodes]

    nodes, grads = adaptive_nodes(inc, oracle, points=12)
    assert len(asked) == len(set(asked)) == len(nodes) <= 12 and nodes == sorted(asked)
    start = mass_nodes(inc, START_POINTS)
    added = sorted(set(nodes) - set(start))
    below, above = max(n for n in start if n <= 30), min(n for n in start if n > 30)
    assert all(below < n < above for n in added)
    assert 30 in nodes and 31 in nodes  # the jump is pinned down, so the sum is exact
    torch.testing.assert_close(integrate(inc, nodes, grads), (g[1:] * inc).sum(dim=0))
    curved = torch.stack([base * (1 + (k / 50) ** 2) for k in range(51)])
    assert len(adaptive_nodes(inc, lambda n: curved[n], points=12)[0]) == 12
    all_nodes, _ = adaptive_nodes(inc, lambda n: g[n], points=None)
    assert all_nodes == list(range(1, 51)) == adaptive_nodes(inc, lambda n: g[n], points=60)[0]


def test_too_few_points_are_refused():
    with pytest.raises(ValueError, match="points"):
        adaptive_nodes(torch.zeros(5, 1, 2, 2), lambda n: torch.zeros(len(n), 1, 2, 2), points=2)


def _by_hand(model, lr, window, nodes):
    """Σ_n ∇D(F(x_n)) ⊙ W_n, one point at a time, at the given nodes."""
    points, inc = blur_path(lr, steps=50)
    used, weights = path_weights(inc, [0, *nodes] if nodes[0] != 0 else nodes)
    total = torch.zeros(points.shape[1:], dtype=torch.float64)
    for n, w in zip(used, weights):
        x = points[n : n + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(gradient_detector(model(x), window).sum(), x)
        total += g[0].to(torch.float64) * w
    return total


@pytest.mark.parametrize("points", [None, FAST_POINTS])
def test_the_library_computes_the_weighted_sum(points):
    torch.manual_seed(0)
    model = attnsr.create_model("pan", scale=2, num_blocks=1).eval()
    lr, window = torch.rand(1, 3, 12, 14), Window(5, 6, 8, 8)
    res = local_attribution_map(model, lr, window, points=points, batch_size=4)
    one_by_one = local_attribution_map(model, lr, window, points=points, batch_size=1)
    assert res.points == (50 if points is None else points) == one_by_one.points
    assert abs(res.di - one_by_one.di) < 1e-6  # the choice of points does not depend on the batch size
    # the same nodes again, by hand: the adaptive choice is deterministic given the gradients
    nodes = list(range(1, 51)) if points is None else _chosen_nodes(model, lr, window, points)
    expected = _by_hand(model, lr, window, nodes)
    torch.testing.assert_close(res.attribution, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max()))
    assert res.di == pytest.approx((1 - gini(lam_map(res.attribution))) * 100, abs=1e-9)
    torch.testing.assert_close(res.sr, model(lr))  # the output for the image itself (the last point)


def _chosen_nodes(model, lr, window, points):
    path, inc = blur_path(lr, steps=50)

    def oracle(nodes):
        x = path[nodes].clone().requires_grad_(True)
        return torch.autograd.grad(gradient_detector(model(x), window).sum(), x)[0]

    return adaptive_nodes(inc, oracle, points=points)[0]


def test_analyze_lam_defaults_to_the_fast_points_and_records_them(tmp_path):
    torch.manual_seed(0)
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), tmp_path / "pan.safetensors")
    write_image(tmp_path / "hr.png", torch.rand(1, 3, 40, 44))
    common = ["analyze", "lam", "--weights", str(tmp_path / "pan.safetensors"), "--image", str(tmp_path / "hr.png")]
    common += ["--window", "10,12,16"]
    assert main([*common, "--json", str(tmp_path / "fast.json")]) == 0
    assert main([*common, "--points", "all", "--json", str(tmp_path / "exact.json")]) == 0
    fast, exact = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("fast", "exact"))
    assert (fast["points"], exact["points"]) == (FAST_POINTS, 50)
    assert fast["steps"] == exact["steps"] == 50 and 0 < fast["di"] < 100


@pytest.mark.parametrize("bad", ["2", "0", "some"])
def test_a_bad_points_value_is_one_usage_line(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "lam", "--model", "pan", "--image", "x.png", "--window", "1,1", "--points", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--points" in err[-1] and "Traceback" not in "".join(err)


def test_the_fast_points_are_the_measured_choice():
    """FAST_POINTS is what benchmarks/lam_speed_click.py chose: every crop's DI within 1 % for PAN and A2N x4, on
    the first 20 crops of the set and the next 20, the library gives the composed DI, and a click with the
    server's default threads (one per core of the machine measured) took at most 5 s for both models."""
    record = json.loads(RESULTS.read_text())
    assert record["chosen"] == f"fp32 points {FAST_POINTS}" and record["crops"] >= 20
    for model in record["accuracy"].values():
        assert {"acceptance", "more"} <= set(model["options"])
        for part in model["options"].values():
            option = part[f"fp32 points {FAST_POINTS}"]
            assert option["max_crop_rel_error"] <= record["tolerance"] == 0.01
            assert option["passes"] == FAST_POINTS
    assert max(record["library_check"]["max_rel_di_difference"].values()) < 1e-3  # float rounding may tip a choice
    clicks = record["timing"][f"{record['machine']['cpus']} thread(s)"]
    assert set(clicks) == set(record["accuracy"])
    for timed in clicks.values():
        (now,) = [v["median_s"] for label, v in timed.items() if label.startswith(f"{FAST_POINTS} adaptive points")]
        assert now <= 5.0
