"""``attnsr serve``'s page through Gradio's Python client, against an app on 127.0.0.1 (issue: a local web page).

The page must give the library's numbers: an upload comes back pixel-identical to ``attnsr.upscale`` with the
same settings, and a click gives the DI of ``attnsr analyze lam`` for the same window. Failures are messages
on the page, and the server keeps answering. The server is started with a one-block A2N x2 checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import attnsr
from attnsr import save_weights
from attnsr.analysis.lam import FAST_POINTS
from attnsr.cli.main import main

gradio = pytest.importorskip("gradio", reason="the web extra (gradio) is not installed: pip install 'attnsr[web]'")
import httpx  # noqa: E402  (Gradio's own HTTP client)
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from attnsr.web import build_app, launch  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("module_tmp_cache"),
    pytest.mark.filterwarnings("ignore:::gradio.queueing"),  # Gradio's own use of pandas
]
MAX_PIXELS = 20_000
MAX_UPLOAD_MB = 1


@pytest.fixture(scope="module", autouse=True)
def loopback_only():
    """No connection leaves the machine: the page, the client and the library talk over 127.0.0.1 only."""
    real = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test tried to reach {address}")
        return real(sock, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    torch.manual_seed(0)
    save_weights(attnsr.create_model("a2n", scale=2, num_blocks=1).eval(), root / "tiny.safetensors")
    rng = np.random.default_rng(0)
    smooth = torch.nn.functional.interpolate(
        torch.from_numpy(rng.random((1, 3, 10, 12))), size=(40, 48), mode="bilinear"
    )
    Image.fromarray((smooth[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(root / "img.png")
    (root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image at all" * 4)
    Image.new("RGB", (200, 150), "gray").save(root / "big.png")  # 30000 pixels > MAX_PIXELS
    noise = (rng.random((700, 700, 3)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(root / "heavy.png")  # about 1.5 MB > MAX_UPLOAD_MB
    Image.fromarray(np.full((16, 16), 200.0, dtype=np.float32), mode="F").save(root / "float.tif")
    return root


@pytest.fixture(scope="module")
def client(files):
    app = build_app(checkpoints=[files / "tiny.safetensors"], max_pixels=MAX_PIXELS)
    url = launch(app, host="127.0.0.1", port=free_port(), max_upload_mb=MAX_UPLOAD_MB)
    assert url.startswith("http://127.0.0.1:")
    yield Client(url, verbose=False)
    app.close()


def upscale(client, path, *, weights="tiny.safetensors", backend="torch", precision="fp32"):
    return client.predict(handle_file(str(path)), "a2n", weights, 2, backend, precision, api_name="/upscale")


@pytest.mark.parametrize(("backend", "precision"), [("torch", "fp32"), ("auto", "auto")])
def test_an_upload_comes_back_pixel_identical_to_attnsr_upscale(client, files, backend, precision):
    (before, after), info, png = upscale(client, files / "img.png", backend=backend, precision=precision)
    expected = attnsr.upscale(
        Image.open(files / "img.png"),
        scale=2,
        model="a2n",
        weights=files / "tiny.safetensors",
        backend=backend,
        precision=precision,
    )
    got = Image.open(png)
    assert got.size == (96, 80) and got.mode == "RGB"
    assert np.array_equal(np.asarray(got), np.asarray(expected))
    assert Image.open(before).size == Image.open(after).size == (96, 80)  # bicubic and model at the same size
    assert np.array_equal(np.asarray(Image.open(after)), np.asarray(expected))
    assert "48×40 → 96×80" in info and " s** on **" in info


@pytest.mark.parametrize("exact", [False, True])
def test_a_click_gives_the_di_of_analyze_lam_for_the_same_window(client, files, tmp_path, exact):
    img = files / "img.png"
    clicked, blend, numbers, info, region = client.predict(
        "uploaded image", handle_file(str(img)), "a2n", "tiny.safetensors", 2, 16, exact, 21, 17, api_name="/lam"
    )
    assert numbers["window"] == [17 - 8, 21 - 8, 16, 16]  # centred on the click
    assert numbers["region"] == [0, 0, 40, 48] and region is None  # a small image: LAM on all of it
    out = tmp_path / "lam.json"
    window = ",".join(map(str, numbers["window"][:3]))
    argv = ["analyze", "lam", "--weights", str(files / "tiny.safetensors"), "--image", str(img), "--window", window]
    argv += ["--points", "all"] if exact else []  # the page's default is the command's
    assert main([*argv, "--json", str(out)]) == 0
    cli = json.loads(out.read_text())
    assert cli["points"] == numbers["points"] == (50 if exact else FAST_POINTS)
    assert abs(numbers["di"] - cli["di"]) < 1e-6 and abs(numbers["gini"] - cli["gini"]) < 1e-8
    assert f"--window {window}" in info and f"DI {cli['di']:.4f}" in info
    assert Image.open(clicked).size == Image.open(blend).size == (480, 400)  # shown x10


def test_a_window_at_the_border_is_moved_inside(client, files):
    *_, numbers, _, _ = client.predict(
        "uploaded image",
        handle_file(str(files / "img.png")),
        "a2n",
        "tiny.safetensors",
        2,
        8,
        False,
        47,
        0,
        api_name="/lam",
    )
    assert numbers["window"] == [0, 48 - 8 - 1, 8, 8]


def test_the_sample_image_and_its_heat_maps(client):
    image, heat, info = client.predict(None, None, "a2n", "tiny.safetensors", 2, api_name="/look")
    assert Image.open(image).size == (480, 360)  # shown x3
    assert len(heat) == 1 and "block 1" in heat[0]["caption"]  # one block of attention
    assert "Click a pixel" in info


def test_a_corrupt_upload_gets_the_message_and_the_next_request_works(client, files):
    with pytest.raises(AppError, match=r"cannot read 'bad.png': not a (valid|recognised) image"):
        upscale(client, files / "bad.png")
    (_, _), _, png = upscale(client, files / "img.png")
    assert Image.open(png).size == (96, 80)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("big.png", r"'big.png' .*pixels"),
        ("float.tif", r"'float.tif': 32-bit float image with values outside \[0, 1\]"),
    ],
)
def test_an_upload_over_the_pixel_limit_or_of_an_unsupported_mode_gets_a_message(client, files, name, message):
    with pytest.raises(AppError, match=message):
        upscale(client, files / name)


def test_an_upload_over_the_size_limit_is_refused_and_the_server_keeps_running(client, files):
    heavy = files / "heavy.png"
    assert heavy.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the page's limit, told to the client
        upscale(client, heavy)
    # the server refuses it too, whatever the client does
    answer = httpx.post(client.src + "gradio_api/upload", files={"files": (heavy.name, heavy.read_bytes())})
    assert answer.status_code == 413 and "maximum allowed size" in answer.text
    assert upscale(client, files / "img.png")[2]


def test_a_path_typed_as_weights_is_refused(client, files):
    path = str(files / "tiny.safetensors")  # a real checkpoint, but not offered by its label
    with pytest.raises(AppError, match="not in the list of choices|not offered"):
        upscale(client, files / "img.png", weights=path)
    with pytest.raises(AppError, match="not in the list of choices|not offered"):
        client.predict("sample image", None, "a2n", path, 2, 16, False, 5, 5, api_name="/lam")


def test_no_upload_yet_is_a_message(client):
    with pytest.raises(AppError, match="drop or upload an image first"):
        client.predict(None, "a2n", "tiny.safetensors", 2, "torch", "fp32", api_name="/upscale")
    with pytest.raises(AppError, match="no image uploaded yet"):
        client.predict("uploaded image", None, "a2n", "tiny.safetensors", 2, 16, False, 5, 5, api_name="/lam")


def test_the_page_message_leaves_upload_folders_out(tmp_path):
    from attnsr.errors import ImageError
    from attnsr.web.app import page_message

    upload = tmp_path / "gradio" / "abc123" / "photo.png"
    exc = ImageError(f"cannot read '{upload}': not a valid image")
    assert page_message(exc, uploads=[str(upload)]) == "cannot read 'photo.png': not a valid image"
    err = PermissionError(13, "Permission denied", str(upload))
    assert page_message(err, uploads=[str(upload)]) == "Permission denied: 'photo.png'"


def test_attnsr_serve_prints_the_url_and_stops_on_ctrl_c(files):
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "attnsr",
        "serve",
        "--port",
        str(port),
        "--checkpoint",
        str(files / "tiny.safetensors"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"attnsr web page: http://127.0.0.1:{port}/"), (line, proc.stderr.read())
        assert "attnsr" in httpx.get(f"http://127.0.0.1:{port}/").text
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0 and out.strip().endswith("stopped"), (out, err)


def test_a_port_in_use_is_one_error_line(files, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--checkpoint", str(files / "tiny.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(port) in err[0], err
