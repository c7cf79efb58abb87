"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.
"""

from .errors import AttnsrError
from .registry import create_model, list_models

__all__ = ["AttnsrError", "create_model", "list_models"]
__version__ = "0.1.0"
