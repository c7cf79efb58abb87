"""The training loop: one plain function that reads top to bottom.

Adam + L1, step/cosine schedules, optional gradient clipping and EMA, precision ``auto`` (bf16 autocast on
CPUs with native bf16 — AMX or AVX512-BF16 — fp32 on others, bf16/fp16 AMP on CUDA), channels_last, periodic validation (PSNR on a folder), TensorBoard logs, atomic
checkpoints, exact resume (model, optimizer, scheduler, EMA, RNG and data order) and DDP through
``torchrun`` (gloo on CPU, NCCL on CUDA; rank 0 logs and writes).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ._factory import create_model
from ._pretrained import atomic_save, read_checkpoint, save_weights
from .config import TrainConfig, config_to_dict, save_config
from .data.datasets import PatchSampler, load_pairs
from .errors import ConfigError, DataError
from .precision import autocast, resolve_precision, run_environment
from .settings import expand

log = logging.getLogger(__name__)


@dataclass
class StepInfo:
    iteration: int
    total: int
    loss: float
    lr: float
    seconds: float  # wall time of this step


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    o = cfg.optim
    if o.schedule == "step":
        fn = lambda it: o.gamma ** (it // o.step_size)
    elif o.schedule == "cosine":
        floor = o.min_lr / o.lr
        fn = lambda it: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(it, cfg.iterations) / cfg.iterations))
    elif o.schedule == "constant":
        fn = lambda it: 1.0
    else:
        raise ConfigError(f"optim.schedule must be step, cosine or constant, not {o.schedule!r}")
    if o.warmup > 0:
        base = fn
        fn = lambda it: base(it) * min(1.0, (it + 1) / o.warmup)
    return torch.optim.lr_scheduler.LambdaLR(opt, fn)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


@torch.no_grad()
def validate(model: nn.Module, folder: Path, *, scale: int, device: torch.device, precision: str) -> float:
    """Mean standard-protocol PSNR over a folder of HR images (LR made by imresize)."""
    from .data.imresize import bicubic_downsample, mod_crop
    from .io import list_images, load_rgb
    from .metrics import evaluate_pair

    model.eval()
    values = []
    for path in list_images(folder):
        hr = mod_crop(load_rgb(path), scale)
        lr = bicubic_downsample(hr, scale).to(device)
        with autocast(precision, device):
            sr = model(lr).float().cpu()
        values.append(evaluate_pair(sr, hr, scale=scale)[0])
    model.train()
    return float(np.mean(values))


def train(cfg: TrainConfig, *, resume: bool = False, on_step: Callable[[StepInfo], None] | None = None) -> Path:
    """Run (or resume) training; returns the path of the final safetensors weights."""
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    device = _device(cfg)
    rank, world = 0, 1
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    main = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.precision, device)
    out = Path(cfg.out_dir)
    ckpt_path = out / "checkpoint.pt"
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if not resume and ckpt_path.exists():
            raise ConfigError(f"{str(out)!r} already holds a run; pass --resume or choose another out_dir")

    # Data first: a missing folder or unreadable image stops before any work.
    train_dirs = [expand(d) for d in cfg.data.train_dirs]
    lr_dirs = [expand(d) for d in cfg.data.lr_dirs] if cfg.data.lr_dirs else None
    val_dir = expand(cfg.data.val_dir) if cfg.data.val_dir else None
    if val_dir is not None and not val_dir.is_dir():
        raise DataError(f"validation folder {str(val_dir)!r} does not exist")
    pairs = load_pairs(
        train_dirs,
        scale=cfg.model.scale,
        lr_dirs=lr_dirs,
        cache_dir=Path(cfg.data.cache_dir),
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
        rank=rank,
        world_size=world,
    )

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    model = create_model(cfg.model.name, scale=cfg.model.scale, **cfg.model.options)
    if cfg.model.init_from and not resume:
        state, _ = read_checkpoint(expand(cfg.model.init_from))
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
        log.info("initialised %d/%d tensors from %s", len(usable), len(own), cfg.model.init_from)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval() if cfg.optim.ema else None
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.Adam(
        model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
    )
    sched = make_scheduler(opt, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    start, history, train_seconds = 0, [], 0.0

    if resume:
        if not ckpt_path.is_file():
            raise ConfigError(f"nothing to resume: {str(ckpt_path)!r} does not exist")
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        if ema is not None and ck.get("ema") is not None:
            ema.load_state_dict(ck["ema"])
        sampler.load_state_dict(ck["sampler"])
        _set_rng_state(ck["rng"])
        start, history, train_seconds = ck["iteration"], ck.get("history", []), ck.get("train_seconds", 0.0)
        log.info("resumed %s at iteration %d", out, start)
    elif main:
        save_config(cfg, out / "config.yaml")

    writer = None
    if main and cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:
            log.info("tensorboard is not installed; logging to history.json only")

    environment = run_environment(precision, device)
    if main:
        log.info(
            "training on %s, CPU %s, %d threads, precision %s (asked: %s)",
            device, environment["cpu"]["model"], environment["threads"], precision, cfg.precision,
        )

    def save_checkpoint(iteration: int) -> None:
        atomic_save(
            {
                "arch": model.arch,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "sampler": sampler.state_dict(),
                "rng": _rng_state(),
                "iteration": iteration,
                "history": history,
                "train_seconds": train_seconds,
                "config": config_to_dict(cfg),
            },
            ckpt_path,
        )

    model.train()
    for it in range(start, cfg.iterations):
        t0 = time.perf_counter()
        lr_b, hr_b = sampler.next_batch()
        lr_b, hr_b = lr_b.to(device, non_blocking=True), hr_b.to(device, non_blocking=True)
        if cfg.channels_last:
            lr_b = lr_b.contiguous(memory_format=torch.channels_last)
        with autocast(precision, device):
            sr = net(lr_b)
        loss = F.l1_loss(sr.float(), hr_b)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.optim.grad_clip:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        if ema is not None:
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - cfg.optim.ema)
        done = it + 1
        loss_v = loss.item()
        train_seconds += time.perf_counter() - t0
        if main:
            if on_step is not None:
                on_step(StepInfo(done, cfg.iterations, loss_v, sched.get_last_lr()[0], time.perf_counter() - t0))
            if done % cfg.log_every == 0:
                history.append(
                    {"iteration": done, "loss": loss_v, "lr": sched.get_last_lr()[0], "time": time.time(),
                     "train_seconds": round(train_seconds, 1), "precision": precision, "threads": environment["threads"]}
                )
                log.info("iteration %d/%d loss %.4f lr %.2e", done, cfg.iterations, loss_v, sched.get_last_lr()[0])
                if writer:
                    writer.add_scalar("train/loss", loss_v, done)
                    writer.add_scalar("train/lr", sched.get_last_lr()[0], done)
            if val_dir is not None and cfg.val_every and (done % cfg.val_every == 0 or done == cfg.iterations):
                psnr = validate(ema or model, val_dir, scale=cfg.model.scale, device=device, precision=precision)
                history.append({"iteration": done, "val_psnr": psnr})
                log.info("iteration %d: validation PSNR %.3f dB", done, psnr)
                if writer:
                    writer.add_scalar("val/psnr", psnr, done)
            if done % cfg.ckpt_every == 0 or done == cfg.iterations:
                save_checkpoint(done)
                (out / "history.json").write_text(json.dumps(history))
        if distributed:
            dist.barrier()

    final = out / f"{cfg.model.name}_x{cfg.model.scale}.safetensors"
    if main:
        record = {
            "config": config_to_dict(cfg),
            "iterations": cfg.iterations,
            "train_seconds": round(train_seconds, 1),
            "train_dirs": cfg.data.train_dirs,
            "input_range": "0-1",
            "environment": environment,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        save_weights(ema or model, final, record=record)
        if writer:
            writer.close()
    if distributed:
        dist.destroy_process_group()
    return final
