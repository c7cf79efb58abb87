"""Architectures, one file each. Importing this package registers every builder (explicitly)."""

from . import a2n  # noqa: F401
from . import a2n_analysis  # noqa: F401
from . import pan  # noqa: F401
from . import carn  # noqa: F401
from . import awsrn  # noqa: F401
from . import imdn  # noqa: F401
from . import edsr  # noqa: F401
from . import rcan  # noqa: F401
from . import drln  # noqa: F401
from . import msrn  # noqa: F401
from . import slwsr  # noqa: F401
