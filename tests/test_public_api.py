"""The package's public names work on a bare ``import attnsr`` in a fresh process (they are imported lazily)."""

from __future__ import annotations

import json
import subprocess
import sys

import attnsr


def fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_list_models_on_a_bare_import():
    names = json.loads(fresh("import json, attnsr; print(json.dumps(attnsr.list_models()))"))
    from attnsr._factory import list_models  # the registry once every model module is imported

    assert names == list_models() and {"a2n", "pan", "imdn", "a2n_analysis"} <= set(names)


def test_every_public_name_resolves_in_a_fresh_process():
    """Each name of ``__all__`` in its own fresh interpreter state (one process, modules dropped between)."""
    code = (
        "import json, sys, attnsr\n"
        "out = {}\n"
        "for name in attnsr.__all__:\n"
        "    for mod in [m for m in sys.modules if m == 'attnsr' or m.startswith('attnsr.')]:\n"
        "        del sys.modules[mod]\n"
        "    import attnsr\n"
        "    obj = getattr(attnsr, name)\n"
        "    out[name] = obj() if name == 'list_models' else type(obj).__name__\n"
        "print(json.dumps(out))"
    )
    got = json.loads(fresh(code))
    assert set(got) == set(attnsr.__all__)
    assert len(got["list_models"]) > 10


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert attnsr.__version__ == version("attnsr")
