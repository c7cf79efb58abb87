"""The README's layout names every model file (issue 14); its default-weights tables are current (issue 10)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_layout_lists_every_model_file():
    readme = ROOT / "README.md"
    layout = readme.read_text().split("## Layout", 1)[1].split("##", 1)[0]
    files = sorted(p.name for p in (ROOT / "src" / "attnsr" / "models").glob("*.py") if p.name != "__init__.py")
    missing = [f for f in files if f not in layout]
    assert not missing, f"README layout does not list {missing}"


def test_readme_default_weights_block_matches_the_records():
    """The README's default-weights tables are the generated ones, and their "ours" rows are the built-in
    records' measured Set5..Urban100 (a release that forgets ``scripts/default_weights_table.py`` fails)."""
    from attnsr._pretrained import RECORDS

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- default-weights:start", 1)[1].split("-->", 1)[1].split("<!-- default-weights:end -->")[0]
    generated = (ROOT / "docs" / "training" / "default_weights.md").read_text()
    assert block.strip() == generated.strip().replace("### ", "#### ")
    builtin = [r for r in RECORDS if r.source == "builtin" and r.arch == "a2n"]
    assert sorted(r.scales for r in builtin) == [(2,), (3,), (4,)]
    for record in builtin:
        (scale,) = record.scales
        section = block.split(f"#### ×{scale} ", 1)[1].split("####", 1)[0]
        row = next(line for line in section.splitlines() if line.startswith("| attnsr A2N default"))
        cells = [c.strip() for c in row.strip("|").split("|")][2:]
        expected = [f"{s.psnr:.2f}/{s.ssim:.4f}" for s in record.measured]
        assert cells == expected, f"x{scale}: README {cells} != record {expected}"
