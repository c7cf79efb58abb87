"""The package a user installs: the wheel built from this checkout, installed into a fresh venv outside the
checkout beside the torch already there (which pip keeps), without the ``figures`` extra, runs its commands
from a folder outside the checkout on the files it carries (built-in weights, sample image, LAM manifests)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import attnsr

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "attnsr"
# Package data the wheel must carry (pyproject.toml [tool.setuptools.package-data]).
DATA = [
    "weights/*.safetensors",
    "weights/*.json",
    "weights/*.int8.xml",
    "weights/*.int8.bin",
    "assets/sample.png",
    "analysis/manifests/*.json",
]
NEEDS = 'error: drawing figures needs matplotlib: pip install "attnsr[figures]"'


def run(*cmd, cwd: Path, env: dict, ok: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def clean_env(tmp_path: Path) -> dict:
    """No setting of this session leaks in: no ATTNSR_* but a cache under tmp_path, no PYTHONPATH or venv."""
    drop = ("ATTNSR_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"ATTNSR_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}


def build_wheel(tmp_path: Path, env: dict) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the checkout's packaging files: building in
    the checkout would leave ``build/`` there, whose stale files (a module since deleted) enter later wheels."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip is not available in the dev environment to build the wheel")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist]
    run(*pip_wheel, source, cwd=tmp_path, env=env)
    (wheel,) = dist.glob("attnsr-*.whl")
    return wheel


def fresh_venv(path: Path, env: dict) -> Path:
    """A venv with pip at ``path``; the test is skipped where this Python cannot make one."""
    if importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None:
        pytest.skip("this Python has no venv/ensurepip module (e.g. Debian without python3-venv)")
    proc = run(sys.executable, "-m", "venv", path, cwd=path.parent, env=env, ok=False)
    if proc.returncode != 0:
        pytest.skip(f"python -m venv failed here: {proc.stderr.strip()[-300:]}")
    return path / "bin" / "python"


def check_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line for line in zf.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
    for pattern in DATA:
        expected = {f"attnsr/{p.relative_to(PACKAGE).as_posix()}" for p in PACKAGE.glob(pattern)}
        assert expected or pattern.endswith(".json"), f"nothing in the checkout matches {pattern}"
        assert expected <= names, f"wheel lacks {sorted(expected - names)}"
    assert any(n.startswith("attnsr/weights/") and n.endswith(".safetensors") for n in names)
    torch_req = [r for r in requires if r.split(":", 1)[1].strip().startswith("torch")]
    assert torch_req and "==" not in torch_req[0], torch_req
    mpl = [r for r in requires if "matplotlib" in r]
    assert any('extra == "figures"' in r for r in mpl), mpl  # the figures extra brings it
    assert all("; extra ==" in r for r in mpl), mpl  # and no install without an extra does


def test_wheel_installs_beside_torch_and_runs_outside_the_checkout(tmp_path):
    env = clean_env(tmp_path)
    wheel = build_wheel(tmp_path, env)
    check_wheel_contents(wheel)
    python = fresh_venv(tmp_path / "venv", env)
    bin_dir = python.parent
    torch_version = importlib.metadata.version("torch")  # the dev venv's: the same file (README: torch==2.13.0)
    run(python, "-m", "pip", "install", "-q", f"torch=={torch_version}", cwd=tmp_path, env=env, timeout=600)
    run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path, env=env, timeout=600)

    work = tmp_path / "work"  # outside the checkout, no ../shared beside it
    work.mkdir()
    probe = (
        "import importlib.metadata as m, importlib.util as u, attnsr, attnsr.settings as s;"
        "print(m.version('torch')); print(m.version('attnsr')); print(attnsr.__version__);"
        "print(attnsr.__file__); print(s.shared_root()); print(u.find_spec('matplotlib') is None)"
    )
    torch_after, dist_version, module_version, module_file, shared, no_mpl = run(
        python, "-c", probe, cwd=work, env=env
    ).stdout.splitlines()
    assert torch_after == torch_version  # (a) pip kept the torch that was there
    assert dist_version == module_version == attnsr.__version__
    site = Path(module_file).resolve().parent
    assert site.is_relative_to((tmp_path / "venv").resolve()), module_file  # the installed copy, not src/
    assert Path(shared) == (work / ".." / "shared").resolve(), shared  # nothing guessed inside site-packages
    assert no_mpl == "True"  # the figures extra was not asked for

    attnsr_cli = bin_dir / "attnsr"
    assert run(attnsr_cli, "--version", cwd=work, env=env).stdout == f"attnsr {attnsr.__version__}\n"

    run(attnsr_cli, "upscale", "--sample", "-o", "out.png", cwd=work, env=env)
    sample = site / "assets" / "sample.png"
    with Image.open(sample) as lr, Image.open(work / "out.png") as sr:
        assert sr.size == (4 * lr.width, 4 * lr.height)

    verified = run(attnsr_cli, "weights", "verify", cwd=work, env=env).stdout
    builtin = [line for line in verified.splitlines() if ".builtin:" in line]
    assert len(builtin) == len(list((site / "weights").glob("*.safetensors"))) >= 1, verified
    assert all(": ok (" in line and str(site) in line for line in builtin), verified

    lam = ["analyze", "lam", "--model", "a2n", "--scale", "4", "--image", sample, "--window", "48,64", "--steps", "2"]
    run(attnsr_cli, *lam, "--json", "lam.json", cwd=work, env=env)
    assert (work / "lam.json").is_file()
    figure = run(attnsr_cli, *lam, "-o", "lam.png", cwd=work, env=env, ok=False)
    assert figure.returncode == 2 and [line for line in figure.stderr.splitlines() if line.strip()] == [NEEDS]
