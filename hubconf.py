"""torch.hub entry points: ``torch.hub.load(<clone>, "a2n", source="local", scale=4, pretrained=True)``.

One entry point per registered model, each ``create_model(name, scale=..., pretrained=..., **options)``:
``pretrained`` is False (fresh), True (built-in weights), "official" (the authors' checkpoint, downloaded
into the cache and sha256-checked) or a checkpoint path. Works from a clone without installing: the
clone's ``src`` goes first on the import path.
"""

import sys
from pathlib import Path

dependencies = ["torch", "safetensors"]

_SRC = str(Path(__file__).resolve().parent / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from attnsr import create_model, list_models  # noqa: E402


def _entry_point(name: str):
    def entry(*, scale: int = 4, pretrained=False, **options):
        return create_model(name, scale=scale, pretrained=pretrained, **options)

    entry.__name__ = name
    entry.__doc__ = f"{name}: attnsr.create_model({name!r}, scale=scale, pretrained=pretrained, **options)"
    return entry


for _name in list_models():
    globals()[_name] = _entry_point(_name)
