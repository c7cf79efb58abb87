"""Model export for deployment: ONNX with dynamic batch, height and width, and OpenVINO IR (.xml + .bin).

Both take and give float RGB in [0, 1], NCHW (input ``lr``, output ``sr``); both store the architecture
record (``attnsr_arch``, JSON) so an exported file says what it upscales. Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import AttnsrError
from .outputs import atomic_path, check_output

log = logging.getLogger(__name__)


ONNX_OPSETS = range(11, 21)  # 11: Resize with scales; 20: the TorchScript exporter's newest
DEFAULT_OPSET = 17


def export_onnx(
    model: nn.Module, path: str | Path, *, opset: int = DEFAULT_OPSET, overwrite: bool = False, sample_size: int = 32
) -> Path:
    """Export ``model`` (float RGB [0,1] NCHW in and out) to ONNX with dynamic batch, height and width.

    Written atomically (an existing file is replaced only with ``overwrite``); the architecture record is
    stored in the ONNX metadata (``attnsr_arch``).
    """
    import onnx

    if opset not in ONNX_OPSETS:
        raise AttnsrError(f"ONNX opset must be {ONNX_OPSETS.start}-{ONNX_OPSETS.stop - 1}, not {opset}")
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    x = torch.rand(1, 3, sample_size, sample_size)
    with atomic_path(path, overwrite=overwrite) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter on purpose, its two deprecation warnings silenced here. Its successor
        # (dynamo=True, torch.export-based), tried on torch 2.13 with onnxscript 0.7.2 at opset 18, kept
        # dynamic height and width and parity (max |ONNX - PyTorch| <= 5e-6 on onnxruntime and OpenVINO, A2N
        # x2/x3/x4 and PAN x2, sizes 8x9 to 64x48), but took 2-23 s where this one takes 0.06-1 s (the default
        # A2N x4: 23 s against 0.8 s, paid by a first `attnsr upscale`) and needs onnxscript, which attnsr
        # does not depend on. (catch_warnings is process-wide: concurrent exports may show these or keep them off.)
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning, r"torch\.onnx\.")
        torch.onnx.export(
            model,
            (x,),
            str(tmp),
            input_names=["lr"],
            output_names=["sr"],
            opset_version=opset,
            dynamo=False,
            dynamic_axes={
                "lr": {0: "batch", 2: "height", 3: "width"},
                "sr": {0: "batch", 2: "out_height", 3: "out_width"},
            },
        )
        proto = onnx.load(str(tmp))
        meta = proto.metadata_props.add()
        meta.key, meta.value = "attnsr_arch", json.dumps(getattr(model, "arch", {}))
        onnx.save(proto, str(tmp))
    return Path(path)


def onnx_arch(path: str | Path) -> dict:
    """The architecture record stored in an ONNX file by :func:`export_onnx` (``{}`` when absent)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise AttnsrError(f"cannot read ONNX model {str(path)!r}: {str(exc).splitlines()[0][:160]}") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    return json.loads(meta.get("attnsr_arch", "{}"))


def export_openvino(model: nn.Module, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as OpenVINO IR: ``path`` (.xml) and the weights beside it (same name, .bin).

    Converted from the ONNX export (dynamic batch, height and width), weights kept in fp32 (OpenVINO's
    default would compress them to fp16). Refuses existing files unless ``overwrite``.
    """
    import openvino as ov

    path = Path(path)
    if path.suffix != ".xml":
        raise AttnsrError(f"an OpenVINO IR path ends in .xml, not {path.name!r}")
    targets = (path.with_suffix(".bin"), path)  # the .bin first: a complete .xml implies its weights
    for target in targets:
        check_output(target, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        ov_model = ov.convert_model(export_onnx(model, Path(tmp) / "model.onnx"))
        ov_model.set_rt_info(json.dumps(getattr(model, "arch", {})), ["attnsr_arch"])
        ov.save_model(ov_model, Path(tmp) / "model.xml", compress_to_fp16=False)
        copy_ir(Path(tmp) / "model.xml", path, overwrite=overwrite)
    return path


def copy_ir(source: Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Copy the OpenVINO IR ``source`` (.xml and its .bin) to ``path``, each file atomically, the .bin first
    (a complete .xml implies its weights); existing files are replaced only with ``overwrite``."""
    path = Path(path)
    targets = (path.with_suffix(".bin"), path)
    for target in targets:
        check_output(target, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    for target in targets:  # copied into atomic_path's file: the mode a plain open would give
        with atomic_path(target, overwrite=overwrite) as out:
            shutil.copyfile(source.with_suffix(target.suffix), out)
    return path
