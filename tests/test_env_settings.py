"""Every environment setting is checked where it is read (attnsr.settings): a bad ATTNSR_MIRROR,
ATTNSR_CACHE or ATTNSR_SHARED is one ``error:`` line naming the variable, exit status 2, no traceback
(unless --debug) and nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnsr import settings
from attnsr.errors import ConfigError


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNSR_")} | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "attnsr", *args]
    return subprocess.run(command, cwd=cwd, env=full_env | env, capture_output=True, text=True, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def files_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


BAD_MIRRORS = [
    ("::::", "no http:// or https://"),
    ("http://127.0.0.1:8765 extra", "spaces"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("ftp://x", "its scheme is 'ftp'"),
    ("http://127.0.0.1:99999", "out of range"),
]


@pytest.mark.parametrize(("value", "why"), BAD_MIRRORS, ids=[v for v, _ in BAD_MIRRORS])
def test_bad_mirror_is_one_line_and_nothing_is_created(tmp_path, value, why):
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "cache"
    args = ["weights", "download", "pan_x4.official", "--no-progress"]
    proc = run_cli(*args, cwd=work, ATTNSR_MIRROR=value, ATTNSR_CACHE=str(cache))
    line = one_error_line(proc)
    assert line.startswith(f"error: ATTNSR_MIRROR={value!r} is not an http(s)://host[:port][/path] URL"), line
    assert why in line
    assert not cache.exists() and files_under(work) == []


def test_bad_mirror_stops_upscale_before_any_work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = ["upscale", "--sample", "--model", "pan", "--scale", "4", "--weights", "official", "--no-progress"]
    proc = run_cli(*args, cwd=work, ATTNSR_MIRROR="::::", ATTNSR_CACHE=str(tmp_path / "cache"))
    assert "ATTNSR_MIRROR='::::'" in one_error_line(proc)
    assert not (tmp_path / "cache").exists() and files_under(work) == []


def test_debug_still_shows_the_traceback(tmp_path):
    proc = run_cli(
        "--debug",
        "weights",
        "download",
        "pan_x4.official",
        cwd=tmp_path,
        ATTNSR_MIRROR="ftp://x",
        ATTNSR_CACHE=str(tmp_path / "cache"),
    )
    assert proc.returncode == 2 and "Traceback" in proc.stderr and "ConfigError" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ATTNSR_MIRROR='ftp://x'")


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_bad_cache_is_one_line_naming_it(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    value = str(blocker if where == "a file" else blocker / "cache")
    proc = run_cli("weights", "download", "pan_x4.official", cwd=tmp_path, ATTNSR_CACHE=value, ATTNSR_MIRROR="http://x")
    line = one_error_line(proc)
    assert line.startswith(f"error: ATTNSR_CACHE={value!r} is not a usable cache folder"), line
    assert "is a file" in line and blocker.read_text() == "not a folder"


def test_bad_shared_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "no-such-shared"
    run = tmp_path / "run"
    proc = run_cli(
        "train",
        "--set",
        f"out_dir={run}",
        "--no-progress",
        cwd=tmp_path,
        ATTNSR_SHARED=str(missing),
        ATTNSR_CACHE=str(tmp_path / "cache"),
    )
    line = one_error_line(proc)
    assert line == f"error: ATTNSR_SHARED={str(missing)!r} is not an existing folder (it does not exist)"
    assert not run.exists() and not missing.exists()


# --- the checks themselves, in-process -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "base"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("https://mirror.example.org/github/", "https://mirror.example.org/github"),
        ("HTTP://[::1]:8080/", "HTTP://[::1]:8080"),
        ("", settings.GITHUB),
    ],
)
def test_good_mirrors(monkeypatch, value, base):
    monkeypatch.setenv("ATTNSR_MIRROR", value)
    assert settings.github_base() == base


@pytest.mark.parametrize(
    "value",
    [v for v, _ in BAD_MIRRORS] + ["http://", "http://user:pw@host", "http://h/?q=1", "http://h:0", "http://h\n"],
)
def test_bad_mirrors_raise_config_error(monkeypatch, value):
    monkeypatch.setenv("ATTNSR_MIRROR", value)
    form = r"is not an http\(s\)://host\[:port\]\[/path\] URL"
    with pytest.raises(ConfigError, match=rf"^ATTNSR_MIRROR=.* {form}") as info:
        settings.github_base()
    assert "\n" not in str(info.value)


def test_cache_may_be_created_later_and_is_not_created_here(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "a" / "b"))
    assert settings.cache_root() == tmp_path / "a" / "b" and not (tmp_path / "a").exists()
    monkeypatch.setenv("ATTNSR_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.cache_root() == tmp_path / "xdg" / "attnsr"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_cache_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("ATTNSR_CACHE", str(locked / "cache"))
    with pytest.raises(ConfigError, match="is not writable"):
        settings.cache_root()


def test_shared_is_read_only_where_a_path_uses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNSR_SHARED", str(tmp_path / "missing"))
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    assert settings.expand("${cache}/lr") == tmp_path / "cache" / "lr"
    with pytest.raises(ConfigError, match="ATTNSR_SHARED=.* is not an existing folder"):
        settings.expand("${shared}/data/Set5")
    (tmp_path / "missing").write_text("")
    with pytest.raises(ConfigError, match=r"\(it is a file\)"):
        settings.shared_root()
    monkeypatch.setenv("ATTNSR_SHARED", str(tmp_path))
    assert settings.shared_root() == tmp_path.resolve()
