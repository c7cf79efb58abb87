"""Checkpoints: the project's safetensors weight records, and foreign (official) checkpoints.

A record written by the project stores, in the safetensors metadata, the architecture (registry name,
scale, options) so it rebuilds itself, plus a JSON record (training data, input range, parameter count,
measured PSNR, sha256). Foreign checkpoints are loaded with ``torch.load(weights_only=True)`` and mapped
to our models: official A2N works on 0–255 input (``img_range=255``), PAN on 0–1.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError

log = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).parent / "weights"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(model: nn.Module, path: Path, *, record: dict | None = None) -> None:
    """Write ``model``'s weights as safetensors with its architecture and a record in the metadata."""
    from safetensors.torch import save_file

    arch = getattr(model, "arch", None)
    if arch is None:
        raise CheckpointError("model has no .arch (build it with attnsr.create_model to save it)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "attnsr", "arch": json.dumps(arch), "record": json.dumps(record or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint file → (state_dict, info).

    ``info`` has ``arch`` (name/scale/options) for project files and ``format``: 'attnsr',
    'attnsr-train' (a training checkpoint) or 'foreign'.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    if p.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(p), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise CheckpointError(f"cannot read checkpoint {str(p)!r}: {type(exc).__name__}") from None
        info = {"format": meta.get("format", "foreign")}
        if "arch" in meta:
            info["arch"] = json.loads(meta["arch"])
            info["record"] = json.loads(meta.get("record", "{}"))
        return state, info
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {str(p)!r}: {first[:160]}") from None
    if isinstance(obj, dict) and "model" in obj and "arch" in obj:  # our training checkpoint
        return obj["model"], {"format": "attnsr-train", "arch": obj["arch"], "record": {}}
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"checkpoint {str(p)!r} holds no state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    info: dict = {"format": "foreign"}
    m = re.search(r"x([234])(?!\d)", p.stem.lower())
    if m:
        info["scale_hint"] = int(m.group(1))
    return state, info


def foreign_options(name: str, state: dict[str, torch.Tensor]) -> dict:
    """Constructor options implied by a foreign checkpoint (official A2N expects 0–255 input)."""
    if name in ("a2n", "a2n_m") and "AAB_trunk.0.ADM.0.weight" in state:
        return {"img_range": 255.0}
    return {}


def load_into(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Strictly load ``state`` into ``model``; a mismatch is one clear CheckpointError line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shape:
        arch = getattr(model, "arch", {})
        what = f"{arch.get('name', type(model).__name__)} x{arch.get('scale', '?')}"
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        if shape:
            k = shape[0]
            detail.append(f"{len(shape)} shape mismatches (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise CheckpointError(f"checkpoint {source!r} does not fit model {what}: {'; '.join(detail)}")
    model.load_state_dict(state, strict=True)


def build_from_checkpoint(
    path: str | Path, *, name: str | None = None, scale: int | None = None, options: dict | None = None
) -> nn.Module:
    """Build the model a checkpoint belongs to and load it.

    Project files rebuild themselves (``name``/``scale`` if given must agree). Foreign files need ``name``
    and ``scale``; a scale hint in the file name (``_x3``) that disagrees is an error.
    """
    from .registry import create_model

    state, info = read_checkpoint(path)
    arch = info.get("arch")
    if arch is not None:
        if name is not None and name != arch["name"]:
            raise CheckpointError(f"checkpoint {str(path)!r} is a {arch['name']} model, not {name}")
        if scale is not None and scale != arch["scale"]:
            raise CheckpointError(f"checkpoint {str(path)!r} is for scale x{arch['scale']}, not x{scale}")
        model = create_model(arch["name"], scale=arch["scale"], **{**arch.get("options", {}), **(options or {})})
    else:
        if name is None or scale is None:
            raise CheckpointError(f"checkpoint {str(path)!r} does not say its model; give --model and --scale")
        hint = info.get("scale_hint")
        if hint is not None and hint != scale:
            raise CheckpointError(f"checkpoint {str(path)!r} is named for scale x{hint}, not x{scale}")
        model = create_model(name, scale=scale, **{**foreign_options(name, state), **(options or {})})
    load_into(model, state, source=str(path))
    model.record = info.get("record", {})
    return model


def pretrained_path(name: str, scale: int) -> Path:
    return PRETRAINED_DIR / f"{name}_x{scale}.safetensors"


def load_pretrained(model: nn.Module, *, name: str, scale: int) -> None:
    """Load the project's built-in default weights for (name, scale) into ``model``."""
    path = pretrained_path(name, scale)
    if not path.is_file():
        available = sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
        raise CheckpointError(f"no built-in weights for {name} x{scale}; available: {', '.join(available) or 'none'}")
    state, info = read_checkpoint(path)
    load_into(model, state, source=str(path))
    model.record = info.get("record", {})
