"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.
``attnsr.upscale(image, scale=4)`` and ``attnsr.Upscaler(...)`` take and give PIL images, numpy arrays or
tensors (the same kind out as in).

The public names are imported on first use (PEP 562), so ``import attnsr.cli.main`` can guard Ctrl-C
before torch is imported.
"""

import importlib

from .errors import AttnsrError

_LAZY = {
    "build_from_checkpoint": "._factory",
    "create_model": "._factory",
    "RECORDS": "._pretrained",
    "WeightRecord": "._pretrained",
    "atomic_save": "._pretrained",
    "read_checkpoint": "._pretrained",
    "save_weights": "._pretrained",
    "list_models": "._factory",  # the factory imports the models, which fills the registry
    "Upscaler": ".upscaler",
    "upscale": ".upscaler",
}

__all__ = [
    "RECORDS",
    "AttnsrError",
    "Upscaler",
    "WeightRecord",
    "atomic_save",
    "build_from_checkpoint",
    "create_model",
    "list_models",
    "read_checkpoint",
    "save_weights",
    "upscale",
]
__version__ = "0.1.0"


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'attnsr' has no attribute {name!r}")
