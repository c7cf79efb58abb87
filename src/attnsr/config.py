"""Training configuration: typed dataclasses; YAML files hold overrides only.

``load_config(path, overrides)`` starts from the defaults, applies the YAML file's keys and then
``key=value`` overrides (dotted keys, e.g. ``data.patch_size=48``), checking every key, the type
of every value, every enumerated value and every count (:func:`validate_config`). The resolved config
is written next to the run's outputs.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .devices import DEVICE_PATTERN
from .errors import ConfigError
from .precision import PRECISIONS

SCHEDULES = ("step", "cosine", "constant")
LOSSES = ("l1", "l2")  # pixel losses (attnsr.train.LOSS_FUNCTIONS); l2 = mean squared error, what PSNR measures


@dataclass
class ModelConfig:
    name: str = "a2n"
    scale: int = 4
    options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # path to a checkpoint whose matching tensors initialise the model


@dataclass
class DataConfig:
    train_dirs: list[str] = field(default_factory=lambda: ["${shared}/data/T91/HR", "${shared}/data/BSD200/HR"])
    lr_dirs: list[str] | None = None  # paired LR folders (same file names); None: LR made by imresize
    val_dir: str | None = "${shared}/data/Set5/HR"
    patch_size: int = 48  # LR patch side
    batch_size: int = 16
    augment: bool = True  # flips and 90-degree rotations
    five_crop: bool = False  # BAM: 4 corners + centre at half size
    cache_dir: str | None = "${cache}/lr"  # the one LR cache (attnsr.data.lr_cache); null: no cache


@dataclass
class OptimConfig:
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "step"  # one of SCHEDULES
    step_size: int = 200_000
    gamma: float = 0.5
    min_lr: float = 1e-7
    warmup: int = 0
    grad_clip: float | None = None
    ema: float | None = None  # decay, e.g. 0.999
    loss: str = "l1"  # one of LOSSES; an l2 fine-tune at the end of an l1 run is a common last step


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    iterations: int = 1000
    seed: int = 0
    precision: str = "auto"  # one of attnsr.precision.PRECISIONS
    channels_last: bool = True
    compile: bool | str = "auto"  # true | false | auto (attnsr.train.resolve_compile: eager so far)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None
    val_every: int = 1000
    ckpt_every: int = 500
    log_every: int = 50
    out_dir: str = "runs/default"
    tensorboard: bool = True


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"config key {key!r} must be one of {', '.join(choices)}, not {value!r}")


def _check_at_least(key: str, value: float | None, least: float, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or value < least:
        raise ConfigError(f"config key {key!r} must be at least {least}, not {value!r}")


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check every enumerated value and every count of ``cfg`` (one-line ConfigError), so a bad value
    stops a run before its data is loaded or its process group started."""
    _check_choice("optim.schedule", cfg.optim.schedule, SCHEDULES)
    _check_choice("optim.loss", cfg.optim.loss, LOSSES)
    _check_choice("precision", cfg.precision, PRECISIONS)
    if cfg.compile not in (True, False, "auto"):
        raise ConfigError(f"config key 'compile' must be true, false or auto, not {cfg.compile!r}")
    if DEVICE_PATTERN.fullmatch(cfg.device) is None:
        raise ConfigError(f"config key 'device' must be auto, cpu, cuda or cuda:N, not {cfg.device!r}")
    for key in ("iterations", "ckpt_every", "log_every", "data.patch_size", "data.batch_size", "optim.step_size"):
        _check_at_least(key, _get(cfg, key), 1)
    for key in ("val_every", "optim.warmup", "optim.weight_decay", "optim.min_lr"):
        _check_at_least(key, _get(cfg, key), 0)
    _check_at_least("threads", cfg.threads, 1, optional=True)
    _check_at_least("model.scale", cfg.model.scale, 1)
    if not cfg.optim.lr > 0 or not cfg.optim.gamma > 0:
        raise ConfigError(f"optim.lr and optim.gamma must be positive, not {cfg.optim.lr!r} and {cfg.optim.gamma!r}")
    for key in ("optim.lr", "optim.gamma", "optim.min_lr", "optim.weight_decay", "optim.grad_clip", "optim.ema"):
        value = _get(cfg, key)
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"config key {key!r} must be a finite number, not {value!r}")
    if not 0 <= cfg.seed <= 2**32 - 1:
        raise ConfigError(f"config key 'seed' must be an integer in [0, 2**32 - 1], not {cfg.seed!r}")
    if not all(math.isfinite(b) and 0 <= b < 1 for b in cfg.optim.betas):
        raise ConfigError(f"config key 'optim.betas' must be two numbers in [0, 1), not {list(cfg.optim.betas)!r}")
    if cfg.optim.grad_clip is not None and not cfg.optim.grad_clip > 0:
        raise ConfigError(f"config key 'optim.grad_clip' must be positive or null, not {cfg.optim.grad_clip!r}")
    if cfg.optim.ema is not None and not 0 < cfg.optim.ema < 1:
        raise ConfigError(f"config key 'optim.ema' must be a decay in (0, 1) or null, not {cfg.optim.ema!r}")
    if not cfg.data.train_dirs:
        raise ConfigError("config key 'data.train_dirs' must name at least one folder")
    return cfg


def _get(cfg: TrainConfig, key: str) -> Any:
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _check_type(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(key, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is list:
        if isinstance(value, str):  # --set data.train_dirs=a,b: a list without brackets the shell would glob
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_check_type(key, v, item) for v in value]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(typing.get_args(tp)):
            raise ConfigError(f"config key {key!r} expects {len(typing.get_args(tp))} values, got {value!r}")
        return tuple(_check_type(key, v, t) for v, t in zip(value, typing.get_args(tp)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a mapping, got {value!r}")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"config key {key!r} expects true/false, got {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"config key {key!r} expects {tp.__name__}, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"config key {key!r} expects {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _apply(obj: Any, key: str, value: Any, prefix: str = "") -> None:
    head, _, rest = key.partition(".")
    hints = typing.get_type_hints(type(obj))
    if head not in hints:
        valid = ", ".join(f.name for f in dataclasses.fields(obj))
        raise ConfigError(f"unknown config key {prefix + head!r}; valid keys here: {valid}")
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current):
        if rest:
            _apply(current, rest, value, prefix + head + ".")
            return
        if not isinstance(value, dict):
            raise ConfigError(f"config key {prefix + head!r} expects a mapping, got {value!r}")
        for k, v in value.items():
            _apply(current, str(k), v, prefix + head + ".")
        return
    if rest:
        if isinstance(current, dict):
            current = dict(current)
            current[rest] = value
            setattr(obj, head, current)
            return
        raise ConfigError(f"unknown config key {prefix + key!r}")
    setattr(obj, head, _check_type(prefix + head, value, hints[head]))


def parse_override(text: str, *, what: str = "override") -> tuple[str, Any]:
    """``key=value`` with the value parsed as YAML (so 1e-4, true, [a, b] work): the one parser of every
    ``--set`` and ``--option``."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{what} {text!r} is not of the form key=value")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"{what} {text!r}: value is not valid YAML") from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    layers: Sequence[Mapping[str, Any]] = (),
) -> TrainConfig:
    """Defaults ← YAML file ← ``layers`` (mappings of dotted keys to values, in order, e.g. a study's
    budget and cell) ← ``key=value`` overrides, each key and value type-checked."""
    cfg = TrainConfig()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {str(p)!r} must hold a mapping of overrides")
        for k, v in data.items():
            _apply(cfg, str(k), v)
    for layer in layers:
        for k, v in layer.items():
            _apply(cfg, str(k), v)
    for text in overrides or []:
        _apply(cfg, *parse_override(text))
    return validate_config(cfg)


def config_to_dict(cfg: TrainConfig) -> dict:
    d = dataclasses.asdict(cfg)
    d["optim"]["betas"] = list(d["optim"]["betas"])
    return d


def save_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
