"""Render every committed study's report into docs/studies/README.md (between its ``study:NAME`` markers).

Usage: python scripts/studies_doc.py [--budget cpu]
Each block is exactly what ``attnsr study report studies/NAME.yaml --budget B`` prints, from the records in
benchmarks/results/studies/NAME.json.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from attnsr.cli.cmd_study import report_markdown
from attnsr.outputs import write_text
from attnsr.study import cell_parameters, default_results_path, load_study, read_records

DOC = Path("docs/studies/README.md")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", default="cpu")
    args = ap.parse_args()
    text = DOC.read_text()
    for path in sorted(Path("studies").glob("*.yaml")):
        study = load_study(path)
        records = read_records(default_results_path(study))
        parameters = cell_parameters(study, budget=args.budget)
        report = report_markdown(study, records, budget=args.budget, parameters=parameters)
        block = re.compile(rf"(<!-- study:{study.name} -->\n)(?:.*?\n)?(<!-- /study:{study.name} -->)", re.S)
        if not block.search(text):
            raise SystemExit(f"{DOC}: no <!-- study:{study.name} --> ... <!-- /study:{study.name} --> block")
        text = block.sub(lambda m, r=report: m[1] + r.replace("### ", "#### ", 1) + "\n" + m[2], text)
    write_text(DOC, text, overwrite=True)
    print(f"rendered {DOC}")


if __name__ == "__main__":
    main()
