"""``attnsr.upscale`` / ``attnsr.Upscaler``: top-level API, kinds and dtypes kept or refused, backends that
agree with PyTorch, the per-argument cache, exports cached in the cache folder, ``attnsr export openvino``."""

from __future__ import annotations

import importlib.util
import statistics
import time

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import _factory, backends, save_weights, upscaler
from attnsr.cli.main import main
from attnsr.errors import AttnsrError
from attnsr.precision import cpu_info

CPU_BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(not backends.is_installed(name), reason=f"{name} not installed"))
    for name in ("onnxruntime", "openvino")
]


@pytest.fixture(scope="module", autouse=True)
def cache_folder(tmp_path_factory):
    """Exports go to a temporary cache folder, never the user's."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNSR_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w") / "pan_x2.safetensors"
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), path)
    return path


@pytest.fixture(scope="module")
def tiny_upscaler(tiny_a2n):
    return attnsr.Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32")


def rgb(h=10, w=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---- the top-level API ---------------------------------------------------------------------------


def test_top_level_upscale_default_model_on_a_pil_image():
    assert callable(attnsr.upscale) and isinstance(attnsr.Upscaler, type)
    out = attnsr.upscale(Image.fromarray(rgb(12, 10)))
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (40, 48)


def test_upscaler_reports_its_choice_and_refuses_a_wrong_scale(tiny_a2n):
    up = attnsr.Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32")
    assert (up.backend, up.precision, up.scale) == ("torch", "fp32", 2)
    with pytest.raises(AttnsrError, match="x2, not x4"):
        attnsr.Upscaler(tiny_a2n, scale=4, backend="torch")
    with pytest.raises(AttnsrError, match="tile"):
        attnsr.Upscaler(tiny_a2n, scale=2, tile=4)


# ---- kinds and dtypes ---------------------------------------------------------------------------


def test_tensor_dtypes_are_kept(tiny_upscaler):
    levels = torch.from_numpy(rgb()).permute(2, 0, 1).contiguous()
    out8 = tiny_upscaler(levels)
    assert out8.dtype == torch.uint8 and out8.shape == (3, 20, 24)
    ref = tiny_upscaler(levels.float() / 255)
    assert (out8.float() - ref * 255).abs().max() <= 0.5 + 1e-3, "uint8 levels are the float result, rounded"
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        out = tiny_upscaler((levels.to(torch.float64) / 255).to(dtype)[None])
        assert out.dtype == dtype and out.shape == (1, 3, 20, 24)
        assert (out.double()[0] - ref.double()).abs().max() < 0.02


@pytest.mark.parametrize(
    "bad, needle",
    [
        (torch.rand(3, 8, 8) * 255, "[0, 1]"),
        (np.random.rand(8, 8, 3) * 255, "[0, 1]"),
        (np.random.rand(8, 8, 3).astype(np.float32) * 255, "divide 0-255 data by 255"),
        (torch.full((3, 8, 8), float("nan")), "NaN"),
        (torch.zeros(3, 8, 8, dtype=torch.int64), "dtype"),
        (np.zeros((8, 8, 3), bool), "dtype"),
        (Image.fromarray(np.full((8, 8), 200.0, np.float32), "F"), "[0, 1]"),
        (Image.fromarray(np.full((8, 8), -5, np.int32), "I"), "0-65535"),
    ],
)
def test_wrong_range_or_type_is_refused_not_returned_white(tiny_upscaler, bad, needle):
    with pytest.raises(AttnsrError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        tiny_upscaler(bad)


def test_arrays_keep_their_dtype(tiny_upscaler):
    for arr in (rgb(), rgb()[..., 0], rgb().astype(np.uint16) * 257):
        out = tiny_upscaler(arr)
        assert out.dtype == arr.dtype and out.shape[:2] == (20, 24) and out.ndim == arr.ndim
    for dtype in (np.float16, np.float32, np.float64):
        out = tiny_upscaler((rgb() / 255).astype(dtype))
        assert out.dtype == dtype and out.shape == (20, 24, 3) and 0 <= out.min() and out.max() <= 1
    slightly_over = (rgb() / 255).astype(np.float32) * 1.01  # an unclamped SR output, say: accepted, clamped
    assert tiny_upscaler(slightly_over).max() <= 1


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "F", "I", "I;16", "I;16B"])
def test_pil_modes_come_back_in_their_mode(tiny_upscaler, mode):
    base = Image.fromarray(rgb(10, 12))
    if mode == "F":
        img = Image.fromarray(np.asarray(base.convert("L"), np.float32) / 255, "F")
    elif mode in ("I", "I;16", "I;16B"):
        levels = np.asarray(base.convert("L"), np.uint16) * 257
        img = Image.fromarray(levels.astype(np.int32)) if mode == "I" else Image.fromarray(levels).convert(mode)
        if mode == "I;16B":
            img = Image.frombytes("I;16B", img.size, levels.astype(">u2").tobytes())
    else:
        img = base.convert(mode)
    out = tiny_upscaler(img)
    assert out.mode == mode and out.size == (24, 20)
    if mode in ("I", "I;16", "I;16B"):
        assert np.asarray(out).astype(np.int64).max() > 255, "16-bit levels stay 16-bit"
    if mode == "F":
        assert 0 <= np.asarray(out).min() and np.asarray(out).max() <= 1


def test_palette_images_come_back_rgb(tiny_upscaler):
    out = tiny_upscaler(Image.fromarray(rgb()).convert("P"))
    assert out.mode == "RGB" and out.size == (24, 20)


# ---- backends -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("tile", [0, 16])
def test_backends_match_pytorch_fp32(tiny_a2n, backend, tile):
    """Every backend gives PyTorch fp32's pixels (within 1e-4), whole and tiled (fixed tile shapes)."""
    x = torch.rand(3, 40, 36, generator=torch.Generator().manual_seed(2))
    ref = attnsr.Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32", tile=tile)(x)
    up = attnsr.Upscaler(tiny_a2n, scale=2, backend=backend, precision="fp32", tile=tile)
    out = up(x)
    assert out.shape == ref.shape and (out - ref).abs().max().item() <= 1e-4
    kept = out.clone()
    up(torch.rand_like(x))
    assert torch.equal(out, kept), "a result never shares the runtime's output buffer with the next call"


def test_auto_rule(monkeypatch):
    assert backends.resolve_backend("auto", "cuda") == "torch"
    for installed, expected in (
        ({"openvino", "onnxruntime"}, "openvino"),
        ({"onnxruntime"}, "onnxruntime"),
        ((), "torch"),
    ):
        with monkeypatch.context() as mp:
            mp.setattr(backends, "is_installed", lambda name, have=installed: name in have)
            assert backends.resolve_backend("auto", "cpu") == expected
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    with pytest.raises(AttnsrError, match=r"needs openvino: pip install 'attnsr\[openvino\]'"):
        backends.resolve_backend("openvino")
    with pytest.raises(AttnsrError, match="runs on the CPU"):
        backends.resolve_backend("onnxruntime", "cuda")
    with pytest.raises(AttnsrError, match="backend must be one of"):
        backends.resolve_backend("tensorrt")
    with pytest.raises(AttnsrError, match="fp32 only"):
        backends.resolve_backend_precision("onnxruntime", "bf16")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_exports_are_cached_by_sha256_and_nothing_left_in_tmp(tiny_a2n, backend, cache_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    attnsr.Upscaler(tiny_a2n, scale=2, backend=backend)
    sha = backends.model_digest(tiny_a2n)
    exported = backends.cached_onnx(tiny_a2n) if backend == "onnxruntime" else backends.cached_openvino(tiny_a2n)
    assert sha in str(exported) and exported.is_file() and exported.is_relative_to(cache_folder)
    stamp = exported.stat().st_mtime_ns
    attnsr.Upscaler(tiny_a2n, scale=2, backend=backend)(np.zeros((8, 8, 3), np.uint8))
    assert exported.stat().st_mtime_ns == stamp, "a second Upscaler reuses the export"
    assert list(tmp_path.iterdir()) == [], "nothing left in the temporary folder"
    if backend == "openvino":
        assert any((cache_folder / "openvino" / "compiled").iterdir()), "OpenVINO's compiled-model cache is used"


def test_onnx_file_as_weights(tiny_a2n, tmp_path):
    from attnsr.export import export_onnx

    path = export_onnx(tiny_a2n, tmp_path / "tiny.onnx")
    x = torch.rand(3, 12, 14)
    ref = attnsr.Upscaler(tiny_a2n, scale=2, backend="torch", precision="fp32")(x)
    for backend in [b for b in ("onnxruntime", "openvino") if backends.is_installed(b)]:
        up = attnsr.Upscaler(weights=path, scale=2, backend=backend, precision="fp32")
        assert up.model_name == "a2n" and (up(x) - ref).abs().max() <= 1e-4
        # auto is fp32 for an exported file on every CPU: it carries no record of a measured bf16 cost
        auto = attnsr.Upscaler(weights=path, scale=2, backend=backend)
        assert auto.precision == "fp32"
        assert (auto(x) - ref).abs().max() <= 1e-4
        # bf16 when asked, on OpenVINO where the CPU has it natively: within bf16's rounding of the fp32 pixels
        if backend == "openvino" and cpu_info().native_bf16:
            asked = attnsr.Upscaler(weights=path, scale=2, backend=backend, precision="bf16")
            assert asked.precision == "bf16" and (asked(x) - ref).abs().max() <= 3e-2
    with pytest.raises(AttnsrError, match="not x4"):
        attnsr.Upscaler(weights=path, scale=4)


# ---- the cache of attnsr.upscale -------------------------------------------------------------------


def test_twenty_calls_load_the_model_once(tiny_weights, monkeypatch):
    img = rgb(64, 64)
    attnsr.Upscaler(weights=tiny_weights, scale=2)  # the on-disk export exists for both timings below
    loads = []
    real_load = _factory.build_from_checkpoint  # where the one loader reads a checkpoint, for every caller
    monkeypatch.setattr(_factory, "build_from_checkpoint", lambda *a, **k: loads.append(1) or real_load(*a, **k))

    def cached_calls():
        upscaler._cached_upscaler.cache_clear()
        for _ in range(20):
            out = attnsr.upscale(img, scale=2, weights=tiny_weights)
        assert out.shape == (128, 128, 3)

    def direct_calls():
        up = attnsr.Upscaler(weights=tiny_weights, scale=2)
        for _ in range(20):
            up(img)

    # Timings on a shared 2-core machine are noisy: interleave five rounds of each path, alternating which
    # goes first, and compare medians.
    rounds = 5
    timings = {cached_calls: [], direct_calls: []}
    for i in range(rounds):
        for path in (cached_calls, direct_calls) if i % 2 == 0 else (direct_calls, cached_calls):
            t0 = time.perf_counter()
            path()
            timings[path].append(time.perf_counter() - t0)
    assert len(loads) == 2 * rounds, "each path loads the model once per round: 20 calls, one load"
    cached, direct = (statistics.median(timings[path]) for path in (cached_calls, direct_calls))
    assert cached < 1.3 * direct, f"20 cached calls {cached:.3f}s vs one load + 20 forwards {direct:.3f}s (medians)"
    loads.clear()
    attnsr.upscale(img, scale=2, weights=tiny_weights)
    assert len(loads) == 0, "the cached Upscaler is still used"
    attnsr.upscale(img, scale=2, weights=tiny_weights, backend="torch")
    assert len(loads) == 1, "other arguments, another Upscaler"


def test_cli_uses_one_upscaler_for_a_folder(tmp_path, tiny_weights, monkeypatch, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(rgb(8, 9, seed=i)).save(src / f"{i}.png")
    loads = []
    real_load = _factory.build_from_checkpoint  # where the one loader reads a checkpoint, for every caller
    monkeypatch.setattr(_factory, "build_from_checkpoint", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    argv = ["upscale", str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--scale", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert len(loads) == 1 and len(list((tmp_path / "out").iterdir())) == 3
    assert f"; {attnsr.Upscaler(weights=tiny_weights, scale=2).backend}," in capsys.readouterr().out


# ---- attnsr export openvino -----------------------------------------------------------------------


@pytest.mark.skipif(not backends.is_installed("openvino"), reason="openvino not installed")
def test_export_openvino_ir(tmp_path, tiny_weights, capsys):
    import openvino as ov

    argv = ["export", "openvino", "-o", str(tmp_path / "ir"), "--model", "pan", "--scale", "2"]
    assert main([*argv, "--weights", str(tiny_weights)]) == 0
    xml = tmp_path / "ir" / "pan_x2.xml"
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    x = torch.rand(1, 3, 9, 13)
    # f32 asked for: OpenVINO's own default is bf16 on CPUs with native bf16 (AVX512-BF16, AMX)
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled.create_infer_request().infer({0: x.numpy()})[0]
    with torch.no_grad():
        ref = attnsr.build_from_checkpoint(tiny_weights)(x)
    assert out.shape == (1, 3, 18, 26) and np.abs(out - ref.numpy()).max() <= 1e-4
    stamp = xml.stat().st_mtime_ns
    capsys.readouterr()
    assert main([*argv, "--weights", str(tiny_weights)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--overwrite" in err[0]
    assert xml.stat().st_mtime_ns == stamp
    assert main([*argv, "--weights", str(tiny_weights), "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "ir").iterdir()) == ["pan_x2.bin", "pan_x2.xml"]
