"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.

The public names are imported on first use (PEP 562), so ``import attnsr.cli.main`` can guard Ctrl-C
before torch is imported.
"""

import importlib

from .errors import AttnsrError

_LAZY = {"create_model": ".registry", "list_models": ".registry"}

__all__ = ["AttnsrError", "create_model", "list_models"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'attnsr' has no attribute {name!r}")
