"""matplotlib is the optional extra ``figures``: upscale, eval, train and weights never import it, and a figure
command without it is one ``error:`` line naming the extra (exit status 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from attnsr.analysis.figures import new_figure
from attnsr.analysis.lam_figures import saliency_image
from attnsr.data.datasets import make_fake_images
from attnsr.errors import AttnsrError

NEEDS = 'error: drawing figures needs matplotlib: pip install "attnsr[figures]"'
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "attnsr" / "assets" / "sample.png"

# Runs the CLI with matplotlib absent: a finder ahead of all others refuses it and records every attempt,
# including one a caller would catch, so "never imported" means never tried.
WITHOUT_MATPLOTLIB = textwrap.dedent("""
    import json
    import sys

    tried = []

    class Absent:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "matplotlib":
                tried.append(name)
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    for name in [m for m in sys.modules if m.partition(".")[0] == "matplotlib"]:
        del sys.modules[name]
    sys.meta_path.insert(0, Absent())
    from attnsr.cli.main import main

    codes = [main(args) for args in json.loads(sys.argv[1])]
    print("codes", codes, "tried", sorted(set(tried)))
    sys.exit(max(codes))
""")


def run_without_matplotlib(*commands: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTNSR_")}
    env |= {"OMP_NUM_THREADS": "1", "ATTNSR_CACHE": str(cwd / "cache")}
    argv = [sys.executable, "-c", WITHOUT_MATPLOTLIB, json.dumps(commands)]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_drawing_place_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` meets when it is absent
    with pytest.raises(AttnsrError) as exc:
        new_figure((2, 2))
    assert "error: " + str(exc.value) == NEEDS
    with pytest.raises(AttnsrError, match=r"needs matplotlib: pip install \"attnsr\[figures\]\""):
        saliency_image(torch.zeros(4, 5), scale=2)


def test_upscale_eval_train_weights_never_import_matplotlib(tmp_path):
    make_fake_images(tmp_path / "hr", count=2, size=(24, 20))
    train = [
        "train",
        "--no-progress",
        *("--set", "model.name=pan", "--set", "model.scale=2", "--set", "model.options={num_blocks: 1}"),
        *("--set", f"data.train_dirs=[{tmp_path / 'hr'}]", "--set", "data.val_dir=null"),
        *("--set", "data.patch_size=8", "--set", "data.batch_size=2", "--set", "iterations=1"),
        *("--set", "precision=fp32", "--set", "threads=1", "--set", "tensorboard=false"),
        *("--set", f"out_dir={tmp_path / 'run'}"),
    ]
    proc = run_without_matplotlib(
        ["upscale", "--sample", "-o", "up.png"],
        ["eval", "--model", "a2n", "--scale", "2", "--data", str(tmp_path / "hr"), "--no-progress"],
        train,
        ["weights", "verify"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "codes [0, 0, 0, 0] tried []" in proc.stdout, proc.stdout
    assert (tmp_path / "up.png").is_file()


def test_a_figure_command_without_matplotlib_is_one_error_line(tmp_path):
    out = tmp_path / "heat.png"
    heatmap = ["analyze", "heatmap", "--model", "a2n", "--scale", "4", "--image", str(SAMPLE), "-o", str(out)]
    proc = run_without_matplotlib(heatmap, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [NEEDS]
    assert not out.exists()
