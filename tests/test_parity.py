"""Official-checkpoint parity: ``attnsr eval`` reproduces docs/REFERENCE.md to ±0.001 dB / ±0.0001 SSIM."""

from __future__ import annotations

import json

import pytest

from attnsr.cli.main import main

# (checkpoint, model, scale, protocol) -> {dataset: (psnr, ssim)}
REFERENCE = {
    ("a2n_x2.pt", "a2n", 2, "chop"): {"Set5": (38.0607, 0.9608), "Set14": (33.7534, 0.9194)},
    ("a2n_x2.pt", "a2n", 2, "standard"): {"Set5": (38.0581, 0.9607), "Set14": (33.7188, 0.9187)},
    ("a2n_x3.pt", "a2n", 3, "chop"): {"Set5": (34.4732, 0.9279), "Set14": (30.4374, 0.8437)},
    ("a2n_x3.pt", "a2n", 3, "standard"): {"Set5": (34.4648, 0.9278), "Set14": (30.3830, 0.8424)},
    ("pan_x2.pth", "pan", 2, "standard"): {"Set5": (38.0007, 0.9605), "Set14": (33.5927, 0.9181)},
    ("pan_x3.pth", "pan", 3, "standard"): {"Set5": (34.4003, 0.9272), "Set14": (30.3553, 0.8422)},
    ("pan_x4.pth", "pan", 4, "standard"): {"Set5": (32.1311, 0.8948), "Set14": (28.6107, 0.7822)},
}


@pytest.mark.parametrize(("ckpt", "model", "scale", "protocol"), list(REFERENCE), ids=lambda v: str(v))
def test_official_checkpoint_reproduces_reference(shared, tmp_path, ckpt, model, scale, protocol):
    out = tmp_path / "r.json"
    data = [str(shared / "data" / d) for d in ("Set5", "Set14")]
    rc = main(
        [
            "eval",
            "--model",
            model,
            "--scale",
            str(scale),
            "--weights",
            str(shared / "weights" / "official" / ckpt),
            "--data",
            *data,
            "--protocol",
            protocol,
            "--precision",
            "fp32",
            "--json",
            str(out),
            "--no-progress",
            "--cache",
            str(tmp_path / "c"),
        ]
    )
    assert rc == 0
    results = {r["dataset"]: r for r in json.loads(out.read_text())["results"]}
    for dataset, (psnr, ssim) in REFERENCE[(ckpt, model, scale, protocol)].items():
        r = results[dataset]
        assert r["scale"] == scale and len(r["images"]) == (5 if dataset == "Set5" else 14)
        assert abs(r["psnr"] - psnr) <= 0.001 + 1e-9, f"{dataset}: {r['psnr']:.4f} vs {psnr}"
        assert abs(r["ssim"] - ssim) <= 0.0001 + 1e-9, f"{dataset}: {r['ssim']:.5f} vs {ssim}"
