"""Studies: a paper's table as a grid of ordinary training runs (cells × seeds), evaluated alike and
summarised with paired confidence intervals.

A study is one YAML file::

    name: a2n_table4
    title: A2N Table 4 (x4): the attention dropout module against its ablations
    base: ../configs/local/study_a2n_x4.yaml   # the ordinary training recipe (a path, or a mapping)
    reference: a2n                              # the cell every other cell is compared with
    metric: Set14                               # the evaluation set the paper's column and the verdicts use
    seeds: [0, 1, 2]
    eval_sets: ["${shared}/data/Set5", "${shared}/data/Set14", ...]
    budgets:                                    # named budgets: overrides of the recipe, iterations required
      cpu: {iterations: 2000, set: {threads: 2}, note: "..."}
      paper: {iterations: 1000000, set: {data.patch_size: 64, data.batch_size: 32}}
    cells:
      - {name: a2n, set: {}, paper: {psnr: 28.707, table: "A2N Table 4"}}
      - {name: addition, set: {model.options.fusion: add}, paper: {psnr: 28.651, table: "A2N Table 4"}}
    correlation:                                # optional: A2N Table 1 on these cells' final weights
      cells: [a2n]
      images: ${shared}/data/Set14
      paper: "negative in the first blocks, positive in the last (A2N Table 1)"

A run's config is the recipe ← the budget's ``set`` ← the cell's ``set`` ← its seed, iterations and run
folder (``<runs>/<study>/<budget>/<cell>/seed<k>``). The seed fixes the initialisation and the patch order,
so runs of different cells with one seed are paired. A finished run's final weights (EMA where the recipe
has it) are evaluated with the standard protocol in fp32 and one record is added to the results file; for
the ``correlation`` cells the record also holds each attention block's mean Pearson r of mask against
high-pass feature over the ``images`` (:func:`attnsr.analysis.correlation.correlate_attention`, A2N Table 1).
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ._factory import create_model
from .complexity import count_macs, count_parameters, paper_input_size
from .config import TrainConfig, load_config
from .data.lr_cache import default_lr_cache
from .errors import AttnsrError, ConfigError, ModelError
from .evaluate import benchmark_files, dataset_name, evaluate_folder, hr_folder, make_forward
from .io import list_images
from .outputs import write_text
from .precision import cpu_info
from .settings import expand
from .train import CHECKPOINT, StepInfo, holds_run, train

log = logging.getLogger(__name__)

CONFIDENCE = 0.95
_STUDY_KEYS = {
    "name", "title", "base", "reference", "metric", "seeds", "eval_sets", "budgets", "cells", "notes", "correlation"
}  # fmt: skip
_CORRELATION_KEYS = {"cells", "images", "paper"}
_CELL_KEYS = {"name", "set", "paper", "label"}
_BUDGET_KEYS = {"iterations", "set", "note"}


@dataclass(frozen=True)
class Cell:
    """One row of the paper's table: a name, its recipe overrides and the paper's figure for it."""

    name: str
    overrides: dict[str, Any]
    paper_psnr: float | None = None  # on the study's metric set
    paper_table: str | None = None
    label: str | None = None  # the paper's name of the row, where it differs


@dataclass(frozen=True)
class Budget:
    name: str
    iterations: int
    overrides: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class CorrelationSpec:
    """Which cells' final weights get A2N's Table 1 (mask against high-pass feature, per block), on which
    images, and what the paper found."""

    cells: tuple[str, ...]
    images: str  # a benchmark folder (``DIR`` or ``DIR/HR``), ``${shared}`` expanded when used
    paper: str = ""


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    path: Path
    base: Path | dict[str, Any]
    reference: str
    metric: str
    seeds: tuple[int, ...]
    eval_sets: tuple[str, ...]
    budgets: dict[str, Budget]
    cells: tuple[Cell, ...]
    notes: str = ""
    correlation: CorrelationSpec | None = None

    def cell(self, name: str) -> Cell:
        return next(c for c in self.cells if c.name == name)


@dataclass(frozen=True)
class Run:
    """One (cell, seed) of a study at a budget: its resolved training config."""

    cell: Cell
    seed: int
    budget: Budget
    config: TrainConfig

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.budget.name, self.cell.name, self.seed)


@dataclass(frozen=True)
class Plan:
    """A checked study at one budget: its runs in the order ``run`` trains them (seed-major, so the first
    seeds of every cell finish first and the comparison is paired early), with each cell's size."""

    study: Study
    budget: Budget
    runs: tuple[Run, ...]
    parameters: dict[str, int]
    macs: dict[str, int]
    macs_input: tuple[int, int]
    eval_folders: tuple[Path, ...]
    correlation_folder: Path | None = None


def _refuse(study_path: Path, message: str) -> ConfigError:
    return ConfigError(f"study {str(study_path)!r}: {message}")


def _mapping(value: Any, what: str, path: Path) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refuse(path, f"{what} must be a mapping, not {value!r}")
    return {str(k): v for k, v in value.items()}


def _unknown(keys, allowed: set[str], what: str, path: Path) -> None:
    extra = sorted(set(keys) - allowed)
    if extra:
        raise _refuse(path, f"unknown key {extra[0]!r} in {what}; valid: {', '.join(sorted(allowed))}")


def _parse_cell(raw: Any, path: Path) -> Cell:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise _refuse(path, f"every cell needs a name: {raw!r}")
    _unknown(raw, _CELL_KEYS, f"cell {raw['name']!r}", path)
    paper = _mapping(raw.get("paper"), f"cell {raw['name']!r} paper", path)
    psnr = paper.get("psnr")
    if psnr is not None and (isinstance(psnr, bool) or not isinstance(psnr, (int, float))):
        raise _refuse(path, f"cell {raw['name']!r}: paper.psnr must be a number, not {psnr!r}")
    return Cell(
        name=raw["name"],
        overrides=_mapping(raw.get("set"), f"cell {raw['name']!r} set", path),
        paper_psnr=None if psnr is None else float(psnr),
        paper_table=paper.get("table"),
        label=raw.get("label"),
    )


def _parse_budget(name: str, raw: Any, path: Path) -> Budget:
    raw = _mapping(raw, f"budget {name!r}", path)
    _unknown(raw, _BUDGET_KEYS, f"budget {name!r}", path)
    iterations = raw.get("iterations")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise _refuse(path, f"budget {name!r} needs iterations, a positive integer, not {iterations!r}")
    return Budget(name, iterations, _mapping(raw.get("set"), f"budget {name!r} set", path), str(raw.get("note", "")))


def _parse_correlation(raw: Any, cells: list[str], path: Path) -> CorrelationSpec | None:
    if raw is None:
        return None
    raw = _mapping(raw, "correlation", path)
    _unknown(raw, _CORRELATION_KEYS, "correlation", path)
    chosen = raw.get("cells")
    if not isinstance(chosen, list) or not chosen or not all(isinstance(c, str) for c in chosen):
        raise _refuse(path, f"correlation.cells must be a non-empty list of cell names, not {chosen!r}")
    for name in chosen:
        if name not in cells:
            raise _refuse(path, f"correlation cell {name!r} is not a cell; cells: {', '.join(cells)}")
    images = raw.get("images")
    if not isinstance(images, str) or not images:
        raise _refuse(path, f"correlation.images must be an image folder, not {images!r}")
    return CorrelationSpec(tuple(chosen), images, str(raw.get("paper", "")))


def load_study(path: str | Path) -> Study:
    """Read and shape-check a study file (one-line ConfigError on anything malformed)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise _refuse(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise _refuse(path, "must hold a mapping")
    _unknown(raw, _STUDY_KEYS, "the study", path)
    for key in ("name", "base", "reference", "metric", "seeds", "eval_sets", "budgets", "cells"):
        if key not in raw:
            raise _refuse(path, f"missing key {key!r}")
    base = raw["base"]
    if isinstance(base, str):
        base = (path.parent / base).resolve()
        if not base.is_file():
            raise _refuse(path, f"base recipe {str(base)!r} does not exist")
    elif not isinstance(base, dict):
        raise _refuse(path, "base must be a recipe file (relative to the study file) or a mapping")
    seeds = raw["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise _refuse(path, f"seeds must be a list of distinct integers in [0, 2**32), not {seeds!r}")
    if not isinstance(raw["cells"], list) or not raw["cells"]:
        raise _refuse(path, "cells must be a non-empty list")
    cells = tuple(_parse_cell(c, path) for c in raw["cells"])
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise _refuse(path, f"cell names must be distinct: {names}")
    if raw["reference"] not in names:
        raise _refuse(path, f"reference {raw['reference']!r} is not a cell; cells: {', '.join(names)}")
    budgets = {str(k): _parse_budget(str(k), v, path) for k, v in _mapping(raw["budgets"], "budgets", path).items()}
    if not budgets:
        raise _refuse(path, "budgets must name at least one budget")
    sets = raw["eval_sets"]
    if not isinstance(sets, list) or not sets or not all(isinstance(s, str) for s in sets):
        raise _refuse(path, f"eval_sets must be a list of folders, not {sets!r}")
    if raw["metric"] not in [dataset_name(hr_folder(expand(s))) for s in sets]:
        raise _refuse(path, f"metric {raw['metric']!r} is not one of the eval_sets")
    return Study(
        name=str(raw["name"]),
        title=str(raw.get("title", raw["name"])),
        path=path,
        base=base,
        reference=raw["reference"],
        metric=raw["metric"],
        seeds=tuple(seeds),
        eval_sets=tuple(sets),
        budgets=budgets,
        cells=cells,
        notes=str(raw.get("notes", "")),
        correlation=_parse_correlation(raw.get("correlation"), names, path),
    )


def run_config(study: Study, cell: Cell, seed: int, budget: Budget, *, runs_root: Path) -> TrainConfig:
    """The ordinary training config of one run (see the module docstring for the layering)."""
    clash = sorted(set(cell.overrides) & set(budget.overrides))
    if clash:
        raise _refuse(study.path, f"cell {cell.name!r} and budget {budget.name!r} both set {clash[0]!r}")
    out_dir = runs_root / study.name / budget.name / cell.name / f"seed{seed}"
    fixed = {"seed": seed, "iterations": budget.iterations, "out_dir": str(out_dir)}
    layers = [budget.overrides, cell.overrides, fixed]
    path = study.base if isinstance(study.base, Path) else None
    if isinstance(study.base, dict):
        layers.insert(0, study.base)
    try:
        return load_config(path, layers=layers)
    except ConfigError as exc:
        raise _refuse(study.path, f"cell {cell.name!r}, budget {budget.name!r}: {exc}") from None


def _check_data_folders(study: Study, cfg: TrainConfig) -> None:
    """Every training and validation folder of one run's config exists and holds images."""
    folders = [expand(d) for d in cfg.data.train_dirs] + ([expand(cfg.data.val_dir)] if cfg.data.val_dir else [])
    for folder in folders:
        if not folder.is_dir() or not list_images(folder):
            raise _refuse(study.path, f"data folder {str(folder)!r} does not exist or holds no images")


def _image_folder(study: Study, text: str, what: str) -> Path:
    """A benchmark folder of the study, checked to exist and hold images."""
    folder = expand(text)
    try:
        benchmark_files(folder)
        if not list_images(hr_folder(folder)):
            raise FileNotFoundError
    except (OSError, AttnsrError):
        raise _refuse(study.path, f"{what} folder {str(folder)!r} does not exist or holds no images") from None
    return folder


def _eval_folders(study: Study) -> tuple[Path, ...]:
    """The study's evaluation folders, each checked to exist and hold images."""
    return tuple(_image_folder(study, text, "evaluation") for text in study.eval_sets)


def plan_study(
    study: Study,
    *,
    budget: str,
    runs_root: Path = Path("runs/studies"),
    cells: list[str] | None = None,
    seeds: list[int] | None = None,
) -> Plan:
    """Check everything a study needs before any training: the budget, every cell's config and model (built
    once, which also gives its size), every data folder; a bad study is one ConfigError line."""
    if budget not in study.budgets:
        raise _refuse(study.path, f"no budget {budget!r}; budgets: {', '.join(study.budgets)}")
    chosen_cells = [c.name for c in study.cells] if cells is None else cells
    for name in chosen_cells:
        if name not in [c.name for c in study.cells]:
            raise _refuse(study.path, f"no cell {name!r}; cells: {', '.join(c.name for c in study.cells)}")
    chosen_seeds = list(study.seeds) if seeds is None else seeds
    for s in chosen_seeds:
        if s not in study.seeds:
            raise _refuse(study.path, f"seed {s} is not one of the study's seeds {list(study.seeds)}")
    b = study.budgets[budget]
    parameters, macs, runs, size = {}, {}, [], (0, 0)
    for cell in study.cells:  # every cell is checked, also when only some are run
        cfg = run_config(study, cell, study.seeds[0], b, runs_root=runs_root)
        _check_data_folders(study, cfg)
        try:
            model = create_model(cfg.model.name, scale=cfg.model.scale, **cfg.model.options)
        except (ModelError, TypeError, ValueError) as exc:
            raise _refuse(study.path, f"cell {cell.name!r} does not build: {exc}") from None
        size = paper_input_size(cfg.model.name, cfg.model.scale)
        parameters[cell.name] = count_parameters(model)
        macs[cell.name] = count_macs(model, input_size=size)
    for seed in chosen_seeds:
        for name in chosen_cells:
            cell = study.cell(name)
            runs.append(Run(cell, seed, b, run_config(study, cell, seed, b, runs_root=runs_root)))
    correlation = _image_folder(study, study.correlation.images, "correlation") if study.correlation else None
    return Plan(study, b, tuple(runs), parameters, macs, size, _eval_folders(study), correlation)


def cell_parameters(study: Study, *, budget: str) -> dict[str, int] | None:
    """Each cell's parameter count from its built model, or None where the study cannot be planned here (its
    data is elsewhere): what a report shows for cells that have no record yet."""
    try:
        return plan_study(study, budget=budget).parameters
    except AttnsrError:
        return None


# ---- records ----------------------------------------------------------------------------------------------


def default_results_path(study: Study) -> Path:
    return Path("benchmarks/results/studies") / f"{study.name}.json"


def read_records(path: Path) -> list[dict]:
    """The records of a results file (none when it does not exist yet)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        return list(data["records"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"results file {str(path)!r} is not a study results file") from None


def add_record(path: Path, study: Study, record: dict) -> None:
    """Add (or replace) the record of one (budget, cell, seed), atomically, re-reading the file first."""
    key = (record["budget"], record["cell"], record["seed"])
    records = [r for r in read_records(path) if (r["budget"], r["cell"], r["seed"]) != key] + [record]
    order = {c.name: i for i, c in enumerate(study.cells)}
    records.sort(key=lambda r: (r["budget"], order.get(r["cell"], len(order)), r["cell"], r["seed"]))
    write_text(path, json.dumps({"study": study.name, "records": records}, indent=1), overwrite=True)


def done_keys(plan: Plan, records: list[dict]) -> set[tuple[str, str, int]]:
    """The runs of ``plan`` whose record exists at the budget's current number of iterations."""
    return {
        (r["budget"], r["cell"], r["seed"])
        for r in records
        if r["budget"] == plan.budget.name and r["iterations"] == plan.budget.iterations
    }


def _git_revision() -> dict:
    """HEAD of the checkout the running package was imported from, and whether its sources differ from it.

    Asked of the package's own folder, not the working folder: a study run from one checkout with the code of
    another (``PYTHONPATH``, a worktree) records the revision of the code that trained. Both are ``None``
    for an installed package outside any git checkout.
    """
    package = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    tracked = git("ls-files", "--", "__init__.py")  # not a copy installed inside some checkout's ignored venv
    rev = git("rev-parse", "HEAD") if tracked else None
    dirty = git("status", "--porcelain", "--", ".") if rev else None
    return {"revision": rev, "sources_modified": bool(dirty) if dirty is not None else None}


def _trained_model(run: Run, weights: Path) -> torch.nn.Module:
    cfg = run.config
    return create_model(cfg.model.name, scale=cfg.model.scale, pretrained=weights, **cfg.model.options).eval()


def evaluate_run(run: Run, weights: Path, folders: tuple[Path, ...]) -> dict[str, dict[str, float]]:
    """Standard protocol, fp32, whole image, on each folder: ``{set: {"psnr", "ssim", "images"}}``."""
    cfg = run.config
    model = _trained_model(run, weights)
    forward = make_forward(model, scale=cfg.model.scale, protocol="standard", precision="fp32")
    out = {}
    for folder in folders:
        res = evaluate_folder(forward, folder, scale=cfg.model.scale, protocol="standard", cache_dir=default_lr_cache())
        out[res.dataset] = {"psnr": round(res.psnr, 4), "ssim": round(res.ssim, 4), "images": len(res.images)}
    return out


def correlate_run(run: Run, weights: Path, folder: Path) -> dict:
    """A2N Table 1 for one run's final weights (fp32): ``{"set", "images", "rows"}``, ``rows`` one per attention
    block and feature with the mean r over the images for each filter (:meth:`CorrelationResult.rows`)."""
    from .analysis.correlation import FILTERS, correlate_attention
    from .analysis.images import benchmark_images

    model = _trained_model(run, weights)
    images = [(name, lr) for name, _, lr in benchmark_images(folder, scale=run.config.model.scale)]
    result = correlate_attention(model, images)
    rows = [
        {"block": r["block"], "module": r["module"], "feature": r["feature"], **{f: round(r[f], 4) for f in FILTERS}}
        for r in result.rows()
    ]
    return {"set": dataset_name(folder), "images": len(result.images), "rows": rows}


def _final_record(weights: Path) -> dict:
    from ._pretrained import read_checkpoint

    _, info = read_checkpoint(weights)
    return info.get("record") or {}


def run_one(plan: Plan, run: Run, *, on_step: Callable[[StepInfo], None] | None, revision: dict) -> dict:
    """Train (or resume) one run, evaluate its final weights and return its record."""
    resume = holds_run(run.out_dir)
    t0 = time.perf_counter()
    weights = train(run.config, resume=resume, on_step=on_step)
    t1 = time.perf_counter()
    sets = evaluate_run(run, weights, plan.eval_folders)
    correlation = None
    if plan.correlation_folder is not None and run.cell.name in plan.study.correlation.cells:
        correlation = correlate_run(run, weights, plan.correlation_folder)
    eval_seconds = time.perf_counter() - t1
    trained = _final_record(weights)
    env = trained.get("environment", {})
    return {
        "cell": run.cell.name,
        "seed": run.seed,
        "budget": run.budget.name,
        "iterations": run.config.iterations,
        "model": run.config.model.name,
        "options": run.config.model.options,
        "scale": run.config.model.scale,
        "parameters": plan.parameters[run.cell.name],
        "macs": plan.macs[run.cell.name],
        "macs_input": list(plan.macs_input),
        "sets": sets,
        "weights": "ema" if run.config.optim.ema else "final",
        "train_seconds": trained.get("train_seconds", round(t1 - t0, 1)),
        "eval_seconds": round(eval_seconds, 1),
        "device": env.get("device", "cpu"),
        "gpu": env.get("gpu"),
        "cpu": cpu_info().describe(),
        "threads": env.get("threads", torch.get_num_threads()),
        "train_precision": env.get("precision"),
        "eval_precision": "fp32",
        "torch": torch.__version__,
        "git": revision,
        **({"correlation": correlation} if correlation is not None else {}),
    }


def run_study(
    plan: Plan,
    *,
    results: Path,
    on_start: Callable[[Run, int], None] | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> int:
    """Run what is missing of ``plan``, in order (a run with a checkpoint resumes); returns how many runs ended.
    ``on_start(run, iteration)`` is called before each run with the iteration it resumes from."""
    revision = _git_revision()  # the code this process runs, whatever is committed while it runs
    finished = 0
    for run in plan.runs:
        if run.key in done_keys(plan, read_records(results)):
            continue
        if on_start:
            on_start(run, progress(run))
        log.info("study %s: %s seed %d (%s budget)", plan.study.name, run.cell.name, run.seed, run.budget.name)
        record = run_one(plan, run, on_step=on_step, revision=revision)
        add_record(results, plan.study, record)
        finished += 1
        if on_record:
            on_record(record)
    return finished


def progress(run: Run) -> int:
    """The iteration a run's checkpoint holds (0: not started, or a checkpoint that does not read)."""
    if not holds_run(run.out_dir):
        return 0
    try:  # memory-mapped: only the few bytes of the iteration are read
        ck = torch.load(run.out_dir / CHECKPOINT, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any unreadable checkpoint is "not started" here; train() says why
        return 0
    return int(ck.get("iteration", 0))


@dataclass(frozen=True)
class RunStatus:
    run: Run
    state: str  # done | in progress | missing
    iteration: int
    psnr: float | None  # on the metric set, when done


def study_status(plan: Plan, records: list[dict]) -> list[RunStatus]:
    done = {(r["budget"], r["cell"], r["seed"]): r for r in records if r["iterations"] == plan.budget.iterations}
    out = []
    for run in plan.runs:
        rec = done.get(run.key)
        if rec is not None:
            out.append(RunStatus(run, "done", run.config.iterations, rec["sets"][plan.study.metric]["psnr"]))
        elif holds_run(run.out_dir):
            out.append(RunStatus(run, "in progress", progress(run), None))
        else:
            out.append(RunStatus(run, "missing", 0, None))
    return out


# ---- statistics -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A cell's paired difference from the reference on one set: the mean over seeds run by both, and its
    two-sided confidence interval (Student's t over the per-seed differences; None with fewer than 2)."""

    mean: float
    low: float | None
    high: float | None
    n: int


def paired_difference(cell: Mapping[int, float], reference: Mapping[int, float]) -> Difference | None:
    """Paired by seed (same initialisation seed, same patch order): scipy's ``ttest_rel`` interval."""
    seeds = sorted(set(cell) & set(reference))
    if not seeds:
        return None
    diffs = [cell[s] - reference[s] for s in seeds]
    mean = sum(diffs) / len(diffs)
    if len(seeds) < 2:
        return Difference(mean, None, None, len(seeds))
    try:
        from scipy import stats
    except ImportError:
        raise AttnsrError("confidence intervals need scipy: pip install 'attnsr[study]'") from None
    if max(diffs) == min(diffs):  # no spread: scipy's interval is undefined (0/0); the difference is exact
        return Difference(mean, mean, mean, len(seeds))
    ci = stats.ttest_rel([cell[s] for s in seeds], [reference[s] for s in seeds]).confidence_interval(CONFIDENCE)
    return Difference(mean, float(ci.low), float(ci.high), len(seeds))


VERDICTS = ("reproduced", "not resolved at this budget", "contradicted")


def verdict(diff: Difference | None, paper_delta: float | None) -> str:
    """*reproduced* (the interval excludes 0 on the paper's side), *not resolved at this budget* (it contains
    0, or there are fewer than two paired seeds), *contradicted* (it excludes 0 on the other side)."""
    if paper_delta is None or paper_delta == 0:
        return "no paper difference to test"
    if diff is None or diff.low is None:
        return "not resolved at this budget (fewer than 2 paired seeds)"
    if diff.low <= 0 <= diff.high:
        return VERDICTS[1]
    return VERDICTS[0] if (diff.low > 0) == (paper_delta > 0) else VERDICTS[2]


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass
class CellSummary:
    cell: Cell
    seeds: list[int]
    parameters: int | None
    macs: int | None
    sets: dict[str, tuple[float, float | None]]  # set → (mean, sd) PSNR
    difference: Difference | None
    paper_delta: float | None
    verdict: str
    ssim: dict[str, float] = field(default_factory=dict)


def budget_records(study: Study, records: list[dict], *, budget: str) -> list[dict]:
    """The records made at ``budget`` with its current iteration count (a changed budget's old runs left out)."""
    return [r for r in records if r["budget"] == budget and r["iterations"] == study.budgets[budget].iterations]


def summarise(study: Study, records: list[dict], *, budget: str) -> list[CellSummary]:
    """Per cell (in the study's order): mean ± sd over seeds per set, the paired difference from the reference
    on the metric set with its interval, the paper's difference and the verdict."""
    mine = budget_records(study, records, budget=budget)
    by_cell: dict[str, dict[int, dict]] = {}
    for r in mine:
        by_cell.setdefault(r["cell"], {})[r["seed"]] = r
    ref_cell = study.cell(study.reference)
    ref = {s: r["sets"][study.metric]["psnr"] for s, r in by_cell.get(study.reference, {}).items()}
    out = []
    for cell in study.cells:
        runs = by_cell.get(cell.name, {})
        sets_order = list(next(iter(runs.values()))["sets"]) if runs else []
        sets = {name: _mean_sd([r["sets"][name]["psnr"] for r in runs.values()]) for name in sets_order}
        ssim = {name: sum(r["sets"][name]["ssim"] for r in runs.values()) / len(runs) for name in sets_order}
        mine_metric = {s: r["sets"][study.metric]["psnr"] for s, r in runs.items()}
        is_ref = cell.name == study.reference
        diff = None if is_ref else paired_difference(mine_metric, ref)
        paper_delta = None
        if not is_ref and cell.paper_psnr is not None and ref_cell.paper_psnr is not None:
            paper_delta = round(cell.paper_psnr - ref_cell.paper_psnr, 4)
        any_run = next(iter(runs.values()), None)
        out.append(
            CellSummary(
                cell=cell,
                seeds=sorted(runs),
                parameters=any_run["parameters"] if any_run else None,
                macs=any_run["macs"] if any_run else None,
                sets=sets,
                difference=diff,
                paper_delta=paper_delta,
                verdict="reference" if is_ref else (verdict(diff, paper_delta) if runs else "no runs yet"),
                ssim=ssim,
            )
        )
    return out


@dataclass
class BlockSigns:
    """One attention block of a correlation cell: its mean r per filter over the seeds recorded (the feature the
    mask multiplies, SPEC §4), and those seeds."""

    block: int
    module: str
    r: dict[str, float]
    seeds: list[int]


def correlation_summary(study: Study, records: list[dict], *, budget: str) -> dict[str, list[BlockSigns]]:
    """Per correlation cell with records: each block's r (feature ``multiplied``) averaged over its seeds."""
    from .analysis.correlation import FILTERS

    if study.correlation is None:
        return {}
    mine = [r for r in budget_records(study, records, budget=budget) if "correlation" in r]
    out = {}
    for cell in study.correlation.cells:
        runs = sorted((r for r in mine if r["cell"] == cell), key=lambda r: r["seed"])
        if not runs:
            continue
        per_block: dict[int, list[dict]] = {}
        for rec in runs:
            for row in rec["correlation"]["rows"]:
                if row["feature"] == "multiplied":
                    per_block.setdefault(row["block"], []).append(row)
        out[cell] = [
            BlockSigns(
                block=block,
                module=rows[0]["module"],
                r={f: sum(row[f] for row in rows) / len(rows) for f in FILTERS},
                seeds=[rec["seed"] for rec in runs],
            )
            for block, rows in sorted(per_block.items())
        ]
    return out


def budgets_with_records(study: Study, records: list[dict]) -> Iterator[str]:
    present = {r["budget"] for r in records}
    yield from (b for b in study.budgets if b in present)
