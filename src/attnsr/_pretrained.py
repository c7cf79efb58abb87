"""Weights as records, and checkpoint files: the layer below the factory; it knows files, not models.

Every built-in and official weight file is one :class:`WeightRecord` in :data:`RECORDS` (torchvision's
``Weights`` is the model): architecture and options, scale(s), source, URL, sha256, size, input range,
training data, licence note, published and measured scores, parameter count. A registry-wide test checks
every record against its model and every built-in file against its sha256; built-in files are verified
by sha256 whenever they are loaded. Adding built-in weights is one entry here plus the file in
``weights/``.

Checkpoint files: the project writes safetensors whose metadata holds the architecture (registry name,
scale, options) so they rebuild themselves. Foreign (official) files are read with
``torch.load(weights_only=True)`` and recognised from their keys and shapes (spandrel's way), or by
their sha256 when it is a record's; never from their file names. A file that is no readable checkpoint
(an OpenVINO IR, an ONNX model, a truncated download, a text file) is one CheckpointError line saying what
it is not and which weights files are read, never torch's own multi-line advice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch
from torch import nn

from .errors import CheckpointError
from .outputs import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_DIR",
    "RECORDS",
    "Detected",
    "Score",
    "WeightRecord",
    "atomic_save",
    "builtin_path",
    "detect_architecture",
    "find_record",
    "get_record",
    "load_into",
    "read_checkpoint",
    "record_for_sha256",
    "records_for",
    "save_weights",
    "scale_in_name",
    "sha256_file",
    "verify_builtin",
]

BUILTIN_DIR = Path(__file__).parent / "weights"
BF16_SETS = ("Set5", "Set14", "B100", "Urban100")
BF16_MAX_COST = 0.01  # dB: what precision "auto" may lose to bf16 on any of BF16_SETS
INT8_MAX_COST = 0.05  # dB: what precision "auto" may lose to int8 on any of BF16_SETS
Source = Literal["builtin", "official"]


@dataclass(frozen=True)
class Score:
    """One PSNR/SSIM figure (Y channel) under a named evaluation protocol."""

    dataset: str
    scale: int
    psnr: float
    ssim: float | None = None
    protocol: str = "standard"


@dataclass(frozen=True)
class WeightRecord:
    """One weight file: what it is, where it comes from, how it was checked.

    ``num_params`` is the parameter count of ``create_model(arch, scale=s, **options)`` for every
    ``s`` in ``scales``; ``input_range`` is the pixel range the weights were trained on (the built
    model always takes float RGB in [0, 1]; the model option of the same name converts, where it has one).
    """

    name: str
    arch: str
    scales: tuple[int, ...]
    source: Source
    file: str
    sha256: str
    num_params: int
    size: int | None = None  # bytes; None where the file was not at hand to measure
    url: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    input_range: float = 1.0
    training_data: str = ""
    licence: str = ""
    published: tuple[Score, ...] = ()
    measured: tuple[Score, ...] = ()
    # fp32 minus bf16 PSNR (dB), standard protocol, per set of BF16_SETS (benchmarks/bf16_cost.py); empty: not
    # measured. precision "auto" runs bf16 only where every set is measured and costs at most BF16_MAX_COST.
    bf16_cost: Mapping[str, float] = field(default_factory=dict)
    # The same for int8 (fp32 minus int8, benchmarks/int8_quality.py), and the int8 OpenVINO IR shipped beside
    # the weights (file name -> sha256, the .xml and its .bin; empty: none shipped, attnsr.quantize calibrates).
    int8_cost: Mapping[str, float] = field(default_factory=dict)
    int8_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def bf16_harmless(self) -> bool:
        return _harmless(self.bf16_cost, BF16_MAX_COST)

    @property
    def int8_harmless(self) -> bool:
        return _harmless(self.int8_cost, INT8_MAX_COST)


def _harmless(cost: Mapping[str, float], bound: float) -> bool:
    """Whether ``cost`` is measured on every set of BF16_SETS and at most ``bound`` dB on each."""
    return set(BF16_SETS) <= set(cost) and all(cost[s] <= bound for s in BF16_SETS)


def _scores(protocol: str, scale: int, **by_dataset: tuple[float, float | None]) -> tuple[Score, ...]:
    return tuple(Score(d, scale, p, s, protocol) for d, (p, s) in by_dataset.items())


_NO_LICENCE = "no licence for redistribution: fetched from the authors' repository at the user's request, never shipped"
_A2N = "https://github.com/haoyuc/A2N/raw/main/code/experiment/model"
_PAN = "https://github.com/zhaohengyuan1/PAN/raw/master/experiments/pretrained_models"
_IMDN = "https://github.com/Zheng222/IMDN/raw/master/checkpoints"


def builtin_records(folder: Path = BUILTIN_DIR) -> tuple[WeightRecord, ...]:
    """The built-in weights' records, one JSON file beside each weight file (``weights/<name>.json``), written by
    ``scripts/release_weights.py`` with the file (and ``bf16_cost`` by ``benchmarks/bf16_cost.py``): the one
    place a release is described; the README and docs tables are rendered from these."""
    records = []
    for path in sorted(folder.glob("*.json")):
        d = json.loads(path.read_text())
        records.append(
            WeightRecord(
                name=d["name"],
                arch=d["arch"],
                scales=tuple(d["scales"]),
                source="builtin",
                file=d["file"],
                sha256=d["sha256"],
                size=d["size"],
                num_params=d["num_params"],
                options=d.get("options", {}),
                training_data=d["training_data"],
                licence=d["licence"],
                measured=tuple(
                    Score(ds, d["scales"][0], m["psnr"], m.get("ssim"), m.get("protocol", "standard"))
                    for ds, m in d["measured"].items()
                ),
                bf16_cost=d.get("bf16_cost", {}),
                int8_cost=d.get("int8_cost", {}),
                int8_files=d.get("int8_files", {}),
            )
        )
    return tuple(records)


# Every weight file the project knows, in one list: the built-in ones from their JSON records, then the
# official ones (measured scores: docs/REFERENCE.md and benchmarks/results/parity.json).
RECORDS: tuple[WeightRecord, ...] = (
    *builtin_records(),
    WeightRecord(
        name="a2n_x2.official",
        arch="a2n",
        scales=(2,),
        source="official",
        file="aan_x2.pt",
        url=f"{_A2N}/aan_x2.pt",
        sha256="076f3ef50212a0641262d71210aeeda71e03324ecec14032630d1f2225887dfb",
        size=4_172_225,
        num_params=1_036_443,
        options={"input_range": 255.0},
        input_range=255.0,
        training_data="DIV2K",
        licence=_NO_LICENCE,
        published=_scores(
            "chop", 2, Set5=(38.06, 0.9608), Set14=(33.75, 0.9194), B100=(32.22, 0.9002), Urban100=(32.43, 0.9311)
        ),
        measured=_scores(
            "chop",
            2,
            Set5=(38.0607, 0.9608),
            Set14=(33.7534, 0.9194),
            B100=(32.2241, 0.9002),
            Urban100=(32.4271, 0.9311),
        ),
    ),
    WeightRecord(
        name="a2n_x3.official",
        arch="a2n",
        scales=(3,),
        source="official",
        file="aan_x3.pt",
        url=f"{_A2N}/aan_x3.pt",
        sha256="7fe6fa3a4b9d666f5b0afe2c9e91ce30551477114ffc7971c218c70899bc84ea",
        size=4_172_225,
        num_params=1_036_443,
        options={"input_range": 255.0},
        input_range=255.0,
        training_data="DIV2K",
        licence=_NO_LICENCE,
        published=_scores(
            "chop", 3, Set5=(34.47, 0.9279), Set14=(30.44, 0.8437), B100=(29.14, 0.8059), Urban100=(28.41, 0.8570)
        ),
        measured=_scores(
            "chop",
            3,
            Set5=(34.4732, 0.9279),
            Set14=(30.4374, 0.8437),
            B100=(29.1426, 0.8059),
            Urban100=(28.4138, 0.8570),
        ),
    ),
    WeightRecord(
        name="pan_x2.official",
        arch="pan",
        scales=(2,),
        source="official",
        file="PANx2_DF2K.pth",
        url=f"{_PAN}/PANx2_DF2K.pth",
        sha256="fcf8ed48656abbaae46309ee91745684b80235a9c8b37a2d8fb0715a3ad3f00f",
        size=1_076_593,
        num_params=261_403,
        training_data="DF2K (DIV2K + Flickr2K)",
        licence=_NO_LICENCE,
        published=_scores("standard", 2, B100=(32.18, 0.8997)),
        measured=_scores(
            "standard",
            2,
            Set5=(38.0007, 0.9605),
            Set14=(33.5927, 0.9181),
            B100=(32.1885, 0.8998),
            Urban100=(32.0205, 0.9274),
        ),
        bf16_cost={"Set5": 0.0068, "Set14": 0.0008, "B100": 0.0026, "Urban100": 0.0079},  # results/bf16_cost.json
    ),
    WeightRecord(
        name="pan_x3.official",
        arch="pan",
        scales=(3,),
        source="official",
        file="PANx3_DF2K.pth",
        url=f"{_PAN}/PANx3_DF2K.pth",
        sha256="86491751d73645a8816a0d6ec62ccde6b22ce5da930e36b3b87f5437167fbc89",
        size=1_076_593,
        num_params=261_403,
        training_data="DF2K (DIV2K + Flickr2K)",
        licence=_NO_LICENCE,
        published=_scores("standard", 3, B100=(29.11, 0.8050)),
        measured=_scores(
            "standard",
            3,
            Set5=(34.4003, 0.9272),
            Set14=(30.3553, 0.8422),
            B100=(29.1124, 0.8051),
            Urban100=(28.1108, 0.8512),
        ),
        bf16_cost={"Set5": -0.0008, "Set14": 0.0029, "B100": 0.0016, "Urban100": 0.0027},  # results/bf16_cost.json
    ),
    WeightRecord(
        name="pan_x4.official",
        arch="pan",
        scales=(4,),
        source="official",
        file="PANx4_DF2K.pth",
        url=f"{_PAN}/PANx4_DF2K.pth",
        sha256="739fab99ee7b7058dab4d1b84aa2869bb9fc3995a1c08789c20355bee943833c",
        size=1_121_681,
        num_params=272_419,
        training_data="DF2K (DIV2K + Flickr2K)",
        licence=_NO_LICENCE,
        published=_scores("standard", 4, Set5=(32.13, 0.8948), Set14=(28.61, 0.7822), B100=(27.59, 0.7363)),
        measured=_scores(
            "standard",
            4,
            Set5=(32.1311, 0.8948),
            Set14=(28.6107, 0.7822),
            B100=(27.5977, 0.7365),
            Urban100=(26.1097, 0.7855),
        ),
        bf16_cost={"Set5": 0.0005, "Set14": 0.0029, "B100": 0.0018, "Urban100": 0.0034},  # results/bf16_cost.json
    ),
    WeightRecord(
        name="imdn_x2.official",
        arch="imdn",
        scales=(2,),
        source="official",
        file="IMDN_x2.pth",
        url=f"{_IMDN}/IMDN_x2.pth",
        sha256="740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1",
        num_params=694_404,
        training_data="DIV2K",
        licence=_NO_LICENCE,
        published=_scores("standard", 2, Set5=(38.00, None)),
    ),
    WeightRecord(
        name="imdn_x3.official",
        arch="imdn",
        scales=(3,),
        source="official",
        file="IMDN_x3.pth",
        url=f"{_IMDN}/IMDN_x3.pth",
        sha256="11b1716a19bc16e5e353e1db798d476169338e631eb170c82d765559888cb028",
        num_params=703_059,
        training_data="DIV2K",
        licence=_NO_LICENCE,
        published=_scores("standard", 3, Set5=(34.36, None)),
    ),
    WeightRecord(
        name="imdn_x4.official",
        arch="imdn",
        scales=(4,),
        source="official",
        file="IMDN_x4.pth",
        url=f"{_IMDN}/IMDN_x4.pth",
        sha256="e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714",
        size=2_879_112,
        num_params=715_176,
        training_data="DIV2K",
        licence=_NO_LICENCE,
        published=_scores(
            "standard", 4, Set5=(32.21, 0.8948), Set14=(28.58, 0.7811), B100=(27.56, 0.7353), Urban100=(26.04, 0.7838)
        ),
        measured=_scores("standard", 4, Set5=(32.2096, 0.8948), Set14=(28.5820, 0.7811)),
        bf16_cost={"Set5": 0.0046, "Set14": 0.0049, "B100": 0.0028, "Urban100": 0.0062},  # results/bf16_cost.json
    ),
    WeightRecord(
        name="carn_m.official",
        arch="carn_m",
        scales=(2, 3, 4),  # one multi-scale file: the three upsamplers share the trunk
        source="official",
        file="carn_m.pth",
        url="https://github.com/nmhkahn/CARN-pytorch/raw/master/checkpoint/carn_m.pth",
        sha256="d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
        num_params=414_811,
        options={"groups": 4},
        training_data="DIV2K",
        licence="MIT (CARN-pytorch repository)",
        published=(
            Score("Set5", 2, 37.53, None),
            Score("Set5", 3, 33.99, None),
            Score("Set5", 4, 31.92, None),
        ),
    ),
)


def get_record(name: str) -> WeightRecord:
    """The record called ``name``; CheckpointError listing the known names if none is."""
    for record in RECORDS:
        if record.name == name:
            return record
    raise CheckpointError(f"no weights named {name!r}; known: {', '.join(r.name for r in RECORDS)}")


def records_for(arch: str) -> list[WeightRecord]:
    """Every record of architecture ``arch``."""
    return [r for r in RECORDS if r.arch == arch]


def find_record(arch: str, scale: int, source: Source) -> WeightRecord:
    """The ``source`` record for (arch, scale); CheckpointError naming what exists otherwise."""
    for record in records_for(arch):
        if record.source == source and scale in record.scales:
            return record
    have = [f"{r.name} (x{'/x'.join(map(str, r.scales))})" for r in records_for(arch)]
    what = "built-in" if source == "builtin" else source
    raise CheckpointError(
        f"no {what} weights for {arch} x{scale}; {arch} has {', '.join(have) if have else 'no weights at all'}"
    )


def record_for_sha256(digest: str) -> WeightRecord | None:
    return next((r for r in RECORDS if r.sha256 == digest), None)


def builtin_path(record: WeightRecord) -> Path:
    return BUILTIN_DIR / record.file


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_int8(record: WeightRecord | None) -> Path | None:
    """The int8 OpenVINO IR (.xml) shipped beside built-in weights, checked against the record's sha256s; None
    where the record ships none (or the files are missing or damaged: a warning, and int8 calibrates instead)."""
    if record is None or not record.int8_files:
        return None
    for name, digest in record.int8_files.items():
        path = BUILTIN_DIR / name
        if not path.is_file() or sha256_file(path) != digest:
            log.warning("shipped int8 model %s is missing or damaged (reinstall attnsr); calibrating instead", path)
            return None
    return BUILTIN_DIR / next(n for n in record.int8_files if n.endswith(".xml"))


def verify_builtin(record: WeightRecord) -> Path:
    """The built-in file of ``record``, after checking it exists and matches the record's sha256."""
    path = builtin_path(record)
    if not path.is_file():
        raise CheckpointError(f"built-in weights file {str(path)!r} is missing (reinstall attnsr)")
    digest = sha256_file(path)
    if digest != record.sha256:
        raise CheckpointError(
            f"built-in weights file {str(path)!r} is damaged: sha256 {digest[:16]}…, "
            f"record {record.sha256[:16]}… (reinstall attnsr)"
        )
    return path


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through :func:`attnsr.outputs.atomic_path` (replaces ``path`` only once complete)."""
    with atomic_path(path, overwrite=True) as tmp:
        torch.save(obj, tmp)


def save_weights(model: nn.Module, path: Path, *, record: dict | None = None) -> None:
    """Write ``model``'s weights as safetensors with its architecture and a record in the metadata."""
    from safetensors.torch import save

    arch = getattr(model, "arch", None)
    if arch is None:
        raise CheckpointError("model has no .arch (build it with attnsr.create_model to save it)")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "attnsr", "arch": json.dumps(arch), "record": json.dumps(record or {})}
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(save(state, metadata=meta))  # bytes into our file: save_file would make it 0600


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint file → (state_dict, info).

    ``info`` has ``format``: 'attnsr', 'attnsr-train' (a training checkpoint) or 'foreign', and for
    project files ``arch`` (name/scale/options) and ``record``.
    """
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"checkpoint {str(p)!r} is a folder; name the weights file in it")
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    if p.suffix == ".safetensors":
        return _read_safetensors(p)
    head = _head(p)
    other = _other_format(p, head)
    if other is not None:
        raise _unreadable(p, other)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types, with paragraphs of advice: one line of ours instead
        raise _unreadable(p, _why_torch_failed(head, exc)) from None
    if isinstance(obj, dict) and "model" in obj and "arch" in obj:  # our training checkpoint: EMA weights if kept
        weights = obj["ema"] if isinstance(obj.get("ema"), dict) else obj["model"]
        return weights, {"format": "attnsr-train", "arch": obj["arch"], "record": {"iteration": obj.get("iteration")}}
    for key in ("params_ema", "params", "state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"checkpoint {str(p)!r} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}, {"format": "foreign"}


def _read_safetensors(p: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception:  # safetensors raises several types for corrupt files
        raise _unreadable(p, "it is not a complete safetensors file (truncated or damaged)") from None
    info = {"format": meta.get("format", "foreign")}
    if "arch" in meta:
        info["arch"] = json.loads(meta["arch"])
        info["record"] = json.loads(meta.get("record", "{}"))
    return state, info


_WEIGHT_FORMATS = ".safetensors or PyTorch .pt/.pth checkpoints (an .onnx export runs in `attnsr upscale --weights`)"
_ZIP = b"PK\x03\x04"  # torch.save's default format is a zip archive
_PICKLE = b"\x80"  # the legacy format (and plain pickles) start with the pickle PROTO opcode


def _unreadable(p: Path, what: str) -> CheckpointError:
    return CheckpointError(f"cannot read checkpoint {str(p)!r}: {what}; weights files are {_WEIGHT_FORMATS}")


def _head(p: Path, n: int = 512) -> bytes:
    with open(p, "rb") as f:
        return f.read(n)


def _other_format(p: Path, head: bytes) -> str | None:
    """What ``p`` is when its first bytes (or, for ONNX, its suffix) say it is no PyTorch checkpoint."""
    if not head:
        return "it is empty"
    if head.startswith((_ZIP, _PICKLE)):
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<") and b"<net" in text:
        return "it is an OpenVINO IR model (.xml), not a weights file"
    if text.startswith(b"<"):
        return "it is an XML/HTML text file, not a weights file"
    if p.suffix.lower() == ".onnx":
        return "it is an ONNX model, not a weights file"
    if p.suffix.lower() == ".bin" and p.with_suffix(".xml").is_file():
        return "it is the weights half of an OpenVINO IR model, not a weights file"
    return "it is not a PyTorch checkpoint (neither a zip archive nor a pickle)"


def _why_torch_failed(head: bytes, exc: Exception) -> str:
    """One line for torch.load's failure on a file that starts like a checkpoint."""
    text = str(exc)
    unsupported = re.search(r"Unsupported global: GLOBAL ([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)", text)
    # A zip checkpoint's pickle is whole once read; a legacy file cut short can end inside a name.
    if unsupported and (head.startswith(_ZIP) or _names_an_object(unsupported.group(1)) is not False):
        return f"it holds Python objects besides tensors ({unsupported.group(1)}), which attnsr does not unpickle"
    if head.startswith(_ZIP) and ("not in a subdirectory" in text or "data.pkl" in text):
        return "it is a zip archive but not a PyTorch checkpoint"
    return "it is a truncated or damaged PyTorch checkpoint"


def _names_an_object(name: str) -> bool | None:
    """Whether dotted ``name`` is an object of a module already imported; None when its module is not
    imported (nothing is imported here: the name comes from an untrusted file)."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        obj = sys.modules.get(".".join(parts[:i]))
        if obj is not None:
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
                if obj is None:
                    return False
            return not isinstance(obj, ModuleType)  # a pickle's globals are classes or functions
    return None


def scale_in_name(path: str | Path) -> int | None:
    """A scale written in a file name (``_x3``, ``PANx4``): used only to refuse contradictions, never to decide."""
    m = re.search(r"x([234])(?!\d)", Path(path).stem.lower())
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Detected:
    """What a foreign state dict's keys and shapes say: architecture, the scales it can serve, options."""

    arch: str
    scales: tuple[int, ...]
    options: dict


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def _nearest_upsampler_scales(state: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    # A2N and PAN upsample by nearest interpolation: ×4 has a second stage (upconv2); ×2 and ×3 have the
    # same shapes, so only a record's sha256 or the user can tell them apart.
    return (4,) if "upconv2.weight" in state else (2, 3)


def _detect_a2n(state: Mapping[str, torch.Tensor]) -> Detected | None:
    if "AAB_trunk.0.ADM.0.weight" not in state or "AAB_trunk.0.attention.k1.weight" not in state:
        return None
    non_att = state.get("AAB_trunk.0.non_attention.weight")
    arch = "a2n_m" if non_att is not None and non_att.shape[-1] == 1 else "a2n"
    options = {
        "num_feats": state["conv_first.weight"].shape[0],
        "num_blocks": _count(state, r"AAB_trunk\.(\d+)\."),
        "input_range": 255.0,  # the official A2N code works on 0–255 pixels
    }
    return Detected(arch, _nearest_upsampler_scales(state), options)


def _detect_pan(state: Mapping[str, torch.Tensor]) -> Detected | None:
    if "SCPA_trunk.0.conv1_a.weight" not in state or "upconv1.weight" not in state:
        return None
    options = {"num_feats": state["conv_first.weight"].shape[0], "num_blocks": _count(state, r"SCPA_trunk\.(\d+)\.")}
    return Detected("pan", _nearest_upsampler_scales(state), options)


def _detect_imdn(state: Mapping[str, torch.Tensor]) -> Detected | None:
    if "IMDB1.c1.weight" not in state or "upsampler.0.weight" not in state:
        return None
    out = state["upsampler.0.weight"].shape[0]  # 3·s² channels before PixelShuffle(s)
    scale = math.isqrt(out // 3)
    if 3 * scale * scale != out:
        return None
    options = {"num_feats": state["fea_conv.weight"].shape[0], "num_blocks": _count(state, r"IMDB(\d+)\.")}
    return Detected("imdn", (scale,), options)


def _detect_carn(state: Mapping[str, torch.Tensor]) -> Detected | None:
    if "entry.weight" not in state or "b1.b1.body.0.weight" not in state:
        return None
    feats = state["entry.weight"].shape[0]
    options: dict = {"num_feats": feats, "num_blocks": _count(state, r"b(\d+)\.b1\.")}
    arch = "carn" if "b1.b2.body.0.weight" in state else "carn_m"
    if arch == "carn_m":
        options["groups"] = feats // state["b1.b1.body.0.weight"].shape[1]
    if "upsample.up2.body.0.weight" in state:
        return Detected(arch, (2, 3, 4), options)
    first = state.get("upsample.up.body.0.weight")
    if first is None:
        return None
    scale = 4 if "upsample.up.body.3.weight" in state else (3 if first.shape[0] == 9 * feats else 2)
    return Detected(arch, (scale,), {**options, "multi_scale": False})


_DETECTORS = (_detect_a2n, _detect_pan, _detect_imdn, _detect_carn)


def detect_architecture(state: Mapping[str, torch.Tensor]) -> Detected | None:
    """Recognise a foreign state dict from its keys and shapes; None when no known layout matches."""
    for detect in _DETECTORS:
        found = detect(state)
        if found is not None:
            return found
    return None


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
