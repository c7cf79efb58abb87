"""BAM host networks EDSR, RCAN, DRLN, MSRN, s-LWSR32: exact parameter counts, BAM placement,
official layer names, attention validation. Full-size models are built on the meta device (no memory,
no initialisation) and only counted; forwards run at reduced size."""

from __future__ import annotations

import pytest
import torch

import attnsr
from attnsr.errors import ModelError
from attnsr.layers.attention import BAM, ChannelAttention, LaplacianAttention
from attnsr.models.drln import cascade_sizes

# docs/REFERENCE.md, "Exact parameter counts of the BAM host networks": (model, attention) → ×2, ×3, ×4.
REFERENCE = {
    ("edsr_baseline", "none"): (1_369_883, 1_554_523, 1_517_595),
    ("edsr_baseline", "bam"): (1_370_448, 1_555_088, 1_518_160),
    ("edsr", "bam"): (40_737_884, 43_688_284, 43_098_204),
    ("msrn", "none"): (5_930_331, 6_114_971, 6_078_043),
    ("msrn", "bam"): (5_934_851, 6_119_491, 6_082_563),
    ("slwsr32", "none"): (534_139, 580_379, 571_131),
    ("slwsr32", "bam"): (534_318, 580_558, 571_310),
    ("rcan", "ca"): (15_444_667, 15_629_307, 15_592_379),
    ("rcan", "bam"): (15_441_667, 15_626_307, 15_589_379),
    ("drln", "la"): (34_430_155, 34_614_795, 34_577_867),
    ("drln", "bam"): (34_163_455, 34_348_095, 34_311_167),
}
CASES = [(name, scale, att) for (name, att), counts in REFERENCE.items() for scale in (2, 3, 4)]

# Full-size number of BAM modules and where they sit (SPEC §2 table).
BAM_SITES = {"edsr_baseline": 1, "edsr": 1, "msrn": 8, "slwsr32": 1, "rcan": 200, "drln": 20}

# Reduced sizes for forwards.
SMALL = {
    "edsr_baseline": {"num_blocks": 2},
    "edsr": {"num_blocks": 2, "num_feats": 32},
    "msrn": {"num_blocks": 2, "num_feats": 16},
    "slwsr32": {"num_feats": 16},
    "rcan": {"num_groups": 2, "num_blocks": 2, "num_feats": 16},
    "drln": {"num_blocks": 3, "num_feats": 16},
}


def _meta(name: str, **options) -> torch.nn.Module:
    with torch.device("meta"):
        return attnsr.create_model(name, **options)


@pytest.mark.parametrize(("name", "scale", "attention"), CASES)
def test_parameter_count_equals_reference(name, scale, attention):
    model = _meta(name, scale=scale, attention=attention)
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[(name, attention)][scale - 2]


@pytest.mark.parametrize("name", sorted(BAM_SITES))
def test_bam_sits_at_the_official_places(name):
    model = _meta(name, scale=2, attention="bam")
    sites = [k for k, m in model.named_modules() if isinstance(m, BAM)]
    assert len(sites) == BAM_SITES[name]
    expected_first = {
        "edsr_baseline": "attention",
        "edsr": "attention",
        "slwsr32": "attention",
        "msrn": "body.0.attention",
        "rcan": "body.0.body.0.body.3",
        "drln": "b1.ca",
    }[name]
    assert sites[0] == expected_first
    assert all(
        m.acam.conv1.out_channels == m.acam.conv1.in_channels // 16 for m in model.modules() if isinstance(m, BAM)
    )


def test_host_attentions_and_official_names():
    rcan = _meta("rcan", scale=4)
    assert isinstance(rcan.body[3].body[7].body[3], ChannelAttention)
    drln = _meta("drln", scale=4)
    assert isinstance(drln.b20.ca, LaplacianAttention)
    keys = {
        "edsr_baseline": [
            "sub_mean.weight",
            "head.0.weight",
            "body.15.body.2.weight",
            "body.16.weight",
            "tail.0.0.weight",
            "tail.0.2.weight",
            "tail.1.weight",
            "add_mean.bias",
        ],
        "rcan": [
            "sub_mean.weight",
            "body.9.body.19.body.3.conv_du.2.weight",
            "body.9.body.20.weight",
            "body.10.weight",
            "tail.0.2.weight",
            "tail.1.bias",
        ],
        "drln": [
            "sub_mean.shifter.weight",
            "head.weight",
            "b16.r3.body.2.weight",
            "b16.g.body.0.weight",
            "b16.ca.c4.body.0.weight",
            "c16.body.0.weight",
            "upsample.up.body.3.weight",
            "tail.weight",
        ],
        "msrn": [
            "head.0.weight",
            "body.7.conv_5_2.weight",
            "body.7.confusion.weight",
            "tail.0.weight",
            "tail.2.2.weight",
            "tail.3.weight",
        ],
        "slwsr32": [
            "head.0.weight",
            "feat2_3.body.2.weight",
            "feat6_2.body.0.weight",
            "conv1.weight",
            "feat7_1.conv.weight",
            "feat10_1.body.2.weight",
            "conv10.body.2.bias",
            "tail.0.2.weight",
        ],
    }
    for name, expected in keys.items():
        state = _meta(name, scale=4).state_dict()
        assert not [k for k in expected if k not in state], name
    assert drln.c16.body[0].in_channels == 5 * 64 and drln.c20.body[0].in_channels == 5 * 64
    assert cascade_sizes(20) == [3, 3, 3, 3, 4, 4]


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("attention", ["bam", "se"])
def test_small_forward_with_attention(name, attention):
    torch.manual_seed(0)
    model = attnsr.create_model(name, scale=3, attention=attention, **SMALL[name]).eval()
    assert model.scale == 3
    with torch.no_grad():
        y = model(torch.rand(1, 3, 5, 6))
    assert y.shape == (1, 3, 15, 18) and torch.isfinite(y).all()


def test_mean_shift_is_frozen_and_counted():
    model = attnsr.create_model("edsr_baseline", scale=2, num_blocks=1)
    frozen = [k for k, p in model.named_parameters() if not p.requires_grad]
    assert sorted(frozen) == ["add_mean.bias", "add_mean.weight", "sub_mean.bias", "sub_mean.weight"]
    torch.testing.assert_close(model.sub_mean.bias, -255 * torch.tensor([0.4488, 0.4371, 0.4040]))


def test_drln_keeps_the_official_b5_wiring():
    # Official code: b5 reads the cascade input a1, so c4's output is unused and c4 gets no gradient.
    model = attnsr.create_model("drln", scale=2, num_blocks=6, num_feats=16)
    model(torch.rand(1, 3, 6, 6)).mean().backward()
    no_grad = {k.split(".")[0] for k, p in model.named_parameters() if p.requires_grad and p.grad is None}
    assert no_grad == {"c4"}


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("rcan", {"num_feats": 8, "num_groups": 1, "num_blocks": 1, "attention": "ca"}),
        ("drln", {"num_feats": 8, "num_blocks": 3, "attention": "la"}),
        ("edsr_baseline", {"num_feats": 8, "num_blocks": 1, "attention": "bam"}),
        ("msrn", {"num_feats": 8, "num_blocks": 1, "attention": "cbam"}),
        ("slwsr32", {"num_feats": 8, "attention": "acam"}),
    ],
)
def test_incompatible_attention_fails_with_choices(name, options):
    with pytest.raises(ModelError) as e:
        attnsr.create_model(name, scale=2, **options)
    msg = str(e.value)
    assert "\n" not in msg and repr(options["attention"]) in msg
    assert "valid attentions: " in msg
    valid = msg.split("valid attentions: ")[1].split(", ")
    assert "none" in valid and "pa" in valid and options["attention"] not in valid


def test_unknown_attention_suggests_close_names():
    with pytest.raises(ModelError, match="Did you mean bam") as e:
        attnsr.create_model("msrn", scale=2, num_blocks=1, attention="bma")
    assert "\n" not in str(e.value) and "Valid attentions" in str(e.value)
