"""``attnsr models``: every registered model with its parameters per scale and default attention."""

from __future__ import annotations

import argparse

from ..registry import create_model, get_entry, list_models
from .render import table


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(run=run)


def count(name: str, scale: int) -> int:
    return sum(t.numel() for t in create_model(name, scale=scale).parameters())


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in list_models():
        e = get_entry(name)
        rows.append(
            [
                name,
                *(f"{count(name, s):,}" if s in e.scales else "-" for s in (2, 3, 4)),
                e.default_attention or "-",
            ]
        )
    print(table(["model", "x2", "x3", "x4", "attention"], rows))
    return 0
