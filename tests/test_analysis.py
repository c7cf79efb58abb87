"""Attention analysis through forward hooks (SPEC §4, STYLE §10): capture, switching, heat maps,
correlation, ADM weights, and the ``attnsr analyze`` commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attnsr
from attnsr import save_weights
from attnsr.analysis.adm import adm_weights, extreme_maps, plot_adm_distribution, plot_extreme_maps
from attnsr.analysis.correlation import (
    FILTERS,
    correlate_attention,
    high_pass,
    mask_correlations,
    pearson,
    plot_correlation,
)
from attnsr.analysis.heatmaps import attention_heatmaps, plot_heatmaps
from attnsr.analysis.hooks import (
    attention_module_names,
    block_attention,
    capture_attention,
    disable_attention,
    trunk_blocks,
)
from attnsr.analysis.switching import evaluate_switching, parse_setting, table2_settings
from attnsr.cli.main import main
from attnsr.errors import AttnsrError
from attnsr.io import write_image
from attnsr.layers.attention import MaskTap
from attnsr.models.a2n_analysis import TABLE2_SETTINGS


def _tiny(name: str, scale: int = 2, **options) -> nn.Module:
    torch.manual_seed(0)
    opts = {"num_blocks": 2} if name in ("a2n", "a2n_m", "pan") else {"num_feats": 8}
    return attnsr.create_model(name, scale=scale, **{**opts, **options}).eval()


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


# -------------------------------------------------------------------------------------- capture

EXPECTED = {
    "a2n": ["AAB_trunk.0.attention", "AAB_trunk.1.attention", "att1"],
    "a2n_m": ["AAB_trunk.0.attention", "AAB_trunk.1.attention", "att1"],
    "pan": ["SCPA_trunk.0.PAConv", "SCPA_trunk.1.PAConv", "att1"],
    "a2n_analysis": [f"body.{i}.attention" for i in range(10)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_records_every_attention_module(name):
    model = _tiny(name)
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        ref = model(x)
    with torch.no_grad(), capture_attention(model) as cap:
        out = model(x)
    assert _n_hooks(model) == 0  # hooks gone, model untouched
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    assert attention_module_names(model) == EXPECTED[name]
    assert cap.names() == EXPECTED[name]
    for rec in cap.records.values():
        assert rec.calls == 1
        for t in (rec.input, rec.mask, rec.feature, rec.output):
            assert t is not None and torch.isfinite(t).all()
        assert rec.mask.min() >= 0 and rec.mask.max() <= 1  # sigmoid masks
        module = model.get_submodule(rec.name)
        with torch.no_grad():
            if hasattr(module, "k3"):  # k4(k3(x) * mask): the feature is k3(x)
                torch.testing.assert_close(rec.feature, module.k3(rec.input))
                torch.testing.assert_close(rec.output, module.k4(rec.feature * rec.mask), rtol=1e-4, atol=1e-5)
            else:  # x * mask
                torch.testing.assert_close(rec.feature, rec.input)
                torch.testing.assert_close(rec.output, rec.input * rec.mask, rtol=1e-5, atol=1e-6)


def test_capture_reads_adm_weights_and_channel_means():
    model = _tiny("a2n")
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad(), capture_attention(model, include=["AAB_trunk.*"], reduce="channel_mean") as cap:
        model(x)
    assert cap.names() == ["AAB_trunk.0.attention", "AAB_trunk.1.attention"]
    assert list(cap.adm) == ["AAB_trunk.0", "AAB_trunk.1"]
    for block, w in cap.adm.items():
        assert w.shape == (2, 2)
        torch.testing.assert_close(w.sum(1), torch.ones(2))
        aab = model.get_submodule(block)
        with torch.no_grad():
            manual = F.softmax(aab.ADM(aab.lrelu(aab.conv_first(_block_input(model, block, x))).mean((2, 3))) / 30, 1)
        torch.testing.assert_close(w, manual, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(cap[f"{block}.attention"].branch_weights, w)
    assert cap["AAB_trunk.0.attention"].mask.shape == (2, 1, 8, 8)


def _block_input(model, block: str, x):
    """Input of an AAB, read with a hook (what the test compares against)."""
    seen = {}
    h = model.get_submodule(block).register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0].clone()))
    with torch.no_grad():
        model(x)
    h.remove()
    return seen["x"]


def test_capture_of_a2n_branch_mixes_and_pan_bam():
    m = _tiny("a2n", attention="bam")
    with torch.no_grad(), capture_attention(m) as cap:
        m(torch.rand(1, 3, 8, 8))
    assert "AAB_trunk.0.attention" in cap and "AAB_trunk.0.attention.att" in cap
    assert cap["AAB_trunk.0.attention"].mask is not None  # BAM's own tap, not its parts'
    p = _tiny("pan", attention="bam")
    with torch.no_grad(), capture_attention(p) as cap:
        p(torch.rand(1, 3, 8, 8))
    assert cap["att1"].kind == "BAM" and cap["att1"].mask.shape == (1, 24, 16, 16)


def test_trunk_and_blocks():
    assert trunk_blocks(_tiny("a2n")) == ["AAB_trunk.0", "AAB_trunk.1"]
    assert trunk_blocks(_tiny("pan")) == ["SCPA_trunk.0", "SCPA_trunk.1"]
    m = _tiny("a2n_analysis", attention_blocks="back")
    assert trunk_blocks(m) == [f"body.{i}" for i in range(10)]
    assert block_attention(m) == {i: f"body.{i - 1}.attention" for i in range(6, 11)}


# ------------------------------------------------------------------------------------ switching


def test_all_masks_ones_changes_output_and_is_undone():
    model = _tiny("a2n")
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        ref = model(x)
        with disable_attention(model) as taps:
            off = model(x)
        again = model(x)
    assert taps == ["AAB_trunk.0.attention.tap", "AAB_trunk.1.attention.tap", "att1.tap"]
    assert (off - ref).abs().max() > 1e-4
    torch.testing.assert_close(again, ref, rtol=0, atol=0)
    assert _n_hooks(model) == 0


def test_disabled_mask_is_ones_and_block_selection():
    model = _tiny("a2n")
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), disable_attention(model, blocks=[2]) as taps, capture_attention(model) as cap:
        model(x)
    assert taps == ["AAB_trunk.1.attention.tap"]
    assert torch.equal(cap["AAB_trunk.1.attention"].mask, torch.ones_like(cap["AAB_trunk.1.attention"].mask))
    assert not torch.equal(cap["AAB_trunk.0.attention"].mask, torch.ones_like(cap["AAB_trunk.0.attention"].mask))
    with pytest.raises(AttnsrError):
        with disable_attention(model, blocks=[3]):
            pass


def test_switching_on_a2n_analysis_matches_the_trained_settings():
    """Masks = ones in a block of the analysis net is the block without attention: disabling the
    attention of blocks 6..10 of an 'all' model gives the same output as copying its weights into a
    'front' model."""
    full = _tiny("a2n_analysis", attention_blocks="all")
    front = _tiny("a2n_analysis", attention_blocks="front")
    front.load_state_dict({k: v for k, v in full.state_dict().items() if k in front.state_dict()})
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), disable_attention(full, blocks=range(6, 11)):
        switched = full(x)
    with torch.no_grad():
        torch.testing.assert_close(switched, front(x), rtol=1e-5, atol=1e-6)
        with disable_attention(front, blocks=range(6, 11)) as taps:  # no attention there: nothing hooked
            assert taps == []


def test_table2_settings_and_parsing():
    assert table2_settings(10) == TABLE2_SETTINGS
    assert parse_setting("front", 16) == tuple(range(1, 9))
    assert parse_setting("1-3,7", 10) == (1, 2, 3, 7)
    assert parse_setting("none", 4) == ()
    with pytest.raises(AttnsrError):
        parse_setting("0,11", 10)
    with pytest.raises(AttnsrError):
        parse_setting("middle", 10)


def test_evaluate_switching_on_a_folder(tiny_folder):
    model = _tiny("a2n")
    res = evaluate_switching(model, [tiny_folder], scale=2, settings={"all": (1, 2), "none": (), "front": (1,)})
    assert [r.setting for r in res] == ["all", "none", "front"]
    psnr = {r.setting: r.datasets[0].psnr for r in res}
    assert all(math.isfinite(v) for v in psnr.values())
    assert psnr["all"] != psnr["none"]
    assert _n_hooks(model) == 0


# ---------------------------------------------------------------------------------- correlation


def test_high_pass_kernels():
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    hp = high_pass(xx**2 + 3 * yy)  # Laplace of x² is 2; Sobel: 4·(2·2x) = 16x and 4·(2·3) = 24
    inner = (slice(1, -1), slice(1, -1))
    torch.testing.assert_close(hp["laplace"][inner], torch.full((10, 10), 2.0, dtype=torch.float64))
    torch.testing.assert_close(hp["sobel"][inner], torch.sqrt((16 * xx) ** 2 + 24.0**2)[inner].double())
    torch.testing.assert_close(hp["scharr"][inner], torch.sqrt((64 * xx) ** 2 + 96.0**2)[inner].double())
    # reflect padding (mirror without repeating the edge): a ramp 0, 1, 2 … reads 1 on both sides of
    # column 0, so |Laplace| there is 2 (zero, replicate or edge-repeating padding would give 1)
    assert float(high_pass(xx)["laplace"][5, 0]) == 2.0


def test_pearson_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.random((9, 7)), rng.random((9, 7))
    assert abs(pearson(a, b) - np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 1e-12
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))


def test_mask_correlation_known_r():
    torch.manual_seed(0)
    f = torch.rand(20, 24)
    hp = high_pass(f)
    noise = torch.randn(20, 24, dtype=torch.float64)
    # m = z(hp) + z(noise) with noise orthogonalised against hp has r = 1/sqrt(2) exactly
    z = (hp["sobel"] - hp["sobel"].mean()) / hp["sobel"].std()
    n = noise - noise.mean()
    n = n - (n * z).sum() / (z * z).sum() * z
    n = n / n.std()
    r = mask_correlations(z + n, f)
    assert abs(r["sobel"] - 1 / math.sqrt(2)) < 1e-9
    assert abs(mask_correlations(3 * hp["laplace"] + 1, f)["laplace"] - 1) < 1e-12
    assert abs(mask_correlations(-hp["scharr"], f)["scharr"] + 1) < 1e-12
    assert all(math.isnan(v) for v in mask_correlations(torch.ones(1, 1), f).values())


class EdgeAttention(nn.Module):
    """Attention whose mask is the normalised |Laplace| of the input's channel mean: r = 1 by design."""

    def __init__(self) -> None:
        super().__init__()
        self.tap = MaskTap()

    def forward(self, x):
        lap = high_pass(x.mean(1, keepdim=True))["laplace"].to(x.dtype)
        return x * self.tap(lap / (lap.amax(dim=(2, 3), keepdim=True) + 1).expand_as(x))


class EdgeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.trunk = nn.Sequential(EdgeAttention(), EdgeAttention())

    def trunk_blocks(self):
        return ["trunk.0", "trunk.1"]

    def attention_taps(self):
        return {name: self.get_submodule(name) for name in self.trunk_blocks()}

    def forward(self, x):
        return self.trunk(self.conv(x))


def test_correlate_attention_on_a_synthetic_model(tmp_path):
    torch.manual_seed(0)
    model = EdgeNet().eval()
    images = [(f"im{i}", torch.rand(1, 3, 16, 18)) for i in range(3)]
    res = correlate_attention(model, images)
    assert [b.block for b in res.blocks] == [1, 2] and res.images == ["im0", "im1", "im2"]
    for b in res.blocks:
        assert len(b.r[("input", "laplace")]) == 3
        assert abs(b.mean("input", "laplace") - 1) < 1e-6
        assert abs(b.mean("multiplied", "laplace") - 1) < 1e-6  # x * mask: the multiplied feature is x
        assert -1 <= b.mean("input", "sobel") <= 1
    rows = res.rows()
    assert len(rows) == 4 and set(FILTERS) <= set(rows[0])
    assert plot_correlation(res, tmp_path / "r.png").stat().st_size > 1000


def test_correlation_on_a2n_uses_k3_feature():
    model = _tiny("a2n")
    images = [("a", torch.rand(1, 3, 10, 12)), ("b", torch.rand(1, 3, 10, 12))]
    res = correlate_attention(model, images, blocks=[2])
    (b,) = res.blocks
    assert b.name == "AAB_trunk.1.attention"
    with torch.no_grad(), capture_attention(model, reduce="channel_mean") as cap:
        model(images[0][1])
    rec = cap[b.name]
    expect = mask_correlations(rec.mask[0, 0], rec.feature[0, 0])["scharr"]
    assert abs(b.r[("multiplied", "scharr")][0] - expect) < 1e-9
    assert b.r[("multiplied", "scharr")][0] != b.r[("input", "scharr")][0]


# -------------------------------------------------------------------------------- heat maps, ADM


def test_heatmaps(tmp_path):
    model = _tiny("a2n")
    lr = torch.rand(1, 3, 10, 12)
    maps = attention_heatmaps(model, lr)
    assert [m.block for m in maps] == [1, 2]
    for m in maps:
        assert m.input.shape == m.mask.shape == m.output.shape == (10, 12)
    with torch.no_grad(), capture_attention(model) as cap:
        model(lr)
    np.testing.assert_allclose(maps[1].mask, cap["AAB_trunk.1.attention"].mask[0].mean(0).numpy(), rtol=1e-6)
    assert plot_heatmaps(maps, tmp_path / "h.png", image=lr).stat().st_size > 1000
    with pytest.raises(AttnsrError):
        attention_heatmaps(model, lr, blocks=[5])


def test_adm_weights_and_extremes(tmp_path):
    model = _tiny("a2n")
    images = {f"im{i}": torch.rand(1, 3, 8, 8) * (i + 1) / 3 for i in range(3)}
    stats = adm_weights(model, images.items())
    assert stats.w_att.shape == (3, 2) and stats.blocks == ["AAB_trunk.0", "AAB_trunk.1"]
    assert ((stats.w_att > 0) & (stats.w_att < 1)).all()
    with torch.no_grad(), capture_attention(model, include=[]) as cap:
        model(images["im1"])
    assert stats.w_att[1, 1] == pytest.approx(float(cap.adm["AAB_trunk.1"][0, 0]), abs=1e-7)
    hi, lo = extreme_maps(model, images, stats, k=2)
    assert hi[0].w_att == pytest.approx(stats.w_att.max()) and lo[0].w_att == pytest.approx(stats.w_att.min())
    assert hi[0].w_att >= hi[1].w_att and lo[0].w_att <= lo[1].w_att
    assert hi[0].mask.shape == (8, 8)
    assert plot_adm_distribution(stats, tmp_path / "v.png").stat().st_size > 1000
    assert plot_extreme_maps(hi, lo, tmp_path / "m.png").stat().st_size > 1000
    with pytest.raises(AttnsrError):
        adm_weights(_tiny("pan"), images.items())


# ------------------------------------------------------------------------------------------- CLI


def test_cli_analyze_tools(tmp_path, tiny_folder):
    model = _tiny("a2n")
    weights = tmp_path / "a2n.safetensors"
    save_weights(model, weights)
    lr = tmp_path / "lr.png"
    write_image(lr, torch.rand(1, 3, 12, 14))
    common = ["--weights", str(weights)]
    assert main(["analyze", "heatmap", *common, "--image", str(lr), "-o", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").is_file()
    assert (
        main(
            [
                "analyze",
                "correlation",
                *common,
                "--data",
                str(tiny_folder),
                "--csv",
                str(tmp_path / "c.csv"),
                "--json",
                str(tmp_path / "c.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "block,module,feature,laplace,sobel,scharr,images"
    assert len(json.loads((tmp_path / "c.json").read_text())["mean"]) == 4
    assert (
        main(
            [
                "analyze",
                "switching",
                *common,
                "--data",
                str(tiny_folder),
                "--settings",
                "all;none;2",
                "--json",
                str(tmp_path / "s.json"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert [r["setting"] for r in json.loads((tmp_path / "s.json").read_text())["results"]] == ["all", "none", "2"]
    assert (
        main(
            [
                "analyze",
                "adm",
                *common,
                "--data",
                str(tiny_folder),
                "--json",
                str(tmp_path / "a.json"),
                "--maps",
                str(tmp_path / "m.png"),
                "--top",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(json.loads((tmp_path / "a.json").read_text())["w_att"]) == 2
    assert (
        main(["analyze", "heatmap", *common, "--image", str(lr), "--blocks", "9", "-o", str(tmp_path / "x.png")]) == 2
    )
