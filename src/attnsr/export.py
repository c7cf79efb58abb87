"""ONNX export with dynamic height and width, and an onnxruntime runner with the torch contract."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .errors import AttnsrError

log = logging.getLogger(__name__)


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, sample_size: int = 32) -> Path:
    """Export ``model`` (float RGB [0,1] NCHW in and out) to ONNX with dynamic batch, height and width.

    Written atomically; the architecture record is stored in the ONNX metadata (``attnsr_arch``).
    """
    import json

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
        import onnx

        proto = onnx.load(tmp)
        meta = proto.metadata_props.add()
        meta.key, meta.value = "attnsr_arch", json.dumps(getattr(model, "arch", {}))
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def onnx_runner(path: str | Path, *, threads: int | None = None) -> tuple[Callable[[Tensor], Tensor], dict]:
    """(run, arch) for an exported model: ``run`` maps a 1×3×h×w float tensor to the SR tensor."""
    import json

    try:
        import onnxruntime as ort
    except ImportError:
        raise AttnsrError("the onnxruntime backend needs `pip install onnxruntime`") from None
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise AttnsrError(f"cannot load ONNX model {str(path)!r}: {str(exc).splitlines()[0][:160]}") from None
    meta = sess.get_modelmeta().custom_metadata_map
    arch = json.loads(meta.get("attnsr_arch", "{}"))

    def run(x: Tensor) -> Tensor:
        out = sess.run(["sr"], {"lr": np.ascontiguousarray(x.detach().cpu().float().numpy())})[0]
        return torch.from_numpy(out)

    return run, arch
