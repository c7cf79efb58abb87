"""Registry-wide model tests (STYLE §11): every model at every scale, on tiny inputs."""

from __future__ import annotations

import pytest
import torch

import attnsr
from attnsr import build_from_checkpoint, save_weights
from attnsr.errors import ModelError
from attnsr.registry import get_entry

CASES = [(name, scale) for name in attnsr.list_models() for scale in get_entry(name).scales]

# Exact counts from docs/REFERENCE.md (official code).
REFERENCE_PARAMS = {
    ("a2n", 2): 1_036_443,
    ("a2n", 3): 1_036_443,
    ("a2n", 4): 1_047_459,
    ("a2n_m", 2): 831_643,
    ("a2n_m", 3): 831_643,
    ("a2n_m", 4): 842_659,
    ("pan", 2): 261_403,
    ("pan", 3): 261_403,
    ("pan", 4): 272_419,
}


def _small(name: str, scale: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return attnsr.create_model(name, scale=scale, **get_entry(name).test_options)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "scale"), sorted(REFERENCE_PARAMS))
def test_parameter_count_equals_reference(name, scale):
    assert n_params(attnsr.create_model(name, scale=scale)) == REFERENCE_PARAMS[(name, scale)]


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_shape_finite_and_gradients(name, scale):
    model = _small(name, scale)
    x = torch.rand(1, 3, 11, 13, requires_grad=False)
    y = model(x)
    assert y.shape == (1, 3, 11 * scale, 13 * scale)
    assert torch.isfinite(y).all()
    y.abs().mean().backward()
    trainable = [(k, p) for k, p in model.named_parameters() if p.requires_grad]  # frozen MeanShift convs exempt
    no_grad = [k for k, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"parameters without a finite gradient: {no_grad[:5]}"


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_batch_of_two_equals_two_singles(name, scale):
    model = _small(name, scale).eval()
    x = torch.rand(2, 3, 9, 10)
    with torch.no_grad():
        both = model(x)
        singles = torch.cat([model(x[:1]), model(x[1:])])
    torch.testing.assert_close(both, singles, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "scale"), CASES)
def test_save_rebuild_same_output(name, scale, tmp_path):
    model = _small(name, scale).eval()
    path = tmp_path / "w.safetensors"
    save_weights(model, path, record={"note": "test"})
    rebuilt = build_from_checkpoint(path).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(x), rebuilt(x), rtol=0, atol=0)
    assert rebuilt.arch == model.arch


def test_checkpoints_recording_an_older_name_of_input_range_still_load(tmp_path):
    """Files saved when A2N's option was ``img_range`` and the EDSR family's ``rgb_range`` rebuild as before."""
    for name, old, value in (("a2n", "img_range", 255.0), ("edsr_baseline", "rgb_range", 1.0)):  # not defaults
        model = _small(name, 2)
        model.arch["options"] = {**model.arch["options"], old: value}  # the record an older release wrote
        save_weights(model, tmp_path / f"{name}.safetensors")
        rebuilt = build_from_checkpoint(tmp_path / f"{name}.safetensors")
        assert rebuilt.input_range == value and rebuilt.arch["options"]["input_range"] == value


def test_unknown_model_and_option_fail_with_choices():
    with pytest.raises(ModelError, match="Did you mean a2n") as e:
        attnsr.create_model("a2m", scale=2)
    assert "\n" not in str(e.value) and "pan" in str(e.value)
    with pytest.raises(ModelError, match="no option 'widht'"):
        attnsr.create_model("a2n", scale=2, widht=3)
    with pytest.raises(ModelError, match="scales"):
        attnsr.create_model("a2n", scale=8)
    with pytest.raises(ModelError, match="unknown attention"):
        attnsr.create_model("pan", scale=2, attention="bma")


def test_a2n_variants_are_options_of_one_class():
    from attnsr.models.a2n import A2N, A2N_VARIANTS

    for options in A2N_VARIANTS.values():
        if options.get("num_blocks", 16) > 16:
            continue
        m = attnsr.create_model("a2n", scale=4, **{**options, "num_blocks": 2})
        assert isinstance(m, A2N)
        assert m(torch.rand(1, 3, 6, 6)).shape == (1, 3, 24, 24)


def test_analysis_model_switches_attention_per_block():
    from attnsr.models.a2n_analysis import TABLE2_SETTINGS

    counts = {k: n_params(attnsr.create_model("a2n_analysis", scale=4, attention_blocks=k)) for k in TABLE2_SETTINGS}
    assert counts["front"] == counts["back"] == counts["interleaved"]
    assert counts["none"] < counts["front"] < counts["all"]
    assert counts["all"] - counts["front"] == counts["front"] - counts["none"]
    with pytest.raises(ModelError):
        attnsr.create_model("a2n_analysis", scale=4, attention_blocks=[0, 11])


def test_attention_classes_declare_whether_they_reduce():
    from attnsr.layers.attention import ATTENTIONS, build_attention

    assert all(isinstance(cls.reduces, bool) for cls in ATTENTIONS.values())
    assert sorted(n for n, cls in ATTENTIONS.items() if not cls.reduces) == ["csa", "msam", "pa", "sa"]
    for name, cls in ATTENTIONS.items():
        if cls.reduces:  # r changes the bottleneck width; an r that leaves no channel is refused with choices
            sizes = {n_params(build_attention(name, 16, reduction=r)) for r in (2, 8)}
            assert len(sizes) == 2, name
            with pytest.raises(ModelError, match="valid attentions: csa, msam, pa, sa, none"):
                build_attention(name, 4, reduction=8, host="test")
        else:  # reduction is accepted and ignored
            assert n_params(build_attention(name, 4, reduction=8)) == n_params(build_attention(name, 4))
