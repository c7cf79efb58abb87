"""Plot a run's training curve (loss, and validation PSNR when present) from its history.json.

Usage: python scripts/plot_training.py runs/a2n_x4_291 -o docs/training/a2n_x4_291.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    history = json.loads((args.run / "history.json").read_text())
    loss = [(h["iteration"], h["loss"]) for h in history if "loss" in h]
    val = [(h["iteration"], h["val_psnr"]) for h in history if "val_psnr" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(*zip(*loss), label="train L1 loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("L1 loss")
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), "o-", color="C1", label="val PSNR (Set5)")
        ax2.set_ylabel("PSNR (dB)")
    ax.set_title(args.run.name)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)


if __name__ == "__main__":
    main()
