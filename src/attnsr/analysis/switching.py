"""Attention switching (A2N Table 2): PSNR with attention kept only in chosen trunk blocks.

The other blocks' masks are replaced by ones through forward hooks on their ``tap``s
(:func:`~attnsr.analysis.hooks.disable_attention`), so any trained model can be probed without edits.
A *setting* names the blocks whose attention stays on, as in Table 2: ``all``, ``none``, ``front``
(first half), ``back`` (second half), ``interleaved`` (even blocks) — for 10 blocks exactly the paper's
{1..10}, {}, {1..5}, {6..10}, {2,4,6,8,10} — or explicit indices such as ``1,3,5`` or ``1-5``.
(Training the five Table 2 models instead: ``configs/analysis/a2n_analysis_*.yaml``.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..errors import AttnsrError
from ..evaluate import DatasetResult, ImageResult, evaluate_folder, make_forward
from ..models.a2n_analysis import TABLE2_SETTINGS, table2_settings
from .hooks import block_attention, disable_attention, parse_blocks, trunk_blocks

SETTING_NAMES = tuple(TABLE2_SETTINGS)
SWITCHING_PROTOCOLS = ("standard", "chop")  # those of A2N's own numbers (of attnsr.evaluate.PROTOCOLS)


def parse_setting(text: str, num_blocks: int) -> tuple[int, ...]:
    """A setting name or a list of 1-based block indices/ranges (``"1,3,5"``, ``"1-5"``, ``"1-5+8"``)."""
    key = text.strip().lower()
    named = table2_settings(num_blocks)
    if key in named:
        return named[key]
    if not re.fullmatch(r"[\d,+\s-]+", key):
        raise AttnsrError(f"setting {text!r}: use {', '.join(SETTING_NAMES)} or block indices like 1,3,5 or 1-5")
    return parse_blocks(key, num_blocks=num_blocks, what="setting")


def parse_settings(text: str, num_blocks: int) -> dict[str, tuple[int, ...]]:
    """``--settings``: ';'-separated settings (:func:`parse_setting`), at least one."""
    settings = {s.strip(): parse_setting(s, num_blocks) for s in text.split(";") if s.strip()}
    if not settings:
        raise AttnsrError(f"settings {text!r}: names no setting; use e.g. 'all;none;1-5'")
    return settings


@dataclass
class SwitchingResult:
    setting: str
    enabled: tuple[int, ...]
    datasets: list[DatasetResult]


def evaluate_switching(
    model: nn.Module,
    folders: Sequence[str | Path],
    *,
    scale: int,
    settings: dict[str, Sequence[int]] | None = None,
    protocol: str = "standard",
    device: str = "cpu",
    cache_dir: Path | None = None,
    on_image: Callable[[str, ImageResult], None] | None = None,
) -> list[SwitchingResult]:
    """PSNR/SSIM of ``model`` on each folder for each setting (attention on only in its blocks).

    ``settings``: name → 1-based trunk blocks whose attention stays on (default: the five of Table 2).
    """
    n = len(trunk_blocks(model))
    if not block_attention(model):
        name = type(model).__name__
        raise AttnsrError(f"{name} declares no attention inside its {n} trunk blocks: nothing to switch")
    settings = settings if settings is not None else table2_settings(n)
    forward = make_forward(model, scale=scale, protocol=protocol, device=device)
    out = []
    for name, enabled in settings.items():
        enabled = tuple(sorted(set(int(b) for b in enabled)))
        disabled = [b for b in range(1, n + 1) if b not in enabled]
        results = []
        with disable_attention(model, blocks=disabled):
            for folder in folders:
                cb = (lambda r, name=name: on_image(name, r)) if on_image else None
                results.append(
                    evaluate_folder(
                        forward, Path(folder), scale=scale, protocol=protocol, cache_dir=cache_dir, on_image=cb
                    )
                )
        out.append(SwitchingResult(name, enabled, results))
    return out
