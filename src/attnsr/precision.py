"""One precision vocabulary for every command: ``auto``, ``fp32``, ``bf16``, ``fp16``.

``auto`` resolves from the machine it runs on:

* CUDA: ``bf16`` where the GPU computes it (Ampere and newer), else ``fp16`` (both as autocast/AMP);
* CPU: ``bf16`` autocast only where the CPU computes bf16 natively (AMX or AVX512-BF16), ``fp32``
  otherwise. Without native support bf16 is emulated and runs 7–9× *slower* than fp32 (measured on an
  AVX2-only AMD EPYC), so an explicit ``bf16`` there still runs but warns once.

``cpu_info()`` names the CPU and the flags that decide, for run logs and records.
"""

from __future__ import annotations

import functools
import logging
import platform
from dataclasses import asdict, dataclass

import torch

from .errors import AttnsrError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# What inference may also ask for: int8, the OpenVINO model quantized by NNCF (attnsr.quantize).
INFERENCE_PRECISIONS = (*PRECISIONS, "int8")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    amx: bool
    avx512_bf16: bool
    avx512: bool
    avx2: bool
    # int8 dot products (what int8 inference gains from): AVX512-VNNI or AVX-VNNI; AMX's int8 tiles
    vnni: bool = False
    amx_int8: bool = False

    @property
    def native_bf16(self) -> bool:
        return self.amx or self.avx512_bf16

    def describe(self) -> str:
        flags = [name for name in ("amx", "avx512_bf16", "amx_int8", "vnni", "avx512", "avx2") if getattr(self, name)]
        return f"{self.model} ({', '.join(flags) or 'no AVX2'})"

    def as_dict(self) -> dict:
        return {**asdict(self), "native_bf16": self.native_bf16}


def parse_cpuinfo(text: str) -> CpuInfo:
    """``/proc/cpuinfo`` text → the CPU model and the flags that decide bf16 (first processor only)."""
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and flags is None:
            flags = set(value.split())
    flags = flags or set()
    model = model or platform.processor() or "unknown CPU"
    return CpuInfo(
        model=model,
        amx=bool({"amx_bf16", "amx_tile"} & flags),
        avx512_bf16="avx512_bf16" in flags,
        avx512="avx512f" in flags,
        avx2="avx2" in flags,
        vnni=bool({"avx512_vnni", "avx_vnni"} & flags),
        amx_int8="amx_int8" in flags,
    )


@functools.cache
def cpu_info() -> CpuInfo:
    try:
        with open("/proc/cpuinfo") as f:
            return parse_cpuinfo(f.read())
    except OSError:  # not Linux: ask oneDNN whether bf16 is native
        native = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
        return CpuInfo(
            model=platform.processor() or "unknown CPU", amx=False, avx512_bf16=native, avx512=native, avx2=True
        )


@functools.cache
def _warn_emulated_bf16() -> None:
    log.warning(
        "bf16 asked for, but this CPU (%s) has no native bf16 (AMX or AVX512-BF16): it will run several times "
        "slower than fp32; use precision 'auto' or 'fp32'",
        cpu_info().describe(),
    )


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``auto|fp32|bf16|fp16`` → the concrete ``fp32|bf16|fp16`` to run on ``device``."""
    if precision == "int8":
        raise AttnsrError("precision int8 runs on the openvino backend only (upscale, eval, export openvino)")
    if precision not in PRECISIONS:
        raise AttnsrError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    kind = torch.device(device).type
    if kind == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return precision
    if precision == "fp16":
        raise AttnsrError("fp16 is for CUDA; use auto, bf16 or fp32 on the CPU")
    if precision == "auto":
        return "bf16" if cpu_info().native_bf16 else "fp32"
    if precision == "bf16" and not cpu_info().native_bf16:
        _warn_emulated_bf16()
    return precision


def autocast(precision: str, device: torch.device | str) -> torch.autocast:
    """The autocast context for a *resolved* precision (disabled for fp32)."""
    dtype = DTYPES[precision]
    return torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None)


def run_environment(precision: str, device: torch.device | str) -> dict:
    """What a run's log and record name: the device, CPU model and deciding flags, threads, precision."""
    env = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "cpu": cpu_info().as_dict(),
    }
    if torch.device(device).type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env
