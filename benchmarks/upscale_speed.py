"""Upscale speed of every path against this machine's practical peak: A2N x4, 320x180 -> 1280x720.

Usage: python benchmarks/upscale_speed.py [--repeats 5] [--torch-compile] [--quality] [--out FILE]

Times, interleaved in one process (round-robin, so drifting load hits every path alike), the median of:

* ``fp32_eager_nchw``: PyTorch fp32, NCHW, eager — the official code's way;
* ``attnsr_default``: ``attnsr.upscale(pil_image, scale=4)`` with every default, after its first call;
* ``attnsr_torch``, ``attnsr_onnxruntime``, ``attnsr_openvino``: ``attnsr.Upscaler(backend=...)`` on a tensor;
* ``attnsr_openvino_fp32``, ``attnsr_openvino_bf16`` (where the CPU has native bf16), ``attnsr_openvino_int8``
  (the NNCF-quantized model, :mod:`attnsr.quantize`): the OpenVINO backend at each precision by name;
* ``openvino_alone``, ``onnxruntime_alone``: a hand-made script — the runtime's own session on the ONNX
  export with its defaults (OpenVINO: the LATENCY hint), no attnsr code around it;
* with ``--torch-compile``: ``torch.compile`` (inductor, frozen weights, channels_last) and TorchScript
  ``freeze`` + ``optimize_for_inference`` (their one-off build times recorded too);
* ``peak_gemm_fp32`` (and ``peak_gemm_bf16`` where the CPU has native bf16): a 4096³ matrix product, the
  machine's practical peak.

Each path gets its seconds, its GFLOP/s (2 x A2N's multiply-adds per frame / seconds) and its fraction of the
fp32 GEMM peak. With ``--quality``, also the PSNR cost of bf16 against fp32 on Set5 and Set14. Writes
benchmarks/results/upscale_speed.json with the CPU model and flags (``attnsr.precision.cpu_info()``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import attnsr
from attnsr._factory import load_model
from attnsr.backends import is_installed
from attnsr.complexity import count_macs
from attnsr.export import export_onnx
from attnsr.outputs import write_text
from attnsr.precision import cpu_info

INPUT = (180, 320)  # LR height, width: 1280x720 out at x4
GEMM = 4096


def gemm(dtype: torch.dtype) -> Callable[[], None]:
    a, b = torch.rand(GEMM, GEMM, dtype=dtype), torch.rand(GEMM, GEMM, dtype=dtype)
    return lambda: torch.mm(a, b)


def runtime_alone(onnx_path: Path, x: torch.Tensor) -> dict[str, Callable[[], None]]:
    """What a hand-made script would run: each installed runtime's own session, its defaults."""
    paths = {}
    feed = x.numpy()
    if is_installed("openvino"):
        import openvino as ov

        request = ov.Core().compile_model(str(onnx_path), "CPU", {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
        paths["openvino_alone"] = lambda: request.infer({0: feed})
    if is_installed("onnxruntime"):
        import onnxruntime as ort

        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        paths["onnxruntime_alone"] = lambda: sess.run(["sr"], {"lr": feed})
    return paths


def torch_compiled(model: torch.nn.Module, x: torch.Tensor, builds: dict) -> dict[str, Callable[[], None]]:
    """torch.compile (inductor, freezing) and TorchScript freeze + optimize_for_inference, fp32."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    xc = x.contiguous(memory_format=torch.channels_last)
    compiled = torch.compile(model.to(memory_format=torch.channels_last))
    t0 = time.perf_counter()
    with torch.no_grad():
        compiled(xc)
    builds["torch_compile_inductor_frozen"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        traced = torch.jit.trace(model.to(memory_format=torch.contiguous_format), x)
        scripted = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        scripted(x)
    builds["torchscript_frozen_optimized"] = time.perf_counter() - t0
    return {
        "torch_compile_inductor_frozen": torch.no_grad()(lambda: compiled(xc)),
        "torchscript_frozen_optimized": torch.no_grad()(lambda: scripted(x)),
    }


def interleaved(paths: dict[str, Callable[[], None]], repeats: int, *, warmup: int = 2) -> dict[str, list[float]]:
    for _ in range(warmup):  # untimed rounds: first calls compile and allocate, and the clock settles
        for fn in paths.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(repeats):
        for k, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def _paired(times: dict[str, list[float]], a: str, b: str) -> float | None:
    """Median over rounds of ``a``'s time / ``b``'s time in the same round (None when either is absent)."""
    if a not in times or b not in times:
        return None
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def quality(model: torch.nn.Module) -> dict:
    from attnsr.data.lr_cache import default_lr_cache
    from attnsr.evaluate import evaluate_folder, make_forward
    from attnsr.settings import shared_root

    rows = {}
    for ds in ("Set5", "Set14"):
        row = {}
        for precision in ("fp32", "bf16"):
            fwd = make_forward(model, scale=4, protocol="standard", precision=precision)
            r = evaluate_folder(fwd, shared_root() / "data" / ds, scale=4, cache_dir=default_lr_cache())
            row[precision] = {"psnr": r.psnr, "ssim": r.ssim}
        row["psnr_cost_db"] = row["fp32"]["psnr"] - row["bf16"]["psnr"]
        rows[ds] = row
        print(ds, row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds before the timed ones")
    ap.add_argument("--weights")
    ap.add_argument("--torch-compile", action="store_true", help="also time torch.compile and TorchScript")
    ap.add_argument("--quality", action="store_true", help="also the PSNR cost of bf16 (slow without native bf16)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/upscale_speed.json"))
    args = ap.parse_args()
    model = load_model("a2n", scale=4, weights=args.weights or "builtin").eval()
    eager = attnsr.create_model("a2n", scale=4).eval()
    eager.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, *INPUT)
    pil = Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    gflop = 2 * count_macs(eager, input_size=INPUT) / 1e9
    default_backend = attnsr.Upscaler(weights=args.weights).backend

    def fp32_eager_nchw() -> None:
        with torch.no_grad():
            eager(x)

    paths: dict[str, Callable[[], None]] = {
        "fp32_eager_nchw": fp32_eager_nchw,
        "attnsr_default": lambda: attnsr.upscale(pil, scale=4, weights=args.weights),
    }
    for backend in ("torch", "onnxruntime", "openvino"):
        if backend == "torch" or is_installed(backend):
            up = attnsr.Upscaler(weights=args.weights, backend=backend, tile=0)
            paths[f"attnsr_{backend}"] = lambda up=up: up.upscale_tensor(x)
    if is_installed("openvino"):  # each OpenVINO precision by name: fp32, bf16 where native, int8
        for precision in ("fp32", "bf16", "int8"):
            if precision == "bf16" and not cpu_info().native_bf16:
                continue
            if precision == "int8" and not int8_available(args.weights):
                continue
            up = attnsr.Upscaler(weights=args.weights, backend="openvino", precision=precision, tile=0)
            paths[f"attnsr_openvino_{precision}"] = lambda up=up: up.upscale_tensor(x)
    onnx_path = export_onnx(eager, Path(tempfile.mkdtemp()) / "a2n_x4.onnx")
    paths.update(runtime_alone(onnx_path, x))
    builds: dict[str, float] = {}
    if args.torch_compile:
        compiled_model = attnsr.create_model("a2n", scale=4).eval()
        compiled_model.load_state_dict(model.state_dict())
        paths.update(torch_compiled(compiled_model, x, builds))
    paths["peak_gemm_fp32"] = gemm(torch.float32)
    if cpu_info().native_bf16:
        paths["peak_gemm_bf16"] = gemm(torch.bfloat16)
    times = interleaved(paths, args.repeats, warmup=args.warmup)
    med = {k: statistics.median(v) for k, v in times.items()}
    peak = 2 * GEMM**3 / 1e9 / med["peak_gemm_fp32"]
    rows = {}
    for k, seconds in med.items():
        work = 2 * GEMM**3 / 1e9 if k.startswith("peak_gemm") else gflop
        rows[k] = {"seconds": seconds, "gflops": work / seconds, "fraction_of_fp32_peak": work / seconds / peak}
    result = {
        "input": list(INPUT),
        "output": [INPUT[0] * 4, INPUT[1] * 4],
        "gflop_per_frame": gflop,
        "threads": torch.get_num_threads(),
        "cpu": cpu_info().as_dict(),
        "versions": _versions(),
        "default_backend": default_backend,
        "paths": rows,
        "build_seconds": builds,
        "all_seconds": times,
        "default_vs_openvino_alone": med["attnsr_default"] / med["openvino_alone"] if "openvino_alone" in med else None,
        "speedup_default_vs_fp32_eager": med["fp32_eager_nchw"] / med["attnsr_default"],
        # the same ratios taken round by round (paths of one round run seconds apart), then the median:
        # steadier than a ratio of medians when the machine's speed drifts during the run
        "default_vs_openvino_alone_paired": _paired(times, "attnsr_default", "openvino_alone"),
        "speedup_default_vs_fp32_eager_paired": _paired(times, "fp32_eager_nchw", "attnsr_default"),
        # int8 against OpenVINO fp32 and bf16, round by round (acceptance of issue 26: >= 1.5x against fp32)
        "int8_speedup_vs_openvino_fp32_paired": _paired(times, "attnsr_openvino_fp32", "attnsr_openvino_int8"),
        "int8_speedup_vs_openvino_bf16_paired": _paired(times, "attnsr_openvino_bf16", "attnsr_openvino_int8"),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "all_seconds"}, indent=2), flush=True)
    if args.quality:
        result["quality"] = quality(model)
    write_text(args.out, json.dumps(result, indent=2), overwrite=True)
    print(markdown_table(result))


def int8_available(weights: str | None) -> bool:
    """Whether precision int8 can run: a shipped int8 model, or NNCF to calibrate one."""
    from attnsr._pretrained import get_record, shipped_int8

    if weights is None and shipped_int8(get_record("a2n_x4.builtin")) is not None:
        return True
    return importlib.util.find_spec("nncf") is not None


def markdown_table(result: dict) -> str:
    """The README's speed table: each path's median seconds, GFLOP/s, share of the fp32 GEMM peak, speed-up."""
    eager = result["paths"]["fp32_eager_nchw"]["seconds"]
    lines = ["| path | seconds | GFLOP/s | of fp32 GEMM peak | vs fp32 eager NCHW |", "|---|---|---|---|---|"]
    for name, row in result["paths"].items():
        speedup = "" if name.startswith("peak_gemm") else f"{eager / row['seconds']:.2f}x"
        share = f"{row['fraction_of_fp32_peak']:.0%}"
        cells = [f"`{name}`", f"{row['seconds']:.3f}", f"{row['gflops']:.1f}", share, speedup]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "openvino", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


if __name__ == "__main__":
    main()
