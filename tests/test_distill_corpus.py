"""Distill on the real corpus against the C tool's golden digests (mode ``distill``).

Pipeline of a module without ``.BTF_ids`` (no kfunc passes): parse the split on
btf-vmlinux → dedup → distill_base → sort_by_name(new split) → ``.BTF`` / ``.BTF.base``.
A sample runs by default; every such module runs with ``-m sweep``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from conftest import golden_digests

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.btf.check import check_module_outputs
from btfids.btf.dedup import dedup
from btfids.btf.distill import distill_base
from btfids.btf.sort import sort_by_name
from btfids.elf import open_elf

DIGESTS = golden_digests()
# Modules without .BTF_ids: the C tool writes no .BTF_ids side file for them.
NO_IDS = sorted(m for (m, mode, out), h in DIGESTS.items()
                if mode == "distill" and out == "BTF_ids" and h == "-")
SAMPLE = NO_IDS[:: max(1, len(NO_IDS) // 30)][:30]


def _module_btf(path: Path) -> bytes:
    with open_elf(str(path)) as elf:
        sec = elf.last_section(b".BTF")
        assert sec is not None, f"{path} has no .BTF"
        return bytes(elf.data(sec))


def distill_pipeline(module_btf: bytes, vmlinux: Btf,
                     timing: dict[str, float] | None = None) -> tuple[bytes, bytes]:
    """(``.BTF``, ``.BTF.base``) as the tool writes them in distill mode."""
    btf = Btf.parse(module_btf, base=vmlinux)
    dedup(btf)
    t0 = time.perf_counter()
    new_base, new_split = distill_base(btf)
    if timing is not None:
        timing["distill"] = timing.get("distill", 0.0) + time.perf_counter() - t0
    sort_by_name(new_split)
    return new_split.raw_data(), new_base.raw_data()


@pytest.fixture(scope="module")
def vmlinux_btf(corpus: Path) -> Btf:
    return Btf.parse((corpus / "btf-vmlinux").read_bytes())


def _check_module(corpus: Path, vmlinux: Btf, module: str) -> None:
    split_raw, base_raw = distill_pipeline(_module_btf(corpus / "modules" / module), vmlinux)
    want_base = DIGESTS[(module, "distill", "BTF.base")]
    want_btf = DIGESTS[(module, "distill", "BTF")]
    assert hashlib.sha256(base_raw).hexdigest() == want_base, f"{module}: .BTF.base differs"
    assert hashlib.sha256(split_raw).hexdigest() == want_btf, f"{module}: .BTF differs"


@pytest.mark.corpus
@pytest.mark.parametrize("module", SAMPLE)
def test_distill_matches_golden_sample(corpus: Path, vmlinux_btf: Btf, module: str) -> None:
    _check_module(corpus, vmlinux_btf, module)


@pytest.mark.corpus
@pytest.mark.sweep
def test_distill_matches_golden_all(corpus: Path, vmlinux_btf: Btf) -> None:
    """Every module without .BTF_ids; reports the count and the time per module."""
    failures: list[str] = []
    t_total = 0.0
    timing: dict[str, float] = {}
    for module in NO_IDS:
        data = _module_btf(corpus / "modules" / module)
        t0 = time.perf_counter()
        split_raw, base_raw = distill_pipeline(data, vmlinux_btf, timing)
        t_total += time.perf_counter() - t0
        if (hashlib.sha256(base_raw).hexdigest() != DIGESTS[(module, "distill", "BTF.base")]
                or hashlib.sha256(split_raw).hexdigest() != DIGESTS[(module, "distill", "BTF")]):
            failures.append(module)
        elif problems := check_module_outputs(split_raw, vmlinux_btf, base_raw):
            failures.append(f"{module}: {problems[0]}")
    n = max(1, len(NO_IDS))
    print(f"\ndistill sweep: {len(NO_IDS) - len(failures)}/{len(NO_IDS)} byte-identical and "
          f"passing the output check; {1000 * t_total / n:.1f} ms/module for "
          f"parse+dedup+distill+sort, distill alone {1000 * timing['distill'] / n:.2f} ms")
    assert not failures, f"{len(failures)} differ, first: {failures[:10]}"


@pytest.mark.corpus
@pytest.mark.parametrize("module", [
    "lib/crc7.ko", "net/ipv4/fou.ko", "net/netfilter/xt_u32.ko", "fs/nfs/nfsv4.ko",
    "net/ipv4/tcp_bbr.ko", "net/netfilter/nf_flow_table.ko", "net/xfrm/xfrm_interface.ko",
])
def test_raw_module_distills_to_golden_base(corpus: Path, golden: Path, vmlinux_btf: Btf,
                                            module: str) -> None:
    """Without dedup: pahole's split already references exactly the base types the
    deduped one does for these modules, so the distilled base is the golden one; and the
    written pair relocates onto vmlinux cleanly."""
    split = Btf.parse(_module_btf(corpus / "modules" / module), base=vmlinux_btf)
    t0 = time.perf_counter()
    new_base, new_split = distill_base(split)
    elapsed = time.perf_counter() - t0
    want = (golden / "newest" / "modules" / "distill" / f"{module}.BTF.base").read_bytes()
    assert new_base.raw_data() == want
    assert check_module_outputs(new_split.raw_data(), vmlinux_btf, new_base.raw_data(),
                                require_sorted=False) == []
    assert elapsed < 0.5, f"distill took {elapsed:.3f}s"


@pytest.mark.corpus
@pytest.mark.sweep
def test_every_module_round_trips_through_distill_and_relocate(corpus: Path,
                                                               vmlinux_btf: Btf) -> None:
    """All modules (pahole's split, no dedup): distill, write, read back, relocate onto
    vmlinux; the result is type-for-type equivalent to the input and passes the kernel
    rules."""
    from btfids.btf.check import TypeMatcher, check_btf
    from btfids.btf.relocate import relocate

    failures: list[str] = []
    modules = sorted((corpus / "modules").glob("**/*.ko"))
    for path in modules:
        split = Btf.parse(_module_btf(path), base=vmlinux_btf)
        new_base, new_split = distill_base(split)
        dist = Btf.parse(new_base.raw_data())
        rel = relocate(Btf.parse(new_split.raw_data(), base=dist), vmlinux_btf)
        tm = TypeMatcher(split, rel)
        if not all(tm.equal(i, i) for i in range(split.start_id, split.type_cnt)):
            failures.append(f"{path.name}: not equivalent")
        elif check_btf(rel, require_sorted=False):
            failures.append(f"{path.name}: {check_btf(rel, require_sorted=False)[0]}")
    print(f"\nround trip: {len(modules) - len(failures)}/{len(modules)} modules")
    assert not failures, failures[:10]


def _sorted_by_name(btf: Btf) -> list[list[int]]:
    """Own types in name order (ties by ID), IDs remapped: the sort pass, for comparison."""
    start = btf.start_id
    order = sorted(range(len(btf.types)), key=lambda i: (btf.str_at(btf.types[i][0]), i))
    new_id = {start + old: start + new for new, old in enumerate(order)}
    out = []
    for old in order:
        t = list(btf.types[old])
        for s in K.id_slots(t):
            t[s] = new_id.get(t[s], t[s])
        out.append(t)
    return out


GOLDEN_FILE_MODULES = [
    "lib/crc7.ko", "net/ipv4/fou.ko", "net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko",
    "net/netfilter/nf_conntrack.ko", "net/netfilter/nf_flow_table.ko",
    "net/netfilter/nf_nat.ko", "net/netfilter/xt_u32.ko", "net/xfrm/xfrm_interface.ko",
    "fs/nfs/nfsv4.ko",
]


@pytest.mark.corpus
@pytest.mark.parametrize("module", GOLDEN_FILE_MODULES)
def test_distilling_golden_plain_gives_golden_distill(golden: Path, vmlinux_btf: Btf,
                                                      module: str) -> None:
    """Dedup-free differential: the plain output is the deduped split, sorted. Distilling
    it marks the same base types, so .BTF.base must be byte-identical to the golden one;
    sorting the new split must give the golden distilled .BTF type for type (only the
    string layout may differ, since strings are added in split order)."""
    mods = golden / "newest" / "modules"
    plain = Btf.parse((mods / "plain" / f"{module}.BTF").read_bytes(), base=vmlinux_btf)
    new_base, new_split = distill_base(plain)
    want_base = (mods / "distill" / f"{module}.BTF.base").read_bytes()
    assert new_base.raw_data() == want_base
    gold = Btf.parse((mods / "distill" / f"{module}.BTF").read_bytes(),
                     base=Btf.parse(want_base))
    ours = _sorted_by_name(new_split)
    assert len(ours) == len(gold.types)
    for i, (a, b) in enumerate(zip(ours, gold.types, strict=True)):
        strs = set(K.str_slots(a))
        assert [w for s, w in enumerate(a) if s not in strs] == \
            [w for s, w in enumerate(b) if s not in strs], f"type {gold.start_id + i}"
        assert [new_split.str_at(a[s]) for s in sorted(strs)] == \
            [gold.str_at(b[s]) for s in sorted(strs)], f"type {gold.start_id + i} names"
