"""Architectures, one file each. Importing this package registers every builder (explicitly)."""

from . import a2n  # noqa: F401
from . import a2n_analysis  # noqa: F401
from . import pan  # noqa: F401
