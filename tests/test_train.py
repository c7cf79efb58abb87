"""Training: exact resume after a kill, DDP equivalence, config and data errors."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from attnsr.config import load_config
from attnsr.data.datasets import make_fake_images
from attnsr.errors import ConfigError, DataError, ImageError
from attnsr.train import train


def base_overrides(tmp_path, out: str, iterations: int = 8) -> list[str]:
    return [
        "model.name=pan",
        "model.scale=2",
        "model.options={num_blocks: 1}",
        f"data.train_dirs=[{tmp_path / 'hr'}]",
        "data.val_dir=null",
        "data.patch_size=12",
        "data.batch_size=4",
        f"data.cache_dir={tmp_path / 'cache'}",
        "optim.schedule=constant",
        "optim.lr=1e-3",
        "optim.ema=0.9",
        f"iterations={iterations}",
        "precision=fp32",
        "threads=1",
        "ckpt_every=2",
        "log_every=1",
        "tensorboard=false",
        f"out_dir={tmp_path / out}",
    ]


@pytest.fixture()
def data(tmp_path):
    make_fake_images(tmp_path / "hr", count=5, size=(48, 40))
    return tmp_path


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_killed_run_resumes_bit_identically(data):
    tmp = data
    reference = train(load_config(None, base_overrides(tmp, "ref")))
    # A separate process trains and is SIGKILLed after its iteration-4 checkpoint, mid-way through 5.
    script = textwrap.dedent(f"""
        import os, signal
        from attnsr.config import load_config
        from attnsr.train import train
        def on_step(info):
            if info.iteration == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        train(load_config(None, {base_overrides(tmp, "killed")!r}), on_step=on_step)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    ck = torch.load(tmp / "killed" / "checkpoint.pt", weights_only=False)
    assert ck["iteration"] == 4
    assert not (tmp / "killed" / "pan_x2.safetensors").exists()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnsr",
            "train",
            "--resume",
            "--no-progress",
            *[a for o in base_overrides(tmp, "killed") for a in ("--set", o)],
        ],
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    a, b = load_file(reference), load_file(tmp / "killed" / "pan_x2.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def test_two_process_ddp_matches_single_process(data):
    tmp = data
    single = train(load_config(None, base_overrides(tmp, "single", iterations=4)))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29731",
        "-m",
        "attnsr",
        "train",
        "--no-progress",
        *[a for o in base_overrides(tmp, "ddp", iterations=4) for a in ("--set", o)],
    ]
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = load_file(single), load_file(tmp / "ddp" / "pan_x2.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.parametrize(
    ("setting", "precision", "expected"),
    [
        ("auto", "bf16", False),  # faster on a native-bf16 CPU, but its gradients are far off (train_gradients)
        ("auto", "fp32", False),  # a tie on the AVX2 CPU
        (True, "fp32", True),
        (True, "bf16", True),  # forced: runs, with a warning
        (False, "bf16", False),
    ],
)
def test_compile_auto_stays_eager_until_a_compiled_path_is_faster_and_trains_alike(
    caplog, setting, precision, expected
):
    from attnsr import train as train_module

    with caplog.at_level(logging.WARNING, logger="attnsr.train"):
        assert train_module.resolve_compile(setting, precision) is expected
    warned = any("far off fp32" in r.getMessage() for r in caplog.records)
    assert warned is (setting is True and precision == "bf16")


# Inductor on the CPU imports torch.fx.experimental.optimization → torch.utils.mkldnn, whose classes use the
# deprecated torch.jit.script_method (torch 2.13): torch's own import, nothing attnsr calls.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_training_matches_eager_and_saves_plain_weights(data):
    tmp = data
    eager = train(load_config(None, base_overrides(tmp, "eager", iterations=3)))
    compiled = train(load_config(None, [*base_overrides(tmp, "compiled", iterations=3), "compile=true"]))
    a, b = load_file(eager), load_file(compiled)
    assert a.keys() == b.keys()  # no "_orig_mod." prefixes: the plain model is what is saved
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ck = torch.load(tmp / "compiled" / "checkpoint.pt", weights_only=False)
    assert set(ck["model"]) == set(a)
    starts = [h["environment"] for h in ck["history"] if "environment" in h]
    assert [e["compiled"] for e in starts] == [True]


def test_config_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="expects int"):
        load_config(None, ["iterations=many"])
    with pytest.raises(ConfigError, match="expects true/false"):
        load_config(None, ["data.augment=3"])
    bad = tmp_path / "c.yaml"
    bad.write_text("data: {patch_sise: 3}\n")
    with pytest.raises(ConfigError, match="patch_sise"):
        load_config(bad)
    cfg = load_config(None, ["optim.lr=2e-4", "data.train_dirs=[a, b]"])
    assert cfg.optim.lr == 2e-4 and cfg.data.train_dirs == ["a", "b"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.schedule=cosin", "'optim.schedule' must be one of step, cosine, constant"),
        ("precision=bf32", "'precision' must be one of auto, fp32, bf16, fp16"),
        ("device=gpu", "'device' must be auto, cpu, cuda or cuda:N"),
        ("iterations=0", "'iterations' must be at least 1"),
        ("data.batch_size=0", "'data.batch_size' must be at least 1"),
        ("data.patch_size=-4", "'data.patch_size' must be at least 1"),
        ("ckpt_every=0", "'ckpt_every' must be at least 1"),
        ("threads=0", "'threads' must be at least 1"),
        ("optim.ema=1.5", "'optim.ema' must be a decay"),
        ("data.repeat=2", "unknown config key 'data.repeat'"),
        ("compile=sometimes", "'compile' must be true, false or auto"),
        ("optim.loss=huber", "'optim.loss' must be one of l1, l2"),
    ],
)
def test_bad_values_fail_when_the_config_is_loaded(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_config(None, [override])
    assert "\n" not in str(e.value)


def test_every_configurable_loss_has_its_function():
    from attnsr.config import LOSSES
    from attnsr.train import LOSS_FUNCTIONS

    assert set(LOSS_FUNCTIONS) == set(LOSSES)


def test_l2_loss_is_the_mean_squared_error_of_the_same_first_batch(data):
    first = {}
    for loss in ("l1", "l2"):
        out = train(load_config(None, base_overrides(data, loss, iterations=1) + [f"optim.loss={loss}"])).parent
        history = json.loads((out / "history.json").read_text())
        first[loss] = next(row["loss"] for row in history if "loss" in row)
    # Same seed, model and batch: for errors within [-1, 1], mean|e|^2 <= mean e^2 <= mean|e| (Jensen).
    assert first["l1"] ** 2 <= first["l2"] < first["l1"]


def test_a_config_built_in_code_is_checked_before_any_work(tmp_path):
    cfg = load_config(None, base_overrides(tmp_path, "z"))
    cfg.optim.schedule = "linear"
    with pytest.raises(ConfigError, match="optim.schedule"):
        train(cfg)  # no data folder exists: the config check comes first
    assert not (tmp_path / "z").exists()


def test_missing_folder_and_unreadable_image_stop_before_work(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        train(load_config(None, base_overrides(tmp_path, "x") + [f"data.train_dirs=[{tmp_path / 'nope'}]"]))
    make_fake_images(tmp_path / "hr", count=2, size=(48, 40))
    (tmp_path / "hr" / "broken.png").write_text("garbage")
    with pytest.raises(ImageError, match="broken.png"):
        train(load_config(None, base_overrides(tmp_path, "y")))
    assert not (tmp_path / "y" / "checkpoint.pt").exists()


def test_cli_reports_config_error_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "attnsr", "train", "--set", "bogus=1"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "bogus" in proc.stderr


def test_ema_decay_warms_up_to_its_target():
    from attnsr.train import ema_decay

    assert ema_decay(0.999, 0) == pytest.approx(0.1)
    assert ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 500) == pytest.approx(501 / 510)
    assert ema_decay(0.999, 10**6) == 0.999
    # after 500 steps practically none of the starting weights is left in the average (not 61%)
    share = 1.0
    for i in range(500):
        share *= ema_decay(0.999, i)
    assert share < 1e-3


def _pickled_rng(rng: dict) -> dict:
    """The RNG part of a checkpoint as written before it was stored as tensors (numpy/Python tuples)."""
    n = rng["numpy"]
    py = rng["python"]
    return {
        "torch": rng["torch"],
        "numpy": ("MT19937", n["keys"].numpy().astype("uint32"), n["pos"], n["has_gauss"], n["cached_gaussian"]),
        "python": (py["version"], tuple(py["state"].tolist()), py["gauss"]),
    }


def test_training_checkpoint_loads_weights_only_and_serves_as_weights(data, monkeypatch):
    """Issue 13.5: an interrupted run has only checkpoint.pt; it loads with weights_only=True and evaluates."""
    from attnsr.cli.main import main

    train(load_config(None, base_overrides(data, "run", iterations=2)))
    ckpt = data / "run" / "checkpoint.pt"
    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert ck["iteration"] == 2 and isinstance(ck["rng"]["numpy"]["keys"], torch.Tensor)
    monkeypatch.setenv("ATTNSR_CACHE", str(data / "cache"))
    assert main(["eval", "--weights", str(ckpt), "--data", str(data / "hr"), "--no-progress"]) == 0


def test_init_from_copies_matching_tensors_and_records_the_file_digest(data):
    """model.init_from: tensors of matching shape are copied (a x4 run from x2 weights: all but the second
    upsampling stage); the run's history keeps the init file's sha256, as the path (a built-in release) may be
    replaced later."""
    import hashlib

    from attnsr import create_model, save_weights

    donor = create_model("pan", scale=2, num_blocks=1)
    torch.manual_seed(1)
    for p in donor.parameters():
        p.data.normal_()
    init = data / "x2.safetensors"
    save_weights(donor, init)
    overrides = [*base_overrides(data, "run", iterations=1), "ckpt_every=1", "model.scale=4", "data.patch_size=8"]
    train(load_config(None, [*overrides, f"model.init_from={init}", "optim.lr=1e-12", "optim.ema=null"]))
    ck = torch.load(data / "run" / "checkpoint.pt", map_location="cpu", weights_only=True)
    start = next(h for h in ck["history"] if "environment" in h)
    assert start["init_from"] == {"path": str(init), "sha256": hashlib.sha256(init.read_bytes()).hexdigest()}
    donor_state = donor.state_dict()
    shared = [k for k, v in ck["model"].items() if k in donor_state and donor_state[k].shape == v.shape]
    assert "conv_first.weight" in shared and len(shared) < len(ck["model"])
    for k in shared:  # lr 1e-12: one step moves nothing measurably
        torch.testing.assert_close(ck["model"][k], donor_state[k], atol=1e-6, rtol=0)


def test_resume_reads_an_old_pickled_checkpoint_bit_identically(data):
    reference = train(load_config(None, base_overrides(data, "ref", iterations=6)))
    train(load_config(None, base_overrides(data, "old", iterations=4)))
    ckpt = data / "old" / "checkpoint.pt"
    ck = torch.load(ckpt, map_location="cpu", weights_only=True)
    ck["rng"] = _pickled_rng(ck["rng"])
    torch.save(ck, ckpt)
    with pytest.raises(Exception, match="[Ww]eights"):  # truly the old format
        torch.load(ckpt, map_location="cpu", weights_only=True)
    final = train(load_config(None, base_overrides(data, "old", iterations=6)), resume=True)
    a, b = load_file(reference), load_file(final)
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resuming an old checkpoint"
