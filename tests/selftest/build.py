"""Build the kfunc selftest objects (gcc + pahole) and run btfids pipelines on them.

Mirrors the upstream selftest (edge-cases.md §1): ``btf_data.c`` holds the types and
kfunc candidates (its BTF is encoded by pahole), ``ids.c`` holds the ``.BTF_ids`` lists
and sets written with our own macros (``btf_ids.h``); the tool runs on ``ids.o`` with
``--btf data.o``. ``mod_data.c``/``mod_ids.c`` are a module: split BTF on ``data.o``.
Needed tools: ``gcc`` (Debian ``gcc``) and ``pahole`` (Debian ``dwarves``).
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from btfids import config as C
from btfids import host, plugins
from btfids.context import Log

HERE = Path(__file__).resolve().parent
TOOLS = ("gcc", "pahole", "ld")
KFUNC_PASSES = ["kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena"]


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def finalize_passes() -> list[str]:
    """The finalize passes whose algorithms exist in this tree (dedup/sort may not yet)."""
    out = []
    for module, name in (
        ("btfids.btf.dedup", "dedup"), ("btfids.btf.distill", "base-btf"),
        ("btfids.btf.sort", "sort"),
    ):
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


@dataclass
class Objects:
    data: Path  # "vmlinux": ELF object with pahole's .BTF
    ids: Path  # the .BTF_ids object the tool runs on
    mod_data: Path  # "module": split BTF on data
    mod_ids: Path


def _run(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")


def _cc(src: str, out: Path, debug: bool) -> Path:
    argv = ["gcc", "-c", "-O0", "-fno-pic", f"-I{HERE}", str(HERE / src), "-o", str(out)]
    if debug:
        argv[2:2] = ["-g", "-gdwarf-4"]
    _run(argv)
    return out


def build(out: Path) -> Objects:
    """Compile and BTF-encode everything into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = _cc("btf_data.c", out / "data.o", True)
    _run(["pahole", "-J", str(data)])
    mod_data = _cc("mod_data.c", out / "mod_data.o", True)
    _run(["pahole", "-J", "--btf_base", str(data), str(mod_data)])
    ids = _cc("ids.c", out / "ids.o", False)
    return Objects(data, ids, mod_data, _cc("mod_ids.c", out / "mod_ids.o", False))


def build_explain(out: Path) -> tuple[Path, Path]:
    """``btfids explain``'s objects: a two-unit "vmlinux" (``ld -r``, so two different
    ``struct dup``) with its own ``.BTF_ids``, and a module split on it."""
    out.mkdir(parents=True, exist_ok=True)
    units = [str(_cc(f"explain_{u}.c", out / f"explain_{u}.o", True)) for u in "ab"]
    vmlinux = out / "explain_vmlinux.o"
    _run(["ld", "-r", *units, "-o", str(vmlinux)])
    _run(["pahole", "-J", str(vmlinux)])
    mod = _cc("explain_mod.c", out / "explain_mod.o", True)
    _run(["pahole", "-J", "--btf_base", str(vmlinux), str(mod)])
    return vmlinux, mod


def pipeline(
    passes: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[C.Pipeline, Any]:
    """A checked pipeline of ``passes`` with the built-in plugins only."""
    import btfids_passes.finalize as fin
    import btfids_passes.kfunc as kf

    pm = plugins.make_manager(
        entry_points=False, env=False, extra=[("kfunc", kf), ("finalize", fin)]
    )
    cfg = C.Config(name="selftest", found_by="test", chain=["selftest"], pipeline=list(passes))
    for name, opts in (options or {}).items():
        cfg.passes[name] = C.PassSettings(options=dict(opts))
    return C.build_pipeline(cfg, plugins.collect_passes(pm)), pm


@dataclass
class Result:
    run: host.RunResult
    stderr: str


def run(
    elf: Path,
    *,
    btf: Path | None = None,
    base: Path | None = None,
    passes: Sequence[str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    distill_base: bool = False,
    verbose: int = 0,
) -> Result:
    """Run btfids (main mode) on ``elf``; the default pipeline is every kfunc pass plus
    the finalize passes present in the tree."""
    pipe, pm = pipeline(passes if passes is not None else KFUNC_PASSES + finalize_passes(),
                        options)
    buf = io.StringIO()
    opts = host.RunOptions(
        str(elf), btf=str(btf) if btf else None, btf_base=str(base) if base else None,
        distill_base=distill_base, verbose=verbose,
    )
    res = host.run(pipe, opts, pm=pm, log=Log(verbose, buf))
    return Result(res, buf.getvalue())
