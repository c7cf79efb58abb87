"""Precision ``auto``: bf16 only where the CPU computes it natively; one vocabulary for every command."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from attnsr import precision as P
from attnsr.config import load_config
from attnsr.errors import AttnsrError

AVX2_EPYC = "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 avx avx2 fma\n"
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512_bf16 avx512vl\n"
SAPPHIRE = "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


@pytest.mark.parametrize(
    ("text", "native", "model"),
    [
        (AVX2_EPYC, False, "AMD EPYC 7B13"),
        (ZEN4, True, "AMD EPYC 9B14"),
        (SAPPHIRE, True, "Intel(R) Xeon(R) Platinum 8481C"),
    ],
)
def test_cpuinfo_flags_decide_native_bf16(text, native, model):
    info = P.parse_cpuinfo(text)
    assert info.native_bf16 is native and info.model == model
    assert info.avx2


@pytest.fixture
def fake_cpu(monkeypatch):
    def use(text: str) -> None:
        monkeypatch.setattr(P, "cpu_info", lambda: P.parse_cpuinfo(text))

    return use


def test_auto_is_fp32_without_native_bf16(fake_cpu):
    fake_cpu(AVX2_EPYC)
    assert P.resolve_precision("auto", "cpu") == "fp32"


@pytest.mark.parametrize("text", [ZEN4, SAPPHIRE])
def test_auto_is_bf16_with_native_bf16(fake_cpu, text):
    fake_cpu(text)
    assert P.resolve_precision("auto", "cpu") == "bf16"


def test_explicit_bf16_without_native_warns_once_and_runs(fake_cpu, caplog):
    fake_cpu(AVX2_EPYC)
    P._warn_emulated_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger="attnsr.precision"):
        assert P.resolve_precision("bf16", "cpu") == "bf16"
        assert P.resolve_precision("bf16", "cpu") == "bf16"
    warnings = [r for r in caplog.records if "no native bf16" in r.getMessage()]
    assert len(warnings) == 1 and "AMD EPYC 7B13" in warnings[0].getMessage()


def test_explicit_bf16_with_native_does_not_warn(fake_cpu, caplog):
    fake_cpu(SAPPHIRE)
    P._warn_emulated_bf16.cache_clear()
    with caplog.at_level(logging.WARNING, logger="attnsr.precision"):
        assert P.resolve_precision("bf16", "cpu") == "bf16"
    assert not caplog.records


def test_fp16_on_cpu_and_unknown_names_are_refused():
    with pytest.raises(AttnsrError, match="fp16 is for CUDA"):
        P.resolve_precision("fp16", "cpu")
    with pytest.raises(AttnsrError, match="auto, fp32, bf16, fp16"):
        P.resolve_precision("amp", "cpu")


def test_autocast_enabled_only_for_reduced_precision():
    assert not P.autocast("fp32", "cpu")._enabled
    assert P.autocast("bf16", "cpu")._enabled and P.autocast("bf16", "cpu").fast_dtype == torch.bfloat16


def test_run_environment_names_cpu_threads_precision():
    env = P.run_environment("fp32", "cpu")
    assert env["precision"] == "fp32" and env["threads"] == torch.get_num_threads()
    assert env["cpu"]["model"] and set(env["cpu"]) >= {"amx", "avx512_bf16", "avx2", "native_bf16"}


def test_default_config_is_auto_and_no_recipe_names_a_precision():
    assert load_config().precision == "auto"
    configs = Path(__file__).resolve().parents[1] / "configs"
    recipes = sorted(configs.rglob("*.yaml"))
    assert recipes
    for recipe in recipes:
        cfg = load_config(recipe)
        assert cfg.precision == "auto", recipe
        assert "precision:" not in recipe.read_text(), recipe
