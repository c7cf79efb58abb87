"""The dihedral transforms shared by training augmentation and the ×8 self-ensemble."""

import torch

from attnsr.data.dihedral import dihedral
from attnsr.evaluate import self_ensemble


def test_eight_distinct_transforms_each_undone_by_its_inverse():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    seen = set()
    for code in range(8):
        y = dihedral(x, code)
        assert torch.equal(dihedral(y, code, inverse=True), x)
        seen.add((tuple(y.shape), tuple(y.flatten().tolist())))
    assert len(seen) == 8


def test_self_ensemble_of_an_equivariant_function_is_the_function():
    x = torch.rand(1, 3, 6, 7)
    double = lambda t: 2 * t  # noqa: E731 - commutes with every flip and transpose
    assert torch.allclose(self_ensemble(double, x), 2 * x)
    shift = lambda t: t[..., :1, :].expand_as(t)  # noqa: E731 - a first-row copy is not equivariant
    assert not torch.allclose(self_ensemble(shift, x), shift(x))
