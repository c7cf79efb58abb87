"""The training loop: one plain function that reads top to bottom, its set-up in named steps above it.

Adam + L1 or L2, step/cosine schedules, optional gradient clipping and EMA, precision ``auto`` (bf16 autocast
on CPUs with native bf16 — AMX or AVX512-BF16 — fp32 on others, bf16/fp16 AMP on CUDA), channels_last,
``compile: auto`` (torch.compile only where it is faster and trains alike: nowhere so far), periodic
validation (PSNR on a folder), TensorBoard logs, atomic checkpoints, exact resume (model, optimizer,
scheduler, EMA, RNG and data order) and DDP through ``torchrun`` (gloo on CPU, NCCL on CUDA; rank 0 logs
and writes).
"""

from __future__ import annotations

import copy
import errno
import io
import json
import logging
import math
import os
import pickle
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ._factory import create_model
from ._pretrained import read_checkpoint, save_weights, sha256_file
from .config import TrainConfig, config_to_dict, save_config, validate_config
from .data.datasets import PatchSampler, load_pairs
from .devices import resolve_device
from .errors import CheckpointError, DataError, RunExistsError, TrainingError
from .outputs import atomic_path, check_output_folder, write_text
from .precision import autocast, resolve_precision, run_environment
from .settings import expand

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
MAX_SKIPPED_STEPS = 10  # fp16: consecutive steps skipped by the grad scaler before the run counts as diverged
PREVIOUS = "checkpoint.prev.pt"  # one generation back: what a damaged latest checkpoint falls back to


@dataclass
class StepInfo:
    iteration: int
    total: int
    loss: float
    lr: float
    seconds: float  # wall time of this step


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    o = cfg.optim
    if o.schedule == "step":
        fn = lambda it: o.gamma ** (it // o.step_size)
    elif o.schedule == "cosine":
        floor = o.min_lr / o.lr
        fn = lambda it: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(it, cfg.iterations) / cfg.iterations))
    else:  # "constant"; validate_config allows only SCHEDULES
        fn = lambda it: 1.0
    if o.warmup > 0:
        base = fn
        fn = lambda it: base(it) * min(1.0, (it + 1) / o.warmup)
    return torch.optim.lr_scheduler.LambdaLR(opt, fn)


def _rng_state() -> dict:
    """The torch, numpy and Python RNG states as tensors and plain numbers, so that a checkpoint loads with
    ``torch.load(weights_only=True)`` (a pickled numpy state would not) and serves as ``--weights``."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),  # MT19937 key: 624 uint32
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
    }


def _set_rng_state(state: dict) -> None:
    """Restore :func:`_rng_state`'s states; also the pickled tuples of checkpoints written before it."""
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    if isinstance(np_state, dict):
        keys = np_state["keys"].numpy().astype(np.uint32)
        np_state = ("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"])
    np.random.set_state(np_state)
    py_state = state["python"]
    if isinstance(py_state, dict):
        py_state = (py_state["version"], tuple(py_state["state"].tolist()), py_state["gauss"])
    random.setstate(py_state)


def load_validation(folder: Path, *, scale: int) -> list[tuple[Tensor, Tensor]]:
    """The validation folder's (LR, HR) pairs, read once before the first iteration so that a missing, empty or
    unreadable folder stops the run before any work (LR made by imresize from the mod-cropped HR)."""
    from .data.imresize import bicubic_downsample, mod_crop
    from .io import list_images, load_rgb

    if not folder.is_dir():
        raise DataError(f"validation folder {str(folder)!r} does not exist")
    files = list_images(folder)
    if not files:
        raise DataError(f"validation folder {str(folder)!r} holds no images")
    pairs = []
    for path in files:
        hr = mod_crop(load_rgb(path), scale)
        pairs.append((bicubic_downsample(hr, scale), hr))
    return pairs


@torch.no_grad()
def validate(
    model: nn.Module, pairs: list[tuple[Tensor, Tensor]], *, scale: int, device: torch.device, precision: str
) -> float:
    """Mean standard-protocol PSNR over :func:`load_validation`'s pairs."""
    from .metrics import evaluate_pair

    model.eval()
    values = []
    for lr, hr in pairs:
        with autocast(precision, device):
            sr = model(lr.to(device)).float().cpu()
        values.append(evaluate_pair(sr, hr, scale=scale)[0])
    model.train()
    return float(np.mean(values))


@dataclass
class Process:
    """Where this process runs: its device and, under ``torchrun``, its rank among ``world``."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class TrainState:
    """Everything a checkpoint holds besides the config: what exact resume restores."""

    model: nn.Module
    ema: nn.Module | None
    net: nn.Module  # the model, wrapped in DDP when distributed
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    sampler: PatchSampler
    iteration: int = 0
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0


def start_process(cfg: TrainConfig) -> Process:
    """The device, and the process group when started by ``torchrun`` with more than one process."""
    device = resolve_device(cfg.device)
    if not ("RANK" in os.environ and int(os.environ.get("WORLD_SIZE", 1)) > 1):
        return Process(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return Process(device, dist.get_rank(), dist.get_world_size())


def holds_run(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` already holds a run (its checkpoint, or the one before), which only a resume may
    continue."""
    return (Path(out_dir) / CHECKPOINT).exists() or (Path(out_dir) / PREVIOUS).exists()


def check_out_dir(cfg: TrainConfig, *, resume: bool) -> Path:
    """The run folder, checked before any work and created only once the run starts (so a failed start
    leaves no empty folder); a fresh run refuses one that already holds a checkpoint."""
    out = check_output_folder(cfg.out_dir, what="out_dir")
    if not resume and holds_run(out):
        raise RunExistsError(f"{str(out)!r} already holds a run; resume it or choose another out_dir")
    return out


def build_data(cfg: TrainConfig, proc: Process) -> tuple[PatchSampler, list[tuple[Tensor, Tensor]] | None]:
    """The patch sampler (this rank's shard) and the validation pairs; bad folders or images fail here,
    before any work."""
    val_dir = expand(cfg.data.val_dir) if cfg.data.val_dir else None
    val = load_validation(val_dir, scale=cfg.model.scale) if val_dir is not None and cfg.val_every else None
    pairs = load_pairs(
        [expand(d) for d in cfg.data.train_dirs],
        scale=cfg.model.scale,
        lr_dirs=[expand(d) for d in cfg.data.lr_dirs] if cfg.data.lr_dirs else None,
        cache_dir=expand(cfg.data.cache_dir) if cfg.data.cache_dir else None,
        five_crop=cfg.data.five_crop,
        min_lr_side=cfg.data.patch_size,
    )
    sampler = PatchSampler(
        pairs,
        scale=cfg.model.scale,
        patch_size=cfg.data.patch_size,
        batch_size=cfg.data.batch_size,
        augment=cfg.data.augment,
        seed=cfg.seed,
        rank=proc.rank,
        world_size=proc.world,
    )
    return sampler, val


def build_model(cfg: TrainConfig, device: torch.device, *, init: bool) -> nn.Module:
    """The seeded model on ``device``; with ``init``, the matching tensors of ``model.init_from``."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    model = create_model(cfg.model.name, scale=cfg.model.scale, **cfg.model.options)
    if cfg.model.init_from and init:
        state, _ = read_checkpoint(expand(cfg.model.init_from))
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
        log.info("initialised %d/%d tensors from %s", len(usable), len(own), cfg.model.init_from)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def resolve_compile(setting: bool | str, precision: str) -> bool:
    """Whether the training step runs the model through ``torch.compile`` (inductor). ``auto`` compiles where it
    is both faster and computes eager's gradients — nowhere measured so far, so ``auto`` is eager:
    ``benchmarks/train_speed.py`` found compiling 10 % faster only in bf16 on a native-bf16 CPU (0.88 vs 0.97 s per
    A2N ×2 step, AVX512-BF16 EPYC) and a tie in fp32 (AVX2 EPYC), but ``benchmarks/train_gradients.py`` found its
    bf16 backward far off fp32's (relative error 0.5–0.9 against eager bf16's 0.06–0.37, torch 2.13), and runs
    trained that way stalled. ``true`` forces it (warning in bf16), ``false`` never compiles."""
    if setting is True and precision == "bf16":
        log.warning("torch.compile in bf16 measured gradients far off fp32 (benchmarks/train_gradients.py)")
    return setting is True


def build_state(
    cfg: TrainConfig, proc: Process, model: nn.Module, sampler: PatchSampler, precision: str, *, compiled: bool
) -> TrainState:
    """EMA copy, DDP wrapper (compiled when asked), Adam, the schedule and the fp16 grad scaler around ``model``;
    the EMA, the checkpoint and validation use the plain ``model``."""
    o = cfg.optim
    opt = torch.optim.Adam(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    net = nn.parallel.DistributedDataParallel(model) if proc.distributed else model
    return TrainState(
        model=model,
        ema=copy.deepcopy(model).eval() if o.ema else None,
        net=torch.compile(net) if compiled else net,
        opt=opt,
        sched=make_scheduler(opt, cfg),
        scaler=torch.amp.GradScaler("cuda", enabled=precision == "fp16"),
        sampler=sampler,
    )


def _finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def save_checkpoint(state: TrainState, cfg: TrainConfig, out: Path) -> None:
    """Atomically write everything exact resume needs, RNG states included, keeping the checkpoint before it
    as ``checkpoint.prev.pt``. The bytes are made in memory first, so a full disk is an ``OSError`` of the
    write (ENOSPC), never a half-written zip; it ends the run with one line and the last checkpoint intact."""
    if not _finite(state.model) or (state.ema is not None and not _finite(state.ema)):
        raise TrainingError(
            f"training diverged: the weights are not finite at iteration {state.iteration}; {_kept(out)}"
        )
    buf = io.BytesIO()
    torch.save(
        {
            "arch": state.model.arch,
            "model": state.model.state_dict(),
            "optimizer": state.opt.state_dict(),
            "scheduler": state.sched.state_dict(),
            "scaler": state.scaler.state_dict(),
            "ema": state.ema.state_dict() if state.ema is not None else None,
            "sampler": state.sampler.state_dict(),
            "rng": _rng_state(),
            "iteration": state.iteration,
            "history": state.history,
            "train_seconds": state.train_seconds,
            "config": config_to_dict(cfg),
        },
        buf,
    )
    latest = out / CHECKPOINT
    try:
        with atomic_path(latest, overwrite=True) as tmp:
            tmp.write_bytes(buf.getbuffer())
            if latest.exists():
                os.replace(latest, out / PREVIOUS)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise TrainingError(
            f"no space left on {str(out)!r} while writing the checkpoint of iteration {state.iteration}; {_kept(out)}"
        ) from exc


def _load_file(path: Path) -> dict:
    """One checkpoint file, or CheckpointError saying in a line why it does not load."""
    try:
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # written before the RNG states were tensors: this run's own file
            log.info("%s predates weights_only checkpoints; reading it as the run's own trusted file", path)
            ck = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{str(path)!r} does not load as a checkpoint ({reason[:160]})") from None
    if not isinstance(ck, dict) or not {"model", "optimizer", "iteration", "config"} <= set(ck):
        raise CheckpointError(f"{str(path)!r} is not a training checkpoint of attnsr")
    return ck


def _kept_iteration(out: Path) -> int | None:
    """The iteration of the newest checkpoint of ``out`` that loads (None: none does)."""
    for name in (CHECKPOINT, PREVIOUS):
        try:
            return int(_load_file(out / name)["iteration"])
        except (CheckpointError, OSError):
            continue
    return None


def read_resume_checkpoint(out: Path) -> dict:
    """The newest loadable checkpoint of the run in ``out``: the latest, else the one before it (saying so)."""
    latest, previous = out / CHECKPOINT, out / PREVIOUS
    if not latest.exists() and not previous.exists():
        raise CheckpointError(f"nothing to resume: {str(latest)!r} does not exist")
    try:
        return _load_file(latest)
    except (CheckpointError, FileNotFoundError) as exc:
        if not previous.exists():
            raise CheckpointError(f"cannot resume: {exc}; no earlier checkpoint is kept") from None
        ck = _load_file(previous)
        log.warning("%s; resuming from the previous checkpoint (iteration %d)", exc, ck["iteration"])
        return ck


def _describe_model(model: dict) -> str:
    options = f" {json.dumps(model.get('options') or {}, sort_keys=True)}" if model.get("options") else ""
    return f"{model.get('name')} x{model.get('scale')}{options}"


def check_resumable(ck: dict, cfg: TrainConfig, path: Path) -> None:
    """The checkpoint is of this recipe's model and not past its iterations (one line saying what differs)."""
    theirs = ck["config"].get("model", {})
    mine = {"name": cfg.model.name, "scale": cfg.model.scale, "options": cfg.model.options}
    if any(theirs.get(k) != mine[k] for k in ("name", "scale")) or (theirs.get("options") or {}) != mine["options"]:
        raise CheckpointError(
            f"{str(path)!r} holds a run of {_describe_model(theirs)}, but the recipe asks for "
            f"{_describe_model(mine)}; resume with the run's own recipe or choose another out_dir"
        )
    if ck["iteration"] > cfg.iterations:
        raise CheckpointError(
            f"{str(path)!r} is at iteration {ck['iteration']}, past the recipe's {cfg.iterations} iterations"
        )


def resume_state(state: TrainState, cfg: TrainConfig, out: Path) -> None:
    """Restore ``state`` (and the RNGs) from the run's newest loadable checkpoint in ``out``."""
    ck = read_resume_checkpoint(out)
    check_resumable(ck, cfg, out)
    try:
        state.model.load_state_dict(ck["model"])
        state.opt.load_state_dict(ck["optimizer"])
        if state.ema is not None and ck.get("ema") is not None:
            state.ema.load_state_dict(ck["ema"])
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"the checkpoint in {str(out)!r} does not fit this recipe's model ({first[:160]})"
        ) from None
    state.sched.load_state_dict(ck["scheduler"])
    state.scaler.load_state_dict(ck["scaler"])
    state.sampler.load_state_dict(ck["sampler"])
    _set_rng_state(ck["rng"])
    state.iteration, state.history = ck["iteration"], ck.get("history", [])
    state.train_seconds = ck.get("train_seconds", 0.0)
    log.info("resumed %s at iteration %d", out, state.iteration)


def remove_stale_temporaries(out: Path) -> None:
    """Atomic-write temporaries (``.checkpoint.<hex>.tmp.pt``…) left by a run killed while writing."""
    for tmp in out.glob(".*.tmp.*"):
        if tmp.is_file():
            log.info("removing %s, left by an interrupted write", tmp.name)
            tmp.unlink(missing_ok=True)


def strict_json(value):
    """``value`` with every non-finite float as None: history.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    return value


def open_writer(cfg: TrainConfig, out: Path):
    """A TensorBoard writer in ``out/tb``, or None (disabled or not installed)."""
    if not cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard is not installed; logging to history.json only")
        return None
    return SummaryWriter(str(out / "tb"))


LOSS_FUNCTIONS = {"l1": F.l1_loss, "l2": F.mse_loss}  # keys: attnsr.config.LOSSES


def train_step(state: TrainState, cfg: TrainConfig, device: torch.device, precision: str) -> float:
    """One optimiser step on the next batch (``optim.loss``, optional clipping, EMA update); returns the loss."""
    lr_b, hr_b = state.sampler.next_batch()
    lr_b, hr_b = lr_b.to(device, non_blocking=True), hr_b.to(device, non_blocking=True)
    if cfg.channels_last:
        lr_b = lr_b.contiguous(memory_format=torch.channels_last)
    with autocast(precision, device):
        sr = state.net(lr_b)
    loss = LOSS_FUNCTIONS[cfg.optim.loss](sr.float(), hr_b)
    state.opt.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if cfg.optim.grad_clip:
        state.scaler.unscale_(state.opt)
        nn.utils.clip_grad_norm_(state.model.parameters(), cfg.optim.grad_clip)
    state.scaler.step(state.opt)
    state.scaler.update()
    state.sched.step()
    if state.ema is not None:
        decay = ema_decay(cfg.optim.ema, state.iteration)
        with torch.no_grad():
            for pe, pm in zip(state.ema.parameters(), state.model.parameters()):
                pe.lerp_(pm, 1 - decay)
    return loss.item()


def ema_decay(target: float, iteration: int) -> float:
    """EMA decay with a warm-up, ``min(target, (1 + i) / (10 + i))``: a short run's average is not dominated
    by its starting weights (at 0.999 from the start, 61% of the EMA after 500 steps would still be the init)."""
    return min(target, (1 + iteration) / (10 + iteration))


def save_final(state: TrainState, cfg: TrainConfig, path: Path, environment: dict) -> None:
    """The (EMA) weights as safetensors with the record that rebuilds and describes them (finite only)."""
    if not _finite(state.ema or state.model):
        raise TrainingError(f"the final weights are not finite; nothing was saved to {str(path)!r}")
    record = {
        "config": config_to_dict(cfg),
        "iterations": cfg.iterations,
        "train_seconds": round(state.train_seconds, 1),
        "train_dirs": cfg.data.train_dirs,
        "input_range": "0-1",
        "environment": environment,
        "parameters": sum(p.numel() for p in state.model.parameters()),
    }
    save_weights(state.ema or state.model, path, record=record)


def _kept(out: Path) -> str:
    kept = _kept_iteration(out)
    return f"the checkpoint of iteration {kept} is kept" if kept is not None else "no checkpoint was written"


def _diverged(out: Path, iteration: int, loss: float) -> TrainingError:
    return TrainingError(
        f"training diverged at iteration {iteration}: loss {loss}; {_kept(out)} (lower optim.lr or set optim.grad_clip)"
    )


def start_run(cfg: TrainConfig, proc: Process, state: TrainState, out: Path, *, resume: bool) -> None:
    """Restore a resumed run, or start a fresh one with an iteration-0 checkpoint (so that a run that diverges
    or fills the disk at once still leaves a loadable checkpoint); the config is written at every (re)start."""
    if resume:
        resume_state(state, cfg, out)
    if not proc.main:
        return
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    save_config(cfg, out / "config.yaml")
    if not resume:
        save_checkpoint(state, cfg, out)


def record_start(cfg: TrainConfig, state: TrainState, environment: dict, *, resume: bool) -> None:
    """Log where the run trains and add one history entry per (re)start, with the initialising file's digest."""
    log.info(
        "training on %s, CPU %s, %d threads, precision %s (asked: %s), torch.compile: %s",
        *(environment["device"], environment["cpu"]["model"], environment["threads"]),
        *(environment["precision"], cfg.precision, environment["compiled"]),
    )
    start = {"iteration": state.iteration, "environment": environment}
    if cfg.model.init_from and not resume:  # the path may be replaced by later releases: keep its digest
        start["init_from"] = {"path": cfg.model.init_from, "sha256": sha256_file(expand(cfg.model.init_from))}
    state.history.append(start)


def train(cfg: TrainConfig, *, resume: bool = False, on_step: Callable[[StepInfo], None] | None = None) -> Path:
    """Run (or resume) training; returns the path of the final safetensors weights."""
    validate_config(cfg)  # a config built in code gets the checks load_config makes
    proc = start_process(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.precision, proc.device)
    compiled = resolve_compile(cfg.compile, precision)
    out = check_out_dir(cfg, resume=resume)
    model = build_model(cfg, proc.device, init=not resume)  # a bad model option stops here, in an instant
    sampler, val_pairs = build_data(cfg, proc)  # then data: a missing folder or bad image stops before work
    state = build_state(cfg, proc, model, sampler, precision, compiled=compiled)
    start_run(cfg, proc, state, out, resume=resume)
    writer = open_writer(cfg, out) if proc.main else None
    environment = {**run_environment(precision, proc.device), "compiled": compiled}
    if proc.main:
        record_start(cfg, state, environment, resume=resume)

    model.train()
    interval_losses: list[float] = []  # logged as their mean: one batch's loss is too noisy for a curve
    skipped = 0  # consecutive fp16 steps the grad scaler skipped on a non-finite loss
    while state.iteration < cfg.iterations:
        t0 = time.perf_counter()
        loss = train_step(state, cfg, proc.device, precision)
        if not math.isfinite(loss):
            skipped = skipped + 1 if precision == "fp16" else MAX_SKIPPED_STEPS
            if skipped >= MAX_SKIPPED_STEPS:  # the in-memory weights are never saved from here on
                raise _diverged(out, state.iteration + 1, loss)
        else:
            skipped = 0
        interval_losses.append(loss)
        state.iteration += 1
        done, lr = state.iteration, state.sched.get_last_lr()[0]
        state.train_seconds += time.perf_counter() - t0
        if proc.main:
            if on_step is not None:
                on_step(StepInfo(done, cfg.iterations, loss, lr, time.perf_counter() - t0))
            if done % cfg.log_every == 0:
                loss, interval_losses = sum(interval_losses) / len(interval_losses), []
                state.history.append(
                    {
                        "iteration": done,
                        "loss": loss,
                        "lr": lr,
                        "time": time.time(),
                        "train_seconds": round(state.train_seconds, 1),
                        "precision": precision,
                        "threads": environment["threads"],
                    }
                )
                log.info("iteration %d/%d loss %.4f lr %.2e", done, cfg.iterations, loss, lr)
                if writer:
                    writer.add_scalar("train/loss", loss, done)
                    writer.add_scalar("train/lr", lr, done)
            if val_pairs is not None and (done % cfg.val_every == 0 or done == cfg.iterations):
                psnr = validate(
                    state.ema or model, val_pairs, scale=cfg.model.scale, device=proc.device, precision=precision
                )
                state.history.append({"iteration": done, "val_psnr": psnr})
                log.info("iteration %d: validation PSNR %.3f dB", done, psnr)
                if writer:
                    writer.add_scalar("val/psnr", psnr, done)
            if done % cfg.ckpt_every == 0 or done == cfg.iterations:
                save_checkpoint(state, cfg, out)
                history = json.dumps(strict_json(state.history), allow_nan=False)
                write_text(out / "history.json", history, overwrite=True)  # atomic
        if proc.distributed:
            dist.barrier()

    final = out / f"{cfg.model.name}_x{cfg.model.scale}.safetensors"
    if proc.main:
        save_final(state, cfg, final, environment)
        if writer:
            writer.close()
    if proc.distributed:
        dist.destroy_process_group()
    return final
