"""``attnsr serve``: the local web page (upscale with a before/after slider; LAM at a clicked pixel).

Needs the extra ``web`` (Gradio); without it, one error line names it. The page listens on 127.0.0.1
unless ``--host`` says otherwise, and offers the built-in and official weights and the ``--checkpoint``
files given here — never a path typed into the page. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import threading

import torch

from ..web import DEFAULT_HOST, DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT, build_app, launch
from .argtypes import int_range, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="a local web page: upscale, and LAM at a clicked pixel (extra: web)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this machine)")
    p.add_argument("--port", type=int_range(1, 65535), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="PATH",
        help="a checkpoint the page offers as weights, by its file name (repeatable)",
    )
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger uploads (pixels)")
    p.add_argument(
        "--max-upload-mb", type=positive_int, default=DEFAULT_MAX_UPLOAD_MB, help="refuse larger uploads (MB)"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="PyTorch threads for the page's work (default: PyTorch's, one per core; a LAM click of A2N x4 takes "
        "5.5 s on 1 thread and 3.0 s on 2 of the 2-core Xeon, benchmarks/results/lam_speed_click.json; "
        "use 1 when a training run shares the CPU)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    app = build_app(checkpoints=args.checkpoint, max_pixels=args.max_pixels)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    url = launch(app, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb)
    print(f"attnsr web page: {url}  (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server stops, not an error
    finally:
        app.close(verbose=False)
    print("stopped")
    return 0
