"""Weight records, the cache and downloads (through a local mirror, never the network), foreign-checkpoint
recognition from keys/shapes/sha256, CARN-M's groups, ``attnsr weights``/``models`` and hubconf."""

from __future__ import annotations

import ast
import re
import shutil
import socket
from pathlib import Path

import pytest
import torch
from _weights_server import MirrorServer, github_routes
from PIL import Image

import attnsr
from attnsr import _pretrained
from attnsr._factory import create_model
from attnsr._hub import cached_path, fetch, resolve_url
from attnsr._pretrained import RECORDS, builtin_path, detect_architecture, get_record, sha256_file
from attnsr.cli import cmd_models
from attnsr.cli.main import main
from attnsr.errors import CheckpointError
from attnsr.io import write_image
from attnsr.registry import get_entry
from attnsr.settings import shared_root

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "attnsr"


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.fixture
def official() -> Path:
    folder = shared_root() / "weights" / "official"
    if not folder.is_dir():
        pytest.skip(f"official checkpoints not found at {folder} (set ATTNSR_SHARED)")
    return folder


@pytest.fixture
def mirror(official, tmp_path, monkeypatch):
    server = MirrorServer(github_routes(official))
    monkeypatch.setenv("ATTNSR_MIRROR", server.url)
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    yield server
    server.close()


# --- the records -------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_record_matches_its_model(record):
    entry = get_entry(record.arch)
    assert record.source in ("builtin", "official") and record.scales and set(record.scales) <= set(entry.scales)
    assert re.fullmatch(r"[0-9a-f]{64}", record.sha256)
    assert record.input_range in (1.0, 255.0) and record.training_data and record.licence
    if record.source == "official":
        assert record.url.startswith("https://github.com/") and record.url.endswith("/" + record.file)
    else:
        assert not record.url
    for scale in record.scales:
        model = create_model(record.arch, scale=scale, **record.options)
        assert n_params(model) == record.num_params
        assert getattr(model, "input_range", 1.0) == record.input_range, "the model works in the record's range"
    for score in record.published + record.measured:
        assert score.scale in record.scales and 20 < score.psnr < 45


def test_record_names_and_files_are_unique_and_builtin_files_all_recorded():
    assert len({r.name for r in RECORDS}) == len(RECORDS)
    assert len({r.file for r in RECORDS}) == len(RECORDS)
    builtin = {r.file for r in RECORDS if r.source == "builtin"}
    assert builtin == {p.name for p in _pretrained.BUILTIN_DIR.glob("*.safetensors")}


@pytest.mark.parametrize("record", [r for r in RECORDS if r.source == "builtin"], ids=lambda r: r.name)
def test_builtin_file_matches_its_record(record):
    path = builtin_path(record)
    assert sha256_file(path) == record.sha256
    assert path.stat().st_size == record.size


def test_local_official_files_match_their_records(official):
    routes = github_routes(official)
    assert len(routes) == 6  # a2n x2/x3, pan x2/x3/x4, imdn x4
    for record in RECORDS:
        for url_path, local in routes.items():
            if record.url.endswith(url_path):
                assert sha256_file(local) == record.sha256
                assert local.stat().st_size == record.size


def test_builtin_weights_are_verified_on_load(tmp_path, monkeypatch):
    model = create_model("a2n", scale=4, pretrained=True)
    assert n_params(model) == 1_047_459 and model.record["name"] == "a2n"
    damaged = bytearray((_pretrained.BUILTIN_DIR / "a2n_x4.safetensors").read_bytes())
    damaged[-100] ^= 0xFF  # a flipped byte inside a tensor: the file still reads, only its hash tells
    (tmp_path / "a2n_x4.safetensors").write_bytes(bytes(damaged))
    monkeypatch.setattr(_pretrained, "BUILTIN_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="damaged"):
        create_model("a2n", scale=4, pretrained=True)


def test_missing_weights_say_what_exists():
    with pytest.raises(CheckpointError, match=r"no built-in weights for pan x2; pan has pan_x2.official \(x2\)"):
        create_model("pan", scale=2, pretrained=True)
    with pytest.raises(CheckpointError, match="no official weights for edsr x2; edsr has no weights at all"):
        create_model("edsr", scale=2, pretrained="official")


# --- download, cache, resume, refusal -----------------------------------------------------------------


def test_download_caches_and_reuses(mirror, official):
    record = get_record("pan_x4.official")
    assert (
        resolve_url(record) == mirror.url + "/zhaohengyuan1/PAN/raw/master/experiments/pretrained_models/PANx4_DF2K.pth"
    )
    seen = []
    path = fetch(record, progress=lambda done, total: seen.append((done, total)))
    assert path == cached_path(record) and sha256_file(path) == record.sha256
    assert len(mirror.requests) == 1 and seen[-1] == (record.size, record.size)
    model = create_model("pan", scale=4, pretrained="official")  # from the cache: no second request
    assert len(mirror.requests) == 1
    reference = attnsr.build_from_checkpoint(official / "pan_x4.pth")
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))


def test_partial_download_is_resumed_with_range(mirror, official):
    record = get_record("a2n_x2.official")
    data = (official / "a2n_x2.pt").read_bytes()
    part = cached_path(record).with_name(record.file + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 2])
    path = fetch(record)
    assert mirror.requests == [(urlpath(record), f"bytes={len(data) // 2}-")]
    assert path.read_bytes() == data and not part.exists()


def urlpath(record) -> str:
    return record.url.removeprefix("https://github.com")


@pytest.mark.parametrize(
    "mutate",
    [lambda b: b[: len(b) - 1000], lambda b: b[:5000] + bytes([b[5000] ^ 1]) + b[5001:]],
    ids=["truncated", "altered"],
)
def test_bad_download_is_refused_and_nothing_cached(mirror, tmp_path, mutate):
    mirror.mutate = mutate
    with pytest.raises(CheckpointError, match="nothing was cached"):
        fetch(get_record("pan_x2.official"))
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    assert len(mirror.requests) == 1


def test_server_down_is_one_line_with_the_url_and_weights_path(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ATTNSR_MIRROR", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ATTNSR_CACHE", str(tmp_path / "cache"))
    assert main(["weights", "download", "pan_x4.official", "--no-progress"]) != 0
    line = one_error_line(capsys)
    assert f"http://127.0.0.1:{port}/zhaohengyuan1/PAN/raw/master/experiments/pretrained_models/PANx4_DF2K.pth" in line
    assert "by hand" in line and line.endswith("--weights PANx4_DF2K.pth")
    data = tmp_path / "ds"
    assert main(["eval", "--model", "imdn", "--scale", "4", "--weights", "official", "--data", str(data)]) != 0
    assert "IMDN_x4.pth" in one_error_line(capsys)


def test_weights_cli_list_download_path_verify(mirror, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert all(r.name in out for r in RECORDS)
    assert main(["weights", "path", "pan_x3.official"]) != 0
    assert "not downloaded" in one_error_line(capsys)
    assert main(["weights", "download", "pan_x3.official", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["weights", "path", "pan_x3.official"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == cached_path(get_record("pan_x3.official")) and path.is_file()
    assert main(["weights", "verify"]) == 0
    assert "pan_x3.official: ok" in capsys.readouterr().out
    path.write_bytes(path.read_bytes()[:-1])
    assert main(["weights", "verify", "pan_x3.official"]) != 0
    assert "sha256 MISMATCH" in capsys.readouterr().out
    assert main(["weights", "download", "pan_x33.official"]) != 0
    assert "no weights named 'pan_x33.official'" in one_error_line(capsys)


# --- foreign checkpoints: sha256 > keys and shapes > the caller; never the file name alone ---------------


def test_pan_x2_renamed_without_scale_is_refused_at_x3(official, tmp_path, capsys):
    renamed = tmp_path / "pan.pth"
    shutil.copy(official / "pan_x2.pth", renamed)
    assert attnsr.build_from_checkpoint(renamed).arch["scale"] == 2  # the record's sha256 decides
    assert main(["eval", "--scale", "3", "--weights", str(renamed), "--data", str(tmp_path)]) != 0
    line = one_error_line(capsys)
    assert "holds pan x2 weights (its sha256 is pan_x2.official's), not x3" in line


def save_state(model: torch.nn.Module, path: Path, *, prefix: str = "") -> Path:
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return path


@pytest.mark.parametrize(
    ("name", "scale", "options", "scales"),
    [
        ("pan", 4, {}, (4,)),
        ("pan", 2, {}, (2, 3)),
        ("a2n", 3, {"num_blocks": 2}, (2, 3)),
        ("a2n_m", 4, {"num_blocks": 2}, (4,)),
        ("imdn", 3, {}, (3,)),
        ("imdn", 2, {"num_blocks": 2}, (2,)),
        ("carn_m", 3, {"groups": 4}, (2, 3, 4)),
        ("carn", 3, {"multi_scale": False, "num_blocks": 1}, (3,)),
    ],
)
def test_architecture_and_scale_from_keys_and_shapes(name, scale, options, scales):
    state = create_model(name, scale=scale, **options).state_dict()
    found = detect_architecture(state)
    assert (found.arch, found.scales) == (name, scales)
    rebuilt = create_model(name, scale=scale, **{**found.options})
    assert n_params(rebuilt) == sum(v.numel() for k, v in state.items() if "running" not in k)


def test_undecidable_scale_needs_the_caller_and_a_contradicting_name_is_refused(tmp_path):
    torch.manual_seed(0)
    path = save_state(create_model("pan", scale=2, num_blocks=2), tmp_path / "mine.pth")
    with pytest.raises(CheckpointError, match=r"holds pan x2/x3 weights and cannot tell which; give the scale"):
        attnsr.build_from_checkpoint(path)
    assert attnsr.build_from_checkpoint(path, scale=3).arch == {
        "name": "pan",
        "scale": 3,
        "options": {"num_feats": 40, "num_blocks": 2},
    }
    named = shutil.copy(path, tmp_path / "mine_x2.pth")
    with pytest.raises(CheckpointError, match="named for scale x2, not x3"):
        attnsr.build_from_checkpoint(named, scale=3)
    with pytest.raises(CheckpointError, match=r"holds pan weights \(from its keys and shapes\), not a2n"):
        attnsr.build_from_checkpoint(path, name="a2n", scale=2)
    x4 = save_state(create_model("imdn", scale=3, num_blocks=2), tmp_path / "imdn_x4.pth")
    with pytest.raises(CheckpointError, match="named for scale x4 but holds imdn x3 weights"):
        attnsr.build_from_checkpoint(x4)


def test_unknown_layout_needs_model_and_scale_and_then_must_fit(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"body.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(CheckpointError, match="layout attnsr does not recognise"):
        attnsr.build_from_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not fit model pan x2"):
        attnsr.build_from_checkpoint(path, name="pan", scale=2)


# --- CARN-M with groups=4: the original network -------------------------------------------------------


def test_carn_m_groups_4_has_the_official_shapes_and_loads_an_official_layout(tmp_path):
    model = create_model("carn_m", scale=4, groups=4)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["b1.b1.body.0.weight"] == (64, 16, 3, 3)
    assert shapes["b1.b1.body.4.weight"] == (64, 64, 1, 1)  # the 1×1 conv is not grouped
    assert shapes["upsample.up3.body.0.weight"] == (576, 16, 3, 3)
    # The count worked out from the official code's layers (entry, 3 blocks, 3 fusions, 3 upsamplers,
    # exit, two frozen mean shifts) equals the record's.
    block = 2 * (64 * 16 * 9 + 64) + (64 * 64 + 64) + sum(c * 64 + 64 for c in (128, 192, 256))
    upsamplers = 3 * (256 * 16 * 9 + 256) + (576 * 16 * 9 + 576)
    official = (3 * 64 * 9 + 64) + 3 * block + sum(c * 64 + 64 for c in (128, 192, 256)) + upsamplers
    official += (64 * 3 * 9 + 3) + 2 * (9 + 3)
    assert n_params(model) == official == get_record("carn_m.official").num_params
    torch.manual_seed(1)
    path = save_state(create_model("carn_m", scale=2, groups=4), tmp_path / "carn_m.pth", prefix="module.")
    single = attnsr.build_from_checkpoint(path, scale=3, options={"multi_scale": False})
    multi = attnsr.build_from_checkpoint(path, scale=3)
    assert single.arch["options"]["groups"] == 4
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(single.eval()(x), multi.eval()(x))


# --- attnsr models, hubconf, layering -----------------------------------------------------------------


def test_models_lists_weights_per_scale(monkeypatch, capsys):
    assert [cmd_models.weights_cell("pan", s) for s in (2, 3, 4)] == ["official"] * 3
    assert cmd_models.weights_cell("a2n", 4) == "built-in" and "official" in cmd_models.weights_cell("a2n", 2)
    assert [cmd_models.weights_cell("carn_m", s) for s in (2, 3, 4)] == ["official"] * 3
    assert cmd_models.weights_cell("edsr", 4) == "-"
    monkeypatch.setattr(cmd_models, "count", lambda name, scale: 0)
    assert main(["models"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["pan"][-3:] == ["official"] * 3 and rows["a2n"][-1] == "built-in" and rows["edsr"][-1] == "-"


def test_torch_hub_load_from_a_local_clone():
    model = torch.hub.load(str(REPO), "a2n", source="local", scale=4, pretrained=True)
    assert model.arch == {"name": "a2n", "scale": 4, "options": {}} and n_params(model) == 1_047_459
    fresh = torch.hub.load(str(REPO), "pan", source="local", scale=2, num_blocks=2)
    assert fresh.arch["options"] == {"num_blocks": 2}


def imported_modules(path: Path) -> tuple[set[str], bool]:
    """Modules a file imports (relative names, last component) and whether any import sits in a function."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            names.add(node.module or "")
            names.update(a.name for a in node.names if not node.module)
    deferred = any(
        isinstance(inner, ast.ImportFrom) and inner.level
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for inner in ast.walk(fn)
    )
    return names, deferred


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("registry.py", {"_factory", "_pretrained", "_hub", "models"}),
        ("_pretrained.py", {"_factory", "_hub", "registry", "models"}),
        ("_hub.py", {"_factory", "registry", "models"}),
    ],
)
def test_lower_layers_never_import_higher_ones(module, forbidden):
    names, deferred = imported_modules(SRC / module)
    assert not names & forbidden and not deferred


def test_upscale_and_analyze_take_weights_official(mirror, tmp_path):
    image = tmp_path / "a.png"
    write_image(image, torch.rand(1, 3, 16, 16))
    out = tmp_path / "b.png"
    args = ["upscale", str(image), "--model", "pan", "--scale", "3", "--weights", "official", "-o", str(out)]
    assert main([*args, "--no-progress"]) == 0
    with Image.open(out) as im:
        assert im.size == (48, 48)
    args = ["analyze", "heatmap", "--model", "a2n", "--scale", "2", "--weights", "official", "--image", str(image)]
    assert main([*args, "-o", str(tmp_path / "h.png")]) == 0 and (tmp_path / "h.png").is_file()
    assert [p for p, _ in mirror.requests] == [urlpath(get_record(n)) for n in ("pan_x3.official", "a2n_x2.official")]
