"""Peak memory of `attnsr upscale` on a 4000x3000 image at x4 with default settings.

Usage: python benchmarks/upscale_memory.py [--size 4000x3000]
Writes a synthetic photo-like PNG, runs the CLI in a child process and reads the child's peak resident
set size (ru_maxrss). Records the backend and precision the CLI reports (``--backend auto`` by default) and
the CPU. Writes benchmarks/results/upscale_memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from attnsr.outputs import write_text
from attnsr.precision import cpu_info

Image.MAX_IMAGE_PIXELS = None  # the output is 16000x12000 on purpose


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--extra", nargs="*", default=[])
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.BICUBIC).save(tmp / "big.png")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnsr",
            "upscale",
            str(tmp / "big.png"),
            "-o",
            str(tmp / "out.png"),
            "--no-progress",
            *args.extra,
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = Image.open(tmp / "out.png").size if proc.returncode == 0 else None
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    result = {
        "cpu": cpu_info().as_dict(),
        "cli_summary": summary,
        "input": [w, h],
        "output": out,
        "returncode": proc.returncode,
        "stderr": proc.stderr[-500:],
        "peak_rss_gib": peak_kb / 2**20,
        "seconds": seconds,
        "extra_args": args.extra,
    }
    print(json.dumps(result, indent=2))
    write_text("benchmarks/results/upscale_memory.json", json.dumps(result, indent=2), overwrite=True)


if __name__ == "__main__":
    main()
