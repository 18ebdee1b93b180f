"""Oracle tests on the real Debian 6.12.117 kernel (golden README, classic/): the
reconstructed pre-resolve ``.BTF_ids`` sections, run through

* the 6.12 in-place flow: vmlinux comes out byte-identical to Debian's (whole 340 MB file);
  the 7 modules with ``.BTF_ids`` get Debian's section and lose their signature (the file
  is Debian's cut to the ELF extent); a fixed sample of the others stays untouched;
* newest semantics (collect + resolve on the input BTF + patch): Debian's section bytes.

The whole module set runs with ``-m sweep``.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from pathlib import Path

import pytest
from conftest import GOLDEN

from btfids.btf import Btf
from btfids.context import Log
from btfids.elf import open_elf
from btfids.legacy import run_in_place
from btfids.symbols import BtfIdsSection, collect_symbols, patch_section, resolve_ids

CLASSIC = GOLDEN / "classic"
PRE_MODULES = sorted(
    str(p.relative_to(CLASSIC / "modules"))[: -len(".BTF_ids.pre")]
    for p in (CLASSIC / "modules").rglob("*.BTF_ids.pre")
)
pytestmark = pytest.mark.corpus


def _log() -> Log:
    return Log(0, io.StringIO())


def _section(path: Path) -> tuple[int, int, int, bytes]:
    """(index, file offset, sh_addr, bytes) of ``.BTF_ids``."""
    with open_elf(str(path)) as elf:
        sec = elf.last_section(b".BTF_ids")
        assert sec is not None, f"{path} has no .BTF_ids"
        return sec.index, sec.offset, sec.addr, elf.data(sec)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _pre_image(src: Path, pre: bytes, dst: Path) -> None:
    """Copy ``src`` to ``dst`` and put the pre-resolve section bytes back."""
    shutil.copyfile(src, dst)
    _, off, _, cur = _section(src)
    assert len(cur) == len(pre)
    with dst.open("r+b") as f:
        f.seek(off)
        f.write(pre)


def _modules(corpus: Path) -> list[str]:
    root = corpus / "modules"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.ko"))


@pytest.fixture(scope="session")
def base_btf(corpus: Path) -> Btf:
    return Btf.parse((corpus / "btf-vmlinux").read_bytes())


# ------------------------------------------------------------------ 6.12 in place
@pytest.mark.parametrize("parallel", ["0", "always"])  # btf/background.py: off, on
def test_vmlinux_in_place_is_byte_identical(corpus: Path, tmp_path: Path, parallel: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BTFIDS_PARALLEL", parallel)
    pre = (CLASSIC / "vmlinux.BTF_ids.pre").read_bytes()
    work = tmp_path / "vmlinux"
    _pre_image(corpus / "vmlinux", pre, work)
    assert _section(work)[3] == pre
    t0 = time.perf_counter()
    run_in_place(str(work), log=_log())
    elapsed = time.perf_counter() - t0
    print(f"\n6.12 flow on vmlinux: {elapsed:.3f} s")
    assert work.stat().st_size == (corpus / "vmlinux").stat().st_size
    assert _digest(work) == _digest(corpus / "vmlinux")
    assert elapsed < 5.0


@pytest.mark.parametrize("module", PRE_MODULES)
def test_module_in_place_section_identical(corpus: Path, tmp_path: Path, module: str) -> None:
    src = corpus / "modules" / module
    pre = (CLASSIC / "modules" / f"{module}.BTF_ids.pre").read_bytes()
    work = tmp_path / src.name
    _pre_image(src, pre, work)
    t0 = time.perf_counter()
    run_in_place(str(work), base_path=str(corpus / "btf-vmlinux"), log=_log())
    elapsed = time.perf_counter() - t0
    print(f"\n6.12 flow on {module}: {elapsed:.3f} s")
    assert _section(work)[3] == _section(src)[3]
    with open_elf(str(src)) as elf:
        extent = elf.extent()
    original = src.read_bytes()
    assert extent < len(original)  # Debian's modules are signed: the signature goes
    assert work.read_bytes() == original[:extent]


def test_modules_without_btf_ids_untouched(corpus: Path, tmp_path: Path) -> None:
    with_ids = set(PRE_MODULES)
    sample = [m for m in _modules(corpus) if m not in with_ids][::10]
    assert len(sample) >= 100
    for module in sample:
        src = corpus / "modules" / module
        work = tmp_path / "m.ko"
        shutil.copyfile(src, work)
        run_in_place(str(work), base_path=str(corpus / "btf-vmlinux"), log=_log())
        assert work.read_bytes() == src.read_bytes(), module


@pytest.mark.sweep
def test_sweep_all_modules_in_place(corpus: Path, tmp_path: Path) -> None:
    pres = {m: (CLASSIC / "modules" / f"{m}.BTF_ids.pre").read_bytes() for m in PRE_MODULES}
    t0 = time.perf_counter()
    for module in _modules(corpus):
        src = corpus / "modules" / module
        work = tmp_path / "m.ko"
        if module in pres:
            _pre_image(src, pres[module], work)
        else:
            shutil.copyfile(src, work)
        run_in_place(str(work), base_path=str(corpus / "btf-vmlinux"), log=_log())
        if module in pres:
            assert _section(work)[3] == _section(src)[3], module
        else:
            assert work.read_bytes() == src.read_bytes(), module
    print(f"\nall modules, 6.12 flow: {time.perf_counter() - t0:.2f} s")


# ------------------------------------------------------------------ newest semantics
def _newest_section(path: Path, pre: bytes, btf: Btf) -> bytes:
    with open_elf(str(path)) as elf:
        syms = collect_symbols(elf, _log())
    assert syms is not None
    sec = syms.section
    syms.section = BtfIdsSection.decode(sec.index, sec.addr, pre, sec.order)
    log = _log()
    resolve_ids(syms, btf, log)
    return patch_section(syms, log)


def test_vmlinux_newest_semantics(corpus: Path) -> None:
    from btfids.btfio import load_btf

    vmlinux = corpus / "vmlinux"
    pre = (CLASSIC / "vmlinux.BTF_ids.pre").read_bytes()
    t0 = time.perf_counter()
    btf = load_btf(str(vmlinux))
    got = _newest_section(vmlinux, pre, btf)
    print(f"\nnewest collect+resolve+patch on vmlinux (BTF load included): "
          f"{time.perf_counter() - t0:.3f} s")
    assert got == _section(vmlinux)[3]


@pytest.mark.parametrize("module", PRE_MODULES)
def test_module_newest_semantics(corpus: Path, base_btf: Btf, module: str) -> None:
    from btfids.btfio import load_btf

    src = corpus / "modules" / module
    pre = (CLASSIC / "modules" / f"{module}.BTF_ids.pre").read_bytes()
    got = _newest_section(src, pre, load_btf(str(src), base_btf))
    assert got == _section(src)[3]
