"""The model factory: a name, a scale and a weights spec → a ready model (the one loader of every command).

It sits above both the registry (names and builders) and ``_pretrained``/``_hub`` (records and files),
as timm's ``_factory`` does, so neither lower layer imports it. Weights specs: ``None``/``False`` (fresh
initialisation), ``True`` or ``"builtin"`` (the project's own weights, sha256-checked), ``"official"``
(the authors' checkpoint, downloaded once into the cache and sha256-checked), or a path to a checkpoint.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

from torch import nn

from . import models  # noqa: F401  (importing the package registers every builder)
from ._hub import fetch
from ._pretrained import (
    Detected,
    WeightRecord,
    detect_architecture,
    find_record,
    load_into,
    read_checkpoint,
    record_for_sha256,
    scale_in_name,
    sha256_file,
    verify_builtin,
)
from .errors import CheckpointError, ModelError
from .registry import get_entry, list_models  # noqa: F401  (public through attnsr.list_models)

log = logging.getLogger(__name__)

__all__ = ["WEIGHT_SOURCES", "WeightsSpec", "build_from_checkpoint", "create_model", "is_weights_path", "load_model"]

WeightsSpec = bool | str | Path | None
WEIGHT_SOURCES = ("builtin", "official")


def is_weights_path(weights: WeightsSpec) -> bool:
    """True when ``weights`` names a checkpoint file rather than a source (None/True/False/builtin/official)."""
    return isinstance(weights, Path) or (isinstance(weights, str) and weights not in WEIGHT_SOURCES)


COUNT_OPTIONS = {"num_feats", "num_blocks", "num_groups", "num_modules", "reduction"}
# Option names that files written before the pixel range had one name (``input_range``) may record.
RENAMED_OPTIONS = {"img_range": "input_range", "rgb_range": "input_range"}


def _build(name: str, scale: int, options: dict) -> nn.Module:
    entry = get_entry(name)
    if scale not in entry.scales:
        raise ModelError(f"{name} supports scales {entry.scales}, not {scale}")
    params = inspect.signature(entry.builder).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(p for p in params if p != "scale")
        raise ModelError(f"{name} has no option {', '.join(map(repr, unknown))}; valid options: {valid}")
    for key in COUNT_OPTIONS & set(options):  # the shared vocabulary of sizes: a count of at least one
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{name} option {key!r} must be an integer of at least 1, not {value!r}")
    model = entry.builder(scale=scale, **options)
    model.arch = {"name": name, "scale": scale, "options": dict(options)}
    return model


def create_model(name: str, *, scale: int = 4, pretrained: WeightsSpec = False, **options) -> nn.Module:
    """Build a registered model, with weights when asked.

    Args:
        name: registry name (see :func:`attnsr.list_models`).
        scale: upscaling factor.
        pretrained: ``False``/``None`` (fresh), ``True``/``"builtin"`` (built-in weights), ``"official"``
            (the authors' checkpoint, downloaded into the cache) or a checkpoint path.
        **options: the builder's typed keyword options (e.g. ``attention=``); unknown options raise
            ModelError listing the valid ones. With a record, its options come first.
    """
    if is_weights_path(pretrained):
        return build_from_checkpoint(pretrained, name=name, scale=scale, options=options)
    if not pretrained:
        return _build(name, scale, options)
    get_entry(name)  # an unknown name is a ModelError before any record lookup
    record = find_record(name, scale, "builtin" if pretrained in (True, "builtin") else "official")
    path = verify_builtin(record) if record.source == "builtin" else fetch(record)
    return _load_record(record, path, scale=scale, options=options)


def _load_record(record: WeightRecord, path: Path, *, scale: int, options: dict) -> nn.Module:
    model = _build(record.arch, scale, {**record.options, **options})
    state, info = read_checkpoint(path)
    load_into(model, _for_scale(state, model), source=str(path))
    model.record = info.get("record") or {"weights": record.name}
    model.weight_record = record
    return model


def _for_scale(state: dict, model: nn.Module) -> dict:
    """A multi-scale file (CARN's up2/up3/up4) into a single-scale model keeps only its scale's upsampler."""
    own = model.state_dict()
    if "upsample.up.body.0.weight" in own and "upsample.up2.body.0.weight" in state:
        prefix = f"upsample.up{model.arch['scale']}."
        kept = {k: v for k, v in state.items() if not k.startswith("upsample.up") or k.startswith(prefix)}
        return {k.replace(prefix, "upsample.up."): v for k, v in kept.items()}
    return state


def build_from_checkpoint(
    path: str | Path, *, name: str | None = None, scale: int | None = None, options: dict | None = None
) -> nn.Module:
    """Build the model a checkpoint belongs to and load it.

    Project files rebuild themselves (``name``/``scale`` if given must agree). Foreign files are
    recognised by their sha256 (a record's) or their keys and shapes; ``name``/``scale`` fill in what
    those cannot decide and must not contradict them, nor a scale written in the file name.
    """
    state, info = read_checkpoint(path)
    arch = info.get("arch")
    if arch is not None:
        if name is not None and name != arch["name"]:
            raise CheckpointError(f"checkpoint {str(path)!r} is a {arch['name']} model, not {name}")
        if scale is not None and scale != arch["scale"]:
            raise CheckpointError(f"checkpoint {str(path)!r} is for scale x{arch['scale']}, not x{scale}")
        stored = {RENAMED_OPTIONS.get(k, k): v for k, v in arch.get("options", {}).items()}
        model = _build(arch["name"], arch["scale"], {**stored, **(options or {})})
        record = info.get("record", {})
    else:
        record_hit = record_for_sha256(sha256_file(Path(path)))
        arch_name, scale, found = _identify_foreign(path, state, record_hit, name=name, scale=scale)
        model = _build(arch_name, scale, {**found, **(options or {})})
        state = _for_scale(state, model)
        record = {"weights": record_hit.name} if record_hit else {}
    load_into(model, state, source=str(path))
    model.record = record
    model.weight_record = record_for_sha256(sha256_file(Path(path))) if arch is not None else record_hit
    return model


def _identify_foreign(
    path: str | Path, state: dict, record: WeightRecord | None, *, name: str | None, scale: int | None
) -> tuple[str, int, dict]:
    """(architecture, scale, options) of a foreign checkpoint: record > keys and shapes > the caller."""
    where = f"checkpoint {str(path)!r}"
    found = (
        Detected(record.arch, record.scales, dict(record.options)) if record is not None else detect_architecture(state)
    )
    how = f"its sha256 is {record.name}'s" if record is not None else "from its keys and shapes"
    hint = scale_in_name(path)
    if found is None:
        if name is None or scale is None:
            raise CheckpointError(f"{where} has a layout attnsr does not recognise; name its model and scale")
        if hint is not None and hint != scale:
            raise CheckpointError(f"{where} is named for scale x{hint}, not x{scale}")
        return name, scale, {}
    scales = "/".join(f"x{s}" for s in found.scales)
    if name is not None and name != found.arch:
        raise CheckpointError(f"{where} holds {found.arch} weights ({how}), not {name}")
    if hint is not None and hint not in found.scales:
        raise CheckpointError(f"{where} is named for scale x{hint} but holds {found.arch} {scales} weights ({how})")
    if scale is not None and scale not in found.scales:
        raise CheckpointError(f"{where} holds {found.arch} {scales} weights ({how}), not x{scale}")
    if scale is None:
        if len(found.scales) > 1:
            raise CheckpointError(f"{where} holds {found.arch} {scales} weights and cannot tell which; give the scale")
        scale = found.scales[0]
    if hint is not None and hint != scale:
        raise CheckpointError(f"{where} is named for scale x{hint}, not x{scale}")
    log.info("%s: %s x%d (%s)", where, found.arch, scale, how)
    return found.arch, scale, found.options


def load_model(
    name: str | None = None, *, scale: int | None = None, weights: WeightsSpec = True, options: dict | None = None
) -> nn.Module:
    """The one loader of every command: a checkpoint path rebuilds itself (``name``/``scale`` only check
    or complete it); any other spec needs ``name`` and ``scale`` and goes through :func:`create_model`."""
    if is_weights_path(weights):
        return build_from_checkpoint(weights, name=name, scale=scale, options=options)
    if name is None or scale is None:
        raise ModelError("name the model and its scale (or give a checkpoint that records them)")
    return create_model(name, scale=scale, pretrained=weights, **(options or {}))
