"""Project-wide settings read from the environment (one place), each checked where it is read.

``ATTNSR_SHARED``: the read-only folder with benchmark data and official checkpoints; default
``../shared`` relative to the working directory, then beside the checkout when attnsr runs from one
(``<checkout>/src/attnsr``; an installed package guesses nothing inside site-packages).
When set it must be an existing folder.
``ATTNSR_CACHE``: the project's cache folder (downloaded weights, LR images made on the fly); default the
user's cache folder (``$XDG_CACHE_HOME/attnsr``, else ``~/.cache/attnsr``). When set it must be a folder,
or a path where one can be created, that this user can write.
``ATTNSR_MIRROR``: a base URL that replaces ``https://github.com`` in every weight URL (mirrors, tests);
an ``http(s)://host[:port][/path]`` URL.

An empty variable counts as unset. A bad value is a :class:`~attnsr.errors.ConfigError` naming the
variable, raised by the function that reads it, so nothing is created or fetched from a bad setting.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from .errors import ConfigError

GITHUB = "https://github.com"
MIRROR_FORM = "an http(s)://host[:port][/path] URL"


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _checkout_root() -> Path | None:
    """The checkout attnsr runs from (``<root>/src/attnsr`` beside ``<root>/pyproject.toml``), or None when
    it is installed (site-packages, where a parent folder says nothing about the project's data)."""
    package = Path(__file__).resolve().parent
    root = package.parents[1]
    return root if package.parent.name == "src" and (root / "pyproject.toml").is_file() else None


def shared_root() -> Path:
    """The ``shared`` folder: ``$ATTNSR_SHARED`` (an existing folder), else the first existing ``../shared``
    relative to the working directory or, when attnsr runs from a checkout, beside the checkout. When
    none exists: the checkout's, or the working directory's when installed (its users report it missing)."""
    env = _env("ATTNSR_SHARED")
    if env:
        return _existing_folder("ATTNSR_SHARED", env)
    checkout = _checkout_root()
    bases = [Path.cwd(), *([checkout] if checkout else [])]
    for base in bases:
        candidate = (base / ".." / "shared").resolve()
        if candidate.is_dir():
            return candidate
    return (bases[-1] / ".." / "shared").resolve()


def cache_root() -> Path:
    """The cache folder: ``$ATTNSR_CACHE`` (checked usable), else ``$XDG_CACHE_HOME/attnsr``, else
    ``~/.cache/attnsr``. Nothing is created here; writers create what they need below it."""
    env = _env("ATTNSR_CACHE")
    if env:
        return _writable_folder("ATTNSR_CACHE", env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "attnsr"


def github_base() -> str:
    """Where GitHub URLs are fetched from: ``$ATTNSR_MIRROR`` (checked, no trailing slash) or ``https://github.com``."""
    env = _env("ATTNSR_MIRROR")
    return _check_mirror(env, name="ATTNSR_MIRROR") if env else GITHUB


def expand(path: str) -> Path:
    """Expand ``${shared}``, ``${cache}`` and ``~`` in a configured path (a setting is read only when used)."""
    if "${shared}" in path:
        path = path.replace("${shared}", str(shared_root()))
    if "${cache}" in path:
        path = path.replace("${cache}", str(cache_root()))
    return Path(path).expanduser()


def _check_mirror(value: str, *, name: str) -> str:
    """``value`` without its trailing slash if it is an ``http(s)://host[:port][/path]`` URL, else a
    ConfigError naming ``name`` and the accepted form."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{name}={value!r} is not {MIRROR_FORM} ({why})")

    if any(c.isspace() or not c.isprintable() for c in value):
        raise bad("it contains spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise bad(f"its scheme is {parts.scheme!r}" if parts.scheme else "it has no http:// or https://")
    if not parts.hostname:
        raise bad("it has no host")
    if parts.username is not None or parts.password is not None:
        raise bad("it holds a user name or password")
    if port == 0:
        raise bad("port 0")
    if parts.query or parts.fragment:
        raise bad("it has a ?query or #fragment")
    return value.rstrip("/")


def _existing_folder(name: str, value: str) -> Path:
    path = Path(value).expanduser()
    try:
        if path.is_dir():
            return path.resolve()
        why = "it is a file" if path.exists() else "it does not exist"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    raise ConfigError(f"{name}={value!r} is not an existing folder ({why})")


def _writable_folder(name: str, value: str) -> Path:
    """``value`` as a path, if it is a writable folder or can be created as one (the nearest existing
    parent is a writable folder); else a ConfigError naming ``name``."""
    path = Path(value).expanduser()
    try:
        probe = path
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if probe == path and not path.is_dir():
            why = "it is a file"
        elif not probe.is_dir():
            why = f"{str(probe)!r} is a file"
        elif not os.access(probe, os.W_OK | os.X_OK):
            why = f"{str(probe)!r} is not writable"
        else:
            return path
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    raise ConfigError(f"{name}={value!r} is not a usable cache folder ({why})")
