"""The one overwrite rule (issue 13 items 9, 11): outputs checked before any work, refused without
``--overwrite``, replaced atomically with it, written with the umask's mode (not 0600)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch
import yaml

import attnsr
from attnsr import save_weights
from attnsr.analysis.correlation import correlate_attention
from attnsr.cli.main import build_parser, main
from attnsr.config import load_config
from attnsr.data.datasets import make_fake_images
from attnsr.errors import AttnsrError, OutputError, OutputExistsError
from attnsr.outputs import atomic_path, check_output, check_output_folder, write_text

REPO = Path(__file__).resolve().parents[1]


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_text_refuses_then_replaces_atomically_with_umask_mode(tmp_path, umask_022):
    target = tmp_path / "sub" / "r.json"
    write_text(target, "{}", overwrite=False)
    assert target.read_text() == "{}\n" and file_mode(target) == 0o644
    with pytest.raises(OutputExistsError, match="exists"):
        write_text(target, "[]", overwrite=False)
    write_text(target, "[]", overwrite=True)
    assert target.read_text() == "[]\n" and file_mode(target) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "r.png"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("encoder crashed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.png"]


def test_check_output_cases(tmp_path):
    (tmp_path / "d.json").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="a folder of that name exists"):
        check_output(tmp_path / "d.json", overwrite=True)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "f" / "deeper" / "r.json", overwrite=True)
    with pytest.raises(OutputError, match="must end in .json"):
        check_output(tmp_path / "r.txt", overwrite=True, suffixes=(".json",))
    with pytest.raises(OutputError, match="not writable"):
        check_output("/proc/no/r.json", overwrite=True)
    assert check_output(tmp_path / "new" / "deeper" / "r.JSON", overwrite=False, suffixes=(".json",))
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "f"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), root / "w.safetensors")
    return root / "w.safetensors"


def test_eval_overwrite_rule_for_tables_and_sr_images(tmp_path, weights, monkeypatch, umask_022):
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "user_cache"))
    monkeypatch.chdir(tmp_path)
    make_fake_images(tmp_path / "ds", count=1, size=(32, 32))
    out = tmp_path / "r.json"
    argv = ["eval", "--weights", str(weights), "--data", str(tmp_path / "ds"), "--no-progress"]
    argv += ["--json", str(out), "--save-sr", str(tmp_path / "sr")]
    assert main(argv) == 0
    sr = tmp_path / "sr" / "ds" / "img_000_x2.png"
    assert json.loads(out.read_text())["results"][0]["dataset"] == "ds" and file_mode(out) == 0o644 and sr.is_file()
    out.write_text("mine")
    assert main(argv) == 2 and out.read_text() == "mine"  # refused: nothing replaced
    assert main([*argv, "--overwrite"]) == 0 and json.loads(out.read_text())["results"]
    # the LR cache went to $ATTNSR_CACHE, not ./cache/lr of the working folder
    assert list((tmp_path / "user_cache" / "lr").rglob("*.png")) and not (tmp_path / "cache").exists()


def test_profile_plot_and_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["profile", "pan", "--scale", "2", "--sizes", "8", "--fps-at", "8x8", "--repeats", "1"]
    argv += ["--precisions", "fp32", "--plot", "fps.png", "--json", "p.json"]
    assert main(argv) == 0
    assert (tmp_path / "fps.png").read_bytes()[:4] == b"\x89PNG" and json.loads((tmp_path / "p.json").read_text())
    assert main(argv) == 2
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fps.png", "p.json"]


def test_correlation_of_no_images_is_an_error_not_a_nan_table():
    model = attnsr.create_model("a2n", scale=2, num_feats=8, num_blocks=2)
    with pytest.raises(AttnsrError, match="no images"):
        correlate_attention(model, [])


def test_list_keys_take_a_comma_separated_value_and_train_help_says_so(capsys):
    assert load_config(None, ["data.train_dirs=a,b"]).data.train_dirs == ["a", "b"]
    assert load_config(None, ["data.train_dirs=[a, b]"]).data.train_dirs == ["a", "b"]
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--set data.train_dirs=" in capsys.readouterr().out


def test_command_lines_in_the_analysis_configs_parse():
    """The comments of configs/analysis/*.yaml show command lines that exist (no --config flag)."""
    parser = build_parser()
    found = 0
    for path in sorted((REPO / "configs" / "analysis").glob("*.yaml")):
        yaml.safe_load(path.read_text())
        for line in path.read_text().splitlines():
            if line.startswith("#") and "attnsr " in line:
                for command in line.split("attnsr ")[1:]:
                    argv = command.split("(")[0].split(")")[0].rstrip(". ").split()
                    parser.parse_args(argv)  # SystemExit on an unknown flag
                    found += 1
    assert found >= 10
