"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.
``attnsr.upscale(image, scale=4)`` and ``attnsr.Upscaler(...)`` take and give PIL images, numpy arrays or
tensors (the same kind out as in).
"""

from ._factory import build_from_checkpoint, create_model
from ._pretrained import RECORDS, WeightRecord, atomic_save, read_checkpoint, save_weights
from .errors import AttnsrError
from .registry import list_models
from .upscaler import Upscaler, upscale

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
