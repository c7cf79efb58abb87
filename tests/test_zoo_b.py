"""BAM host networks CARN, CARN-M, AWSRN and IMDN: exact full-size parameter counts and official layouts."""

from __future__ import annotations

import pytest
import torch

import attnsr
from attnsr.errors import ModelError

HOSTS = ("carn", "carn_m", "awsrn", "imdn")
OWN = {"carn": "none", "carn_m": "none", "awsrn": "none", "imdn": "cca"}

# docs/REFERENCE.md, "Exact parameter counts of the BAM host networks": (own attention, BAM) per scale.
REFERENCE = {
    "carn": {2: (1_591_963, 1_593_658), 3: (1_591_963, 1_593_658), 4: (1_591_963, 1_593_658)},
    "carn_m": {2: (1_161_307, 1_163_002), 3: (1_161_307, 1_163_002), 4: (1_161_307, 1_163_002)},
    "awsrn": {2: (1_396_872, 1_397_181), 3: (1_476_147, 1_476_456), 4: (1_587_132, 1_587_441)},
    "imdn": {2: (694_404, 694_314), 3: (703_059, 702_969), 4: (715_176, 715_086)},
}
CASES = [
    (name, scale, attention, counts[i])
    for name, by_scale in REFERENCE.items()
    for scale, counts in by_scale.items()
    for i, attention in enumerate((OWN[name], "bam"))
]
# IMDN ×4 attention ablation (BAM paper Table 2); CA and SE are sized like CCA at r=16.
CASES += [
    ("imdn", 4, "acam", 714_792),
    ("imdn", 4, "msam", 711_990),
    ("imdn", 4, "cbam", 715_356),
    ("imdn", 4, "ca", 715_176),
    ("imdn", 4, "se", 715_176),
]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "scale", "attention", "expected"), CASES)
def test_parameter_count_equals_reference(name, scale, attention, expected):
    assert n_params(attnsr.create_model(name, scale=scale, attention=attention)) == expected


@pytest.mark.parametrize("name", HOSTS)
def test_attention_that_cannot_fit_raises_one_line_with_choices(name):
    with pytest.raises(ModelError, match="Valid attentions: .*bam") as e:
        attnsr.create_model(name, scale=2, attention="bma")
    assert "\n" not in str(e.value)


def test_carn_holds_three_upsamplers_and_frozen_mean_shift():
    model = attnsr.create_model("carn", scale=3)
    assert model.scale == 3
    keys = model.state_dict().keys()
    assert {"upsample.up2.body.0.weight", "upsample.up3.body.0.weight", "upsample.up4.body.3.weight"} <= keys
    assert {
        "sub_mean.shifter.weight",
        "add_mean.shifter.bias",
        "c1.body.0.weight",
        "b3.c3.body.0.weight",
    } <= keys
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert sum(p.numel() for p in frozen) == 24
    # With BAM the BAM code's layout: c<i> = Sequential(BasicBlock, attention).
    keys = attnsr.create_model("carn_m", scale=2, attention="bam").state_dict().keys()
    assert "c3.0.body.0.weight" in keys and "c3.1.acam.conv1.weight" in keys
    assert "b1.b2.body.0.weight" not in keys  # CARN-M shares one efficient unit per block


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_carn_multi_scale_uses_the_upsampler_of_its_scale(scale):
    torch.manual_seed(0)
    model = attnsr.create_model("carn_m", scale=scale, num_blocks=1).eval()
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, 7 * scale, 9 * scale)
    # the mean shift is undone: with a zero exit conv the output is the mean colour
    with torch.no_grad():
        model.exit.weight.zero_()
        model.exit.bias.zero_()
        torch.testing.assert_close(model(x)[0, :, 0, 0], torch.tensor([0.4488, 0.4371, 0.4040]))


def test_awsrn_loads_official_weight_norm_keys():
    torch.manual_seed(0)
    model = attnsr.create_model("awsrn", scale=2, num_blocks=1, attention="bam").eval()
    legacy = {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in model.state_dict().items()
    }
    assert "body.0.lfl.0.body.0.weight_g" in legacy and "tail.scale_k9.scale" in legacy
    assert "attention.acam.conv1.weight" in legacy
    rebuilt = attnsr.create_model("awsrn", scale=2, num_blocks=1, attention="bam").eval()
    rebuilt.load_state_dict(legacy, strict=True)
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(model(x), rebuilt(x), rtol=0, atol=0)


def test_imdn_keeps_official_names_and_renames_replacements():
    keys = attnsr.create_model("imdn", scale=4).state_dict().keys()
    assert {
        "fea_conv.weight",
        "IMDB6.cca.conv_du.2.bias",
        "c.0.weight",
        "LR_conv.weight",
        "upsampler.0.weight",
    } <= keys
    keys = attnsr.create_model("imdn", scale=4, attention="bam").state_dict().keys()
    assert "IMDB1.attention.msam.conv.weight" in keys and not any(".cca." in k for k in keys)
    assert n_params(attnsr.create_model("imdn", scale=4, attention="none")) == 715_176 - 6 * 580
