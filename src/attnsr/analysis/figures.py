"""The one way the analysis tools make and save a figure: an Agg canvas (no pyplot state, no display)
and a PNG (or SVG/PDF, by suffix) written atomically after ``tight_layout``, its folder created."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure on an Agg canvas (thread-safe, headless)."""
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
