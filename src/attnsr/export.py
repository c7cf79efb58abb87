"""Model export for deployment: ONNX with dynamic batch, height and width, and OpenVINO IR (.xml + .bin).

Both take and give float RGB in [0, 1], NCHW (input ``lr``, output ``sr``); both store the architecture
record (``attnsr_arch``, JSON) so an exported file says what it upscales. Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from .errors import AttnsrError

log = logging.getLogger(__name__)


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, sample_size: int = 32) -> Path:
    """Export ``model`` (float RGB [0,1] NCHW in and out) to ONNX with dynamic batch, height and width.

    Written atomically; the architecture record is stored in the ONNX metadata (``attnsr_arch``).
    """
    import onnx

    path = Path(path)
    model = model.eval().to("cpu", memory_format=torch.contiguous_format)
    x = torch.rand(1, 3, sample_size, sample_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (x,),
                tmp,
                input_names=["lr"],
                output_names=["sr"],
                opset_version=opset,
                dynamo=False,
                dynamic_axes={
                    "lr": {0: "batch", 2: "height", 3: "width"},
                    "sr": {0: "batch", 2: "out_height", 3: "out_width"},
                },
            )
        proto = onnx.load(tmp)
        meta = proto.metadata_props.add()
        meta.key, meta.value = "attnsr_arch", json.dumps(getattr(model, "arch", {}))
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    if not overwrite and any(t.exists() for t in targets):
        raise AttnsrError(f"'{path}' exists (allow overwriting to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}.") as tmp:
        ov_model = ov.convert_model(export_onnx(model, Path(tmp) / "model.onnx"))
        ov_model.set_rt_info(json.dumps(getattr(model, "arch", {})), ["attnsr_arch"])
        ov.save_model(ov_model, Path(tmp) / "model.xml", compress_to_fp16=False)
        for target in targets:
            os.replace(Path(tmp) / f"model{target.suffix}", target)
    return path
