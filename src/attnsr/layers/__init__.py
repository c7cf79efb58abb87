"""Building blocks shared by the architectures."""

from .attention import ATTENTIONS, MaskTap, build_attention, list_attentions

__all__ = ["ATTENTIONS", "MaskTap", "build_attention", "list_attentions"]
