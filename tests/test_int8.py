"""precision int8: the OpenVINO model quantized by NNCF (attnsr.quantize) — close to fp32, colour and range kept,
calibrated once per machine, one clear line where NNCF or the training images are missing, and the auto rule."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest
import torch

import attnsr
from attnsr import quantize
from attnsr._factory import load_model
from attnsr._pretrained import BF16_SETS, INT8_MAX_COST, RECORDS, get_record, shipped_int8
from attnsr.data.imresize import mod_crop
from attnsr.errors import AttnsrError, DataError
from attnsr.evaluate import benchmark_files, make_forward, make_lr
from attnsr.io import load_rgb, to_levels
from attnsr.upscaler import Upscaler, auto_int8, sample_image

pytest.importorskip("openvino")
needs_nncf = pytest.mark.skipif(
    __import__("importlib").util.find_spec("nncf") is None, reason="NNCF is not installed (attnsr[int8])"
)
pytestmark = pytest.mark.usefixtures("module_tmp_cache")

# A small calibration for tests (the default takes 300 crops: 1-2 minutes on 2 cores).
SMALL = quantize.Calibration(crops=24, size=32, val_images=4, val_crops=4, val_size=32)
# Stated bound on a small image: the int8 output's PSNR against the fp32 output (not against the HR).
MIN_PSNR_VS_FP32 = 35.0
MAX_MEAN_LEVEL_DIFF = 0.5  # per channel, per Set14 image (issue 26)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean()))


@needs_nncf
def test_quantized_output_is_close_to_fp32_and_cached(shared, monkeypatch):
    model = load_model("a2n", scale=2, weights="builtin")
    calls = []
    real = quantize.quantize_ir
    monkeypatch.setattr(quantize, "quantize_ir", lambda *a, **k: calls.append(1) or real(*a, **k))
    xml = quantize.cached_int8(model, calibration=SMALL)
    assert calls == [1] and xml.is_file() and xml.with_suffix(".bin").is_file()
    summary = json.loads(xml.with_name("calibration.json").read_text())
    assert summary["crops"] == SMALL.crops and summary["fp32_ops"]  # input readers and the output writer kept fp32
    # The second call (and another calibration-free process would too) finds the cached model: no calibration.
    assert quantize.cached_int8(model, calibration=SMALL) == xml and calls == [1]

    from attnsr.backends import openvino_runner

    lr = load_rgb(sample_image())[..., :48, :64]
    fp32 = make_forward(model, scale=2, precision="fp32")(lr)
    int8 = openvino_runner(xml, precision="fp32")(lr)
    assert int8.shape == fp32.shape
    assert psnr(int8, fp32) >= MIN_PSNR_VS_FP32
    assert not torch.equal(int8, fp32)  # it really is another model


@needs_nncf
def test_settings_change_the_cache_key():
    a = quantize.Calibration().key("m")
    assert a == quantize.Calibration().key("m")
    assert len({a, quantize.Calibration(crops=100).key("m"), quantize.Calibration().key("other")}) == 3


def test_colour_and_range_kept_on_set14(shared):
    """Every Set14 image: each channel's mean 8-bit level of the int8 output within 0.5 of fp32's, and no
    share of pixels clipped to 0 or 255 more than 2 % apart (the SR traps: a shifted or clipped output range)."""
    record = get_record("a2n_x4.builtin")
    if shipped_int8(record) is None and __import__("importlib").util.find_spec("nncf") is None:
        pytest.skip("no shipped int8 model and no NNCF to calibrate one")
    model = load_model("a2n", scale=4, weights="builtin")
    fp32, int8 = (make_forward(model, scale=4, precision=p) for p in ("fp32", "int8"))
    root, _, files = benchmark_files(shared / "data" / "Set14")
    assert len(files) == 14
    for path in files:
        hr = mod_crop(load_rgb(path), 4)
        lr = make_lr(path, hr, scale=4, protocol="standard", root=root, cache_dir=None)
        a, b = (to_levels(f(lr).clamp(0, 1)).double() for f in (fp32, int8))
        diff = (a.mean(dim=(0, 2, 3)) - b.mean(dim=(0, 2, 3))).abs().max().item()
        assert diff <= MAX_MEAN_LEVEL_DIFF, (path.name, diff)
        clipped = [((t == 0) | (t == 255)).double().mean().item() for t in (a, b)]
        assert abs(clipped[0] - clipped[1]) <= 0.02, (path.name, clipped)  # measured: at most 0.0093


def test_int8_without_nncf_is_one_line(tmp_path):
    """A user's own weights need calibration, so NNCF; without it: one line naming the extra, exit 2."""
    weights = tmp_path / "mine.safetensors"
    attnsr.save_weights(attnsr.create_model("a2n", scale=2, num_blocks=1), weights)
    blocker = textwrap.dedent(
        f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "nncf" or name.startswith("nncf."):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Block())
        import importlib.util
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "nncf" else real(name, *a)
        from attnsr.cli.main import main
        sys.exit(main(["upscale", "--weights", {str(weights)!r}, "--scale", "2", "--sample", "--precision",
                       "int8", "-o", {str(tmp_path / "out.png")!r}, "--no-progress"]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert lines == ['error: precision int8 needs NNCF, which is not installed: pip install "attnsr[int8]"'], lines
    assert not (tmp_path / "out.png").exists()


def test_int8_runs_on_openvino_only(tmp_path):
    with pytest.raises(AttnsrError, match="openvino backend"):
        Upscaler(scale=4, backend="torch", precision="int8")
    with pytest.raises(AttnsrError, match="openvino backend"):
        Upscaler(scale=4, backend="onnxruntime", precision="int8")
    with pytest.raises(AttnsrError, match="openvino backend"):
        attnsr.precision.resolve_precision("int8", "cpu")  # training and analysis run torch
    path = tmp_path / "m.onnx"
    from attnsr.export import export_onnx

    export_onnx(attnsr.create_model("a2n", scale=2, num_blocks=1), path)
    with pytest.raises(AttnsrError, match="exported .onnx file"):
        Upscaler(weights=path, scale=2, backend="openvino", precision="int8")


@needs_nncf
def test_missing_training_images_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("ATTNSR_SHARED", str(tmp_path))
    with pytest.raises(DataError, match="T91") as err:
        quantize.calibration_data(scale=2, calibration=SMALL)
    assert "\n" not in str(err.value)


class Net(torch.nn.Module):
    def __init__(self, record):
        super().__init__()
        self.weight_record = record


def test_auto_rule(monkeypatch, tmp_cache):
    """auto takes int8 only with a measured drop <= INT8_MAX_COST on all four sets, a shipped int8 model, and
    int8 measured faster here; the verdict is measured once per machine."""
    record = get_record("a2n_x4.builtin")
    if shipped_int8(record) is None:
        pytest.skip("no int8 model shipped with the built-in x4 weights")
    harmless = dataclasses.replace(record, int8_cost={s: INT8_MAX_COST / 2 for s in BF16_SETS})
    costly = dataclasses.replace(harmless, int8_cost={**harmless.int8_cost, "Urban100": INT8_MAX_COST + 0.01})
    partial = dataclasses.replace(harmless, int8_cost={"Set5": 0.0})
    probes = []

    def slow(x):  # the alternative: 1 s a call, far slower than int8 on a 96x96 probe on any CPU
        probes.append(1)
        t = torch.zeros(1, 3, x.shape[-2] * 4, x.shape[-1] * 4)
        import time

        time.sleep(1.0)
        return t

    assert auto_int8(Net(costly), slow, "fp32") is None and auto_int8(Net(partial), slow, "fp32") is None
    assert probes == []  # nothing measured for weights the rule excludes
    assert auto_int8(Net(harmless), slow, "fp32") is not None
    n = len(probes)
    assert n >= quantize.PROBE_RUNS
    assert auto_int8(Net(harmless), slow, "fp32") is not None and len(probes) == n  # the verdict is cached
    book = json.loads((tmp_cache / "openvino" / "int8-verdicts.json").read_text())
    assert all(v["speedup"] >= quantize.INT8_MIN_SPEEDUP for v in book.values())
    # A faster alternative: int8 loses the probe, auto keeps the other precision.
    assert auto_int8(Net(harmless), lambda x: x, "a faster stub") is None


def test_auto_without_int8_record_never_probes(monkeypatch):
    monkeypatch.setattr(quantize, "int8_faster", lambda *a, **k: pytest.fail("probed"))
    path_record = dataclasses.replace(get_record("a2n_x4.builtin"), int8_cost={})
    assert auto_int8(Net(path_record), lambda x: x, "fp32") is None
    assert auto_int8(Net(None), lambda x: x, "fp32") is None


def test_export_openvino_int8_writes_the_shipped_model(tmp_path):
    """``attnsr export openvino --precision int8`` of the built-in x4 writes its shipped int8 model (no NNCF
    needed); ``--precision int8`` of an ONNX export is refused in one line."""
    from attnsr._pretrained import sha256_file
    from attnsr.cli.main import main

    record = get_record("a2n_x4.builtin")
    if shipped_int8(record) is None:
        pytest.skip("no int8 model shipped with the built-in x4 weights")
    target = tmp_path / "a2n_x4_int8.xml"
    assert main(["export", "openvino", "--precision", "int8", "-o", str(target)]) == 0
    assert {f.name: sha256_file(f) for f in (target, target.with_suffix(".bin"))} == {
        target.name: record.int8_files["a2n_x4.int8.xml"],
        target.with_suffix(".bin").name: record.int8_files["a2n_x4.int8.bin"],
    }
    assert main(["export", "onnx", "--precision", "int8", "-o", str(tmp_path / "m.onnx")]) == 2
    assert not (tmp_path / "m.onnx").exists()


SHIPPING = [r.name for r in RECORDS if r.source == "builtin" and r.int8_files]


@pytest.mark.parametrize("name", SHIPPING)
def test_every_shipped_int8_model_is_intact_and_has_its_measured_cost(name):
    """A built-in record that names int8 files ships them intact (sha256), beside a measured cost on all four
    sets: what auto reads before it may choose int8."""
    record = get_record(name)
    path = shipped_int8(record)
    assert path is not None and path.is_file() and path.with_suffix(".bin").is_file()
    assert set(record.int8_cost) == set(BF16_SETS)
    assert record.int8_harmless == all(v <= INT8_MAX_COST for v in record.int8_cost.values())
