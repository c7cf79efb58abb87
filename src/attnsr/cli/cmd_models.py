"""``attnsr models``: every registered model, its parameters per scale, default attention and weights."""

from __future__ import annotations

import argparse

from .._factory import create_model
from .._pretrained import records_for
from ..registry import get_entry, list_models
from .render import table

SCALES = (2, 3, 4)
SOURCE_LABEL = {"builtin": "built-in", "official": "official"}


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the registered models and which weights exist for them")
    p.set_defaults(run=run)


def count(name: str, scale: int) -> int:
    return sum(t.numel() for t in create_model(name, scale=scale).parameters())


def weights_cell(name: str, scale: int) -> str:
    """Which weights exist for (name, scale): 'built-in', 'official', both, or '-'."""
    sources = sorted({r.source for r in records_for(name) if scale in r.scales})
    return "+".join(SOURCE_LABEL[s] for s in sources) or "-"


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in list_models():
        e = get_entry(name)
        params = [f"{count(name, s):,}" if s in e.scales else "-" for s in SCALES]
        weights = [weights_cell(name, s) if s in e.scales else "-" for s in SCALES]
        rows.append([name, *params, e.default_attention or "-", *weights])
    headers = ["model", *(f"x{s}" for s in SCALES), "attention", *(f"weights x{s}" for s in SCALES)]
    print(table(headers, rows))
    print("weights: `attnsr weights list`; load with --weights builtin|official|PATH")
    return 0
