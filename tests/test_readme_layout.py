"""The README's layout names every model file (issue 14, housekeeping)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_layout_lists_every_model_file():
    readme = ROOT / "README.md"
    layout = readme.read_text().split("## Layout", 1)[1].split("##", 1)[0]
    files = sorted(p.name for p in (ROOT / "src" / "attnsr" / "models").glob("*.py") if p.name != "__init__.py")
    missing = [f for f in files if f not in layout]
    assert not missing, f"README layout does not list {missing}"
