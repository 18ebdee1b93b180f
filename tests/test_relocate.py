"""btf__relocate: exact rewriting on hand-built BTF, libbpf's matching rules and errors,
and a differential check on the golden outputs (distilled .BTF relocated onto vmlinux
must equal the plain .BTF type for type)."""

from __future__ import annotations

from pathlib import Path

import pytest
from distill_helpers import Builder, reparse
from test_distill import build_pair

from btfids.btf import Btf, BtfError
from btfids.btf import kinds as K
from btfids.btf.check import TypeMatcher
from btfids.btf.distill import distill_base
from btfids.btf.relocate import relocate


def test_relocate_exact_ids_and_strings() -> None:
    base, split = build_pair()
    nb0, ns0 = distill_base(split)
    nb = reparse(nb0)
    ns = reparse(ns0, nb)
    before = [list(t) for t in ns.types]
    rel = relocate(ns, base)
    assert ns.types == before and ns.base is nb          # input untouched
    assert rel.base is base and rel.start_id == 18
    assert rel.start_str_off == len(base.strs)
    shift = len(base.strs) - len(nb.strs)
    # distilled IDs 1..7 → base IDs of int, char, foo, big, double, opaque, color
    dmap = {0: 0, 1: 1, 2: 2, 3: 3, 4: 7, 5: 11, 6: 14, 7: 16}
    for old, new in zip(ns.types, rel.types, strict=True):
        for s in K.id_slots(old):
            v = old[s]
            assert new[s] == (dmap[v] if v < 8 else v + 10)
        for s in K.str_slots(old):
            v = old[s]
            if v >= len(nb.strs):
                assert new[s] == v + shift
            elif v:
                assert base.str_at(new[s]) == nb.str_at(v)
    assert rel.strs == ns.strs
    raw = rel.raw_data()
    assert Btf.parse(raw, base=base).types == rel.types
    assert relocate(ns, base).types == rel.types      # deterministic, repeatable


def _dist_and_split(dist_build: object, split_build: object) -> Btf:
    dist = Btf()
    ids = dist_build(Builder(dist))  # type: ignore[operator]
    split = Btf(base=reparse(dist))
    split_build(Builder(split), ids)  # type: ignore[operator]
    return split


def _base(build: object) -> Btf:
    base = Btf()
    build(Builder(base))  # type: ignore[operator]
    return reparse(base)


def test_relocate_matches_enum64_fwd_and_int_encoding() -> None:
    base = _base(lambda b: (
        b.int_("int", 4, 0), b.int_("int", 4, 1),       # 1 unsigned, 2 signed
        b.enum64("e", 8, [("E", 1 << 40)]),             # 3
        # libbpf compares a distilled FWD's union-ness with the base composite's kflag
        # (bitfield mode), so only a kflag-1 union matches "union u;" (reproduced quirk).
        b.rec(K.UNION, "u", 8, kflag=1),                # 4
        b.fwd("s"),                                     # 5
    ))
    split = _dist_and_split(
        lambda d: (d.int_("int", 4, 1), d.rec(K.ENUM, "e", 8), d.fwd("u", union=True),
                   d.fwd("s")),
        lambda s, ids: [s.ptr(i) for i in ids],
    )
    rel = relocate(split, base)
    assert [t[2] for t in rel.types] == [2, 3, 4, 5]
    base = _base(lambda b: b.comp("u", 8, [], union=True))
    split = _dist_and_split(lambda d: (d.fwd("u", union=True),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match=r"'u' \[1\] is not mapped"):
        relocate(split, base)


def test_relocate_int_encoding_mismatch_is_unmapped() -> None:
    base = _base(lambda b: b.int_("int", 4, 0))
    split = _dist_and_split(lambda d: (d.int_("int", 4, 1),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match=r"'int' \[1\] is not mapped"):
        relocate(split, base)


def test_relocate_struct_size_only_when_ambiguous_or_embedded() -> None:
    base = _base(lambda b: (b.comp("one", 16, []), b.comp("two", 8, []), b.comp("two", 24, [])))
    # Unique name: size ignored. Two base "two": size picks 24.
    split = _dist_and_split(
        lambda d: (d.comp("one", 99, []), d.comp("two", 24, [])),
        lambda s, ids: (s.ptr(1), s.ptr(2)),
    )
    assert [t[2] for t in relocate(split, base).types] == [1, 3]
    # Embedded by value (through a typedef and an array): size must match.
    split = _dist_and_split(
        lambda d: (d.comp("one", 99, []),),
        lambda s, ids: s.comp("outer", 200, [("m", s.array(s.ref(K.TYPEDEF, 1, "t"), 1, 2), 0)]),
    )
    with pytest.raises(BtfError, match=r"'one' \[1\] is not mapped"):
        relocate(split, base)
    # Through a pointer it is not embedded.
    split = _dist_and_split(
        lambda d: (d.comp("one", 99, []),),
        lambda s, ids: s.comp("outer", 8, [("m", s.ptr(1), 0)]),
    )
    assert relocate(split, base).types[0][2] == 1


def test_relocate_multiple_candidates() -> None:
    base = _base(lambda b: (b.comp("dup", 8, []), b.int_("pad"), b.comp("dup", 8, [])))
    split = _dist_and_split(lambda d: (d.comp("dup", 8, []),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match=r"'dup' \[1\], size 8 has multiple candidates .*"
                       r"ids \[3, 1\]"):
        relocate(split, base)


def test_relocate_named_base_fwd_matches_distilled_struct() -> None:
    # libbpf does not check the base kind for a distilled struct: FWD "x" and STRUCT "x"
    # both match, which is the "multiple candidates" error.
    base = _base(lambda b: (b.fwd("x"), b.comp("x", 4, [])))
    split = _dist_and_split(lambda d: (d.comp("x", 4, []),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match="multiple candidates"):
        relocate(split, base)


def test_relocate_rejects_bad_distilled_base() -> None:
    base = _base(lambda b: b.int_("int"))
    split = _dist_and_split(lambda d: (d.rec(K.INT, "", 4, 32),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match="it is anonymous"):
        relocate(split, base)
    split = _dist_and_split(lambda d: (d.ptr(0),), lambda s, ids: s.ptr(1))
    with pytest.raises(BtfError, match="unexpected kind"):
        relocate(split, base)
    with pytest.raises(BtfError, match="split BTF"):
        relocate(base, base)


def test_relocate_unmapped_string_offset() -> None:
    base = _base(lambda b: b.comp("name", 4, []))
    dist = Btf()
    Builder(dist).comp("name", 4, [])
    dist = reparse(dist)
    split = Btf(base=dist)
    # A split name pointing into the middle of the distilled "name" string (offset 3).
    split.add_type_words([3, K.make_info(K.TYPEDEF), 1])
    with pytest.raises(BtfError, match=r"string 'me' \[offset 3\] is not mapped"):
        relocate(split, base)


# ---------------------------------------------------------------- golden differential
GOLDEN_MODULES = [
    "lib/crc7.ko", "net/ipv4/fou.ko", "net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko",
    "net/netfilter/nf_conntrack.ko", "net/netfilter/nf_flow_table.ko",
    "net/netfilter/nf_nat.ko", "net/netfilter/xt_u32.ko", "net/xfrm/xfrm_interface.ko",
    "fs/nfs/nfsv4.ko",
]


@pytest.fixture(scope="module")
def vmlinux_btf(corpus: Path) -> Btf:
    return Btf.parse((corpus / "btf-vmlinux").read_bytes())


@pytest.mark.corpus
@pytest.mark.parametrize("module", GOLDEN_MODULES)
def test_golden_distilled_relocates_to_plain(golden: Path, vmlinux_btf: Btf,
                                             module: str) -> None:
    """Relocated distilled .BTF = plain .BTF plus the copied base types, same order."""
    d = golden / "newest" / "modules" / "distill" / module
    p = golden / "newest" / "modules" / "plain" / module
    dist = Btf.parse(Path(f"{d}.BTF.base").read_bytes())
    split = Btf.parse(Path(f"{d}.BTF").read_bytes(), base=dist)
    plain = Btf.parse(Path(f"{p}.BTF").read_bytes(), base=vmlinux_btf)
    rel = relocate(split, vmlinux_btf)
    assert rel.start_id == plain.start_id
    tm = TypeMatcher(plain, rel)
    j = plain.start_id
    extra = []
    for i in range(rel.start_id, rel.type_cnt):
        if j < plain.type_cnt and tm.equal(j, i):
            j += 1
        else:
            extra.append(i)
    assert j == plain.type_cnt, f"plain type {j} has no counterpart"
    # What is left are the copies of base types distillation moved into the split, each
    # equal to a base type.
    for i in extra:
        t = rel.type(i)
        kind = K.kind_of(t[1])
        assert kind in (K.PTR, K.TYPEDEF, K.CONST, K.VOLATILE, K.RESTRICT, K.ARRAY,
                        K.FUNC_PROTO, K.TYPE_TAG) or (
            kind in (K.STRUCT, K.UNION, K.ENUM, K.ENUM64) and not t[0])
