"""Official weights by name through a local mirror: ``attnsr eval --weights official`` reproduces the
reference figures (Set5 only, to stay fast)."""

from __future__ import annotations

import json

import pytest
from _weights_server import MirrorServer, github_routes

from attnsr.cli.main import main
from attnsr.settings import shared_root


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    root = shared_root()
    if not (root / "weights" / "official").is_dir() or not (root / "data" / "Set5").is_dir():
        pytest.skip(f"official checkpoints or Set5 not found under {root} (set ATTNSR_SHARED)")
    server = MirrorServer(github_routes(root / "weights" / "official"))
    monkeypatch.setenv("ATTNSR_MIRROR", server.url)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    yield server
    server.close()


@pytest.mark.parametrize(
    ("model", "scale", "protocol", "psnr", "tolerance"),
    [
        ("pan", 4, "standard", 32.1311, 0.001),  # docs/REFERENCE.md
        ("a2n", 2, "chop", 38.0607, 0.001),  # docs/REFERENCE.md
        ("imdn", 4, "standard", 32.21, 0.005),  # the IMDN paper's Set5 x4
    ],
)
def test_eval_official_weights_by_name(mirror, tmp_path, model, scale, protocol, psnr, tolerance):
    out = tmp_path / "r.json"
    args = ["eval", "--model", model, "--scale", str(scale), "--weights", "official", "--protocol", protocol]
    data = str(shared_root() / "data" / "Set5")
    assert main([*args, "--data", data, "--precision", "fp32", "--json", str(out), "--no-progress"]) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["scale"] == scale and len(result["images"]) == 5
    assert abs(result["psnr"] - psnr) <= tolerance + 1e-9, f"{result['psnr']:.4f} vs {psnr}"
    assert len(mirror.requests) == 1 and len(list((tmp_path / "cache" / "weights").iterdir())) == 1


@pytest.mark.parametrize(
    ("model", "scale", "protocol", "psnr"),
    [
        ("a2n", 2, "chop", 38.0607),  # docs/REFERENCE.md; bf16 reads 38.0575
        ("imdn", 4, "standard", 32.2096),  # docs/REFERENCE.md (IMDN x2's official file is not in ../shared)
    ],
)
def test_eval_defaults_to_fp32_on_a_native_bf16_cpu(mirror, tmp_path, monkeypatch, model, scale, protocol, psnr):
    """With no --precision, eval reports the fp32 figure even where bf16 is native (the capability stubbed)."""
    from attnsr import precision

    native = precision.CpuInfo(model="stub CPU with AMX", amx=True, avx512_bf16=True, avx512=True, avx2=True)
    monkeypatch.setattr(precision, "cpu_info", lambda: native)
    out = tmp_path / "r.json"
    args = ["eval", "--model", model, "--scale", str(scale), "--weights", "official", "--protocol", protocol]
    assert main([*args, "--data", str(shared_root() / "data" / "Set5"), "--json", str(out), "--no-progress"]) == 0
    payload = json.loads(out.read_text())
    assert payload["precision"] == "fp32"
    assert abs(payload["results"][0]["psnr"] - psnr) <= 0.0001 + 1e-9, payload["results"][0]["psnr"]
