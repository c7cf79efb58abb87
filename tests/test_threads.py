"""``attnsr.upscale`` and ``attnsr.Upscaler`` called from several threads (issue "No silent wrong output"): on
every installed backend, 4 threads × 25 calls on images of different sizes give, bit for bit, what one thread
gives; ``upscale``'s cache builds an Upscaler once however many threads ask for it at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import attnsr
from attnsr import backends, upscaler

THREADS, CALLS = 4, 25
SIZES = [(16, 16), (20, 24), (40, 28), (33, 17), (24, 40), (17, 31), (28, 21)]
BACKENDS = [
    pytest.param(name, marks=pytest.mark.skipif(not backends.is_installed(name), reason=f"{name} not installed"))
    for name in ("torch", "onnxruntime", "openvino")
]


pytestmark = pytest.mark.usefixtures("module_tmp_cache")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES]


def in_threads(call, count: int) -> list[tuple[int, np.ndarray]]:
    """``call(i)`` for CALLS indices in each of THREADS threads started together: [(i, result), ...]."""
    start = threading.Barrier(THREADS)

    def work(t: int) -> list[tuple[int, np.ndarray]]:
        start.wait()
        return [((t * 3 + k) % count, call((t * 3 + k) % count)) for k in range(CALLS)]

    with ThreadPoolExecutor(THREADS) as pool:
        return [pair for done in pool.map(work, range(THREADS)) for pair in done]


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_give_what_one_thread_gives(tiny_a2n, images, backend):
    def call(i: int) -> np.ndarray:
        return attnsr.upscale(images[i], model=tiny_a2n, scale=2, backend=backend, precision="fp32")

    expected = [call(i) for i in range(len(images))]
    results = in_threads(call, len(images))
    assert len(results) == THREADS * CALLS
    for i, out in results:
        assert out.shape == expected[i].shape and np.array_equal(out, expected[i]), f"image {i} differs"


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_upscaler_shared_by_threads_with_tiles(tiny_a2n, images, backend):
    up = attnsr.Upscaler(tiny_a2n, scale=2, backend=backend, precision="fp32", tile=16)  # several runs per image
    expected = [up(img) for img in images]
    for i, out in in_threads(lambda i: up(images[i]), len(images)):
        assert np.array_equal(out, expected[i]), f"image {i} differs"


def test_threads_asking_at_once_build_one_upscaler(tiny_a2n, images, monkeypatch):
    built = []

    class Counted(attnsr.Upscaler):
        def __init__(self, *args, **kwargs):
            built.append(1)
            time.sleep(0.2)  # a build that takes a while, as exporting and compiling do
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(upscaler, "Upscaler", Counted)
    upscaler._cached_upscaler.cache_clear()
    results = in_threads(lambda i: attnsr.upscale(images[i], model=tiny_a2n, scale=2, backend="torch"), len(images))
    assert len(built) == 1 and len(results) == THREADS * CALLS
