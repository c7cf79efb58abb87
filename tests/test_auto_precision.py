"""precision "auto" of the upscaler: bf16 (on a native-bf16 CPU) only for weights whose record states a measured
bf16 cost of at most BF16_MAX_COST dB on each of Set5/Set14/B100/Urban100; fp32 otherwise. Built-in records
are one JSON file beside each weight file."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import attnsr
from attnsr import precision
from attnsr._pretrained import BF16_MAX_COST, BF16_SETS, RECORDS, builtin_records, get_record, sha256_file
from attnsr.upscaler import Upscaler, auto_precision

NATIVE = precision.CpuInfo(model="stub CPU with AMX", amx=True, avx512_bf16=True, avx512=True, avx2=True)


@pytest.fixture
def native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_info", lambda: NATIVE)


class Net(torch.nn.Module):
    def __init__(self, record=None):
        super().__init__()
        self.weight_record = record


def with_cost(cost: dict) -> attnsr.WeightRecord:
    return dataclasses.replace(get_record("a2n_x4.builtin"), bf16_cost=cost)


def test_auto_rule_on_records():
    harmless = {s: 0.004 for s in BF16_SETS}
    assert auto_precision("bf16", Net(with_cost(harmless))) == "bf16"
    assert auto_precision("bf16", Net(with_cost({**harmless, "Urban100": BF16_MAX_COST + 0.018}))) == "fp32"
    assert auto_precision("bf16", Net(with_cost({s: -0.003 for s in BF16_SETS}))) == "bf16"  # bf16 was better
    assert auto_precision("bf16", Net(with_cost({"Set5": 0.0}))) == "fp32"  # not measured on every set
    assert auto_precision("bf16", Net(None)) == "fp32"  # weights nobody measured
    assert auto_precision("fp32", Net(with_cost(harmless))) == "fp32"  # no native bf16: auto was fp32 already


def test_upscaler_auto_follows_the_record(native_bf16, tmp_path):
    builtin = get_record("a2n_x4.builtin")
    up = Upscaler(scale=4, backend="torch", precision="auto")
    assert up.precision == ("bf16" if builtin.bf16_harmless else "fp32")
    # A user's own weights carry no measured bf16 cost: fp32 under auto, bf16 only when asked.
    path = tmp_path / "mine.safetensors"
    attnsr.save_weights(attnsr.create_model("pan", scale=2, num_blocks=1), path)
    assert Upscaler(weights=path, scale=2, backend="torch", precision="auto").precision == "fp32"
    assert Upscaler(weights=path, scale=2, backend="torch", precision="bf16").precision == "bf16"


def test_builtin_records_are_the_json_beside_the_weights(tmp_path):
    records = builtin_records()
    assert {r.name for r in records} == {"a2n_x2.builtin", "a2n_x3.builtin", "a2n_x4.builtin"}
    assert all(r in RECORDS for r in records)
    for r in records:
        path = attnsr._pretrained.builtin_path(r)
        assert sha256_file(path) == r.sha256 and path.stat().st_size == r.size
        assert {s.dataset for s in r.measured} == set(BF16_SETS)
    # A folder with one record file reads back field by field.
    entry = json.loads(attnsr._pretrained.builtin_path(records[0]).with_suffix(".json").read_text())
    (tmp_path / "x.json").write_text(json.dumps({**entry, "bf16_cost": {"Set5": 0.001}}))
    (one,) = builtin_records(tmp_path)
    assert one.sha256 == entry["sha256"] and one.bf16_cost == {"Set5": 0.001} and one.scales == tuple(entry["scales"])
