"""``attnsr cache info | clear [--kind KIND]``: the one cache folder, its size and entries per kind."""

from __future__ import annotations

import argparse

from ..cache import KINDS, cache_info, clear_cache
from ..settings import cache_root
from .render import table


def add_parser(sub) -> None:
    p = sub.add_parser("cache", help="the cache folder: size and entries per kind, or clear it")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("info", help="the cache folder, and the size and entry count of each kind")
    a.set_defaults(run=run_info)
    a = actions.add_parser("clear", help="delete cached files of one kind, or all (they are made again on use)")
    a.add_argument("--kind", choices=(*KINDS, "all"), default="all", help="what to delete (default: all)")
    a.set_defaults(run=run_clear)


def size_text(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def run_info(args: argparse.Namespace) -> int:
    rows = cache_info()
    print(f"cache folder: {cache_root()} (set ATTNSR_CACHE to move it)")
    lines = [[r.kind, size_text(r.size), r.entries] for r in rows]
    lines.append(["total", size_text(sum(r.size for r in rows)), sum(r.entries for r in rows)])
    print(table(["kind", "size", "entries"], lines))
    return 0


def run_clear(args: argparse.Namespace) -> int:
    removed = clear_cache(KINDS if args.kind == "all" else (args.kind,))
    for r in removed:
        print(f"{r.kind}: deleted {r.entries} entr{'y' if r.entries == 1 else 'ies'}, {size_text(r.size)} ({r.folder})")
    return 0
