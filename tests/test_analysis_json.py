"""``attnsr analyze`` writes the library's results and takes the library's defaults (issue 14, section 4),
and LAM is split into core / figures / crop set with the core free of both."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from dataclasses import asdict

import torch

import attnsr
from attnsr import save_weights
from attnsr.analysis.adm import adm_weights, extreme_maps
from attnsr.analysis.correlation import correlate_attention
from attnsr.analysis.images import benchmark_images
from attnsr.analysis.lam import Window, local_attribution_map
from attnsr.analysis.lam_crops import build_lam_manifest, evaluate_lam_set, pick_window
from attnsr.analysis.switching import SETTING_NAMES, SWITCHING_PROTOCOLS, evaluate_switching
from attnsr.cli.main import build_parser, main
from attnsr.evaluate import PROTOCOLS


def _roundtrip(obj):
    return json.loads(json.dumps(obj, allow_nan=True))


def _defaults(*argv: str) -> dict:
    return vars(build_parser().parse_args(["analyze", *argv]))


def _signature_defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def test_cli_defaults_are_the_library_defaults():
    lam = _defaults("lam", "--image", "x.png", "--window", "1,1")
    core = _signature_defaults(local_attribution_map)
    assert (lam["sigma"], lam["steps"], lam["batch_size"]) == (core["sigma"], core["steps"], core["batch_size"])
    assert Window.parse("1,1").height == Window(0, 0).height
    lam_set = _defaults("lam-set")
    assert lam_set["batch_size"] == _signature_defaults(evaluate_lam_set)["batch_size"]
    manifest = _defaults("lam-manifest", "--data", "d", "-o", "m.json")
    built = _signature_defaults(build_lam_manifest)
    for key in ("count", "seed", "crop", "scale", "window", "margin"):
        assert manifest[key] == built[key], key
    assert _signature_defaults(pick_window)["margin"] == built["margin"]
    adm = _defaults("adm", "--data", "d")
    assert adm["top"] == _signature_defaults(extreme_maps)["k"]
    switching = _defaults("switching", "--data", "d")
    assert switching["settings"].split(";") == list(SETTING_NAMES)
    assert switching["protocol"] in SWITCHING_PROTOCOLS and set(SWITCHING_PROTOCOLS) <= set(PROTOCOLS)


def test_lam_result_to_dict_is_its_numbers():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2))
    res = local_attribution_map(model, torch.rand(1, 3, 12, 12), Window(4, 5, 8, 6), sigma=1.0, steps=4)
    d = res.to_dict()
    assert set(d) == {"window", "gini", "di", "nan_gradients", "seconds", "sigma", "steps", "points"}
    assert d["window"] == [4, 5, 8, 6] and d["sigma"] == 1.0 and d["steps"] == 4
    assert d["points"] == res.points == 4  # the default: the gradient at every one of the 4 path points
    assert d["di"] == res.di and d["gini"] == res.gini
    assert _roundtrip(d) == d  # JSON-ready: no tensors


def _tiny_a2n():
    """The same model each call (a fresh copy: evaluation leaves a model in channels_last)."""
    torch.manual_seed(0)
    return attnsr.create_model("a2n", scale=2, num_blocks=2).eval()


def test_cli_json_is_the_library_results(tmp_path, tiny_folder):
    weights = tmp_path / "a2n.safetensors"
    save_weights(_tiny_a2n(), weights)
    folder = tiny_folder
    common = ["--weights", str(weights), "--no-progress"]
    images = [(name, lr) for name, _, lr in benchmark_images(folder, scale=2)]

    out = tmp_path / "s.json"
    assert (
        main(["analyze", "switching", *common, "--data", str(folder), "--settings", "all;none", "--json", str(out)])
        == 0
    )
    library = evaluate_switching(_tiny_a2n(), [folder], scale=2, settings={"all": (1, 2), "none": ()})
    data = json.loads(out.read_text())
    assert data["results"] == _roundtrip([asdict(r) for r in library])
    assert [len(r["datasets"][0]["images"]) for r in data["results"]] == [2, 2]  # per image too

    out = tmp_path / "c.json"
    assert main(["analyze", "correlation", *common, "--data", str(folder), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {k: v for k, v in data.items() if k != "model"} == _roundtrip(
        correlate_attention(_tiny_a2n(), images).to_dict()
    )

    out = tmp_path / "a.json"
    assert (
        main(["analyze", "adm", *common, "--data", str(folder), "--json", str(out), "--maps", str(tmp_path / "m.png")])
        == 0
    )
    model = _tiny_a2n()
    stats = adm_weights(model, images)
    enhanced, suppressed = extreme_maps(model, dict(images), stats)
    data = json.loads(out.read_text())
    assert {k: data[k] for k in ("blocks", "summary", "w_att")} == _roundtrip(stats.to_dict())
    assert data["enhanced"] == _roundtrip([m.to_dict() for m in enhanced])
    assert data["suppressed"] == _roundtrip([m.to_dict() for m in suppressed])

    out = tmp_path / "l.json"
    hr = str(folder / "im0.png")
    assert (
        main(
            [
                "analyze",
                "lam",
                "--weights",
                str(weights),
                "--image",
                hr,
                "--window",
                "8,8,8",
                "--steps",
                "3",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert data["steps"] == 3 and data["sigma"] == 1.2 and data["seconds"] > 0 and data["window"] == [8, 8, 8, 8]


def test_lam_core_imports_neither_figures_nor_crop_set():
    code = (
        "import sys, attnsr.analysis.lam as m; m.local_attribution_map;"
        "print(sorted(k for k in sys.modules if k.startswith(('matplotlib', 'attnsr.analysis.lam_'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
