"""``attnsr serve``'s page in a real browser: headless Chromium opens it, uploads an image, waits for the
upscaled result, and clicks a pixel in the look-inside tab; screenshots are taken at both steps.

Needs Chromium (Debian: ``apt-get install chromium``) and the ``playwright`` package (its own browser
download is not used: Playwright drives the system Chromium). Where either is missing the test skips and
says which. Every request the page makes must go to the page's own server on 127.0.0.1 (others are refused
and fail the test). ``ATTNSR_SCREENSHOTS=DIR`` keeps the screenshots there (the README's come from
``ATTNSR_SCREENSHOTS=docs/web``).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web extra (gradio) is not installed: pip install 'attnsr[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium): no browser to test in", allow_module_level=True)

from attnsr.upscaler import sample_image  # noqa: E402
from attnsr.web import build_app, launch  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("module_tmp_cache"),
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),
]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url():
    app = build_app()
    yield launch(app, host="127.0.0.1", port=free_port(), max_upload_mb=5)
    app.close()


@pytest.fixture
def page(url):
    refused: list[str] = []

    def only_the_page(route) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        page.route("**/*", only_the_page)
        page.goto(url)
        yield page
        browser.close()
    assert not refused, f"the page asked for outside resources: {refused}"


def wait_for_text(page, selector: str, text: str) -> str:
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[selector, text],
        timeout=TIMEOUT_MS,
    )
    return page.locator(selector).inner_text()


def choose(page, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_upload_upscale_and_click_a_pixel(page, tmp_path):
    shots = Path(os.environ.get("ATTNSR_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    page.wait_for_selector("#upscale-button")
    choose(page, "Backend", "torch")  # the built-in A2N x4 on PyTorch: no export to wait for
    page.locator("input[type=file]").first.set_input_files(str(sample_image()))  # the one upload of the page
    page.wait_for_selector("text=sample.png")
    page.locator("#upscale-button").click()
    info = wait_for_text(page, "#upscale-info", "→")
    assert "160×120 → 640×480" in info and "torch" in info
    page.wait_for_selector("#result-slider img")
    page.wait_for_selector("#download a")
    page.screenshot(path=str(shots / "upscale.png"), full_page=True)

    page.get_by_role("tab", name="Look inside").click()
    page.get_by_label("uploaded image").check()
    wait_for_text(page, "#look-info", "160×120 image (shown ×3)")
    page.wait_for_selector("#heat img")
    picture = page.locator("#clickable img").first
    box = picture.bounding_box()
    assert box["width"] == pytest.approx(480, abs=2)  # shown ×3: the click picks an image pixel
    picture.click(position={"x": 3 * 100 + 1, "y": 3 * 60 + 1})  # image pixel (100, 60)
    info = wait_for_text(page, "#look-info", "DI ")
    assert "window at (52, 92)" in info and "attnsr analyze lam --model a2n --scale 4" in info
    page.wait_for_selector("#lam-view img")
    page.screenshot(path=str(shots / "look_inside.png"), full_page=True)
    for name in ("upscale.png", "look_inside.png"):
        assert (shots / name).stat().st_size < 1_000_000
