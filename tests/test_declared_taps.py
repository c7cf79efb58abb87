"""Declared analysis taps (STYLE §10, issue 14): every model × every attention option it accepts — the
hooks find exactly the attention modules the model was built with, from the model's declaration only;
a model that declares nothing is refused in one line; switching on IMDN changes PSNR."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
from torch import nn

import attnsr
from attnsr import save_weights
from attnsr.analysis.hooks import (
    attention_module_names,
    block_attention,
    capture_attention,
    disable_attention,
    trunk_blocks,
)
from attnsr.analysis.switching import evaluate_switching
from attnsr.cli.main import main
from attnsr.errors import AttnsrError, ModelError
from attnsr.layers.attention import ATTENTIONS, list_attentions
from attnsr.models.a2n import AttentionBranch
from attnsr.models.a2n_analysis import TABLE2_SETTINGS
from attnsr.models.pan import PAConv
from attnsr.registry import get_entry

FACTORY = tuple(set(ATTENTIONS.values()))
OWN = (AttentionBranch, PAConv)  # attention a model builds itself, not through the factory
# Models whose every trunk block holds the attention it was built with (when it is not "none").
ATTENTION_IN_EVERY_BLOCK = {"a2n", "a2n_m", "pan", "rcan", "msrn", "carn", "carn_m", "drln", "imdn"}


def _options(name: str) -> list[dict]:
    entry = get_entry(name)
    params = inspect.signature(entry.builder).parameters
    if "attention" in params:
        return [{"attention": a} for a in dict.fromkeys([entry.default_attention, *list_attentions()])]
    if "attention_blocks" in params:
        return [{"attention_blocks": k} for k in TABLE2_SETTINGS]
    return [{}]


CASES = [(name, opts) for name in attnsr.list_models() for opts in _options(name)]


def _build(name: str, opts: dict) -> nn.Module:
    torch.manual_seed(0)
    try:
        return attnsr.create_model(name, scale=4, **{**get_entry(name).test_options, **opts}).eval()
    except ModelError as e:  # an option this (tiny) configuration cannot take: not an attention it accepts
        pytest.skip(f"{name} {opts}: {e}")


def _built_attention(model: nn.Module) -> list[nn.Module]:
    """Ground truth from the built module tree: every module of an attention class (the factory's or a
    model's own), except factory parts inside a factory attention (BAM's ACAM/MSAM)."""
    found = []
    for name, m in model.named_modules():
        if not isinstance(m, FACTORY + OWN):
            continue
        parents = [model.get_submodule(name.rsplit(".", k)[0]) for k in range(1, name.count(".") + 1)]
        if not any(isinstance(p, FACTORY) for p in parents):
            found.append(m)
    return found


@pytest.mark.parametrize(("name", "opts"), CASES, ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, o in CASES])
def test_hooks_find_exactly_the_attention_the_model_was_built_with(name, opts):
    model = _build(name, opts)
    declared = model.attention_taps()
    built = _built_attention(model)
    assert attention_module_names(model) == list(declared)
    assert len(declared) == len(built)
    assert {id(m) for m in declared.values()} == {id(m) for m in built}
    for tap_name, module in declared.items():
        assert model.get_submodule(tap_name) is module
    if opts.get("attention") == "none" and name not in ("a2n", "pan"):  # a2n/pan keep their upsampler PA
        assert declared == {}
    blocks = trunk_blocks(model)
    for block in blocks:
        model.get_submodule(block)  # every declared block exists
    with_attention = block_attention(model)
    if name in ATTENTION_IN_EVERY_BLOCK and opts.get("attention", "x") != "none":
        assert sorted(with_attention) == list(range(1, len(blocks) + 1)), with_attention
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad(), capture_attention(model) as cap:
        ref = model(x)
    assert set(cap.names()) <= set(declared)
    if declared:
        with torch.no_grad(), disable_attention(model) as taps:
            off = model(x)
        assert taps and (off - ref).abs().max() > 0  # switching the declared attention off changes the output
    if with_attention:
        first = min(with_attention)
        with torch.no_grad(), disable_attention(model, blocks=[first]) as taps:
            off = model(x)
        assert taps and all(t.startswith(blocks[first - 1] + ".") for t in taps)
        assert (off - ref).abs().max() > 0


class Undeclared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), attnsr.layers.build_attention("ca", 3, reduction=1))

    def forward(self, x):
        return self.body(x)


def test_a_model_without_declared_taps_is_refused_in_one_line():
    model = Undeclared()
    for use in (
        lambda: trunk_blocks(model),
        lambda: attention_module_names(model),
        lambda: capture_attention(model).__enter__(),
        lambda: disable_attention(model).__enter__(),
    ):
        with pytest.raises(AttnsrError, match="declares no attention taps") as e:
            use()
        assert "\n" not in str(e.value)


def test_switching_refuses_a_model_with_no_attention_in_its_blocks(tmp_path):
    model = attnsr.create_model("imdn", scale=2, num_blocks=2, attention="none")
    with pytest.raises(AttnsrError, match="no attention inside its 2 trunk blocks"):
        evaluate_switching(model, [tmp_path], scale=2)


def _switching_psnr(tmp_path, args: list[str]) -> dict[str, float]:
    out = tmp_path / "s.json"
    assert main(["analyze", "switching", *args, "--settings", "all;none;1", "--json", str(out), "--no-progress"]) == 0
    return {r["setting"]: r["datasets"][0]["psnr"] for r in json.loads(out.read_text())["results"]}


def test_cli_switching_on_imdn_changes_psnr(tmp_path, tiny_folder):
    """The bug of issue 14: the trunk was guessed as IMDN's ``c`` and nothing was switched off."""
    torch.manual_seed(0)
    weights = tmp_path / "imdn.safetensors"
    save_weights(attnsr.create_model("imdn", scale=4, num_blocks=2, num_feats=16), weights)
    psnr = _switching_psnr(tmp_path, ["--weights", str(weights), "--data", str(tiny_folder)])
    assert psnr["all"] != psnr["none"] and psnr["all"] != psnr["1"]


def test_cli_switching_on_official_imdn_changes_psnr(tmp_path, shared):
    weights = shared / "weights" / "official" / "imdn_x4.pth"
    if not weights.is_file():
        pytest.skip(f"no official IMDN weights at {weights}")
    from PIL import Image

    folder = tmp_path / "Crop" / "HR"
    folder.mkdir(parents=True)
    Image.open(shared / "data" / "Set5" / "HR" / "baby.png").crop((200, 200, 248, 248)).save(folder / "baby.png")
    args = ["--model", "imdn", "--scale", "4", "--weights", str(weights), "--data", str(folder)]
    psnr = _switching_psnr(tmp_path, args)
    assert psnr["all"] > psnr["1"] > psnr["none"]  # the trained attention matters, block by block
