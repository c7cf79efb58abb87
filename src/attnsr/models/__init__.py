"""Architectures, one file each. Importing this package registers every builder (explicitly)."""

from . import a2n, a2n_analysis, pan  # noqa: F401

__all__ = ["a2n", "a2n_analysis", "pan"]
