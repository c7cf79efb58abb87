"""The explicit model registry.

Builders register themselves with :func:`register_model` when their module is imported by
``attnsr.models`` (explicit imports, no discovery by file name). A duplicate name raises at import
time; an unknown name raises :class:`~attnsr.errors.ModelError` suggesting close matches.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .errors import ModelError

__all__ = ["ModelEntry", "create_model", "get_entry", "list_models", "register_model"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder and what the CLI and tests need to know about it."""

    name: str
    builder: Callable[..., nn.Module]
    scales: tuple[int, ...]
    default_attention: str | None
    paper: str
    # Options that the registry-wide tests use to build a reduced-depth copy of a deep model.
    test_options: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    *,
    scales: tuple[int, ...] = (2, 3, 4),
    default_attention: str | None = None,
    paper: str = "",
    test_options: dict | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a builder under its function name."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = fn.__name__
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, fn, scales, default_attention, paper, dict(test_options or {}))
        return fn

    return wrap


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (explicit imports inside register every builder)


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ModelError with close matches if unknown."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {name!r}.{hint} Valid models: {', '.join(sorted(_REGISTRY))}") from None


def create_model(name: str, *, scale: int = 4, pretrained: bool = False, **options) -> nn.Module:
    """Build a registered model.

    Args:
        name: registry name (see :func:`list_models`).
        scale: upscaling factor.
        pretrained: load the project's built-in default weights for (name, scale).
        **options: the builder's typed keyword options (e.g. ``attention=``, ``fusion=``); unknown
            options raise ModelError listing the valid ones.
    """
    entry = get_entry(name)
    if scale not in entry.scales:
        raise ModelError(f"{name} supports scales {entry.scales}, not {scale}")
    params = inspect.signature(entry.builder).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        valid = ", ".join(p for p in params if p != "scale")
        raise ModelError(f"{name} has no option {', '.join(map(repr, unknown))}; valid options: {valid}")
    model = entry.builder(scale=scale, **options)
    model.arch = {"name": name, "scale": scale, "options": dict(options)}
    if pretrained:
        from .weights import load_pretrained

        load_pretrained(model, name=name, scale=scale)
    return model
