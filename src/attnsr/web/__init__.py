"""``attnsr serve``'s local web page: upscale with a before/after slider, and look inside the network (LAM at
a clicked pixel, attention heat maps per block).

Gradio is the optional extra ``web``: it is imported only when a page is built, through
:func:`require_gradio`, so every other command runs without it. The page's work is :mod:`.pages` (library
calls only); its Gradio layout is :mod:`.app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AttnsrError
from .pages import DEFAULT_MAX_PIXELS, Catalog

if TYPE_CHECKING:
    import gradio

WEB_EXTRA = 'pip install "attnsr[web]"'
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 50


def require_gradio() -> None:
    """Raise an :class:`AttnsrError` naming the extra to install when Gradio is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError as exc:
        if exc.name not in ("gradio", "gradio_client"):  # installed but broken: keep the cause
            raise
        raise AttnsrError(f"the web page needs Gradio: {WEB_EXTRA}") from None


def build_app(*, checkpoints: list[str | Path] = (), max_pixels: int = DEFAULT_MAX_PIXELS) -> gradio.Blocks:
    """The page for the built-in and official weights and the ``checkpoints`` given (each loaded here once)."""
    require_gradio()
    from .app import build_app as build

    return build(Catalog(checkpoints), max_pixels=max_pixels)


def launch(
    app: gradio.Blocks,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
) -> str:
    """Serve ``app`` on ``host:port`` in background threads; returns the page's URL. ``app.close()`` stops it."""
    from .app import launch as start

    return start(app, host=host, port=port, max_upload_bytes=max_upload_mb * 1024 * 1024)
