"""``attnsr weights list | download NAME... | verify [NAME...] | path NAME``: the weight records and the cache."""

from __future__ import annotations

import argparse

from .._hub import local_path, resolve_url, verify
from .._pretrained import RECORDS, get_record
from ..errors import AttnsrError
from .model_args import fetch_with_bar
from .render import add_progress_argument, table


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="weight records: list, download into the cache, verify, path")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="every built-in and official weight record")
    a.set_defaults(run=run_list)
    a = actions.add_parser("download", help="fetch official weights into the cache (sha256-checked)")
    a.add_argument("names", nargs="+", metavar="NAME")
    add_progress_argument(a)
    a.set_defaults(run=run_download)
    a = actions.add_parser("verify", help="check local files against their records' sha256 (default: all present)")
    a.add_argument("names", nargs="*", metavar="NAME")
    a.set_defaults(run=run_verify)
    a = actions.add_parser("path", help="print the local file of a record (downloaded or built-in)")
    a.add_argument("name", metavar="NAME")
    a.set_defaults(run=run_path)


def run_list(args: argparse.Namespace) -> int:
    rows = [
        [
            r.name,
            r.arch,
            "/".join(f"x{s}" for s in r.scales),
            r.source,
            f"{r.num_params:,}",
            f"{r.size / 1e6:.1f} MB" if r.size else "?",
            " ".join(f"{s.dataset} x{s.scale} {s.psnr:.2f}" for s in r.published if s.dataset == "Set5") or "-",
            "present" if local_path(r).is_file() else "-",
        ]
        for r in RECORDS
    ]
    print(table(["name", "model", "scales", "source", "parameters", "size", "published Set5", "local"], rows))
    return 0


def run_download(args: argparse.Namespace) -> int:
    records = [get_record(n) for n in args.names]  # every name checked before any download
    for record in records:
        if record.source == "builtin":
            raise AttnsrError(f"{record.name} is built into attnsr; nothing to download")
    for record in records:
        fetch_with_bar(record, disable=args.no_progress)
        print(f"{record.name}: {local_path(record)}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    records = [get_record(n) for n in args.names] if args.names else [r for r in RECORDS if local_path(r).is_file()]
    bad = 0
    for record in records:
        ok = verify(record)
        state = {True: "ok", False: "sha256 MISMATCH", None: "not downloaded"}[ok]
        bad += ok is not True
        print(f"{record.name}: {state} ({local_path(record)})")
    if bad:
        raise AttnsrError(f"{bad} of {len(records)} weight files failed verification")
    return 0


def run_path(args: argparse.Namespace) -> int:
    record = get_record(args.name)
    path = local_path(record)
    if not path.is_file():
        raise AttnsrError(
            f"{record.name} is not downloaded: `attnsr weights download {record.name}` or fetch {resolve_url(record)}"
        )
    print(path)
    return 0
