"""Load the stdlib scripts of e2e/ (not a package) as modules for the tests."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

E2E = Path(__file__).resolve().parent.parent / "e2e"


def load(name: str) -> types.ModuleType:
    """``e2e/<name>.py`` as module ``e2e_<name>`` (registered: dataclasses look their
    module up in sys.modules)."""
    spec = importlib.util.spec_from_file_location(f"e2e_{name}", E2E / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"e2e_{name}"] = mod
    spec.loader.exec_module(mod)
    return mod
