"""The rooms import one way (docs/architecture.md): no import cycle among the project's
modules, counting every import statement wherever it stands (module level, inside a
function, under ``TYPE_CHECKING``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import name -> source directory of the project's packages
PACKAGES = {"btfids": ROOT / "btfids", "btfids_passes": ROOT / "plugins",
            "btfids_presets": ROOT / "config"}


def project_modules(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages``."""
    mods: dict[str, Path] = {}
    for pkg, top in packages.items():
        for path in sorted(top.rglob("*.py")):
            parts = [pkg, *path.relative_to(top).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def imported(module: str, path: Path, tree: ast.AST, mods: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports. ``from P import name`` counts as an
    import of the submodule ``P.name`` when there is one, else of ``P`` (its
    ``__init__``). The import of a module's parent packages that Python makes first
    is not a statement and does not count."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in mods else source)
    found = set()
    for name in targets:
        while name and name not in mods:   # import a.b.c of a module a.b (an attribute)
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    mods = project_modules(packages)
    return {m: imported(m, p, ast.parse(p.read_text(), str(p)), mods)
            for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None: depth-first search."""
    state: dict[str, int] = {}   # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_project_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGES)
    assert len(graph) > 30   # the whole project was read
    assert "btfids.host" in graph["btfids.cli.resolve_btfids"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_btf_room_imports_nothing_above_it() -> None:
    """The BTF room is the bottom of the flow: it imports only itself and the cache
    directory helper (docs/architecture.md)."""
    graph = import_graph(PACKAGES)
    for module, targets in graph.items():
        if module == "btfids.btf" or module.startswith("btfids.btf."):
            outside = {t for t in targets if not t.startswith("btfids.btf.")}
            assert outside <= {"btfids.cache"}, (module, outside)


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    pkg = root / "pkg"
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    return {"pkg": pkg}


@pytest.mark.parametrize("files, cycle", [
    # module level, through a package's __init__ re-export
    ({"__init__.py": "from .a import A\n", "a.py": "from . import b\nA = 1\n",
      "b.py": "from pkg import A\n"}, ["pkg", "pkg.a", "pkg.b", "pkg"]),
    # an import inside a function
    ({"__init__.py": "", "a.py": "import pkg.b\n",
      "b.py": "def f():\n    from .a import x\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
    # under TYPE_CHECKING, in a subpackage, relative two levels up
    ({"__init__.py": "", "top.py": "from .sub import low\n", "sub/__init__.py": "",
      "sub/low.py": "if False:\n    from ..top import T\n"},
     ["pkg.sub.low", "pkg.top", "pkg.sub.low"]),
])
def test_detector_finds_a_cycle(tmp_path: Path, files: dict[str, str],
                                cycle: list[str]) -> None:
    found = find_cycle(import_graph(write_package(tmp_path, files)))
    assert found is not None
    # the same cycle, from whichever module the search met first
    assert found[0] == found[-1] and sorted(found[:-1]) == sorted(cycle[:-1])


def test_detector_passes_a_one_way_package(tmp_path: Path) -> None:
    files = {"__init__.py": "from . import low\n", "low.py": "import os\n",
             "mid.py": "from .low import x\nfrom . import low\n",
             "high.py": "def f():\n    from pkg import mid, low\n"}
    graph = import_graph(write_package(tmp_path, files))
    assert graph == {"pkg": {"pkg.low"}, "pkg.low": set(), "pkg.mid": {"pkg.low"},
                     "pkg.high": {"pkg.mid", "pkg.low"}}
    assert find_cycle(graph) is None


def test_speed_tricks_are_entered_from_one_place() -> None:
    """The forked child and the GC pause each have one way in (docs/architecture.md,
    "Speed tricks, each at one edge"): the run path meets the child in the loader only
    (dedup forks its own phases), the pause in ``host.run`` only."""
    graph = import_graph(PACKAGES)
    users = {trick: {m for m, targets in graph.items() if trick in targets}
             for trick in ("btfids.btf.background", "btfids.gcpause")}
    assert users == {"btfids.btf.background": {"btfids.loader", "btfids.btf.dedup"},
                     "btfids.gcpause": {"btfids.host"}}
