"""The whole bpf-next pipeline on the real Debian kernel, compared with the C tool.

Default run: vmlinux (pre-resolve image), the 7 modules with ``.BTF_ids`` and a fixed
sample of other modules (every 11th by path), plain and ``--distill_base``, each output's
sha256 against golden/newest/SHA256SUMS.tsv. ``-m sweep`` runs every module.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest

from btfids import btfio, host
from btfids.context import Log

pytestmark = pytest.mark.corpus
SUFFIXES = ("BTF_ids", "BTF", "BTF.base")


def golden_table(golden: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(module, mode) → {suffix: sha256 or '-'}."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    with (golden / "newest" / "SHA256SUMS.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            assert row["exit"] == "0"
            out.setdefault((row["module"], row["mode"]), {})[row["output"]] = row["sha256"]
    return out


def preresolve(src: Path, blob: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` with the pre-resolve ``.BTF_ids`` bytes written over it."""
    from elftools.elf.elffile import ELFFile

    shutil.copyfile(src, dst)
    data = blob.read_bytes()
    with dst.open("r+b") as f:
        sec = ELFFile(f).get_section_by_name(".BTF_ids")
        assert sec is not None and sec["sh_size"] == len(data)
        f.seek(sec["sh_offset"])
        f.write(data)
    return dst


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


@pytest.fixture(scope="module")
def base_cache(corpus: Path):  # type: ignore[no-untyped-def]
    """Parse btf-vmlinux once for all module runs (the host re-reads it otherwise)."""
    real = btfio.load_btf
    path = str(corpus / "btf-vmlinux")
    cache = {}

    def load(p: str, base=None):  # type: ignore[no-untyped-def]
        if p == path and base is None:
            if p not in cache:
                cache[p] = real(p, None)
            return cache[p]
        return real(p, base)

    btfio.load_btf = load  # type: ignore[assignment]
    yield cache
    btfio.load_btf = real  # type: ignore[assignment]
    # the shared base must come out of every run unchanged
    if path in cache:
        assert hashlib.sha256(cache[path].raw_data()).hexdigest() == sha(Path(path))


@pytest.fixture(scope="module")
def pipe():  # type: ignore[no-untyped-def]
    return host.prepare("bpf-next")


def run_module(corpus: Path, golden: Path, rel: str, mode: str, work: Path, pipe,  # type: ignore[no-untyped-def]
               want: dict[str, str]) -> list[str]:
    """Run one module; return the mismatching outputs (empty = identical to the C tool)."""
    work.mkdir(parents=True, exist_ok=True)
    src = corpus / "modules" / rel
    blob = golden / "classic" / "modules" / (rel + ".BTF_ids.pre")
    elf = work / Path(rel).name
    if blob.exists():
        preresolve(src, blob, elf)
    else:
        os.symlink(src, elf)  # main mode never writes the ELF
    opts = host.RunOptions(str(elf), btf_base=str(corpus / "btf-vmlinux"),
                           distill_base=(mode == "distill"))
    res = host.run(pipe, opts, log=Log(0, io.StringIO()))
    assert res.exit_code == 0
    return [f"{rel} {mode} .{s}" for s in SUFFIXES
            if sha(Path(f"{elf}.{s}")) != want.get(s, "-")]


def sample(golden: Path, every: int) -> tuple[list[str], dict[tuple[str, str], dict[str, str]]]:
    table = golden_table(golden)
    mods = sorted({m for m, _ in table})
    with_ids = {str(p.relative_to(golden / "classic" / "modules"))[: -len(".BTF_ids.pre")]
                for p in (golden / "classic" / "modules").rglob("*.BTF_ids.pre")}
    assert len(with_ids) == 7
    picked = sorted(with_ids) + [m for i, m in enumerate(mods) if i % every == 0
                                 and m not in with_ids]
    return picked, table


@pytest.mark.parametrize("parallel", ["0", "always"])  # btf/background.py: off, on
def test_vmlinux_identical(corpus: Path, golden: Path, tmp_path: Path, pipe,  # type: ignore[no-untyped-def]
                           parallel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFIDS_PARALLEL", parallel)
    elf = preresolve(corpus / "vmlinux", golden / "classic" / "vmlinux.BTF_ids.pre",
                     tmp_path / "vmlinux")
    buf = io.StringIO()
    res = host.run(pipe, host.RunOptions(str(elf)), log=Log(0, buf))
    assert res.exit_code == 0 and buf.getvalue() == ""  # C newest: exit 0, empty stderr
    assert res.outputs == [f"{elf}.BTF_ids", f"{elf}.BTF"]
    for s in ("BTF_ids", "BTF"):
        assert sha(Path(f"{elf}.{s}")) == sha(golden / "newest" / "vmlinux" / f"vmlinux.{s}"), s
    assert res.ctx is not None and len(res.ctx.kfuncs) == 132


def test_modules_identical(  # type: ignore[no-untyped-def]
    corpus: Path, golden: Path, tmp_path: Path, pipe, base_cache
) -> None:
    mods, table = sample(golden, 11)
    assert len(mods) >= 107
    bad: list[str] = []
    for n, rel in enumerate(mods):
        for mode in ("plain", "distill"):
            bad += run_module(corpus, golden, rel, mode, tmp_path / f"{n}-{mode}", pipe,
                              table[(rel, mode)])
    assert bad == [], f"{len(bad)} outputs differ, e.g. {bad[:5]}"


@pytest.mark.sweep
def test_all_modules_identical(  # type: ignore[no-untyped-def]
    corpus: Path, golden: Path, tmp_path: Path, pipe, base_cache
) -> None:
    mods, table = sample(golden, 1)
    assert len(mods) == 1138
    bad: list[str] = []
    for n, rel in enumerate(mods):
        for mode in ("plain", "distill"):
            work = tmp_path / f"{n}-{mode}"
            bad += run_module(corpus, golden, rel, mode, work, pipe, table[(rel, mode)])
            shutil.rmtree(work)
    assert bad == [], f"{len(bad)} outputs differ, e.g. {bad[:5]}"
