"""``attnsr`` entry point: subcommands, and one-line errors with a non-zero exit for bad input."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import AttnsrError
from . import cmd_analyze, cmd_eval, cmd_export, cmd_models, cmd_profile, cmd_train, cmd_upscale, cmd_weights


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attnsr", description="Lightweight attention-based super-resolution.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cmd_upscale, cmd_eval, cmd_train, cmd_models, cmd_weights, cmd_profile, cmd_export, cmd_analyze):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args) or 0)
    except AttnsrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
