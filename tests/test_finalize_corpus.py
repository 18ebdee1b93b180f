"""dedup + sort_by_name on the real corpus against the C tool's golden digests.

For a module without ``.BTF_ids`` (no kfuncs, no BTF passes) the newest C tool's plain
``<mod>.BTF`` is exactly ``raw_data()`` after dedup then sort of the module's split BTF
on ``btf-vmlinux``. For vmlinux the golden BTF also holds the 132 ``bpf_kfunc`` decl
tags the kfunc pass appends before dedup; they are re-created here from the golden
output (ascending FUNC ID). A size-spread sample runs by default; ``-m sweep`` runs
every module, through the fast path and through the literal reference emulation.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from conftest import golden_digests
from elftools.elf.elffile import ELFFile

from btfids.btf import kinds as K
from btfids.btf.dedup import dedup
from btfids.btf.model import Btf
from btfids.btf.sort import sort_by_name

DIGESTS = golden_digests()
NO_IDS = sorted(m for (m, mode, out), h in DIGESTS.items()
                if mode == "plain" and out == "BTF_ids" and h == "-")


def _module_btf(path: Path) -> bytes:
    with path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None, f"{path} has no .BTF"
        return bytes(sec.data())


def finalize(data: bytes, base: Btf | None, reference: bool = False) -> bytes:
    btf = Btf.parse(data, base=base)
    dedup(btf, reference=reference)
    sort_by_name(btf)
    return btf.raw_data()


@pytest.fixture(scope="module")
def vmlinux_btf(corpus: Path) -> Btf:
    return Btf.parse((corpus / "btf-vmlinux").read_bytes())


@pytest.fixture(scope="module")
def sample(corpus: Path) -> list[str]:
    """~50 modules spread over the size range, the 5 biggest included."""
    by_size = sorted(NO_IDS, key=lambda m: (corpus / "modules" / m).stat().st_size)
    step = max(1, len(by_size) // 45)
    picked = set(by_size[::step][:45]) | set(by_size[-5:])
    return sorted(picked)


def _check(corpus: Path, vmlinux: Btf, module: str, reference: bool = False) -> bool:
    out = finalize(_module_btf(corpus / "modules" / module), vmlinux, reference)
    return hashlib.sha256(out).hexdigest() == DIGESTS[(module, "plain", "BTF")]


@pytest.mark.corpus
def test_module_sample_matches_golden(corpus: Path, vmlinux_btf: Btf,
                                      sample: list[str]) -> None:
    assert len(NO_IDS) > 1000 and len(sample) >= 45
    bad = [m for m in sample if not _check(corpus, vmlinux_btf, m)]
    assert not bad, f"{len(bad)}/{len(sample)} differ: {bad[:5]}"


@pytest.mark.corpus
@pytest.mark.parametrize("module", ["lib/crc7.ko", "fs/nfs/nfsv4.ko"])
def test_reference_path_matches_golden(corpus: Path, vmlinux_btf: Btf, module: str) -> None:
    assert _check(corpus, vmlinux_btf, module, reference=True)


def vmlinux_with_kfunc_tags(corpus: Path, golden_btf: bytes) -> Btf:
    """btf-vmlinux plus one ``bpf_kfunc`` decl tag per kfunc, ascending FUNC ID, as the
    kfunc pass appends them; kfuncs = the golden tags' targets, mapped back by name to
    the input's lowest FUNC of that name."""
    gold = Btf.parse(golden_btf)
    names = {gold.name(t[2]) for _, t in gold.iter_own()
             if K.kind_of(t[1]) == K.DECL_TAG and gold.str_at(t[0]) == b"bpf_kfunc"}
    btf = Btf.parse((corpus / "btf-vmlinux").read_bytes())
    first: dict[bytes, int] = {}
    for tid, t in btf.iter_own():
        if K.kind_of(t[1]) == K.FUNC:
            first.setdefault(btf.str_at(t[0]), tid)
    funcs = sorted(first[n] for n in names)
    assert len(funcs) == 132
    for fid in funcs:
        btf.add_decl_tag(b"bpf_kfunc", fid, -1)
    return btf


@pytest.mark.corpus
def test_vmlinux_matches_golden(corpus: Path, golden: Path) -> None:
    want = (golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes()
    btf = vmlinux_with_kfunc_tags(corpus, want)
    t0 = time.perf_counter()
    dedup(btf)
    t1 = time.perf_counter()
    sort_by_name(btf)
    t2 = time.perf_counter()
    print(f"\nvmlinux: dedup {t1 - t0:.3f} s, sort {t2 - t1:.3f} s")
    assert len(btf.types) == 107463
    assert btf.raw_data() == want


@pytest.mark.corpus
@pytest.mark.sweep
def test_vmlinux_reference_path_matches_golden(corpus: Path, golden: Path) -> None:
    want = (golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes()
    btf = vmlinux_with_kfunc_tags(corpus, want)
    dedup(btf, reference=True)
    sort_by_name(btf)
    assert btf.raw_data() == want


@pytest.mark.corpus
@pytest.mark.sweep
@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_all_modules_match_golden(corpus: Path, vmlinux_btf: Btf, reference: bool) -> None:
    bad: list[str] = []
    t_total = 0.0
    for module in NO_IDS:
        data = _module_btf(corpus / "modules" / module)
        t0 = time.perf_counter()
        out = finalize(data, vmlinux_btf, reference)
        t_total += time.perf_counter() - t0
        if hashlib.sha256(out).hexdigest() != DIGESTS[(module, "plain", "BTF")]:
            bad.append(module)
    print(f"\n{'reference' if reference else 'fast'}: {len(NO_IDS) - len(bad)}/{len(NO_IDS)} "
          f"byte-identical, {1000 * t_total / len(NO_IDS):.1f} ms/module (dedup+sort)")
    assert not bad, f"{len(bad)} differ, first: {bad[:10]}"
