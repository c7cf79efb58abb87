"""``attnsr`` entry point: subcommands, and the one error boundary of the command line.

The project's errors (:class:`AttnsrError`) and the operating system's (:class:`OSError`: permission,
read-only or full disk, name too long...) become one ``error: ...`` line on stderr and exit status 2;
Ctrl-C becomes ``error: interrupted`` and status 130, also while the command is still starting (importing
torch takes seconds). Anything else is a bug and keeps its traceback; ``--debug`` shows the traceback of
every failure.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import traceback

from ..errors import AttnsrError, OutputExistsError, RunExistsError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _interrupted_while_starting(signum, frame) -> None:
    """SIGINT before a command runs (imports, parsing): nothing to clean up, so stop with one line."""
    sys.stderr.write("error: interrupted\n")
    raise SystemExit(EXIT_INTERRUPTED)


def _may_handle_sigint() -> bool:
    """Only the main thread may set handlers; a SIGINT ignored on purpose (nohup, ``cmd &``) stays ignored."""
    main_thread = threading.current_thread() is threading.main_thread()
    return main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


# Installed when this module is imported, i.e. before the subcommands import torch below: the window in
# which a default KeyboardInterrupt would end in a traceback from deep inside an import.
if _may_handle_sigint():
    signal.signal(signal.SIGINT, _interrupted_while_starting)

from . import (  # noqa: E402
    cmd_analyze,
    cmd_cache,
    cmd_eval,
    cmd_export,
    cmd_models,
    cmd_profile,
    cmd_serve,
    cmd_study,
    cmd_train,
    cmd_upscale,
    cmd_weights,
)


class _Version(argparse.Action):
    """``--version``: prints ``attnsr <version>`` of the installed distribution (its metadata, which
    pyproject.toml takes from ``attnsr.__version__``) and exits; the metadata is read only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version("attnsr")
        except PackageNotFoundError:  # a source tree on sys.path that was never installed
            import attnsr

            text = attnsr.__version__
        print(f"attnsr {text}")
        parser.exit()


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error: ...`` line, like every other error."""

    def error(self, message: str) -> None:
        self.exit(EXIT_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="attnsr", description="Lightweight attention-based super-resolution.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any failure")
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        cmd_upscale,
        cmd_eval,
        cmd_train,
        cmd_study,
        cmd_models,
        cmd_weights,
        cmd_profile,
        cmd_export,
        cmd_analyze,
        cmd_cache,
        cmd_serve,
    ):
        module.add_parser(sub)
    return parser


def error_line(exc: BaseException) -> str:
    """The one line shown for an expected failure: no ANSI escapes, no line breaks."""
    if isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    elif isinstance(exc, OSError) and exc.strerror:
        names = [repr(str(n)) for n in (exc.filename, exc.filename2) if n is not None]
        text = exc.strerror + (f": {' -> '.join(names)}" if names else "")
    else:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, OutputExistsError):
            text += "; pass --overwrite to replace it"
        elif isinstance(exc, RunExistsError):
            text += "; add --resume to continue it"
    return "error: " + " ".join(_ANSI.sub("", text).split())


def _close_progress_bars() -> None:
    """Close (clear) every live tqdm bar, so the error line starts a line of its own."""
    from tqdm import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
        )
        if _may_handle_sigint():
            signal.signal(signal.SIGINT, signal.default_int_handler)  # from now on: clean up, then one line
        return int(args.run(args) or 0)
    except (AttnsrError, OSError, KeyboardInterrupt) as exc:
        _close_progress_bars()
        if debug:
            traceback.print_exc()
        sys.stderr.write(error_line(exc) + "\n")
        return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
