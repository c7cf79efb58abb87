"""int8 on the CPU: post-training quantization of the OpenVINO model with NNCF (``pip install "attnsr[int8]"``).

NNCF's ``nncf.quantize`` (the post-training API for OpenVINO models; NNCF 3.x) calibrates on crops of the
**training** images (T91 + BSD200 under ``$ATTNSR_SHARED/data``, never a test set), with the ``mixed``
preset (symmetric weights per channel, asymmetric activations). Three things stay fp32, decided once with
NNCF's accuracy-controlled search on the built-in A2N x4 (``nncf.quantize_with_accuracy_control``, 0.03 dB
allowed: it took 39 minutes on 2 cores and reverted exactly these): every operation that reads the LR image
(the first convolution, the bilinear skip that upsamples the input) and the one that writes the SR (the
final add). Both ends of the network are where quantization error becomes pixel error.

Every calibration is then checked on a validation split of the training images (other images than the
calibration crops): where int8 loses more than :attr:`Calibration.max_drop` dB there, NNCF's
accuracy-controlled quantization is run from the same start, reverting further layers until the drop holds
(slow: tens of minutes). The quantized model is cached like the fp32 export, ``openvino/int8-<key>/model.xml``
under :func:`attnsr.settings.cache_root`, keyed by the fp32 model's sha256, the NNCF and OpenVINO versions
and the calibration settings, so a machine calibrates once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .cache import load_entry
from .errors import AttnsrError, DataError
from .export import copy_ir
from .outputs import atomic_path
from .settings import cache_root, shared_root

log = logging.getLogger(__name__)

INSTALL = 'pip install "attnsr[int8]"'


@dataclass(frozen=True)
class Calibration:
    """How a model is calibrated: ``crops`` LR crops of ``size``² pixels from the training ``sets``, drawn with
    ``seed``; ``val_crops`` crops of ``val_size``² from ``val_images`` other training images check the
    result, which may lose at most ``max_drop`` dB of PSNR (Y, standard protocol) there."""

    sets: tuple[str, ...] = ("T91", "BSD200")
    crops: int = 300
    size: int = 48
    seed: int = 0
    preset: str = "mixed"
    val_images: int = 20
    val_crops: int = 24
    val_size: int = 64
    max_drop: float = 0.05

    def key(self, model_digest: str) -> str:
        """The cache key: the fp32 model, these settings and the NNCF and OpenVINO versions."""
        parts = {"model": model_digest, "calibration": asdict(self), "nncf": nncf_version(), "openvino": _ov()}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


DEFAULT_CALIBRATION = Calibration()


def nncf_version() -> str:
    """The installed NNCF's version; a one-line error naming the extra where NNCF is missing."""
    if importlib.util.find_spec("nncf") is None:
        raise AttnsrError(f"precision int8 needs NNCF, which is not installed: {INSTALL}")
    return importlib.metadata.version("nncf")


def _ov() -> str:
    return importlib.metadata.version("openvino")


def _training_images(sets: Sequence[str]) -> list[Path]:
    from .io import list_images

    root = shared_root() / "data"
    files = []
    for name in sets:
        folder = root / name / "HR"
        if not folder.is_dir() or not (found := list_images(folder)):
            raise DataError(
                f"int8 calibration reads the training images {' and '.join(sets)} from {root}, and "
                f"{folder} holds none; set ATTNSR_SHARED to the folder holding data/{name}/HR"
            )
        files += found
    return files


def calibration_data(*, scale: int, calibration: Calibration = DEFAULT_CALIBRATION) -> tuple[list, list]:
    """(calibration LR crops, validation (LR, HR) crops), 1×3×h×w float32 numpy / torch, from the training
    images: the first ``val_images`` of a seeded shuffle validate, the rest calibrate. Crops are drawn
    uniformly from the images large enough for them; LR by MATLAB-style bicubic, as in training."""
    from .data.imresize import bicubic_downsample
    from .io import load_rgb

    rng = random.Random(calibration.seed)
    files = _training_images(calibration.sets)
    rng.shuffle(files)
    images = {f: load_rgb(f) for f in files}

    def crops(pool: list[Path], count: int, size: int) -> list:
        side = size * scale
        pool = [f for f in pool if min(images[f].shape[-2:]) >= side]
        if not pool:
            raise DataError(f"no training image is {side} pixels on its shorter side for x{scale} calibration crops")
        out = []
        for _ in range(count):
            hr = images[rng.choice(pool)]
            y, x = rng.randrange(hr.shape[-2] - side + 1), rng.randrange(hr.shape[-1] - side + 1)
            crop = hr[..., y : y + side, x : x + side]
            out.append((bicubic_downsample(crop, scale), crop))
        return out

    held_out, rest = files[: calibration.val_images], files[calibration.val_images :]
    cal = [lr.numpy() for lr, _ in crops(rest, calibration.crops, calibration.size)]
    return cal, crops(held_out, calibration.val_crops, calibration.val_size)


def fp32_ends(ov_model) -> list[str]:
    """Names of the operations kept in fp32: every one that reads the model's input, and the one that writes
    its output (see the module docstring)."""
    names = [
        t.get_node().get_friendly_name() for p in ov_model.get_parameters() for t in p.output(0).get_target_inputs()
    ]
    return names + [r.input_value(0).get_node().get_friendly_name() for r in ov_model.get_results()]


def validation_psnr(compiled, data, *, scale: int) -> float:
    """Mean PSNR (Y, standard protocol scoring) of a compiled OpenVINO model on (LR, HR) crops."""
    from .metrics import score_standard

    return float(
        np.mean(
            [
                score_standard(torch.from_numpy(compiled({0: lr.numpy()})[0].copy()), hr, scale=scale)[0]
                for lr, hr in data
            ]
        )
    )


def quantize_ir(xml: Path, target: Path, *, scale: int, calibration: Calibration = DEFAULT_CALIBRATION) -> dict:
    """Quantize the fp32 IR ``xml`` into ``target`` (.xml and .bin, written atomically); return a summary
    (seconds, crops, validation PSNR fp32 / int8, operations kept fp32, whether accuracy control ran)."""
    nncf_version()
    import nncf
    import openvino as ov

    start = time.perf_counter()
    cal, val = calibration_data(scale=scale, calibration=calibration)
    core = ov.Core()
    model = core.read_model(str(xml))
    keep = fp32_ends(model)
    log.info(
        "calibrating int8 on %d training crops of %d² (x%d; about 1-2 minutes on 2 cores, once per machine)",
        len(cal),
        calibration.size,
        scale,
    )
    preset = nncf.QuantizationPreset(calibration.preset)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(cal),
        preset=preset,
        subset_size=len(cal),
        ignored_scope=nncf.IgnoredScope(names=keep),
    )

    def validate(compiled, data) -> float:
        return validation_psnr(compiled, data, scale=scale)

    reference = validate(core.compile_model(model, "CPU"), val)
    got = validate(core.compile_model(quantized, "CPU"), val)
    controlled = reference - got > calibration.max_drop
    if controlled:
        log.warning(
            "int8 loses %.3f dB on the validation crops (allowed %.3f): NNCF's accuracy-controlled search runs "
            "now (tens of minutes)",
            reference - got,
            calibration.max_drop,
        )
        quantized = nncf.quantize_with_accuracy_control(
            model,
            nncf.Dataset(cal),
            nncf.Dataset(val),
            validation_fn=validate,
            max_drop=calibration.max_drop,
            drop_type=nncf.DropType.ABSOLUTE,
            preset=preset,
            subset_size=len(cal),
            ignored_scope=nncf.IgnoredScope(names=keep),
        )
        got = validate(core.compile_model(quantized, "CPU"), val)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.stem}.") as tmp:
        ov.save_model(quantized, Path(tmp) / "model.xml", compress_to_fp16=False)
        copy_ir(Path(tmp) / "model.xml", target, overwrite=True)
    summary = {
        "seconds": round(time.perf_counter() - start, 1),
        "crops": len(cal),
        "validation_psnr": {"fp32": round(reference, 4), "int8": round(got, 4)},
        "fp32_ops": keep,
        "accuracy_control": controlled,
        "nncf": nncf_version(),
    }
    log.info("int8 calibrated in %.0f s: validation %.3f dB fp32, %.3f dB int8", summary["seconds"], reference, got)
    return summary


def cached_int8(model: nn.Module, *, calibration: Calibration = DEFAULT_CALIBRATION) -> Path:
    """The model's int8 OpenVINO IR in the cache (``openvino/int8-<key>/model.xml``), calibrated on first use
    (:func:`quantize_ir`) and checked like every cache entry afterwards."""
    from .backends import cached_openvino, model_digest

    nncf_version()
    scale = getattr(model, "scale", None) or getattr(model, "arch", {}).get("scale")
    if not scale:
        raise AttnsrError("int8 calibration needs a model that records its scale")
    path = cache_root() / "openvino" / f"int8-{calibration.key(model_digest(model))}" / "model.xml"

    def build() -> Path:
        summary = quantize_ir(cached_openvino(model), path, scale=scale, calibration=calibration)
        with atomic_path(path.with_name("calibration.json"), overwrite=True) as out:
            out.write_text(json.dumps({**summary, "settings": asdict(calibration)}, indent=1))
        return path

    return load_entry([path.with_suffix(".bin"), path], load=lambda: path, build=build, what="the cached int8 model")


def int8_model(model: nn.Module) -> Path:
    """The int8 OpenVINO IR ``precision="int8"`` runs for ``model``: the one shipped beside built-in weights
    (made by this calibration, measured by ``benchmarks/int8_quality.py``), else calibrated once per machine
    and cached (needs NNCF and the training images)."""
    from ._pretrained import shipped_int8

    return shipped_int8(getattr(model, "weight_record", None)) or cached_int8(model)


def int8_runner(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A runner (:mod:`attnsr.backends`) over :func:`int8_model`; the ops NNCF left unquantized run fp32."""
    from .backends import openvino_runner

    return openvino_runner(int8_model(model), precision="fp32")


INT8_MIN_SPEEDUP = 1.2  # int8 must beat the alternative by this factor on the probe for precision "auto"
PROBE_SIZE = 96  # LR side of the probe image
PROBE_RUNS = 5


def int8_faster(int8_xml: Path, *, other: Callable[[torch.Tensor], torch.Tensor], other_name: str) -> bool:
    """Whether the int8 IR runs at least INT8_MIN_SPEEDUP times faster than ``other`` (the runner ``auto``
    would use otherwise) on this CPU: a 96² probe, one warm-up each, PROBE_RUNS interleaved timings, the ratio
    of medians. The verdict is kept in ``openvino/int8-verdicts.json`` of the cache, per CPU, thread count,
    int8 model and alternative, so each machine measures once."""
    from ._pretrained import sha256_file
    from .backends import openvino_runner
    from .outputs import write_text
    from .precision import cpu_info

    digest = sha256_file(int8_xml.with_suffix(".bin"))[:16]
    key = f"{cpu_info().describe()} | {torch.get_num_threads()} threads | int8 {digest} | against {other_name}"
    book = cache_root() / "openvino" / "int8-verdicts.json"
    try:
        verdicts = json.loads(book.read_text())
    except (OSError, ValueError):
        verdicts = {}
    if isinstance(verdicts.get(key), dict) and isinstance(verdicts[key].get("speedup"), (int, float)):
        return verdicts[key]["speedup"] >= INT8_MIN_SPEEDUP
    try:
        int8 = openvino_runner(int8_xml, precision="fp32")
    except AttnsrError as exc:  # e.g. an OpenVINO older than the one that wrote the IR
        log.warning("the int8 model cannot run here (%s); precision auto keeps %s", exc, other_name)
        return False
    x = torch.rand(1, 3, PROBE_SIZE, PROBE_SIZE, generator=torch.Generator().manual_seed(0))
    times = {"int8": [], "other": []}
    for run in (int8, other):
        run(x)
    for _ in range(PROBE_RUNS):
        for name, run in (("int8", int8), ("other", other)):
            t0 = time.perf_counter()
            run(x)
            times[name].append(time.perf_counter() - t0)
    speedup = float(np.median(times["other"]) / np.median(times["int8"]))
    verdicts[key] = {"speedup": round(speedup, 3), "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_text(book, json.dumps(verdicts, indent=1), overwrite=True)
    log.info("int8 probe on %s: %.2fx the speed of %s", cpu_info().describe(), speedup, other_name)
    return speedup >= INT8_MIN_SPEEDUP
