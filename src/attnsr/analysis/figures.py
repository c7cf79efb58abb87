"""The one way the analysis tools make and save a figure: an Agg canvas (no pyplot state, no display)
and a PNG (or SVG/PDF, by suffix) written atomically after ``tight_layout``, its folder created.

matplotlib is the optional extra ``figures``: it is imported only when a figure is drawn, through
:func:`require_matplotlib`, so every other command runs without it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import AttnsrError
from ..outputs import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES_EXTRA = 'pip install "attnsr[figures]"'


def require_matplotlib() -> ModuleType:
    """The ``matplotlib`` package; an :class:`AttnsrError` naming the extra to install when it is missing.
    Every place that draws calls this before importing from matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        if exc.name != "matplotlib":  # installed but broken (a missing dependency of its own): keep the cause
            raise
        raise AttnsrError(f"drawing figures needs matplotlib: {FIGURES_EXTRA}") from None
    return matplotlib


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure on an Agg canvas (thread-safe, headless)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Lay out ``fig`` tightly and write it to ``path`` (parent folders created, an existing file replaced
    atomically: the command checked the overwrite rule before its work); returns the path."""
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return Path(path)
