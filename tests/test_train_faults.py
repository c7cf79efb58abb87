"""Training faults end in one line and lose nothing: bad settings, damaged or foreign checkpoints on resume,
a full disk while a checkpoint is written, a diverged run, stale temporaries, an empty validation folder."""

from __future__ import annotations

import errno
import json
import math
import shutil
import subprocess

import pytest
import torch
from test_train import base_overrides

from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.train import CHECKPOINT, PREVIOUS


@pytest.fixture()
def data(tmp_path):
    make_fake_images(tmp_path / "hr", count=5, size=(48, 40))
    return tmp_path


def run_cli(capsys, overrides: list[str], *extra: str) -> tuple[int, list[str]]:
    args = ["train", "--no-progress", *extra]
    for o in overrides:
        args += ["--set", o]
    code = main(args)
    return code, capsys.readouterr().err.strip().splitlines()


def one_error_line(code: int, err: list[str], *fragments: str) -> None:
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    for fragment in fragments:
        assert fragment in err[0], err


def losses(out) -> dict[int, float]:
    history = json.loads((out / "history.json").read_text())
    return {h["iteration"]: h["loss"] for h in history if "loss" in h}


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("seed=-1", "'seed' must be an integer in [0, 2**32 - 1]"),
        ("seed=4294967296", "'seed' must be an integer in [0, 2**32 - 1]"),
        ("optim.lr=.inf", "'optim.lr' must be a finite number"),
        ("optim.betas=[0.9, 1.5]", "'optim.betas' must be two numbers in [0, 1)"),
        ("optim.gamma=.nan", "optim.gamma must be positive"),
        ("model.options={num_blocks: -1}", "num_blocks"),
    ],
)
def test_bad_setting_is_one_line_before_any_work(data, capsys, override, fragment):
    code, err = run_cli(capsys, [*base_overrides(data, "run"), override])
    one_error_line(code, err, fragment)
    assert not (data / "run").exists()


def test_truncated_checkpoint_without_a_previous_one_is_refused(data, capsys):
    code, err = run_cli(capsys, base_overrides(data, "run", iterations=4))
    assert code == 0, err
    out = data / "run"
    (out / PREVIOUS).unlink()
    ck = out / CHECKPOINT
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    before = ck.read_bytes()
    code, err = run_cli(capsys, base_overrides(data, "run", iterations=8), "--resume")
    one_error_line(code, err, "does not load as a checkpoint", "no earlier checkpoint is kept")
    assert ck.read_bytes() == before  # nothing changed


def test_damaged_latest_checkpoint_falls_back_to_the_one_before(data, capsys, caplog):
    reference = data / "ref"
    assert run_cli(capsys, base_overrides(data, "ref", iterations=8))[0] == 0
    # A run stopped at 6 (checkpoints every 2: latest 6, previous 4), its latest then damaged.
    assert run_cli(capsys, base_overrides(data, "run", iterations=6))[0] == 0
    out = data / "run"
    (out / CHECKPOINT).write_bytes(b"not a checkpoint")
    with caplog.at_level("WARNING", logger="attnsr"):
        code, err = run_cli(capsys, base_overrides(data, "run", iterations=8), "--resume")
    assert code == 0, err
    assert any("resuming from the previous checkpoint (iteration 4)" in r.getMessage() for r in caplog.records)
    ref, got = losses(reference), losses(out)
    for it in (5, 6, 7, 8):  # the same losses as the uninterrupted run from the fallback on
        assert got[it] == pytest.approx(ref[it], abs=1e-7), (it, got[it], ref[it])


def test_resume_with_another_model_says_what_differs(data, capsys):
    assert run_cli(capsys, base_overrides(data, "run", iterations=4))[0] == 0
    changed = [
        o if not o.startswith("model.options=") else "model.options={num_blocks: 2}"
        for o in base_overrides(data, "run", 8)
    ]
    code, err = run_cli(capsys, changed, "--resume")
    one_error_line(code, err, "holds a run of pan x2", '"num_blocks": 1', '"num_blocks": 2')
    code, err = run_cli(capsys, [*base_overrides(data, "run", 8), "model.scale=3"], "--resume")
    one_error_line(code, err, "pan x2", "pan x3")
    code, err = run_cli(capsys, base_overrides(data, "run", iterations=2), "--resume")
    one_error_line(code, err, "is at iteration 4, past the recipe's 2 iterations")


def test_not_a_checkpoint_on_resume_is_one_line_and_debug_shows_the_traceback(data, capsys):
    out = data / "run"
    out.mkdir()
    (out / CHECKPOINT).write_bytes(b"\x00" * 100)
    code, err = run_cli(capsys, base_overrides(data, "run"), "--resume")
    one_error_line(code, err, "does not load as a checkpoint")
    code = main(
        [
            "--debug",
            "train",
            "--no-progress",
            "--resume",
            *[a for o in base_overrides(data, "run") for a in ("--set", o)],
        ]
    )
    assert code == 2 and "Traceback" in capsys.readouterr().err


def _mount_tmpfs(folder, size: int) -> bool:
    folder.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(data, capsys, monkeypatch):
    """On a tmpfs of 2.6 checkpoints (mounted where the test may; elsewhere the fourth checkpoint write fails with
    ENOSPC through the one atomic writer): the iteration-0 checkpoint is small (no optimizer moments yet), so
    2, then 4 fit beside it, and writing 6 beside 4 and 2 fills the disk. One line, checkpoint 4 intact, and
    resuming from it gives the uninterrupted run's losses."""
    assert run_cli(capsys, base_overrides(data, "ref", iterations=8))[0] == 0
    size = (data / "ref" / CHECKPOINT).stat().st_size
    disk = data / "disk"
    mounted = _mount_tmpfs(disk, int(size * 2.6) + 64 * 1024)
    if not mounted:
        import attnsr.train as train_module

        real = train_module.atomic_path
        calls = {"n": 0}

        def filling(path, *, overwrite):
            if str(path).endswith(CHECKPOINT):
                calls["n"] += 1
                if calls["n"] == 4:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(path, overwrite=overwrite)

        monkeypatch.setattr(train_module, "atomic_path", filling)
    try:
        overrides = [
            o if not o.startswith("out_dir=") else f"out_dir={disk / 'run'}" for o in base_overrides(data, "x", 8)
        ]
        code, err = run_cli(capsys, overrides)
        one_error_line(
            code,
            err,
            "no space left on",
            "while writing the checkpoint of iteration 6",
            "the checkpoint of iteration 4 is kept",
        )
        moved = data / "moved"
        shutil.copytree(disk / "run", moved)
        assert not list(moved.glob(".*.tmp.*"))  # no half-written temporary left behind
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
    monkeypatch.undo()
    code, err = run_cli(capsys, [*base_overrides(data, "moved", 8)], "--resume")
    assert code == 0, err
    ref, got = losses(data / "ref"), losses(data / "moved")
    for it in range(5, 9):
        assert got[it] == pytest.approx(ref[it], abs=1e-7), (it, got[it], ref[it])


def test_diverged_run_stops_with_one_line_and_a_finite_checkpoint(data, capsys):
    code, err = run_cli(capsys, [*base_overrides(data, "run", iterations=8), "optim.lr=1e30", "optim.ema=null"])
    one_error_line(code, err, "training diverged at iteration", "the checkpoint of iteration 0 is kept")
    out = data / "run"
    ck = torch.load(out / CHECKPOINT, weights_only=True)
    assert ck["iteration"] == 0 and all(torch.isfinite(t).all() for t in ck["model"].values())
    assert not list(out.glob("*.safetensors"))  # no release of non-finite weights


def test_history_is_strict_json(data, capsys):
    from attnsr.train import strict_json

    assert json.dumps(
        strict_json([{"val_psnr": math.nan, "loss": math.inf, "x": [1.0, -math.inf]}]), allow_nan=False
    ) == ('[{"val_psnr": null, "loss": null, "x": [1.0, null]}]')
    assert run_cli(capsys, base_overrides(data, "run", iterations=2))[0] == 0
    json.loads((data / "run" / "history.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in history"))


def test_stale_temporaries_are_removed_at_start(data, capsys):
    assert run_cli(capsys, base_overrides(data, "run", iterations=2))[0] == 0
    stale = data / "run" / ".checkpoint.0123456789ab.tmp.pt"
    stale.write_bytes(b"half")
    assert run_cli(capsys, base_overrides(data, "run", iterations=4), "--resume")[0] == 0
    assert not stale.exists()


def test_empty_validation_folder_stops_before_the_first_iteration(data, capsys):
    (data / "val").mkdir()
    overrides = [o if o != "data.val_dir=null" else f"data.val_dir={data / 'val'}" for o in base_overrides(data, "run")]
    code, err = run_cli(capsys, [*overrides, "val_every=1000"])
    one_error_line(code, err, "validation folder", "holds no images")
    assert not (data / "run").exists()


def test_infinite_learning_rate_is_refused_and_the_run_kept(data, capsys):
    """``optim.lr=.inf`` (issue: it trained to NaN weights and exited 0): refused in one line before any work;
    on a resume the run's checkpoint is untouched, loadable and finite."""
    code, err = run_cli(capsys, [*base_overrides(data, "fresh"), "optim.lr=.inf"])
    one_error_line(code, err, "'optim.lr' must be a finite number")
    assert not (data / "fresh").exists()
    assert run_cli(capsys, base_overrides(data, "run", iterations=4))[0] == 0
    before = (data / "run" / CHECKPOINT).read_bytes()
    code, err = run_cli(capsys, [*base_overrides(data, "run", iterations=8), "optim.lr=.inf"], "--resume")
    one_error_line(code, err, "'optim.lr' must be a finite number")
    assert (data / "run" / CHECKPOINT).read_bytes() == before
    ck = torch.load(data / "run" / CHECKPOINT, weights_only=True)
    assert ck["iteration"] == 4 and all(torch.isfinite(t).all() for t in ck["model"].values())
