"""The Gradio page: its layout and event handlers; the work is :mod:`.pages`' (Gradio is imported here only).

Every handler runs behind one boundary, :func:`_on_page`: the project's errors and the operating system's
become one message on the page (a Gradio error toast, and the error the API client receives), with upload
folders left out of file names; anything else is logged with its traceback and shown as an internal error.
The server keeps running either way.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local page: no usage reports leave the machine

import gradio as gr  # noqa: E402

from ..analysis.lam import FAST_POINTS, WINDOW_SIZE  # noqa: E402
from ..backends import BACKENDS  # noqa: E402
from ..errors import AttnsrError  # noqa: E402
from ..io import SUPPORTED_SUFFIXES  # noqa: E402
from ..precision import INFERENCE_PRECISIONS  # noqa: E402
from ..upscaler import DEFAULT_MODEL  # noqa: E402
from . import pages  # noqa: E402

log = logging.getLogger(__name__)

SAMPLE, UPLOAD = "sample image", "uploaded image"
SCALES = (2, 3, 4)
# The look-inside events share the loaded models and hook them (heat maps): one at a time.
ANALYSIS = "analysis"
KEEP_OUTPUTS_S = 3600  # a request's files are removed this long after it (Gradio's copies likewise)
CSS = "#clickable img { cursor: crosshair; } #clickable img, #lam-view img { image-rendering: pixelated; }"
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def page_message(exc: BaseException, *, uploads: list[str]) -> str:
    """The one line the page shows for an expected failure; upload folders are left out of file names."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [repr(str(n)) for n in (exc.filename, exc.filename2) if n is not None]
        text = exc.strerror + (f": {' -> '.join(names)}" if names else "")
    else:
        text = str(exc) or type(exc).__name__
    for path in uploads:
        text = text.replace(str(Path(path).parent) + os.sep, "")
    return " ".join(text.split())


def _on_page(fn: Callable) -> Callable:
    """The page's error boundary around a handler (see the module docstring)."""

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (AttnsrError, OSError) as exc:
            uploads = [a for a in args if isinstance(a, str) and os.path.isfile(a)]
            raise gr.Error(
                html.escape(page_message(exc, uploads=uploads), quote=False), print_exception=False
            ) from None
        except Exception as exc:  # a bug: the server keeps running, the log keeps the traceback
            log.exception("page handler %s failed", fn.__name__)
            raise gr.Error(f"internal error ({type(exc).__name__}); see the server's log") from None

    return handler


class Page:
    """The handlers of one page: its catalog, its limits and its folder for outputs."""

    def __init__(self, catalog: pages.Catalog, *, max_pixels: int, work_dir: Path) -> None:
        self.catalog = catalog
        self.max_pixels = max_pixels
        self.work_dir = work_dir

    def _out_dir(self) -> Path:
        """A fresh folder for one request's files; folders of requests over KEEP_OUTPUTS_S old are removed."""
        now = time.time()
        for old in self.work_dir.glob("*"):
            if now - old.stat().st_mtime > KEEP_OUTPUTS_S:
                shutil.rmtree(old, ignore_errors=True)
        out = self.work_dir / uuid.uuid4().hex
        out.mkdir(parents=True)
        return out

    def upscale(self, upload, model, weights, scale, backend, precision, progress=gr.Progress()):  # noqa: B008
        if not upload:
            raise AttnsrError("drop or upload an image first")
        progress(0, desc="loading the model")
        upscaler = self.catalog.upscaler(model, int(scale), weights, backend, precision)
        res = pages.upscale_upload(
            Path(upload),
            upscaler=upscaler,
            out_dir=self._out_dir(),
            max_pixels=self.max_pixels,
            on_tile=lambda done, total: progress((done, total), desc="upscaling", unit="tiles"),
        )
        (w, h), (sw, sh), (pw, ph) = res.input_size, res.output_size, res.preview_size
        info = (
            f"**{upscaler.model_name} x{upscaler.scale}** ({weights}): {w}×{h} → {sw}×{sh} in **{res.seconds:.2f} s** "
            f"on **{res.backend}** ({res.precision})."
            + (f" The slider shows both at {pw}×{ph}; the PNG is full size." if (pw, ph) != (sw, sh) else "")
        )
        return (str(res.bicubic_preview), str(res.sr_preview)), info, str(res.png)

    def _hr(self, source, upload, scale):
        if source == UPLOAD and not upload:
            raise AttnsrError("no image uploaded yet: drop one in the Upscale tab, or look at the sample image")
        return pages.hr_image(Path(upload) if source == UPLOAD else None, scale=int(scale), max_pixels=self.max_pixels)

    def look(self, source, upload, model, weights, scale):
        hr = self._hr(source, upload, scale)
        model_net = self.catalog.module(model, int(scale), weights)
        try:
            heat = pages.heat_pictures(model_net, hr, scale=int(scale))
            note = ""
        except AttnsrError as exc:  # a model without attention still has LAM
            heat, note = [], f" (no heat maps: {exc})"
        h, w = hr.shape[-2:]
        factor = pages.display_factor(h, w)
        info = (
            f"{w}×{h} image{f' (shown ×{factor})' if factor > 1 else ''}; the model's input is its x{scale} bicubic "
            f"downscale. Click a pixel for its LAM{note}."
        )
        return pages.enlarged(pages.picture(hr), factor), factor, heat, info

    def lam(self, source, upload, model, weights, scale, size, exact, x, y):
        if x is None or y is None:
            raise AttnsrError("click a pixel of the image first")
        scale, size, points = int(scale), int(size), None if exact else FAST_POINTS
        hr = self._hr(source, upload, scale)
        net = self.catalog.module(model, scale, weights)
        click = pages.lam_click(net, hr, int(x), int(y), scale=scale, size=size, points=points)
        clicked, blend = pages.click_pictures(click, hr, scale=scale)
        factor = pages.display_factor(*hr.shape[-2:])
        region_file, image = None, Path(upload).name if source == UPLOAD else pages.sample_image().name
        if tuple(click.box[2:]) != tuple(hr.shape[-2:]):  # a large image: LAM ran on the region around the click
            region_file = pages.write_region(click, self._out_dir() / f"region_{click.box[0]}_{click.box[1]}.png")
            image = region_file.name
        numbers, info = self._lam_report(click, (int(x), int(y)), points, image, model, scale, weights)
        region = None if region_file is None else str(region_file)
        return pages.enlarged(clicked, factor), pages.enlarged(blend, factor), numbers, info, region

    def _lam_report(self, click, xy, points, image, model, scale, weights) -> tuple[dict, str]:
        """The click's numbers (JSON) and its line on the page, with the command that gives the same DI."""
        res, win, (top, left, h, w) = click.result, click.window, click.box
        numbers = {
            "di": res.di,
            "gini": res.gini,
            "window": [win.row, win.col, win.height, win.width],
            "region": [top, left, h, w],
            "click": list(xy),
            "steps": res.steps,
            "points": res.points,
            "nan_gradients": res.nan_gradients,
            "seconds": res.seconds,
        }
        command = (
            f"attnsr analyze lam {self.catalog.describe(model, scale, weights)} --image {image} "
            f"--window {win.row},{win.col},{win.height}" + (" --points all" if points is None else "")
        )
        where = (
            "the image" if (top, left, h, w) == (0, 0, *click.full_size) else f"the {w}×{h} region at ({top}, {left})"
        )
        gradients = "every point" if points is None else f"{res.points} adaptively chosen points, linear in between"
        info = (
            f"**DI {res.di:.4f}**, Gini {res.gini:.4f}: the {win.height}×{win.width} window at ({win.row}, {win.col}) "
            f"of {where}; {res.steps}-step path, gradients at {gradients}; {res.seconds:.2f} s.  \n"
            f"Same number: `{command}`"
        )
        return numbers, info

    def checkpoint_arch(self, weights):
        """Model and scale follow a checkpoint chosen as weights (it records them)."""
        c = self.catalog.checkpoints.get(weights)
        return (gr.update(), gr.update()) if c is None else (c.model, c.scale)


def _settings(catalog: pages.Catalog):
    with gr.Row():
        default = DEFAULT_MODEL if DEFAULT_MODEL in catalog.model_choices else catalog.model_choices[0]
        model = gr.Dropdown(catalog.model_choices, value=default, label="Model")
        weights = gr.Dropdown(catalog.weights_choices, value="builtin", label="Weights")
        scale = gr.Radio(list(SCALES), value=4, label="Scale")
    return model, weights, scale


def _upscale_tab(page: Page, model, weights, scale):
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="Image (drop or click)", file_types=list(SUPPORTED_SUFFIXES), type="filepath")
            with gr.Row():
                backend = gr.Dropdown(list(BACKENDS), value="auto", label="Backend")
                precision = gr.Dropdown(list(INFERENCE_PRECISIONS), value="auto", label="Precision")
            go = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
        with gr.Column(scale=2):
            slider = gr.ImageSlider(label="bicubic | model", type="filepath", format="png", elem_id="result-slider")
            info = gr.Markdown(elem_id="upscale-info")
            download = gr.File(label="Full-resolution PNG", elem_id="download")
    go.click(
        _on_page(page.upscale),
        inputs=[upload, model, weights, scale, backend, precision],
        outputs=[slider, info, download],
        api_name="upscale",
    )
    return upload


def _look_inside_tab(page: Page, upload, model, weights, scale):
    with gr.Row():
        source = gr.Radio([SAMPLE, UPLOAD], value=SAMPLE, label="Image")
        size = gr.Dropdown(list(pages.WINDOW_SIZES), value=WINDOW_SIZE, label="LAM window (HR pixels)")
        exact = gr.Checkbox(
            value=False,
            label=f"Exact: the gradient at all 50 path points (slower; by default at {FAST_POINTS} adaptively chosen "
            "points, which kept every measured crop's DI within 1 %)",
        )
    info = gr.Markdown(elem_id="look-info")
    with gr.Row():
        clickable = gr.Image(label="Click a pixel", type="pil", format="png", interactive=False, elem_id="clickable")
        lam_view = gr.Image(label="LAM over the input", type="pil", format="png", interactive=False, elem_id="lam-view")
    with gr.Row():
        numbers = gr.JSON(label="Numbers", open=False, max_height=220, elem_id="lam-numbers")
        region = gr.File(label="A large image's region LAM ran on (for the command line)")
    heat = gr.Gallery(
        label="Attention per block (channel-mean mask)", columns=6, height=240, object_fit="contain", elem_id="heat"
    )
    x, y, factor = gr.Number(visible=False), gr.Number(visible=False), gr.State(1)
    look = dict(
        fn=_on_page(page.look),
        inputs=[source, upload, model, weights, scale],
        outputs=[clickable, factor, heat, info],
        concurrency_id=ANALYSIS,
    )
    return source, size, exact, clickable, lam_view, numbers, info, region, x, y, factor, look


def build_app(catalog: pages.Catalog, *, max_pixels: int = pages.DEFAULT_MAX_PIXELS) -> gr.Blocks:
    """The page (a :class:`gradio.Blocks`): settings on top, an Upscale tab and a Look-inside tab."""
    work = tempfile.TemporaryDirectory(prefix="attnsr-web-")
    page = Page(catalog, max_pixels=max_pixels, work_dir=Path(work.name))
    with gr.Blocks(title="attnsr", delete_cache=(KEEP_OUTPUTS_S, KEEP_OUTPUTS_S)) as app:
        gr.Markdown("## attnsr — upscale, and look inside the network")
        model, weights, scale = _settings(catalog)
        with gr.Tab("Upscale"):
            upload = _upscale_tab(page, model, weights, scale)
        with gr.Tab("Look inside") as tab:
            source, size, exact, clickable, lam_view, numbers, info, region, x, y, factor, look = _look_inside_tab(
                page, upload, model, weights, scale
            )
        weights.change(page.checkpoint_arch, inputs=[weights], outputs=[model, scale], api_visibility="private")
        triggers = [app.load, tab.select, source.change, model.change, weights.change, scale.change]
        gr.on(triggers, **look, trigger_mode="always_last", api_name="look")
        clickable.select(_pick, inputs=[factor], outputs=[x, y], api_visibility="private").then(
            _on_page(page.lam),
            inputs=[source, upload, model, weights, scale, size, exact, x, y],
            outputs=[clickable, lam_view, numbers, info, region],
            api_name="lam",
            concurrency_id=ANALYSIS,
        )
    app.attnsr_work_dir = work  # removed with the app
    return app


def _pick(factor, evt: gr.SelectData):
    """The clicked pixel (x, y) of the image: the shown picture's pixel over the factor it is enlarged by."""
    return evt.index[0] // int(factor), evt.index[1] // int(factor)


def launch(app: gr.Blocks, *, host: str, port: int, max_upload_bytes: int) -> str:
    """Start serving ``app`` on ``host:port`` in the background; returns its URL."""
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        share=False,
        inbrowser=False,
        max_file_size=max_upload_bytes,
        theme=THEME,
        css=CSS,
        ssr_mode=False,
        enable_monitoring=False,
        mcp_server=False,
    )
    return app.local_url
