"""A file that is no readable checkpoint (an OpenVINO IR, a truncated or foreign file) is one line saying
what it is not and which weights files attnsr reads — never torch's paragraph of advice."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from attnsr._pretrained import read_checkpoint, save_weights
from attnsr.cli.main import main
from attnsr.errors import CheckpointError
from attnsr.models.pan import pan

FORMATS = "weights files are .safetensors or PyTorch .pt/.pth checkpoints"
IR = '<?xml version="1.0"?>\n<net name="main_graph" version="11">\n\t<layers>\n\t</layers>\n</net>\n'


def test_openvino_ir_via_the_cli_is_one_line(tmp_path):
    xml = tmp_path / "model.xml"
    xml.write_text(IR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNSR_")} | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "attnsr", "upscale", "--sample", "--weights", str(xml), "--no-progress"]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: cannot read checkpoint {str(xml)!r}: it is an OpenVINO IR model (.xml), not a weights file; "
        f"{FORMATS} (an .onnx export runs in `attnsr upscale --weights`)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.xml"]


def _torch_bytes(obj, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", "hello")
    return buf.getvalue()


STATE = {"conv.weight": torch.zeros(8, 3, 3, 3)}
CASES = {
    "truncated.pth": (lambda: _torch_bytes(STATE)[:-700], "it is a truncated or damaged PyTorch checkpoint"),
    "legacy-truncated.pth": (
        lambda: _torch_bytes(STATE, _use_new_zipfile_serialization=False)[:300],
        "it is a truncated or damaged PyTorch checkpoint",
    ),
    "numpy.pth": (
        lambda: _torch_bytes({"step": np.float64(1.0)}),
        "it holds Python objects besides tensors (numpy",
    ),
    "empty.pt": (lambda: b"", "it is empty"),
    "notes.pth": (
        lambda: b"step 1000, loss 0.02\n",
        "it is not a PyTorch checkpoint (neither a zip archive nor a pickle)",
    ),
    "archive.pth": (_zip_bytes, "it is a zip archive but not a PyTorch checkpoint"),
    "page.pth": (lambda: b"<!DOCTYPE html><html><body>Not Found</body></html>", "it is an XML/HTML text file"),
    "model.onnx": (lambda: b"\x08\x07\x12\x07pytorch", "it is an ONNX model, not a weights file"),
}


@pytest.mark.parametrize("name", CASES)
def test_unreadable_files_are_one_line_saying_what_they_are_not(tmp_path, name):
    make, what = CASES[name]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"cannot read checkpoint {str(path)!r}: {what}"), message
    assert FORMATS in message and "\n" not in message and "PyTorch 2.6" not in message and "\x1b" not in message


def test_truncated_safetensors_and_ir_weights_half(tmp_path):
    good = tmp_path / "good.safetensors"
    model = pan(scale=2, num_blocks=1)
    model.arch = {"name": "pan", "scale": 2, "options": {"num_blocks": 1}}
    save_weights(model, good)
    assert read_checkpoint(good)[1]["arch"]["name"] == "pan"
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match=r"it is not a complete safetensors file \(truncated or damaged\)"):
        read_checkpoint(cut)
    (tmp_path / "model.xml").write_text(IR)
    (tmp_path / "model.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match="it is the weights half of an OpenVINO IR model"):
        read_checkpoint(tmp_path / "model.bin")


def test_upscale_with_a_truncated_checkpoint_is_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cut.pth"
    path.write_bytes(_torch_bytes(STATE)[:-700])
    monkeypatch.chdir(tmp_path)
    assert main(["upscale", "--sample", "--weights", str(path), "--no-progress"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read checkpoint {str(path)!r}: it is a truncated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pth"]
