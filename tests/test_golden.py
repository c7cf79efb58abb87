"""Golden outputs (STYLE §11): every model with built-in or official weights, on a small fixed input, gives
the stored output to 1e-5 (max abs, fp32, CPU).

Each golden ``tests/golden/<case>.safetensors`` holds the input (1×3×12×12, a crop of the bundled sample
image, float RGB in [0, 1]) and the output (1×3×12s×12s, unclamped). They are written only by
``python scripts/make_goldens.py`` — on purpose, after a deliberate change of a model's output — never
by this test. Official checkpoints come from ``$ATTNSR_SHARED/weights/official``; their cases skip, saying
so, only when that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import attnsr

# The one import of the weights loader (its module is being moved; fix this line only).
from attnsr import build_from_checkpoint
from attnsr._pretrained import BUILTIN_DIR as PRETRAINED_DIR
from attnsr.settings import shared_root

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
TOLERANCE = 1e-5  # max abs difference, fp32
INPUT_BOX = (28, 88, 12, 12)  # (left, top, width, height) in src/attnsr/assets/sample.png

# case -> (model, scale, weights): "builtin" (the project's default weights) or a file of the official folder
CASES = {
    "a2n_x2_official": ("a2n", 2, "a2n_x2.pt"),
    "a2n_x3_official": ("a2n", 3, "a2n_x3.pt"),
    "a2n_x2_builtin": ("a2n", 2, "builtin"),
    "a2n_x3_builtin": ("a2n", 3, "builtin"),
    "a2n_x4_builtin": ("a2n", 4, "builtin"),
    "pan_x2_official": ("pan", 2, "pan_x2.pth"),
    "pan_x3_official": ("pan", 3, "pan_x3.pth"),
    "pan_x4_official": ("pan", 4, "pan_x4.pth"),
    "imdn_x4_official": ("imdn", 4, "imdn_x4.pth"),
}


def official_dir() -> Path:
    return shared_root() / "weights" / "official"


def load_case_model(case: str) -> torch.nn.Module:
    """The model of a golden case with its weights, fp32, eval mode; skips when official weights are absent."""
    name, scale, weights = CASES[case]
    if weights == "builtin":
        model = attnsr.create_model(name, scale=scale, pretrained=True)
    else:
        path = official_dir() / weights
        if not official_dir().is_dir():
            pytest.skip(f"official checkpoints not found at {official_dir()} (set ATTNSR_SHARED)")
        model = build_from_checkpoint(path, name=name, scale=scale)
    return model.float().eval()


def run_case(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x.contiguous()).float()


def read_golden(case: str) -> tuple[torch.Tensor, torch.Tensor, dict]:
    path = GOLDEN_DIR / f"{case}.safetensors"
    assert path.is_file(), f"no golden for {case}: run python scripts/make_goldens.py {case}"
    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor("input"), f.get_tensor("output"), f.metadata()


@pytest.mark.parametrize("case", list(CASES))
def test_model_reproduces_its_golden_output(case):
    x, expected, meta = read_golden(case)
    name, scale, weights = CASES[case]
    assert meta["model"] == name and int(meta["scale"]) == scale and meta["weights"] == weights
    assert x.shape == (1, 3, 12, 12) and expected.shape == (1, 3, 12 * scale, 12 * scale)
    assert x.dtype == expected.dtype == torch.float32
    out = run_case(load_case_model(case), x)
    assert out.shape == expected.shape
    diff = (out - expected).abs().max().item()
    assert diff <= TOLERANCE, f"{case}: max abs difference {diff:.3g} > {TOLERANCE}"


def test_every_available_checkpoint_has_a_golden():
    covered = {w for _, _, w in CASES.values()}
    builtin = {(n, s) for n, s, w in CASES.values() if w == "builtin"}
    for path in sorted(PRETRAINED_DIR.glob("*.safetensors")):
        name, _, scale = path.stem.rpartition("_x")
        assert (name, int(scale)) in builtin, f"built-in weights {path.name} have no golden case"
    if not official_dir().is_dir():
        pytest.skip(f"official checkpoints not found at {official_dir()} (set ATTNSR_SHARED)")
    missing = sorted(p.name for p in official_dir().iterdir() if p.suffix in (".pt", ".pth") and p.name not in covered)
    assert not missing, f"official checkpoints without a golden case: {missing}"


def test_the_comparison_sees_a_small_change_of_the_weights():
    """A golden that could not fail would be worth nothing: nudging one bias by 1e-3 must break it."""
    x, expected, _ = read_golden("a2n_x4_builtin")
    model = load_case_model("a2n_x4_builtin")
    assert (run_case(model, x) - expected).abs().max().item() <= TOLERANCE
    bias = next(p for n, p in model.named_parameters() if n.endswith("bias"))
    with torch.no_grad():
        bias[0] += 1e-3
    assert (run_case(model, x) - expected).abs().max().item() > TOLERANCE
