"""attnsr — lightweight attention-based single-image super-resolution.

Image contract at every public boundary: float RGB in [0, 1], NCHW tensors.
"""

from ._factory import build_from_checkpoint, create_model
from ._pretrained import RECORDS, WeightRecord, atomic_save, read_checkpoint, save_weights
from .errors import AttnsrError
from .registry import list_models

__all__ = [
    "RECORDS",
    "AttnsrError",
    "WeightRecord",
    "atomic_save",
    "build_from_checkpoint",
    "create_model",
    "list_models",
    "read_checkpoint",
    "save_weights",
]
__version__ = "0.1.0"
