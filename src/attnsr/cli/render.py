"""Terminal rendering helpers (tables, Markdown, CSV, progress bars and their ``--no-progress``)."""

from __future__ import annotations

import argparse
import csv
import io


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress``, declared here for every subcommand that draws a progress bar (downloads included)."""
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def table(headers: list[str], rows: list[list]) -> str:
    """A plain aligned text table."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(out)


def to_csv(headers: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue()


class StepBar:
    """A training progress bar fed by ``attnsr.train``'s ``on_step`` (a :class:`attnsr.train.StepInfo`); it opens
    at the first step, at the iteration a resumed run starts from."""

    def __init__(self, *, disable: bool = False, desc: str | None = None) -> None:
        self.disable, self.desc, self.bar = disable, desc, None

    def __call__(self, info) -> None:
        if self.disable:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=info.total, initial=info.iteration - 1, unit="it", dynamic_ncols=True, desc=self.desc)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{info.loss:.4f}", lr=f"{info.lr:.2e}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
