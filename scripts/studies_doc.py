"""Render every committed study's report into docs/studies/README.md (between its ``study:NAME`` markers).

Usage: python scripts/studies_doc.py [--budget cpu] [--check]
Each block is exactly what ``attnsr study report studies/NAME.yaml --budget B`` prints, from the records in
benchmarks/results/studies/NAME.json. ``--check`` writes nothing and exits 1 when the page differs from
that rendering (a record committed without re-rendering the page).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from attnsr.cli.cmd_study import report_markdown
from attnsr.outputs import write_text
from attnsr.study import cell_parameters, default_results_path, load_study, read_records

DOC = Path("docs/studies/README.md")


def render(text: str, *, budget: str) -> str:
    """``text`` with every study's block replaced by its report at ``budget`` from the committed records."""
    for path in sorted(Path("studies").glob("*.yaml")):
        study = load_study(path)
        records = read_records(default_results_path(study))
        parameters = cell_parameters(study, budget=budget)
        report = report_markdown(study, records, budget=budget, parameters=parameters)
        block = re.compile(rf"(<!-- study:{study.name} -->\n)(?:.*?\n)?(<!-- /study:{study.name} -->)", re.S)
        if not block.search(text):
            raise SystemExit(f"{DOC}: no <!-- study:{study.name} --> ... <!-- /study:{study.name} --> block")
        text = block.sub(lambda m, r=report: m[1] + r.replace("### ", "#### ", 1) + "\n" + m[2], text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--check", action="store_true", help="exit 1 if the page is not the current rendering")
    args = ap.parse_args()
    text = DOC.read_text()
    rendered = render(text, budget=args.budget)
    if args.check:
        if rendered != text:
            sys.exit(f"{DOC} is not the rendering of the committed records: run python scripts/studies_doc.py")
        print(f"{DOC} is current")
        return
    write_text(DOC, rendered, overwrite=True)
    print(f"rendered {DOC}")


if __name__ == "__main__":
    main()
