"""Inference backends: one runner contract over PyTorch, ONNX Runtime and OpenVINO.

A *runner* maps an LR tile (1×3×h×w float RGB in [0, 1], NCHW, CPU) to its SR tile (1×3×(h·s)×(w·s) float,
unclamped, on the CPU or the torch device). Every runner accepts any height and width, so whole images and
fixed-size tiles (:mod:`attnsr.tiling`) run through the same one. The SR tile is the caller's to keep or
modify, and every runner may be called from several threads at once: PyTorch and ONNX Runtime run
concurrent calls as they are; OpenVINO's one infer request runs one call at a time (a lock) and its output
is copied out before the next call can overwrite it.

``auto`` picks, by a rule measured on a 2-core AMD EPYC (AVX2) with A2N ×4, 320×180 → 1280×720
(``benchmarks/upscale_speed.py``, ``benchmarks/results/upscale_speed.json``):

* on a CUDA device: ``torch`` (the other two run on the CPU here);
* on the CPU: ``openvino`` when ``openvino`` and ``onnx`` are installed (fastest: same pixels within 1e-6),
  else ``onnxruntime`` when ``onnxruntime`` and ``onnx`` are installed, else ``torch``.

Exported models are cached under ``cache_root()`` keyed by the sha256 of the model's architecture record
and weights: ``onnx/<sha256>.onnx`` and ``openvino/<sha256>/model.xml``, plus OpenVINO's own compiled-model
cache (``openvino/compiled/<sha256 of the model file>``), so a model is exported and compiled once per
machine, not once per process. Every file there is sealed with its sha256 and checked when used; a damaged
one is re-created (:mod:`attnsr.cache`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from ._pretrained import sha256_file
from .cache import drop_damaged, load_entry, seal_new
from .errors import AttnsrError
from .precision import autocast, cpu_info, resolve_precision
from .settings import cache_root

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
# CPU backends in the order ``auto`` prefers them (measured, see the module docstring).
CPU_PREFERENCE = ("openvino", "onnxruntime")
# Python packages each backend needs: the runtime, and ``onnx`` for the export it runs from.
REQUIREMENTS = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}
EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino"}

Runner = Callable[[Tensor], Tensor]
R = TypeVar("R")


def is_installed(backend: str) -> bool:
    """Whether every package ``backend`` needs can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in REQUIREMENTS[backend])


def resolve_backend(backend: str, device: str | torch.device = "cpu") -> str:
    """``auto|torch|onnxruntime|openvino`` → the concrete backend to run on ``device`` (see the module rule)."""
    if backend not in BACKENDS:
        raise AttnsrError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    kind = torch.device(device).type
    if backend == "auto":
        if kind != "cpu":
            return "torch"
        return next((name for name in CPU_PREFERENCE if is_installed(name)), "torch")
    if backend != "torch":
        if kind != "cpu":
            raise AttnsrError(f"the {backend} backend runs on the CPU; use the torch backend for device {device}")
        if not is_installed(backend):
            missing = [name for name in REQUIREMENTS[backend] if importlib.util.find_spec(name) is None]
            raise AttnsrError(
                f"the {backend} backend needs {' and '.join(missing)}: pip install 'attnsr[{EXTRAS[backend]}]'"
            )
    return backend


def resolve_backend_precision(backend: str, precision: str, device: str | torch.device = "cpu") -> str:
    """The concrete precision ``backend`` runs: ONNX Runtime is fp32 only; OpenVINO runs bf16 only where the
    CPU computes it natively (an explicit bf16 elsewhere runs fp32, with a warning), and int8 (the model
    quantized by :mod:`attnsr.quantize`), which no other backend runs."""
    if precision == "int8":
        if backend == "openvino":
            return "int8"
        if not is_installed("openvino"):
            raise AttnsrError(
                'precision int8 runs on the openvino backend, which is not installed: pip install "attnsr[int8]"'
            )
        raise AttnsrError(
            f"precision int8 runs on the openvino backend (CPU), not {backend}; use backend auto or openvino"
        )
    if backend == "torch":
        return resolve_precision(precision, device)
    if backend == "onnxruntime":
        if precision not in ("auto", "fp32"):
            raise AttnsrError(f"the onnxruntime backend runs fp32 only, not {precision}; use precision auto or fp32")
        return "fp32"
    resolved = resolve_precision(precision, "cpu")
    if resolved == "bf16" and not cpu_info().native_bf16:
        return "fp32"  # resolve_precision has warned; OpenVINO would run f32 anyway
    return resolved


def model_digest(model: nn.Module) -> str:
    """sha256 of a model's architecture record and weights (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256(json.dumps(getattr(model, "arch", {}), sort_keys=True).encode())
    for name, value in model.state_dict().items():
        h.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        flat = value.detach().cpu().reshape(-1).clone()  # a fresh 1-D copy: row-major bytes whatever the layout
        h.update(flat.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def torch_runner(model: nn.Module, *, precision: str = "auto", device: str = "cpu") -> Runner:
    """PyTorch eager, channels_last, autocast at the resolved precision; returns float32 on ``device``."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise AttnsrError("device cuda asked for, but CUDA is not available on this machine")
    dev = torch.device(device)
    precision = resolve_precision(precision, dev)
    model = model.eval().to(dev).to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(x: Tensor) -> Tensor:
        x = x.to(dev).contiguous(memory_format=torch.channels_last)
        with autocast(precision, dev):
            return model(x).float()

    return run


def cached_export(model: nn.Module, *, kind: str, load: Callable[[Path], R]) -> R:
    """``load(path)`` of the model's export in the cache folder — kind ``onnx``: ``onnx/<sha256>.onnx``;
    kind ``openvino``: ``openvino/<sha256>/model.xml`` and its ``.bin`` — exported on first use, and again
    (once, with a warning) when a file is damaged or ``load`` fails on it (:func:`attnsr.cache.load_entry`)."""
    from .export import export_onnx, export_openvino

    digest = model_digest(model)
    if kind == "onnx":
        path = cache_root() / "onnx" / f"{digest}.onnx"
        files, export = [path], export_onnx
    else:
        path = cache_root() / "openvino" / digest / "model.xml"
        files, export = [path.with_suffix(".bin"), path], export_openvino

    def build() -> R:
        log.info("exporting the model to %s", path)
        export(model, path, overwrite=True)
        return load(path)

    return load_entry(files, load=lambda: load(path), build=build, what=f"the cached {kind} export")


def cached_onnx(model: nn.Module) -> Path:
    """The model's checked ONNX export in the cache folder (``onnx/<sha256>.onnx``)."""
    return cached_export(model, kind="onnx", load=lambda path: path)


def cached_openvino(model: nn.Module) -> Path:
    """The model's checked OpenVINO IR in the cache folder (``openvino/<sha256>/model.xml``)."""
    return cached_export(model, kind="openvino", load=lambda path: path)


def compiled_cache(path: Path) -> Path:
    """OpenVINO's compiled-model cache for the model file ``path`` (.onnx, or .xml with its .bin):
    ``openvino/compiled/<sha256 of the model's bytes>``. Keyed by content, since OpenVINO keys a blob by the
    file's path, not its weights' bytes: a re-created or replaced model would otherwise get the old blob."""
    files = [path, path.with_suffix(".bin")] if path.suffix == ".xml" else [path]
    digest = hashlib.sha256("".join(sha256_file(f) for f in files if f.is_file()).encode()).hexdigest()
    return cache_root() / "openvino" / "compiled" / digest


def onnxruntime_runner(path: str | Path, *, threads: int | None = None) -> Runner:
    """A runner over an ONNX file (input ``lr``, output ``sr``) on ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise AttnsrError(f"cannot load ONNX model {str(path)!r}: {str(exc).splitlines()[0][:160]}") from None

    def run(x: Tensor) -> Tensor:
        out = sess.run(["sr"], {"lr": np.ascontiguousarray(x.detach().cpu().float().numpy())})[0]
        return torch.from_numpy(out)

    return run


def openvino_runner(path: str | Path, *, precision: str = "fp32", threads: int | None = None) -> Runner:
    """A runner over an OpenVINO IR (.xml) or ONNX file, compiled once for the CPU with the LATENCY hint.

    ``precision`` (resolved) ``bf16`` sets OpenVINO's bf16 inference hint (only where the CPU has native bf16),
    anything else f32. The compiled model is cached on disk (:func:`compiled_cache`), its blobs sealed and
    checked like every cache file. Safe to call from several threads: one call at a time runs the one infer
    request (with the LATENCY hint it already uses every core, so more requests would not run faster).
    """
    import openvino as ov

    blobs = compiled_cache(Path(path))
    drop_damaged(blobs, what="OpenVINO compiled model")
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" and cpu_info().native_bf16 else "f32",
        "INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
        "CACHE_DIR": str(blobs),
    }
    try:
        compiled = ov.Core().compile_model(str(path), "CPU", config)
    except Exception as exc:
        raise AttnsrError(f"cannot load OpenVINO model {str(path)!r}: {str(exc).splitlines()[0][:160]}") from None
    seal_new(blobs)
    request = compiled.create_infer_request()
    lock = threading.Lock()  # an infer request runs one call at a time ("Infer Request is busy")

    def run(x: Tensor) -> Tensor:
        feed = np.ascontiguousarray(x.detach().cpu().float().numpy())
        with lock:
            # OpenVINO reads ``feed`` in place; its output buffer is the request's, overwritten by the next call
            # of any thread, so it is copied out while the lock is held.
            return torch.from_numpy(request.infer({0: feed}, share_inputs=True, share_outputs=True)[0].copy())

    return run


def build_runner(model: nn.Module, *, backend: str, precision: str, device: str = "cpu") -> Runner:
    """A runner for ``model`` on a *resolved* backend and precision (export and compile happen here, once)."""
    if backend == "torch":
        return torch_runner(model, precision=precision, device=device)
    if backend == "onnxruntime":
        return cached_export(model, kind="onnx", load=onnxruntime_runner)
    if precision == "int8":  # attnsr.quantize.int8_runner builds it (quantize depends on this module)
        raise AttnsrError("build the int8 runner with attnsr.quantize.int8_runner")
    return cached_export(model, kind="openvino", load=partial(openvino_runner, precision=precision))


def file_runner(path: Path, *, backend: str, precision: str) -> tuple[Runner, dict]:
    """(runner, architecture record) for an exported ONNX file on a resolved CPU backend."""
    from .export import onnx_arch

    arch = onnx_arch(path)
    if precision == "int8":
        raise AttnsrError("precision int8 quantizes a model from its weights; an exported .onnx file runs fp32 or bf16")
    if backend == "openvino":
        return openvino_runner(path, precision=precision), arch
    if backend == "onnxruntime":
        return onnxruntime_runner(path), arch
    raise AttnsrError(f"an ONNX model runs with the onnxruntime or openvino backend, not {backend}")
