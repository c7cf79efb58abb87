"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.
``attnsr.upscale(image, scale=4)`` and ``attnsr.Upscaler(...)`` take and give PIL images, numpy arrays or
tensors (the same kind out as in).
"""

from .errors import AttnsrError
from .registry import create_model, list_models
from .upscaler import Upscaler, upscale

__all__ = ["AttnsrError", "Upscaler", "create_model", "list_models", "upscale"]
__version__ = "0.1.0"
