"""The one error boundary of the ``attnsr`` command (issue 13 items 4, 11): the project's errors, OS errors
and Ctrl-C are one ``error:`` line and a non-zero exit; a bug keeps its traceback; ``--debug`` shows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from tqdm import tqdm

from attnsr.cli import cmd_models
from attnsr.cli.main import main
from attnsr.errors import AttnsrError


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


def run_main(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def failing(exc: BaseException):
    def run(args) -> int:
        raise exc

    return run


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (AttnsrError("the model is unhappy"), 2, "error: the model is unhappy"),
        (PermissionError(13, "Permission denied", "/x/y.json"), 2, "error: Permission denied: '/x/y.json'"),
        (OSError(28, "No space left on device"), 2, "error: No space left on device"),
        (OSError(36, "File name too long", "a" * 300), 2, f"error: File name too long: '{'a' * 300}'"),
        (AttnsrError("weights_only load failed:\n\x1b[1mWeightsUnpickler\x1b[0m error"), 2, None),
        (KeyboardInterrupt(), 130, "error: interrupted"),
    ],
)
def test_expected_failures_are_one_line(monkeypatch, capsys, exc, code, line):
    monkeypatch.setattr(cmd_models, "run", failing(exc))
    got, err = run_main(capsys, "models")
    assert got == code
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "\x1b" not in err, err
    assert err.startswith("error: ")
    if line is not None:
        assert err.rstrip("\n") == line


def test_a_bug_keeps_its_traceback_and_debug_shows_every_traceback(monkeypatch, capsys):
    monkeypatch.setattr(cmd_models, "run", failing(ZeroDivisionError("a real bug")))
    with pytest.raises(ZeroDivisionError):
        main(["models"])
    monkeypatch.setattr(cmd_models, "run", failing(AttnsrError("expected")))
    code, err = run_main(capsys, "--debug", "models")
    assert code == 2 and "Traceback" in err and err.rstrip().endswith("error: expected")


def test_usage_errors_are_one_error_line(capsys):
    code, err = run_main(capsys, "models", "--bogus")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and "--bogus" in err
    code, err = run_main(capsys, "no-such-command")
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ")


def test_error_does_not_print_on_a_progress_bar_line(monkeypatch, capsys):
    def run(args) -> int:
        bar = tqdm(total=10, desc="work", file=sys.stderr, leave=True)
        bar.update(3)
        raise AttnsrError("broken.png is corrupt")

    monkeypatch.setattr(cmd_models, "run", run)
    code, err = run_main(capsys, "models")
    assert code == 2
    last = err.rstrip("\n").split("\n")[-1]
    assert last.split("\r")[-1] == "error: broken.png is corrupt", repr(err)


def test_sigint_while_starting_is_one_line():
    """Ctrl-C while the command still imports torch: one line and status 130, no traceback."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "attnsr", "models"]
    start = time.perf_counter()  # how long this machine takes to start (and finish) the command
    subprocess.run(cmd, capture_output=True, env=env, timeout=120, check=True)
    whole = time.perf_counter() - start
    for fraction in (0.2, 0.5):  # early in the torch import, and later in the start-up, on any machine's speed
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(fraction * whole)
        assert proc.poll() is None, f"the command ended within {fraction * whole:.2f} s, before the interrupt"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err.decode()
        assert err.decode() == "error: interrupted\n", err.decode()
