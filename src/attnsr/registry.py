"""The explicit model registry: names and builders only (the lowest layer, as timm's ``_registry``).

Builders register themselves with :func:`register_model` when their module is imported by
``attnsr.models`` (explicit imports, no discovery by file name); ``attnsr._factory`` imports that
package, so the registry is full whenever ``attnsr`` is imported. A duplicate name raises at import
time; an unknown name raises :class:`~attnsr.errors.ModelError` suggesting close matches. Building a
model and loading its weights is the factory's job (``attnsr.create_model``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .errors import ModelError

__all__ = ["ModelEntry", "get_entry", "list_models", "register_model"]


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


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ModelError with close matches if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {name!r}.{hint} Valid models: {', '.join(sorted(_REGISTRY))}") from None
