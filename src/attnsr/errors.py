"""Exceptions whose message is a complete, one-line explanation for the user.

The CLI's one error boundary (:mod:`attnsr.cli.main`) prints :class:`AttnsrError` and ``OSError`` as
``error: <message>`` with exit status 2; anything else is a bug and keeps its traceback.
"""


class AttnsrError(Exception):
    """Base class: a user-facing failure with a one-line message."""


class ImageError(AttnsrError):
    """An image could not be read or written (corrupt, unsupported, too large, ...)."""


class ModelError(AttnsrError):
    """Unknown model or attention name, or invalid model options."""


class CheckpointError(AttnsrError):
    """A checkpoint is unreadable or does not match the requested model/scale."""


class DataError(AttnsrError):
    """A dataset folder is missing, empty or holds unusable files."""


class ConfigError(AttnsrError):
    """An unknown configuration key or a value of the wrong type."""


class RunExistsError(ConfigError):
    """A fresh training run was asked for in a folder that already holds one (the CLI adds how to resume)."""


class TrainingError(AttnsrError):
    """A run stopped: it diverged (a non-finite loss or weights) or its checkpoint could not be written."""


class DownloadError(CheckpointError):
    """Weights could not be fetched (no network, server error); says where to fetch them by hand."""

    def __init__(self, message: str, *, url: str, filename: str) -> None:
        super().__init__(message)
        self.url = url
        self.filename = filename


class OutputError(AttnsrError):
    """An output cannot be written: it exists (without overwrite), is a folder, has an unsupported suffix,
    or its folder is not writable."""


class OutputExistsError(OutputError):
    """An output exists and replacing it was not allowed (the CLI adds how to allow it)."""
