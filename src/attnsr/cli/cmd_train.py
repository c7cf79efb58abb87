"""``attnsr train CONFIG [--set key=value ...] [--resume]``."""

from __future__ import annotations

import argparse

from ..config import load_config
from .render import StepBar, add_progress_argument

EPILOG = """\
--set values are YAML: --set optim.lr=1e-4 --set data.augment=false --set model.options={num_blocks: 4}
(quote values holding spaces or braces). A list is comma-separated, with no brackets to quote:
  --set data.train_dirs=/data/T91/HR,/data/BSD200/HR
or YAML in quotes (zsh refuses unquoted brackets, every shell splits at spaces):
  --set 'data.train_dirs=[/data/T91/HR, /data/BSD200/HR]'
Every key and its type: attnsr/config.py; the recipes in configs/ are examples.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a config (YAML overrides of the defaults)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="YAML file of overrides (see configs/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optim.lr=1e-4 (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in out_dir exactly where it stopped")
    add_progress_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from ..train import train

    cfg = load_config(args.config, args.overrides)
    logging.getLogger("attnsr").setLevel(logging.INFO)
    bar = StepBar(disable=args.no_progress)
    final = train(cfg, resume=args.resume, on_step=bar)
    bar.close()
    print(f"weights written to {final}")
    return 0
