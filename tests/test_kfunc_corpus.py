"""The kfunc passes on the real Debian 6.12 kernel, against the reference C tool's outputs
(shared/golden): kfunc counts and tags on vmlinux and on every module with kfunc sets,
byte identity of the whole pipeline, and re-running on the tool's own output."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import cast

import btfids_passes.finalize as fin
import btfids_passes.kfunc as kf
import pytest
from selftest import build as B

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.btfio import load_btf
from btfids.context import Context, Log
from btfids.elf import open_elf
from btfids.errors import BtfidsError
from btfids.symbols import (
    BtfIdsSection,
    BtfIdSymbols,
    collect_from,
    collect_symbols,
    patch_section,
    resolve_ids,
)

pytestmark = pytest.mark.corpus

#: the 7 modules of the corpus with a .BTF_ids section; all have one kfunc set
#: (module → kfunc set entries = kfuncs = bpf_kfunc tags in the golden output)
KFUNC_MODULES = {
    "net/ipv4/fou.ko": 2,
    "net/ipv4/tcp_bbr.ko": 8,
    "net/ipv4/tcp_dctcp.ko": 6,
    "net/netfilter/nf_conntrack.ko": 10,
    "net/netfilter/nf_flow_table.ko": 1,
    "net/netfilter/nf_nat.ko": 1,
    "net/xfrm/xfrm_interface.ko": 2,
}
FAST_MODULES = ("net/ipv4/fou.ko", "net/netfilter/nf_conntrack.ko")
KFUNC_OPTIONS = {
    kf.KFUNC_TAG: kf.KFUNC_TAG_OPTIONS, kf.FASTCALL_TAG: kf.FASTCALL_OPTIONS,
    kf.IMPLICIT_ARGS: kf.IMPLICIT_OPTIONS, kf.ARENA: kf.ARENA_OPTIONS,
}
RUNS = [(kf.KFUNC_TAG, kf.run_kfunc_tag), (kf.FASTCALL_TAG, kf.run_fastcall_tag),
        (kf.IMPLICIT_ARGS, kf.run_implicit_args), (kf.ARENA, kf.run_arena)]


def pre_symbols(elf_path: Path, pre: Path, log: Log) -> BtfIdSymbols:
    """Symbols of ``elf_path`` over the pre-resolve ``.BTF_ids`` words of ``pre``."""
    with open_elf(str(elf_path)) as elf:
        sec = elf.last_section(b".BTF_ids")
        symtab = elf.symtab()
        assert sec is not None and symtab is not None
        section = BtfIdsSection.decode(sec.index, sec.addr, pre.read_bytes(), elf.order)
        return collect_from(elf, section, symtab, log)


def run_kfunc_passes(ctx: Context, idempotent: bool = False) -> None:
    kf.run_discovery(ctx, kf.DISCOVERY_OPTIONS)
    for k in ctx.kfuncs:
        for name, fn in RUNS:
            fn(ctx, {**KFUNC_OPTIONS[name], "idempotent": idempotent}, k)


def kfunc_tag_targets(btf: Btf, tag: bytes = b"bpf_kfunc") -> list[bytes]:
    return sorted(
        btf.name(t[2]) for _, t in btf.iter_own()
        if K.kind_of(t[1]) == K.DECL_TAG and btf.str_at(t[0]) == tag
    )


@pytest.fixture(scope="module")
def vmlinux_btf(corpus: Path) -> Btf:
    return load_btf(str(corpus / "btf-vmlinux"))


def vmlinux_ctx(corpus: Path, golden: Path, btf: Btf) -> Context:
    log = Log(0, io.StringIO())
    ids = pre_symbols(corpus / "vmlinux", golden / "classic" / "vmlinux.BTF_ids.pre", log)
    return Context(elf_path="vmlinux", log=log, btf=btf, ids=ids)


def test_vmlinux_kfuncs_and_tags(corpus: Path, golden: Path) -> None:
    btf = load_btf(str(corpus / "btf-vmlinux"))
    assert btf.type_cnt - 1 == 107_331
    ctx = vmlinux_ctx(corpus, golden, btf)
    run_kfunc_passes(ctx)
    assert ctx.stats[kf.DISCOVERY] == {
        "decl_tags_in_input": 0, "kfunc_sets": 23, "entries": 133, "kfuncs": 132,
    }
    assert ctx.stats[kf.KFUNC_TAG] == {"tags_added": 132}
    assert kf.FASTCALL_TAG not in ctx.stats  # 6.12 uses flag bits up to 11 only
    assert btf.type_cnt - 1 == 107_463
    assert ctx.log.warnings == 0 and cast(io.StringIO, ctx.log.stream).getvalue() == ""
    assert [k.func_id for k in ctx.kfuncs] == sorted({k.func_id for k in ctx.kfuncs})
    gold = Btf.parse((golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes())
    assert kfunc_tag_targets(gold) == sorted(k.name for k in ctx.kfuncs)
    assert kfunc_tag_targets(gold, b"bpf_fastcall") == []


def test_vmlinux_byte_identical(corpus: Path, golden: Path) -> None:
    """kfunc passes + dedup + sort + resolve give the C tool's bytes."""
    btf = load_btf(str(corpus / "btf-vmlinux"))
    ctx = vmlinux_ctx(corpus, golden, btf)
    run_kfunc_passes(ctx)
    fin.run_dedup(ctx, {})
    fin.run_sort(ctx, {})
    assert ctx.ids is not None
    resolve_ids(ctx.ids, ctx.btf, ctx.log)
    blob = patch_section(ctx.ids, ctx.log)
    assert ctx.btf.raw_data() == (golden / "newest/vmlinux/vmlinux.BTF").read_bytes()
    assert blob == (golden / "newest/vmlinux/vmlinux.BTF_ids").read_bytes()


def test_already_resolved_vmlinux_fails(corpus: Path, vmlinux_btf: Btf) -> None:
    """Debian's vmlinux is resolved: set sorting moved the flags words away from their
    symbols, so discovery misreads flags (passes.md §4) — as the C tool, it fails."""
    log = Log(0, io.StringIO())
    with open_elf(str(corpus / "vmlinux")) as elf:
        ids = collect_symbols(elf, log)
    ctx = Context(elf_path="vmlinux", log=log, btf=vmlinux_btf, ids=ids)
    with pytest.raises(BtfidsError, match="failed to collect kfuncs from BTF"):
        kf.run_discovery(ctx, kf.DISCOVERY_OPTIONS)
    assert "has inconsistent flags across BTF ID sets" in cast(io.StringIO, log.stream).getvalue()


def _module_with_pre(corpus: Path, golden: Path, rel: str, tmp: Path) -> Path:
    """A copy of the module with its pre-resolve .BTF_ids written back."""
    dst = tmp / Path(rel).name
    shutil.copyfile(corpus / "modules" / rel, dst)
    pre = (golden / "classic" / "modules" / (rel + ".BTF_ids.pre")).read_bytes()
    with open_elf(str(dst)) as elf:
        sec = elf.last_section(b".BTF_ids")
        assert sec is not None and sec.size == len(pre)
        off = sec.offset
    with open(dst, "r+b") as f:
        f.seek(off)
        f.write(pre)
    return dst


def _check_module(corpus: Path, golden: Path, rel: str, tmp: Path) -> None:
    elf = _module_with_pre(corpus, golden, rel, tmp)
    base = corpus / "btf-vmlinux"
    # kfunc passes alone: counts and tags
    res = B.run(elf, base=base, passes=B.KFUNC_PASSES)
    assert res.run.exit_code == 0 and res.stderr == ""
    stats = res.run.ctx.stats  # type: ignore[union-attr]
    n = KFUNC_MODULES[rel]
    assert stats[kf.DISCOVERY]["kfuncs"] == stats[kf.DISCOVERY]["entries"] == n
    assert stats[kf.KFUNC_TAG] == {"tags_added": n}
    # whole pipeline, plain and distilled: the C tool's bytes
    for mode in ("plain", "distill"):
        res = B.run(elf, base=base, distill_base=mode == "distill")
        assert res.run.exit_code == 0 and res.stderr == ""
        for suffix in (".BTF_ids", ".BTF", ".BTF.base"):
            want = golden / "newest" / "modules" / mode / (rel + suffix)
            got = Path(str(elf) + suffix)
            assert got.exists() == want.exists(), (mode, suffix)
            if want.exists():
                assert got.read_bytes() == want.read_bytes(), (rel, mode, suffix)
                got.unlink()


@pytest.mark.parametrize("rel", FAST_MODULES)
def test_module_kfuncs_byte_identical(corpus: Path, golden: Path, rel: str,
                                      tmp_path: Path) -> None:
    _check_module(corpus, golden, rel, tmp_path)


@pytest.mark.sweep
@pytest.mark.parametrize("rel", sorted(set(KFUNC_MODULES) - set(FAST_MODULES)))
def test_all_kfunc_modules_byte_identical(corpus: Path, golden: Path, rel: str,
                                          tmp_path: Path) -> None:
    _check_module(corpus, golden, rel, tmp_path)


# ------------------------------------------------------------------ running twice
def test_rerun_on_own_output(corpus: Path, golden: Path) -> None:
    """The C tool's vmlinux.BTF fed back (with the unpatched .BTF_ids): by default every
    tag is appended again and dedup folds it; the idempotent mode appends nothing."""
    out = (golden / "newest" / "vmlinux" / "vmlinux.BTF").read_bytes()
    for idem in (False, True):
        btf = Btf.parse(out)
        ctx = vmlinux_ctx(corpus, golden, btf)
        run_kfunc_passes(ctx, idempotent=idem)
        added = btf.type_cnt - 1 - 107_463
        if idem:
            assert added == 0
            assert ctx.stats[kf.KFUNC_TAG] == {"tags_present": 132}
        else:
            assert added == 132
            assert ctx.stats[kf.KFUNC_TAG] == {"tags_added": 132}
            fin.run_dedup(ctx, {})
            assert ctx.btf.type_cnt - 1 == 107_463  # the duplicates are folded
            assert len(kfunc_tag_targets(ctx.btf)) == 132
