"""``attnsr analyze``: attention heat maps, mask/high-pass correlation, attention switching, ADM
weights and LAM (SPEC §4). Every tool works through forward hooks on an unmodified model."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from ..analysis import lam_crops
from ..analysis.adm import TOP_K
from ..analysis.lam import BATCH_SIZE, FAST_POINTS, SIGMA, STEPS, WINDOW_SIZE
from ..analysis.switching import SETTING_NAMES, SWITCHING_PROTOCOLS
from ..outputs import check_outputs, write_text
from .argtypes import device, lam_points, non_negative_float, non_negative_int, output_file, positive_int
from .model_args import add_model_arguments, model_from_args
from .render import markdown, table, to_csv

FIGURE = output_file(".png", ".svg", ".pdf")
OUTPUTS = ("output", "json", "csv", "markdown", "plot", "maps")  # every file an analyze tool may write


def _model_args(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, options=True)
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _blocks(model, text: str | None) -> tuple[int, ...] | None:
    """``--blocks`` of ``model`` (None: all)."""
    from ..analysis.hooks import parse_blocks, trunk_blocks

    return None if text is None else parse_blocks(text, num_blocks=len(trunk_blocks(model)))


def check_analyze_outputs(args: argparse.Namespace) -> None:
    """Every output file of the tool checked under the overwrite rule, before any work."""
    check_outputs([getattr(args, name, None) for name in OUTPUTS], overwrite=args.overwrite)


def _write(args: argparse.Namespace, path: Path | None, text: str) -> None:
    write_text(path, text, overwrite=args.overwrite)


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="attention analysis: heat maps, correlation, switching, ADM, LAM")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    _add_hook_tools(tools)
    _add_lam_tools(tools)


def _add_hook_tools(tools) -> None:
    """heatmap, correlation, switching, adm: forward hooks on the declared attention."""
    t = tools.add_parser("heatmap", help="channel-mean input / mask / output per block for one image (A2N Fig. 2)")
    _model_args(t)
    t.add_argument("--image", required=True, help="the LR input image (with --hr: an HR image to downscale)")
    t.add_argument("--hr", action="store_true", help="--image is HR: feed its MATLAB-bicubic downscale")
    t.add_argument("--blocks", help="1-based trunk blocks, e.g. 1,4,8,16 (default: all)")
    t.add_argument("-o", "--output", type=FIGURE, required=True, help="figure (PNG, SVG or PDF)")
    t.set_defaults(run=run_heatmap)

    t = tools.add_parser("correlation", help="Pearson r of masks with high-pass features per block (A2N Table 1)")
    _model_args(t)
    t.add_argument("--data", required=True, help="folder of HR images (DIR or DIR/HR)")
    t.add_argument("--limit", type=positive_int, help="use only the first N images")
    t.add_argument("--blocks", help="1-based trunk blocks (default: all)")
    t.add_argument("--csv", type=output_file(".csv"))
    t.add_argument("--markdown", type=output_file(".md"))
    t.add_argument("--json", type=output_file(".json"), help="per-image r values too")
    t.add_argument("--plot", type=FIGURE, help="r against block index (PNG)")
    t.set_defaults(run=run_correlation)

    t = tools.add_parser("switching", help="PSNR with attention kept only in chosen blocks (A2N Table 2)")
    _model_args(t)
    t.add_argument("--data", nargs="+", required=True, metavar="DIR", help="benchmark folders")
    t.add_argument(
        "--settings",
        default=";".join(SETTING_NAMES),
        help="';'-separated settings: names or block lists like 1,3,5 or 1-5 (blocks keeping attention)",
    )
    t.add_argument("--protocol", choices=SWITCHING_PROTOCOLS, default=SWITCHING_PROTOCOLS[0])
    t.add_argument("--json", type=output_file(".json"))
    t.add_argument("--csv", type=output_file(".csv"))
    t.add_argument("--markdown", type=output_file(".md"))
    t.set_defaults(run=run_switching)

    t = tools.add_parser("adm", help="ADM weights per block over a dataset; most enhanced/suppressed maps (Fig. 7)")
    _model_args(t)
    t.add_argument("--data", required=True, help="folder of HR images (DIR or DIR/HR)")
    t.add_argument("--limit", type=positive_int, help="use only the first N images")
    t.add_argument("--top", type=positive_int, default=TOP_K, help="how many most enhanced / suppressed maps")
    t.add_argument("--plot", type=FIGURE, help="violin plot of w_att per block (PNG)")
    t.add_argument("--maps", type=FIGURE, help="most enhanced / suppressed attention maps (PNG)")
    t.add_argument("--json", type=output_file(".json"))
    t.add_argument("--csv", type=output_file(".csv"), help="per-image w_att, one column per block")
    t.set_defaults(run=run_adm)


def _add_lam_tools(tools) -> None:
    """lam, lam-set, lam-manifest: Local Attribution Maps."""
    t = tools.add_parser("lam", help="Local Attribution Map and Diffusion Index of one window (A2N Fig. 8)")
    _model_args(t)
    t.add_argument("--image", required=True, help="HR image (its MATLAB-bicubic downscale is the input)")
    window_help = f"HR window ROW,COL[,SIZE] or ROW,COL,H,W (default size {WINDOW_SIZE})"
    t.add_argument("--window", required=True, help=window_help)
    t.add_argument("--sigma", type=non_negative_float, default=SIGMA)
    t.add_argument("--steps", type=positive_int, default=STEPS)
    t.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE, help="path points per forward/backward")
    t.add_argument(
        "--points",
        type=lam_points,
        default=FAST_POINTS,
        help=f"path points whose gradient is computed, chosen adaptively, linear in between (default {FAST_POINTS}: "
        "every crop's DI within 1%% of the exact one on the crops measured, benchmarks/results/lam_speed_click.json); "
        "'all': every point, the exact sum of lam-set and earlier results",
    )
    t.add_argument("--json", type=output_file(".json"), help='write {"di": ..., "gini": ...} here')
    t.add_argument("-o", "--output", type=FIGURE, help="paper-style figure (PNG)")
    t.set_defaults(run=run_lam)

    t = tools.add_parser("lam-set", help="mean DI and PSNR over the 150-crop Urban100 LAM set (A2N Table 7)")
    _model_args(t)
    t.add_argument("--manifest", type=Path, help="crop manifest (default: the committed 150-crop set)")
    t.add_argument("--data", type=Path, help="folder of the manifest's HR images (default: its source)")
    t.add_argument("--limit", type=positive_int, help="only the first N crops")
    t.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    t.add_argument("--json", type=output_file(".json"))
    t.add_argument("--csv", type=output_file(".csv"))
    t.set_defaults(run=run_lam_set)

    t = tools.add_parser("lam-manifest", help="(re)build a deterministic LAM crop manifest from HR images")
    t.add_argument("--data", required=True, type=Path, help="folder of HR images (e.g. Urban100/HR)")
    t.add_argument("--source", help="the source path to record (e.g. ${shared}/data/Urban100/HR)")
    t.add_argument("--count", type=positive_int, default=lam_crops.CROP_COUNT)
    t.add_argument("--seed", type=int, default=lam_crops.CROP_SEED)
    t.add_argument("--crop", type=positive_int, default=lam_crops.CROP_SIZE)
    t.add_argument("--scale", type=int, choices=(2, 3, 4), default=lam_crops.CROP_SCALE)
    t.add_argument("--window", type=positive_int, default=WINDOW_SIZE, help="window side (HR pixels)")
    margin_help = "least distance of a window from the crop border"
    t.add_argument("--margin", type=non_negative_int, default=lam_crops.MARGIN, help=margin_help)
    t.add_argument("-o", "--output", type=output_file(".json"), required=True)
    t.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    t.set_defaults(run=run_lam_manifest)


def _start(args: argparse.Namespace):
    """Every hook and LAM tool's start: its outputs checked (before any work), then its model through the one
    loader (``--model/--scale/--weights/--option``), in eval mode on ``--device``, and the model's scale."""
    check_analyze_outputs(args)
    model = model_from_args(args).eval().to(args.device)
    return model, model.arch["scale"]


def _bar(args, total, desc):
    return tqdm(total=total, desc=desc, unit="img", disable=args.no_progress, leave=False)


def _fmt(x: float) -> str:
    return "nan" if isinstance(x, float) and math.isnan(x) else f"{x:.4f}"


def run_heatmap(args: argparse.Namespace) -> int:
    from ..analysis.heatmaps import attention_heatmaps, plot_heatmaps
    from ..analysis.images import image_input

    model, scale = _start(args)
    _, lr = image_input(args.image, scale=scale, is_hr=args.hr)
    maps = attention_heatmaps(model, lr.to(args.device), blocks=_blocks(model, args.blocks))
    plot_heatmaps(maps, args.output, image=lr, title=f"{model.arch['name']} x{scale}: {Path(args.image).name}")
    print(f"{len(maps)} blocks -> {args.output}")
    return 0


def _images(args, scale: int):
    from ..analysis.images import benchmark_images

    return [(name, lr.to(args.device)) for name, _, lr in benchmark_images(args.data, scale=scale, limit=args.limit)]


def run_correlation(args: argparse.Namespace) -> int:
    from ..analysis.correlation import FILTERS, correlate_attention, plot_correlation

    model, scale = _start(args)
    images = _images(args, scale)
    bar = _bar(args, len(images), "correlation")
    res = correlate_attention(model, images, blocks=_blocks(model, args.blocks), on_image=lambda _: bar.update(1))
    bar.close()
    rows = res.rows()
    headers = ["block", "feature", *FILTERS]
    cells = [[r["block"], r["feature"], *(_fmt(r[f]) for f in FILTERS)] for r in rows]
    print(f"{model.arch['name']} x{scale}: mean Pearson r of mask vs high-pass feature over {len(images)} images")
    print(table(headers, cells))
    _write(
        args,
        args.csv,
        to_csv(
            ["block", "module", "feature", *FILTERS, "images"],
            [[r["block"], r["module"], r["feature"], *(r[f] for f in FILTERS), r["images"]] for r in rows],
        ),
    )
    _write(args, args.markdown, markdown(headers, cells))
    if args.json:
        _write(args, args.json, json.dumps({"model": model.arch, **res.to_dict()}, indent=2, allow_nan=True))
    if args.plot:
        plot_correlation(res, args.plot, title=f"{model.arch['name']} x{scale}, {len(images)} images")
    return 0


def run_switching(args: argparse.Namespace) -> int:
    from ..analysis.hooks import trunk_blocks
    from ..analysis.switching import evaluate_switching, parse_settings

    model, scale = _start(args)
    settings = parse_settings(args.settings, len(trunk_blocks(model)))
    bar = tqdm(desc="switching", unit="img", disable=args.no_progress, leave=False)
    res = evaluate_switching(
        model,
        args.data,
        scale=scale,
        settings=settings,
        protocol=args.protocol,
        device=args.device,
        on_image=lambda s, r: bar.update(1),
    )
    bar.close()
    headers = ["setting", "attention in blocks", *(d.dataset for d in res[0].datasets)]
    rows = [[r.setting, ",".join(map(str, r.enabled)) or "-", *(f"{d.psnr:.4f}" for d in r.datasets)] for r in res]
    print(f"{model.arch['name']} x{scale}: PSNR (dB, {args.protocol}) with attention only in the given blocks")
    print(table(headers, rows))
    _write(args, args.csv, to_csv(headers, rows))
    _write(args, args.markdown, markdown(headers, rows))
    _write(
        args,
        args.json,
        json.dumps({"model": model.arch, "protocol": args.protocol, "results": [asdict(r) for r in res]}, indent=2),
    )
    return 0


def run_adm(args: argparse.Namespace) -> int:
    from ..analysis.adm import adm_weights, extreme_maps, plot_adm_distribution, plot_extreme_maps

    model, scale = _start(args)
    images = _images(args, scale)
    bar = _bar(args, len(images), "adm")
    stats = adm_weights(model, images, on_image=lambda _: bar.update(1))
    bar.close()
    summary = stats.summary()
    print(f"{model.arch['name']} x{scale}: ADM attention weight w_att over {len(images)} images")
    print(
        table(
            ["block", "mean", "std", "min", "max"],
            [[s["block"], *(f"{s[k]:.4f}" for k in ("mean", "std", "min", "max"))] for s in summary],
        )
    )
    title = f"{model.arch['name']} x{scale}"
    if args.plot:
        plot_adm_distribution(stats, args.plot, title=title)
    enhanced = suppressed = []
    if args.maps:
        enhanced, suppressed = extreme_maps(model, dict(images), stats, k=args.top)
        plot_extreme_maps(enhanced, suppressed, args.maps, title=title)
    _write(
        args,
        args.csv,
        to_csv(
            ["image", *(str(j + 1) for j in range(len(stats.blocks)))],
            [[n, *(f"{v:.6f}" for v in row)] for n, row in zip(stats.images, stats.w_att)],
        ),
    )
    _write(
        args,
        args.json,
        json.dumps(
            {
                "model": model.arch,
                **stats.to_dict(),
                "enhanced": [m.to_dict() for m in enhanced],
                "suppressed": [m.to_dict() for m in suppressed],
            },
            indent=2,
        ),
    )
    return 0


def run_lam(args: argparse.Namespace) -> int:
    from ..analysis.images import image_input
    from ..analysis.lam import Window, local_attribution_map
    from ..analysis.lam_figures import plot_lam

    model, scale = _start(args)
    window = Window.parse(args.window)
    hr, lr = image_input(args.image, scale=scale, is_hr=True)
    window.check(hr.shape[-2], hr.shape[-1])
    res = local_attribution_map(
        model,
        lr.to(args.device),
        window,
        sigma=args.sigma,
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
        points=args.points,
    )
    print(
        f"{model.arch['name']} x{scale} {Path(args.image).name} window {window.height}x{window.width} at "
        f"({window.row}, {window.col}): DI {res.di:.4f}  Gini {res.gini:.4f}  "
        f"({res.nan_gradients} NaN gradients zeroed, gradients at {res.points} of {res.steps + 1} points, "
        f"{res.seconds:.1f}s)"
    )
    _write(
        args,
        args.json,
        json.dumps({**res.to_dict(), "image": str(args.image), "model": model.arch}, indent=2),
    )
    if args.output:
        plot_lam(
            args.output,
            lr=lr,
            hr=hr,
            result=res,
            scale=scale,
            title=f"{model.arch['name']} x{scale} — {Path(args.image).name}",
        )
    return 0


def run_lam_set(args: argparse.Namespace) -> int:
    model, scale = _start(args)
    manifest = lam_crops.load_manifest(args.manifest)
    total = len(manifest["crops"][: args.limit])
    bar = tqdm(total=total, desc="lam", unit="crop", disable=args.no_progress, leave=False)

    def on_crop(r) -> None:
        bar.update(1)
        bar.set_postfix(di=f"{r.di:.2f}", psnr=f"{r.psnr:.2f}")

    start = time.perf_counter()
    res = lam_crops.evaluate_lam_set(
        model,
        manifest,
        scale=scale,
        hr_dir=args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        device=args.device,
        on_crop=on_crop,
    )
    bar.close()
    seconds = time.perf_counter() - start
    print(
        f"{model.arch['name']} x{scale} on {len(res.crops)} LAM crops ({manifest.get('name', '?')}): "
        f"DI {res.di:.3f}  PSNR {res.psnr:.3f} dB  ({seconds / len(res.crops):.1f}s per crop)"
    )
    _write(
        args,
        args.json,
        json.dumps(
            {"model": model.arch, "manifest": manifest.get("name"), "seconds": seconds, **asdict(res)}, indent=2
        ),
    )
    _write(
        args,
        args.csv,
        to_csv(
            ["id", "file", "window", "di", "gini", "psnr", "nan_gradients"],
            [
                [
                    c.id,
                    c.file,
                    " ".join(map(str, c.window)),
                    f"{c.di:.4f}",
                    f"{c.gini:.6f}",
                    f"{c.psnr:.4f}",
                    c.nan_gradients,
                ]
                for c in res.crops
            ],
        ),
    )
    return 0


def run_lam_manifest(args: argparse.Namespace) -> int:
    check_analyze_outputs(args)
    manifest = lam_crops.build_lam_manifest(
        args.data,
        count=args.count,
        seed=args.seed,
        crop=args.crop,
        scale=args.scale,
        window=args.window,
        margin=args.margin,
        source=args.source,
    )
    _write(args, args.output, lam_crops.manifest_json(manifest))
    print(f"{len(manifest['crops'])} crops from {len(manifest['sha256_16'])} images -> {args.output}")
    return 0
