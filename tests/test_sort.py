"""Sort by name and btf__permute (spec finalize.md §3)."""

from __future__ import annotations

import pytest
from dedup_helpers import (
    array,
    datasec,
    decl_tag,
    describe,
    fwd,
    int_,
    proto,
    ptr,
    reparse,
    struct,
    typedef,
    var,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from btfids.btf import kinds as K
from btfids.btf.model import Btf, BtfError
from btfids.btf.sort import permute, sort_by_name, sort_order


def test_bytewise_order_ties_by_id_and_void_first() -> None:
    b = Btf()
    a = int_(b, "a")                     # 1
    ptr(b, a)                            # 2 ""
    int_(b, "B")                         # 3  b"B" < b"a" (byte-wise)
    struct(b, "a", [("x", a)])           # 4  same name as 1: after it
    int_(b, "\xff")                      # 5  b"\xc3\xbf" sorts last
    ptr(b, 4)                            # 6 ""
    fwd(b, "a")                          # 7
    id_map = sort_order(b)
    # new order: VOID, ptr(2), ptr(6), B(3), a(1), a-struct(4), a-fwd(7), \xff(5)
    assert id_map == [0, 4, 1, 3, 5, 7, 2, 6]
    sort_by_name(b)
    assert describe(b) == [
        ("PTR", "", (4,)), ("PTR", "", (5,)), ("INT", "B", ()), ("INT", "a", ()),
        ("STRUCT", "a", (4,)), ("FWD", "a", (0,)), ("INT", "\xff", ()),
    ]


def test_split_sorts_own_types_only_and_keeps_base_ids() -> None:
    base = Btf()
    zi = int_(base, "z")
    base = reparse(base)
    split = Btf(base=base)
    t = typedef(split, "y", zi)          # 2
    ptr(split, t)                        # 3
    typedef(split, "x", t)               # 4
    split = reparse(split)
    raw_base = base.raw_data()
    strs = bytes(split.strs)
    sort_by_name(split)
    assert describe(split) == [("PTR", "", (4,)), ("TYPEDEF", "x", (4,)), ("TYPEDEF", "y", (1,))]
    assert bytes(split.strs) == strs     # strings untouched
    assert base.raw_data() == raw_base


def test_permute_rewrites_every_id_field() -> None:
    b = Btf()
    i = int_(b, "int")                                   # 1
    arr = array(b, i, i, 4)                              # 2
    s = struct(b, "s", [("a", arr), ("b", i)])           # 3
    p = proto(b, s, [("x", arr), ("y", i)])              # 4
    b.add_func(b"f", 1, p)                               # 5
    v = var(b, "v", s)                                   # 6
    datasec(b, ".data", [(v, 0, 4)])                     # 7
    decl_tag(b, "tag", s, 1)                             # 8
    f = fwd(b, "fw")                                     # 9
    b.types[f - 1][2] = 3                                # FWD.type is visited too
    n = b.type_cnt
    id_map = [0] + [n - tid for tid in range(1, n)]      # reverse every own type
    permute(b, id_map)
    got = {b.str_at(t[0]).decode() or K.kind_name(K.kind_of(t[1])): [t[x] for x in K.id_slots(t)]
           for t in b.types}
    m = id_map
    assert got["ARRAY"] == [m[1], m[1]]
    assert got["s"] == [m[2], m[1]]
    assert got["FUNC_PROTO"] == [m[3], m[2], m[1]]
    assert got["f"] == [m[4]]
    assert got["v"] == [m[3]]
    assert got[".data"] == [m[6]]
    assert got["tag"] == [m[3]]
    assert got["fw"] == [m[3]]


@pytest.mark.parametrize(("id_map", "match"), [
    ([1, 1, 2], "VOID"),
    ([0, 1], "entries"),
    ([0, 1, 1], "two types"),
    ([0, 1, 3], "invalid new ID"),
])
def test_permute_rejects_bad_maps(id_map: list[int], match: str) -> None:
    b = Btf()
    int_(b, "a")
    int_(b, "b")
    before = b.raw_data()
    with pytest.raises(BtfError, match=match):
        permute(b, id_map)
    assert b.raw_data() == before


def test_permute_dangling_reference_leaves_btf_untouched() -> None:
    b = Btf()
    i = int_(b, "a")
    ptr(b, i)
    ptr(b, 77)                           # the add-API accepts it; permute cannot map it
    before = b.raw_data()
    with pytest.raises(BtfError, match="beyond"):
        permute(b, [0, 2, 1, 3])         # the ptr to 1 is rewritten before the failure
    assert b.raw_data() == before


_NAMES = st.sampled_from(["", "a", "b", "B", "ab", "a\xff", "\x01", "zz"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.integers(0, 30)), min_size=0, max_size=30),
       st.booleans())
def test_sorted_output_is_sorted_and_a_permutation(
        spec: list[tuple[str, int]], split: bool) -> None:
    base = None
    if split:
        base = Btf()
        int_(base, "base")
        base = reparse(base)
    b = Btf(base=base)
    start = b.start_id
    for n, (name, target) in enumerate(spec):
        tgt = target % (start + n) if start + n else 0
        if name:
            typedef(b, name, tgt)
        else:
            ptr(b, tgt)
    b = reparse(b, base)
    before = [(b.name(tid), b.kind(tid), b.name(t[2]), b.kind(t[2]) if t[2] else 0)
              for tid, t in b.iter_own()]
    returned = sort_by_name(b)
    names = [b.name(tid) for tid, _ in b.iter_own()]
    assert names == sorted(names)
    assert returned == names == b.own_names()   # what resolution reuses
    after = [(b.name(tid), b.kind(tid), b.name(t[2]), b.kind(t[2]) if t[2] else 0)
             for tid, t in b.iter_own()]
    assert sorted(after) == sorted(before)      # same types, references follow them
    # sorting a sorted BTF changes nothing
    again = reparse(b, base)
    raw = again.raw_data()
    sort_by_name(again)
    assert again.raw_data() == raw
