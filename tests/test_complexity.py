"""Multiply-adds at the A2N paper's 1280x720 output size (Table 5)."""

from __future__ import annotations

import pytest

import attnsr
from attnsr.complexity import count_macs

PAPER_GMACS = {
    ("a2n", 2): 247.5,
    ("a2n", 3): 117.5,
    ("a2n", 4): 72.4,
    ("a2n_m", 2): 200.3,
    ("a2n_m", 3): 96.6,
    ("a2n_m", 4): 60.6,
}


@pytest.mark.parametrize(("name", "scale"), sorted(PAPER_GMACS))
def test_multiply_adds_match_paper(name, scale):
    model = attnsr.create_model(name, scale=scale)
    gmacs = count_macs(model, input_size=(720 // scale, 1280 // scale)) / 1e9
    assert abs(gmacs - PAPER_GMACS[(name, scale)]) / PAPER_GMACS[(name, scale)] < 0.005


def test_meta_count_equals_real_count():
    model = attnsr.create_model("pan", scale=3, num_blocks=2)
    assert count_macs(model, input_size=(13, 17), meta=True) == count_macs(model, input_size=(13, 17), meta=False)
