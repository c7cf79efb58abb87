"""Do the fast training paths compute the gradients fp32 computes? (training issue, item 2: the fastest path
becomes the default only if it trains as well.)

Usage: python benchmarks/train_gradients.py [--scale 2] [--batches 3] [--weights builtin|FILE] [--out FILE.json]

The built-in A2N weights (a trained model: near a minimum, where precision matters most) or ``--weights`` and
real batches of the training recipe (``configs/local/a2n_x<scale>_291.yaml``: the 291 set, 16 LR patches of
48², flips and rotations, seed 0). For each batch, the loss gradient of every parameter is computed by each
path — fp32 eager (the reference), fp32 ``torch.compile``, bf16 autocast eager and bf16 autocast
``torch.compile`` — all channels_last, and compared with the reference: the relative L2 error ``|g - g_fp32| /
|g_fp32|`` and cosine of the whole gradient, and the worst single tensor's relative error. For scale, the
cosine between the fp32 gradients of two different batches (the noise that SGD itself lives with). bf16 paths
run only where the CPU computes bf16 natively, unless ``--emulated-bf16``. Writes the figures, with the CPU
named, to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from attnsr import create_model
from attnsr.config import load_config
from attnsr.outputs import write_text
from attnsr.precision import autocast, cpu_info
from attnsr.train import LOSS_FUNCTIONS, build_data, start_process

PATHS = {  # name: (precision, compiled)
    "fp32 eager": ("fp32", False),
    "fp32 torch.compile": ("fp32", True),
    "bf16 eager": ("bf16", False),
    "bf16 torch.compile": ("bf16", True),
}
DEFAULT_OUT = Path("benchmarks/results/train_gradients.json")


def gradients(net: torch.nn.Module, model: torch.nn.Module, batch: tuple, precision: str, loss: str):
    """The ``loss`` gradient of every parameter of ``model`` (run through ``net``: itself or its compiled form)."""
    lr, hr = batch
    model.zero_grad(set_to_none=True)
    with autocast(precision, "cpu"):
        sr = net(lr)
    LOSS_FUNCTIONS[loss](sr.float(), hr).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


def compare(grads: list[torch.Tensor], ref: list[torch.Tensor], names: list[str]) -> dict:
    g, r = (torch.cat([t.flatten() for t in ts]).double() for ts in (grads, ref))
    per_tensor = {n: float((a - b).norm() / b.norm().clamp_min(1e-30)) for n, a, b in zip(names, grads, ref)}
    worst = max(per_tensor, key=per_tensor.get)
    return {
        "rel_err": float((g - r).norm() / r.norm()),
        "cosine": float(F.cosine_similarity(g, r, dim=0)),
        "worst_tensor": worst,
        "worst_tensor_rel_err": per_tensor[worst],
        "median_tensor_rel_err": statistics.median(per_tensor.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--weights", default="builtin", help="builtin, or a checkpoint (a training checkpoint: its EMA)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--emulated-bf16", action="store_true", help="run the bf16 paths without native bf16 (slow)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_info()
    paths = {k: v for k, v in PATHS.items() if v[0] == "fp32" or cpu.native_bf16 or args.emulated_bf16}

    model = create_model("a2n", scale=args.scale, pretrained=args.weights).train().to(memory_format=torch.channels_last)
    compiled = torch.compile(model)
    names = [n for n, _ in model.named_parameters()]
    recipe = load_config(Path(f"configs/local/a2n_x{args.scale}_291.yaml"))  # its data, patches, seed and loss
    sampler, _ = build_data(recipe, start_process(recipe))

    rows: dict[str, list[dict]] = {k: [] for k in paths if k != "fp32 eager"}
    batch_cosines = []
    previous = None
    for _ in range(args.batches):
        lr, hr = sampler.next_batch()
        batch = (lr.contiguous(memory_format=torch.channels_last), hr)
        ref = gradients(model, model, batch, "fp32", recipe.optim.loss)
        for name in rows:
            precision, is_compiled = paths[name]
            grads = gradients(compiled if is_compiled else model, model, batch, precision, recipe.optim.loss)
            rows[name].append(compare(grads, ref, names))
        if previous is not None:
            batch_cosines.append(compare(ref, previous, names)["cosine"])
        previous = ref
        print(" | ".join(f"{n}: rel err {r[-1]['rel_err']:.3f}, cos {r[-1]['cosine']:.4f}" for n, r in rows.items()))

    summary = {
        name: {
            "median_rel_err": statistics.median(r["rel_err"] for r in rs),
            "median_cosine": statistics.median(r["cosine"] for r in rs),
            "batches": rs,
        }
        for name, rs in rows.items()
    }
    result = {
        "command": f"python benchmarks/train_gradients.py --scale {args.scale} --batches {args.batches}"
        + (f" --weights {args.weights}" if args.weights != "builtin" else ""),
        "cpu": cpu.as_dict(),
        "torch": torch.__version__,
        "threads": args.threads,
        "model": f"a2n x{args.scale}, weights: {args.weights}",
        "reference": "fp32 eager",
        "paths": summary,
        "cosine_between_batches_fp32": batch_cosines,
    }
    write_text(args.out, json.dumps(result, indent=2), overwrite=True)
    for name, s in summary.items():
        print(f"{name:>20}: median rel err {s['median_rel_err']:.3f}, cosine {s['median_cosine']:.4f}")
    print(f"fp32 gradients of different batches: cosine {statistics.median(batch_cosines or [float('nan')]):.4f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
