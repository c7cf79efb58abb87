"""``attnsr eval``: a model with a checkpoint on benchmark folders under a named protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from ..data.lr_cache import default_lr_cache
from ..errors import AttnsrError
from ..evaluate import PROTOCOLS, evaluate_folder, hr_folder, make_forward, sr_paths
from ..io import list_images
from ..outputs import check_output, check_output_folder, check_outputs, write_text
from ..precision import INFERENCE_PRECISIONS, resolve_precision, run_environment
from .argtypes import device, folder_path, output_file
from .model_args import add_model_arguments, model_from_args
from .render import markdown, table, to_csv


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model on benchmark folders (PSNR/SSIM, Y channel)")
    add_model_arguments(p)
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="benchmark folders (DIR or DIR/HR)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="standard")
    p.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="fp32",
        help="fp32 (default, on every machine: reported figures must not depend on the CPU); bf16/fp16/auto on "
        "request; int8: the OpenVINO model quantized by NNCF (attnsr[int8])",
    )
    p.add_argument("--ensemble", action="store_true", help="x8 geometric self-ensemble")
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--json", type=output_file(".json"), help="write {'results': [...]} here")
    p.add_argument("--markdown", type=output_file(".md"), help="write a Markdown table here")
    p.add_argument("--csv", type=output_file(".csv"), help="write a CSV table here")
    p.add_argument("--per-image", action="store_true", help="print per-image results too")
    p.add_argument("--save-sr", type=folder_path, metavar="DIR", help="save SR images here (DIR/<dataset>/)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files and SR images")
    p.add_argument(
        "--cache",
        type=folder_path,
        help="where LR images made on the fly are cached (default: $ATTNSR_CACHE/lr or ~/.cache/attnsr/lr)",
    )
    p.set_defaults(run=run)


def check_eval_outputs(args: argparse.Namespace) -> None:
    """Every output of ``eval`` (tables, SR folder, LR cache) checked before any work."""
    check_outputs([args.json, args.markdown, args.csv], overwrite=args.overwrite)
    args.cache = check_output_folder(args.cache or default_lr_cache(), what="LR cache folder")
    if args.save_sr:
        check_output_folder(args.save_sr, what="--save-sr folder")


def plan_folders(args: argparse.Namespace, *, scale: int) -> tuple[list[Path], dict[Path, int]]:
    """Every data folder checked and every SR image planned before any work: a folder named twice runs once,
    two folders whose SR images would meet in one folder are refused. Returns the folders and image counts."""
    folders = list({Path(d).resolve(): Path(d) for d in args.data}.values())
    counts, planned = {}, {}
    for f in folders:
        n = len(list_images(hr_folder(f)))
        if n == 0:
            raise AttnsrError(f"data folder {str(f)!r} holds no images")
        counts[f] = n
        for target in sr_paths(f, args.save_sr, scale=scale) if args.save_sr else ():
            if target in planned and planned[target] != f:
                raise AttnsrError(
                    f"data folders {str(planned[target])!r} and {str(f)!r} would both save {str(target)!r} "
                    "(their SR images meet in one folder); evaluate them with separate --save-sr folders"
                )
            planned[target] = f
            check_output(target, overwrite=args.overwrite)
    return folders, counts


def run(args: argparse.Namespace) -> int:
    check_eval_outputs(args)
    model = model_from_args(args)
    scale = model.arch["scale"]
    folders, counts = plan_folders(args, scale=scale)
    model_precision = "int8" if args.precision == "int8" else resolve_precision(args.precision, args.device)
    forward = make_forward(
        model,
        scale=scale,
        protocol=args.protocol,
        precision=model_precision,
        ensemble=args.ensemble,
        device=args.device,
    )
    results = []
    for f in folders:
        bar = tqdm(total=counts[f], desc=f.name, unit="img", disable=args.no_progress, leave=False)

        def on_image(r, bar=bar) -> None:
            bar.update(1)
            bar.set_postfix(psnr=f"{r.psnr:.3f}")

        res = evaluate_folder(
            forward,
            f,
            scale=scale,
            protocol=args.protocol,
            cache_dir=args.cache,
            save_dir=args.save_sr,
            overwrite=args.overwrite,
            on_image=on_image,
        )
        bar.close()
        results.append(res)
        if args.per_image:
            print(
                table(
                    ["image", "PSNR", "SSIM"],
                    [[r.name, f"{r.psnr:.4f}", f"{r.ssim:.4f}"] for r in res.images],
                )
            )
    headers = ["dataset", "scale", "protocol", "images", "PSNR", "SSIM"]
    rows = [[r.dataset, f"x{r.scale}", r.protocol, len(r.images), f"{r.psnr:.4f}", f"{r.ssim:.4f}"] for r in results]
    print(f"{model.arch['name']} x{scale}, {model_precision}{', self-ensemble' if args.ensemble else ''}")
    print(table(headers, rows))
    payload = {
        "model": model.arch["name"],
        "weights": args.weights,
        "protocol": args.protocol,
        "precision": model_precision,
        "environment": run_environment(model_precision, args.device),
        "ensemble": args.ensemble,
        "results": [
            {
                "dataset": r.dataset,
                "scale": r.scale,
                "psnr": r.psnr,
                "ssim": r.ssim,
                "images": [vars(i) for i in r.images],
            }
            for r in results
        ],
    }
    for path, text in (
        (args.json, json.dumps(payload, indent=2)),
        (args.markdown, markdown(headers, rows)),
        (args.csv, to_csv(headers, rows)),
    ):
        write_text(path, text, overwrite=args.overwrite)
    return 0
