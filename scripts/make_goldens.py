"""Write the golden outputs of tests/test_golden.py — only on purpose, after a deliberate change of a model's
output (never from a test):

    python scripts/make_goldens.py [--overwrite] [CASE ...]

Each case (``tests/test_golden.py:CASES``; default: all) runs its model (fp32, CPU) on a 12×12 crop
(``INPUT_BOX``) of the bundled sample image and stores input and output in ``tests/golden/<case>.safetensors``
with the model, scale, weights and torch version as metadata. An existing golden is kept unless
``--overwrite`` is given. Needs the official checkpoints (``$ATTNSR_SHARED/weights/official``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch
from safetensors.torch import save

from attnsr.io import load_rgb
from attnsr.outputs import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "attnsr" / "assets" / "sample.png"


def golden_module():
    """tests/test_golden.py, the one place of the cases, the input box and the model loader."""
    spec = importlib.util.spec_from_file_location("test_golden", ROOT / "tests" / "test_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    g = golden_module()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"default: every case ({', '.join(g.CASES)})")
    parser.add_argument("--overwrite", action="store_true", help="replace existing goldens")
    args = parser.parse_args()
    cases = args.cases or list(g.CASES)
    unknown = [c for c in cases if c not in g.CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; valid: {', '.join(g.CASES)}")
    if any(g.CASES[c][2] != "builtin" for c in cases) and not g.official_dir().is_dir():
        parser.error(f"official checkpoints not found at {g.official_dir()} (set ATTNSR_SHARED)")
    torch.set_num_threads(1)
    left, top, width, height = g.INPUT_BOX
    x = load_rgb(SAMPLE)[..., top : top + height, left : left + width].contiguous()
    g.GOLDEN_DIR.mkdir(exist_ok=True)
    for case in cases:
        path = g.GOLDEN_DIR / f"{case}.safetensors"
        if path.exists() and not args.overwrite:
            print(f"{path.relative_to(ROOT)} exists (use --overwrite to replace it)", file=sys.stderr)
            continue
        name, scale, weights = g.CASES[case]
        model = g.load_case_model(case)
        out = g.run_case(model, x)
        meta = {"model": name, "scale": str(scale), "weights": weights, "torch": torch.__version__}
        with atomic_path(path, overwrite=True) as tmp:  # the mode a plain open gives (save_file: 0600)
            tmp.write_bytes(save({"input": x, "output": out.contiguous()}, metadata=meta))
        print(f"{case}: {tuple(out.shape)} -> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
