"""``attnsr study``: a tiny study run, resumed after Ctrl-C, reported with scipy's intervals; bad files refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from scipy import stats

from attnsr.cli.cmd_study import report_markdown
from attnsr.cli.main import main
from attnsr.data.datasets import make_fake_images
from attnsr.study import load_study, paired_difference, summarise, verdict

ITERATIONS = 120


def tiny_study(tmp_path: Path, **changes) -> Path:
    """2 cells x 2 seeds of a 2-block A2N on five 64x56 images, evaluated on two 48x48 images."""
    make_fake_images(tmp_path / "train", count=5, size=(64, 56))
    make_fake_images(tmp_path / "Evalset" / "HR", count=2, size=(48, 48))
    study = {
        "name": "tiny",
        "reference": "adm",
        "metric": "Evalset",
        "seeds": [0, 1],
        "eval_sets": [str(tmp_path / "Evalset")],
        "base": {
            "model": {"name": "a2n", "scale": 4, "options": {"num_blocks": 1, "num_feats": 8}},
            "data": {
                "train_dirs": [str(tmp_path / "train")],
                "val_dir": None,
                "patch_size": 8,
                "batch_size": 2,
                "cache_dir": None,
            },
            "precision": "fp32",
            "threads": 1,
            "ckpt_every": 10,
            "log_every": 10,
            "tensorboard": False,
        },
        "budgets": {"cpu": {"iterations": ITERATIONS}},
        "cells": [
            {"name": "adm", "paper": {"psnr": 28.707}},
            {"name": "add", "set": {"model.options.fusion": "add"}, "paper": {"psnr": 28.651}},
        ],
    }
    for key, value in changes.items():
        study[key] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "attnsr", *args], capture_output=True, text=True, env=env, timeout=600)


def psnrs(results: Path) -> dict:
    return {(r["cell"], r["seed"]): r["sets"]["Evalset"]["psnr"] for r in json.loads(results.read_text())["records"]}


def test_run_interrupted_resumes_and_matches_an_uninterrupted_run(tmp_path):
    study = tiny_study(tmp_path)
    args = ["study", "run", str(study), "--no-progress"]
    straight = cli(*args, "--runs", str(tmp_path / "runs_a"), "--results", str(tmp_path / "a.json"))
    assert straight.returncode == 0, straight.stderr
    records = json.loads((tmp_path / "a.json").read_text())["records"]
    assert len(records) == 4 and {(r["cell"], r["seed"]) for r in records} == {
        (c, s) for c in ("adm", "add") for s in (0, 1)
    }
    rec = records[0]
    for key in ("budget", "iterations", "parameters", "macs", "train_seconds", "cpu", "train_precision", "git"):
        assert key in rec
    assert rec["eval_precision"] == "fp32" and rec["iterations"] == ITERATIONS

    # A second run does nothing and leaves the records alone.
    before = (tmp_path / "a.json").read_bytes()
    again = cli(*args, "--runs", str(tmp_path / "runs_a"), "--results", str(tmp_path / "a.json"))
    assert again.returncode == 0 and "0 run(s) finished" in again.stdout
    assert (tmp_path / "a.json").read_bytes() == before

    # Ctrl-C in the middle of a run, then run again: the same records, to 1e-4 (same seed, exact resume).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "attnsr",
        *args,
        "--runs",
        str(tmp_path / "runs_b"),
        "--results",
        str(tmp_path / "b.json"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = tmp_path / "runs_b" / "tiny" / "cpu" / "adm" / "seed0" / "history.json"  # written with checkpoint 10
    deadline = time.monotonic() + 300
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted"
    status = cli(
        "study", "status", str(study), "--runs", str(tmp_path / "runs_b"), "--results", str(tmp_path / "b.json")
    )
    assert status.returncode == 0
    lines = {tuple(line.split()[:2]): line for line in status.stdout.splitlines() if line.startswith(("adm", "add"))}
    assert "in progress" in lines[("adm", "0")] and "missing" in lines[("add", "1")], status.stdout
    resumed = cli(*args, "--runs", str(tmp_path / "runs_b"), "--results", str(tmp_path / "b.json"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at" in resumed.stdout
    a, b = psnrs(tmp_path / "a.json"), psnrs(tmp_path / "b.json")
    assert a.keys() == b.keys()
    for key in a:
        assert abs(a[key] - b[key]) < 1e-4, (key, a[key], b[key])

    status = cli(
        "study", "status", str(study), "--runs", str(tmp_path / "runs_b"), "--results", str(tmp_path / "b.json")
    )
    assert "4 done, 0 in progress, 0 missing" in status.stdout
    report = cli("study", "report", str(study), "--results", str(tmp_path / "b.json"), "-o", str(tmp_path / "r.md"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "r.md").read_text()
    assert "| adm |" in text and "| add |" in text and "-0.056" in text  # the paper's difference, 28.651 - 28.707


def synthetic_records(values: dict[str, list[float]]) -> list[dict]:
    return [
        {
            "budget": "cpu",
            "cell": cell,
            "seed": seed,
            "iterations": ITERATIONS,
            "parameters": 1000,
            "macs": 10,
            "sets": {"Evalset": {"psnr": v, "ssim": 0.5}},
            "cpu": "test CPU",
            "train_precision": "fp32",
        }
        for cell, vs in values.items()
        for seed, v in enumerate(vs)
    ]


def test_report_intervals_equal_scipy(tmp_path):
    study = load_study(tiny_study(tmp_path, seeds=[0, 1, 2, 3]))
    ref = [28.50, 28.61, 28.55, 28.47]
    cell = [28.46, 28.58, 28.51, 28.44]
    summary = {s.cell.name: s for s in summarise(study, synthetic_records({"adm": ref, "add": cell}), budget="cpu")}
    diffs = [c - r for c, r in zip(cell, ref)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=sd / n**0.5)
    d = summary["add"].difference
    assert d.n == 4 and d.mean == pytest.approx(mean, abs=1e-12)
    assert d.low == pytest.approx(low, abs=1e-9) and d.high == pytest.approx(high, abs=1e-9)
    assert summary["add"].paper_delta == pytest.approx(-0.056)
    assert high < 0 and summary["add"].verdict == "reproduced"  # both below the reference
    ref_mean, ref_sd = summary["adm"].sets["Evalset"]
    assert ref_mean == pytest.approx(sum(ref) / 4) and ref_sd == pytest.approx(stats.tstd(ref))
    text = report_markdown(study, synthetic_records({"adm": ref, "add": cell}), budget="cpu")
    assert f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]" in text


def test_verdicts():
    d = paired_difference({0: 1.0, 1: 1.2, 2: 1.1}, {0: 0.0, 1: 0.1, 2: 0.05})
    assert d.low > 0
    assert verdict(d, 0.05) == "reproduced"
    assert verdict(d, -0.05) == "contradicted"
    wide = paired_difference({0: 1.0, 1: -1.0, 2: 0.2}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert wide.low < 0 < wide.high and verdict(wide, 0.05) == "not resolved at this budget"
    assert verdict(paired_difference({0: 1.0}, {0: 0.0}), 0.05).startswith("not resolved")
    assert verdict(d, None) == "no paper difference to test"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cells": [{"name": "adm"}, {"name": "bad", "set": {"model.options.nonsense": 1}}]},
            "has no option 'nonsense'",
        ),
        ({"cells": [{"name": "adm"}, {"name": "bad", "set": {"model.options.attention": "nope"}}]}, "does not build"),
        ({"cells": [{"name": "adm"}, {"name": "bad", "set": {"optim.lrr": 1}}]}, "unknown config key 'optim.lrr'"),
        ({"eval_sets": ["/nonexistent/Evalset"]}, "does not exist"),
        ({"base": {"data": {"train_dirs": ["/nonexistent/train"]}}}, "does not exist"),
        ({"reference": "missing"}, "is not a cell"),
        ({"seeds": [0, 0]}, "seeds must be"),
        ({"budgets": {"cpu": {"iterations": 0}}}, "positive integer"),
        ({"cells": [{"name": "adm", "sett": {}}]}, "unknown key 'sett'"),
        ({"correlation": {"cells": ["nope"], "images": "/x"}}, "correlation cell 'nope' is not a cell"),
        ({"correlation": {"cells": ["adm"], "images": "/nonexistent/Set14"}}, "correlation folder"),
        ({"correlation": {"cells": ["adm"], "images": "/x", "set": 1}}, "unknown key 'set' in correlation"),
    ],
)
def test_bad_study_refused_before_training(tmp_path, capsys, change, message):
    study = tiny_study(tmp_path, **change)
    runs = tmp_path / "runs"
    code = main(["study", "run", str(study), "--runs", str(runs), "--results", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not runs.exists() and not (tmp_path / "r.json").exists()


def test_committed_studies_are_well_formed(shared):
    """Every committed study plans at its cpu budget (data there, every cell builds)."""
    from attnsr.study import plan_study

    root = Path(__file__).resolve().parents[1] / "studies"
    files = sorted(root.glob("*.yaml"))
    assert {f.stem for f in files} >= {"a2n_table4", "bam_table2", "a2n_table2"}
    for path in files:
        study = load_study(path)
        plan = plan_study(study, budget="cpu", runs_root=Path("/nonexistent-runs"))
        assert len(plan.runs) == len(study.cells) * len(study.seeds)
        assert len({plan.parameters[c.name] for c in study.cells}) > 1  # the cells differ


def test_committed_records_belong_to_their_study_and_the_page_shows_them(shared):
    """Every committed record is one (cell, seed) of its study, at a budget's full iterations, evaluated in
    fp32 on the study's four sets, with its machine named; and docs/studies/README.md is the rendering of
    exactly these records (a record committed without re-rendering the page fails here)."""
    from attnsr.evaluate import dataset_name
    from attnsr.settings import expand
    from attnsr.study import default_results_path, read_records

    repo = Path(__file__).resolve().parents[1]
    for path in sorted((repo / "studies").glob("*.yaml")):
        study = load_study(path)
        records = read_records(repo / default_results_path(study))
        cells = {c.name for c in study.cells}
        sets = {dataset_name(expand(s)) for s in study.eval_sets}  # how records name them
        seen = set()
        for r in records:
            key = (r["cell"], r["seed"], r["budget"])
            assert key not in seen, f"{study.name}: {key} recorded twice"
            seen.add(key)
            assert r["cell"] in cells and r["budget"] in study.budgets, (study.name, key)
            assert r["iterations"] == study.budgets[r["budget"]].iterations, (study.name, key)
            assert set(r["sets"]) == sets and all(10 < v["psnr"] < 45 for v in r["sets"].values()), key
            assert r["eval_precision"] == "fp32" and (r["cpu"] or r["gpu"]), (study.name, key)
            assert len(r["git"]["revision"] or "") == 40, (study.name, key)
    check = subprocess.run(
        [sys.executable, "scripts/studies_doc.py", "--check"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stderr + check.stdout


def test_the_recorded_revision_is_that_of_the_code_that_runs(tmp_path, monkeypatch):
    """A study started from another folder (another checkout, a worktree) records the revision of the checkout
    the package was imported from, not of the working folder."""
    import attnsr
    from attnsr.study import _git_revision

    checkout = Path(attnsr.__file__).resolve().parents[2]
    if not (checkout / ".git").exists():
        pytest.skip("attnsr is not imported from a git checkout here")
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True)
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.chdir(other)  # a git folder with no commit: the old, working-folder answer was None
    assert _git_revision()["revision"] == head.stdout.strip()


def test_correlation_cells_record_table1_of_their_final_weights(tmp_path):
    """A correlation cell's record holds A2N Table 1 of its final weights (what correlate_attention gives on
    them), other cells' records do not, and the report puts the per-block signs beside the paper's finding."""
    import torch

    from attnsr import create_model
    from attnsr.analysis.correlation import correlate_attention
    from attnsr.analysis.images import benchmark_images
    from attnsr.study import correlation_summary, plan_study, run_study

    torch.set_num_threads(1)
    spec = {"cells": ["adm"], "images": str(tmp_path / "Evalset"), "paper": "first negative, last positive"}
    study = load_study(tiny_study(tmp_path, correlation=spec, budgets={"cpu": {"iterations": 20}}))
    plan = plan_study(study, budget="cpu", runs_root=tmp_path / "runs", seeds=[0])
    assert run_study(plan, results=tmp_path / "r.json") == 2
    records = {r["cell"]: r for r in json.loads((tmp_path / "r.json").read_text())["records"]}
    assert "correlation" not in records["add"]
    recorded = records["adm"]["correlation"]
    assert recorded["set"] == "Evalset" and recorded["images"] == 2

    run = plan.runs[0]
    assert run.cell.name == "adm"
    weights = next(run.out_dir.glob("*.safetensors"))
    model = create_model("a2n", scale=4, pretrained=weights, **run.config.model.options).eval()
    direct = correlate_attention(model, [(n, lr) for n, _, lr in benchmark_images(tmp_path / "Evalset", scale=4)])
    assert len(recorded["rows"]) == len(direct.rows()) == 2  # one block, two features
    for mine, theirs in zip(recorded["rows"], direct.rows()):
        assert [mine[k] for k in ("block", "module", "feature")] == [theirs[k] for k in ("block", "module", "feature")]
        for f in ("laplace", "sobel", "scharr"):
            assert mine[f] == pytest.approx(theirs[f], abs=1e-4)

    (block,) = correlation_summary(study, list(records.values()), budget="cpu")["adm"]
    multiplied = next(r for r in recorded["rows"] if r["feature"] == "multiplied")
    assert block.seeds == [0] and block.r["laplace"] == multiplied["laplace"]
    text = report_markdown(study, list(records.values()), budget="cpu")
    assert "A2N Table 1" in text and "first negative, last positive" in text
    assert f"{multiplied['laplace']:+.3f}" in text
    no_records = report_markdown(study, [], budget="cpu")
    assert "No correlation recorded yet" in no_records
