"""``attnsr study run|status|report STUDY.yaml``: a paper's table as training runs over cells and seeds."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import AttnsrError
from .argtypes import folder_path, output_file
from .render import StepBar, add_progress_argument, markdown, table


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of names, not {text!r}")
    return names


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integer seeds, not {text!r}") from None
    return seeds


def add_parser(sub) -> None:
    p = sub.add_parser("study", help="run a paper's table as training runs (cells x seeds); status; report")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (
        ("run", "train and evaluate what is missing, in order (a cut run resumes)"),
        ("status", "done / in progress / missing, per cell and seed"),
        ("report", "the Markdown table: mean ± sd, paired 95% interval against the reference, verdicts"),
    ):
        a = actions.add_parser(name, help=help_text)
        a.add_argument("study", type=Path, help="the study file (studies/*.yaml)")
        a.add_argument("--budget", default="cpu", help="which of the study's budgets (default: cpu)")
        a.add_argument(
            "--results",
            type=output_file(".json"),
            help="records file (default: benchmarks/results/studies/<study>.json)",
        )
        if name != "report":
            a.add_argument("--runs", type=folder_path, default=Path("runs/studies"), help="run folders' root")
            a.add_argument("--cells", type=_names, help="only these cells (comma-separated)")
            a.add_argument("--seeds", type=_seeds, help="only these seeds (comma-separated)")
        if name == "run":
            add_progress_argument(a)
        if name == "report":
            a.add_argument("-o", "--output", type=output_file(".md"), help="write the report here (else stdout)")
            a.add_argument("--overwrite", action="store_true", help="replace an existing report")
        a.set_defaults(run=globals()[f"run_{name}"])


def _plan(args: argparse.Namespace):
    from ..study import default_results_path, load_study, plan_study

    study = load_study(args.study)
    plan = plan_study(
        study,
        budget=args.budget,
        runs_root=getattr(args, "runs", Path("runs/studies")),
        cells=getattr(args, "cells", None),
        seeds=getattr(args, "seeds", None),
    )
    return plan, args.results or default_results_path(study)


def run_run(args: argparse.Namespace) -> int:
    from ..study import run_study

    plan, results = _plan(args)
    logging.getLogger("attnsr").setLevel(logging.INFO)
    bar = StepBar(disable=args.no_progress)

    def on_start(run, iteration: int) -> None:
        bar.close()
        bar.desc = f"{run.cell.name} seed {run.seed}"
        start = f", resuming at {iteration}" if iteration else ""
        print(f"{plan.study.name}: {run.cell.name} seed {run.seed}, {run.config.iterations} iterations{start}")

    def on_record(record: dict) -> None:
        bar.close()
        scores = ", ".join(f"{k} {v['psnr']:.4f}" for k, v in record["sets"].items())
        print(f"  recorded: {scores} ({record['train_seconds']:.0f} s training, {record['eval_seconds']:.0f} s eval)")

    finished = run_study(plan, results=results, on_start=on_start, on_step=bar, on_record=on_record)
    bar.close()
    print(f"{finished} run(s) finished; all {len(plan.runs)} recorded in {results}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from ..study import read_records, study_status

    plan, results = _plan(args)
    rows = []
    for st in study_status(plan, read_records(results)):
        detail = f"{st.psnr:.4f} dB {plan.study.metric}" if st.psnr is not None else ""
        if st.state == "in progress":
            detail = f"iteration {st.iteration} of {st.run.config.iterations}"
        rows.append([st.run.cell.name, st.run.seed, st.state, detail])
    print(f"{plan.study.name}, budget {plan.budget.name} ({plan.budget.iterations} iterations), records: {results}")
    print(table(["cell", "seed", "state", ""], rows))
    counts = {s: sum(r[2] == s for r in rows) for s in ("done", "in progress", "missing")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def _fmt_delta(d) -> str:
    if d is None:
        return "–"
    if d.low is None:
        return f"{d.mean:+.3f} (n={d.n})"
    return f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def report_markdown(study, records: list[dict], *, budget: str, parameters: dict[str, int] | None = None) -> str:
    """The study's table at one budget, with its budget, machine and method stated above it (``parameters``:
    each cell's size, where the records do not give it yet)."""
    from ..study import CONFIDENCE, budget_records, summarise

    summaries = summarise(study, records, budget=budget)
    parameters = parameters or {}
    b = study.budgets[budget]
    mine = budget_records(study, records, budget=budget)
    sets = list(next((s.sets for s in summaries if s.sets), {}))
    headers = ["cell", "params", "seeds"] + [f"{s} PSNR" for s in sets]
    headers += [f"Δ {study.metric} vs {study.reference} [{CONFIDENCE:.0%} CI]", "paper", "paper Δ", "verdict"]
    rows = []
    for s in summaries:
        name = s.cell.name + (f" ({s.cell.label})" if s.cell.label else "")
        size = s.parameters or parameters.get(s.cell.name)
        row = [name, f"{size:,}" if size else "–", f"{len(s.seeds)}/{len(study.seeds)}"]
        for set_name in sets:
            mean, sd = s.sets.get(set_name, (None, None))
            row.append("–" if mean is None else f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else ""))
        paper = f"{s.cell.paper_psnr:.3f}" if s.cell.paper_psnr is not None else "–"
        delta = f"{s.paper_delta:+.3f}" if s.paper_delta is not None else "–"
        rows.append(row + [_fmt_delta(s.difference), paper, delta, s.verdict])
    machines = sorted({r.get("gpu") or r["cpu"] for r in mine})
    precisions = sorted({str(r.get("train_precision")) for r in mine})
    lines = [
        f"### {study.title} — budget `{budget}`",
        "",
        f"{b.iterations} iterations per run. {b.note}".strip(),
        "",
        markdown(headers, rows),
        "",
        f"Mean ± sample standard deviation over seeds (PSNR, dB, Y channel, standard protocol, fp32 evaluation of the"
        f" {'EMA' if any(r.get('weights') == 'ema' for r in mine) else 'final'} weights). Δ: the cell minus the"
        f" reference on {study.metric}, paired by seed (same seed: same initialisation seed and patch order), with"
        f" its {CONFIDENCE:.0%} Student-t interval (scipy.stats.ttest_rel). Verdict: *reproduced* when the interval"
        f" excludes 0 on the paper's side, *not resolved at this budget* when it contains 0, *contradicted* when it"
        f" excludes 0 on the other side.",
        "",
        *([study.notes, ""] if study.notes else []),
        f"Runs: {len(mine)} of {len(study.cells) * len(study.seeds)}; trained on {', '.join(machines) or '–'};"
        f" training precision {', '.join(precisions) or '–'}.",
        f"Reproduce: `attnsr study run {study.path.as_posix()} --budget {budget}` then"
        f" `attnsr study report {study.path.as_posix()} --budget {budget}`.",
        *_correlation_lines(study, records, budget=budget),
    ]
    return "\n".join(lines)


def _correlation_lines(study, records: list[dict], *, budget: str) -> list[str]:
    """A2N Table 1 beside the paper's finding, for the study's correlation cells that have records."""
    from ..analysis.correlation import FILTERS
    from ..evaluate import dataset_name
    from ..study import correlation_summary

    if study.correlation is None:
        return []
    spec = study.correlation
    summary = correlation_summary(study, records, budget=budget)
    lines = ["", f"**Mask against high-pass feature (A2N Table 1)** on {dataset_name(Path(spec.images))}, cells"]
    lines[-1] += f" {', '.join(spec.cells)}; the paper: {spec.paper or '–'}."
    if not summary:
        return [*lines, "", "No correlation recorded yet (it is made when a run of these cells ends)."]
    for cell, blocks in summary.items():
        rows = [[b.block, b.module, *(f"{b.r[f]:+.3f}" for f in FILTERS), _sign(b.r[FILTERS[0]])] for b in blocks]
        seeds = ", ".join(str(s) for s in blocks[0].seeds)
        half = len(blocks) // 2
        first = sum(b.r[FILTERS[0]] < 0 for b in blocks[:half])
        last = sum(b.r[FILTERS[0]] > 0 for b in blocks[half:])
        lines += [
            "",
            f"Cell {cell}, seeds {seeds}: mean Pearson r of the channel-mean mask with the high-pass response of the"
            f" channel-mean feature it multiplies, mean over the images and seeds.",
            "",
            markdown(["block", "module", *(f"r {f}" for f in FILTERS), f"sign ({FILTERS[0]})"], rows),
            "",
            f"Negative in {first} of the first {half} blocks and positive in {last} of the last"
            f" {len(blocks) - half} ({FILTERS[0]}).",
        ]
    return lines


def _sign(r: float) -> str:
    return "negative" if r < 0 else "positive" if r > 0 else "0"


def run_report(args: argparse.Namespace) -> int:
    from ..outputs import check_outputs, write_text
    from ..study import cell_parameters, default_results_path, load_study, read_records

    check_outputs([args.output], overwrite=args.overwrite)
    study = load_study(args.study)
    if args.budget not in study.budgets:
        raise AttnsrError(f"study {str(args.study)!r}: no budget {args.budget!r}; budgets: {', '.join(study.budgets)}")
    records = read_records(args.results or default_results_path(study))
    parameters = cell_parameters(study, budget=args.budget)
    text = report_markdown(study, records, budget=args.budget, parameters=parameters)
    if args.output:
        write_text(args.output, text, overwrite=args.overwrite)
        print(f"report written to {args.output}")
    else:
        print(text)
    return 0
