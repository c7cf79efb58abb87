"""Architectures, one file each. Importing this package registers every builder (explicitly)."""

from . import (
    a2n,  # noqa: F401
    a2n_analysis,  # noqa: F401
    awsrn,  # noqa: F401
    carn,  # noqa: F401
    drln,  # noqa: F401
    edsr,  # noqa: F401
    imdn,  # noqa: F401
    msrn,  # noqa: F401
    pan,  # noqa: F401
    rcan,  # noqa: F401
    slwsr,  # noqa: F401
)
