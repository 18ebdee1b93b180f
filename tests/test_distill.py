"""btf__distill_base on hand-built BTF: exact records, strings, IDs, headers and errors."""

from __future__ import annotations

import struct

import pytest
from distill_helpers import Builder, records, reparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfids.btf import Btf, BtfError
from btfids.btf import kinds as K
from btfids.btf.check import TypeMatcher, check_btf
from btfids.btf.distill import distill_base
from btfids.btf.relocate import relocate

STRUCT, ENUM, PTR, TYPEDEF = K.STRUCT, K.ENUM, K.PTR, K.TYPEDEF


def build_pair(order: str = "<") -> tuple[Btf, Btf]:
    """A 17-type base and a 5-type split exercising every distill rule."""
    base = Btf(order=order, hdr_len=24)
    b = Builder(base)
    assert b.int_("int", 4, 1) == 1
    b.int_("char", 1, 2)                                  # 2
    b.comp("foo", 16, [("a", 1, 0), ("next", 4, 64)])     # 3 named: not followed
    b.ptr(3)                                              # 4
    b.comp("", 4, [("x", 1, 0)])                          # 5 anonymous: followed
    b.ref(TYPEDEF, 3, "foo_t")                            # 6
    b.enum64("big", 8, [("B0", 1 << 40)])                 # 7
    b.enum("", 4, [("A0", 0)])                            # 8
    b.proto(1, [("p", 4)])                                # 9
    b.func("base_fn", 9)                                  # 10
    b.float_("double", 8)                                 # 11
    b.array(2, 1, 16)                                     # 12
    b.ref(K.CONST, 4)                                     # 13
    b.fwd("opaque")                                       # 14
    b.comp("unused", 4, [("u", 1, 0)])                    # 15
    b.enum("color", 4, [("RED", 0)])                      # 16
    assert b.ref(TYPEDEF, 1, "int_t") == 17
    base = reparse(base)

    split = Btf(order=order, base=base, hdr_len=24)
    s = Builder(split)
    assert s.comp("bar", 64, [
        ("f", 6, 0), ("anon", 5, 128), ("e", 7, 160), ("name", 12, 224),
        ("cp", 13, 352), ("d", 11, 416), ("o", 19, 480),
    ]) == 18
    s.ptr(14)                                             # 19
    s.proto(0, [("x", 8)])                                # 20
    s.func("bar_fn", 20)                                  # 21
    s.ref(TYPEDEF, 16, "color_t")                         # 22
    return base, reparse(split, base)


def test_distill_exact_records_and_strings() -> None:
    _, split = build_pair()
    nb, ns = distill_base(split)
    assert bytes(nb.strs) == b"\0int\0char\0foo\0big\0double\0opaque\0color\0"
    assert nb.types == [
        [1, K.make_info(K.INT), 4, (1 << 24) | 32],
        [5, K.make_info(K.INT), 1, (2 << 24) | 8],
        [10, K.make_info(STRUCT), 16],
        [14, K.make_info(ENUM), 8],          # ENUM64 becomes a sized, empty ENUM
        [18, K.make_info(K.FLOAT), 8],
        [25, K.make_info(K.FWD), 0],
        [32, K.make_info(ENUM), 4],
    ]
    assert ns.start_id == 8 and ns.start_str_off == 38
    assert bytes(ns.strs) == (
        b"bar\0f\0anon\0e\0name\0cp\0d\0o\0x\0bar_fn\0color_t\0foo_t\0A0\0"
    )
    assert ns.types == [
        [38, K.make_info(STRUCT, 7), 64, 42, 15, 0, 44, 14, 128, 49, 4, 160, 51, 17, 224,
         56, 18, 352, 59, 5, 416, 61, 9, 480],
        [0, K.make_info(PTR), 6],
        [0, K.make_info(K.FUNC_PROTO, 1), 0, 63, 16],
        [65, K.make_info(K.FUNC, 1), 10],
        [72, K.make_info(TYPEDEF), 7],
        # base types that belong in the split, ascending base ID: 4, 5, 6, 8, 12, 13
        [0, K.make_info(PTR), 3],
        [0, K.make_info(STRUCT, 1), 4, 63, 1, 0],
        [80, K.make_info(TYPEDEF), 3],
        [0, K.make_info(ENUM, 1), 4, 86, 0],
        [0, K.make_info(K.ARRAY), 0, 2, 1, 16],
        [0, K.make_info(K.CONST), 13],
    ]
    # The source is left as it was.
    assert split.types[0][3:6] == [split.types[0][3], 6, 0]


def test_distill_headers_are_new_objects() -> None:
    _, split = build_pair()
    nb, ns = distill_base(split)
    for obj in (nb, ns):
        raw = obj.raw_data()
        magic, ver, flags, hdr_len, t_off, t_len, s_off, s_len, l_off, l_len = (
            struct.unpack_from("<HBBI6I", raw)
        )
        assert (magic, ver, flags, hdr_len) == (0xEB9F, 1, 0, 32)
        assert (t_off, s_off, l_off, l_len) == (0, t_len, 0, 0)
        assert len(raw) == 32 + t_len + s_len
    nb24, ns24 = distill_base(split, hdr_len=24)
    assert nb24.raw_data()[24:] == nb.raw_data()[32:]
    assert struct.unpack_from("<I", ns24.raw_data(), 4)[0] == 24
    # Written files parse back to the same types.
    nb2 = reparse(nb)
    assert reparse(ns, nb2).types == ns.types


def test_distill_big_endian_keeps_order() -> None:
    _, split_le = build_pair("<")
    _, split_be = build_pair(">")
    nb_le, ns_le = distill_base(split_le)
    nb_be, ns_be = distill_base(split_be)
    assert nb_be.order == ns_be.order == ">"
    raw = nb_be.raw_data()
    assert raw[:2] == b"\xeb\x9f"
    assert nb_be.types == nb_le.types and ns_be.types == ns_le.types
    assert Btf.parse(raw).types == nb_le.types


def test_distill_then_relocate_gives_equivalent_types() -> None:
    base, split = build_pair()
    nb, ns = distill_base(split)
    rel = relocate(reparse(ns, reparse(nb)), base)
    assert rel.start_id == base.type_cnt
    tm = TypeMatcher(split, rel)
    assert all(tm.equal(i, i) for i in range(split.start_id, split.type_cnt))
    # ...and not trivially: a changed member offset is noticed.
    rel.types[0][5] += 8
    assert not TypeMatcher(split, rel).equal(split.start_id, split.start_id)
    assert check_btf(nb, require_sorted=False) == []


def _split_on(base: Btf, build: object) -> Btf:
    split = Btf(base=base)
    build(Builder(split))  # type: ignore[operator]
    return split


@pytest.mark.parametrize("kind_builder, kind", [
    (lambda b: b.func("f", b.proto(0, [])), K.FUNC),
    (lambda b: b.var("v", b.int_("int")), K.VAR),
    (lambda b: b.decl_tag("tag", b.func("f", b.proto(0, []))), K.DECL_TAG),
])
def test_distill_rejects_reference_to_base_func_var_tag(kind_builder: object, kind: int) -> None:
    base = Btf()
    target = kind_builder(Builder(base))  # type: ignore[operator]
    split = _split_on(base, lambda s: s.ptr(target))
    with pytest.raises(BtfError, match=rf"base type\[{target}\] of kind \[{kind}\]"):
        distill_base(split)


def test_distill_rejects_base_func_reached_through_a_followed_type() -> None:
    base = Btf()
    b = Builder(base)
    f = b.func("f", b.proto(0, []))
    anon = b.comp("", 8, [("fn", b.ptr(f), 0)])   # anonymous: followed into PTR → FUNC
    split = _split_on(base, lambda s: s.ptr(anon))
    with pytest.raises(BtfError, match=rf"base type\[{f}\] of kind \[12\]"):
        distill_base(split)


def test_distill_does_not_follow_named_composites() -> None:
    base = Btf()
    b = Builder(base)
    f = b.func("f", b.proto(0, []))
    named = b.comp("s", 8, [("fn", b.ptr(f), 0)])  # a PTR → FUNC member, never visited
    split = _split_on(base, lambda s: s.ptr(named))
    nb, ns = distill_base(split)
    assert records(nb) == [("STRUCT", b"s", [K.make_info(STRUCT), 8])]
    assert ns.types == [[0, K.make_info(PTR), 1]]


def test_distill_needs_split_btf() -> None:
    with pytest.raises(BtfError, match="split BTF"):
        distill_base(Btf())


def test_distill_rejects_badly_sized_named_enum() -> None:
    base = Btf()
    e = Builder(base).enum("odd", 3, [("X", 1)])
    split = _split_on(base, lambda s: s.ptr(e))
    with pytest.raises(BtfError, match="enum 'odd' of size 3"):
        distill_base(split)


def test_distill_copies_anonymous_int_and_fwd_to_base() -> None:
    base = Btf()
    b = Builder(base)
    anon_int = b.rec(K.INT, "", 4, 32)
    split = _split_on(base, lambda s: s.ptr(anon_int))
    nb, _ = distill_base(split)
    assert nb.types == [[0, K.make_info(K.INT), 4, 32]]


def test_distill_split_only_references_nothing_from_base() -> None:
    base = Btf()
    Builder(base).int_("int")
    split = _split_on(base, lambda s: s.ptr(s.int_("own")))
    nb, ns = distill_base(split)
    assert nb.types == [] and nb.type_cnt == 1
    # Own IDs shift down by the dropped base type: own INT 2 → 1, the PTR follows it.
    assert ns.start_id == 1 and ns.start_str_off == 1
    assert ns.types == [[1, K.make_info(K.INT), 4, (1 << 24) | 32], [0, K.make_info(PTR), 1]]


# ---------------------------------------------------------------- property test
NAMED_BASE_KINDS = ("int", "float", "fwd", "struct", "union", "enum", "enum64")


@st.composite
def base_and_split(draw: st.DrawFn) -> tuple[Btf, Btf]:
    """A random base (unique names) and a split referencing it in every legal way."""
    base = Btf()
    b = Builder(base)
    n_base = draw(st.integers(3, 25))
    for i in range(n_base):
        ids = list(range(1, base.type_cnt))
        any_id = st.sampled_from(ids) if ids else st.just(0)
        what = draw(st.sampled_from(
            [*NAMED_BASE_KINDS, "anon_struct", "anon_enum", "ptr", "typedef", "const",
             "array", "proto", "type_tag"] if ids else ["int"]
        ))
        name = f"n{i}"
        if what == "int":
            b.int_(name, draw(st.sampled_from([1, 2, 4, 8])), draw(st.sampled_from([0, 1, 2])))
        elif what == "float":
            b.float_(name, draw(st.sampled_from([4, 8])))
        elif what == "fwd":
            b.fwd(name, draw(st.booleans()))
        elif what in ("struct", "union", "anon_struct"):
            members = [(f"m{j}", draw(any_id) or 1, 0 if what == "union" else 32 * j)
                       for j in range(draw(st.integers(0, 3)))]
            b.comp("" if what == "anon_struct" else name, draw(st.integers(0, 64)), members,
                   union=what == "union")
        elif what in ("enum", "anon_enum"):
            b.enum("" if what == "anon_enum" else name, 4, [(f"{name}_v", 1)])
        elif what == "enum64":
            b.enum64(name, 8, [(f"{name}_v", 1 << 33)])
        elif what == "ptr":
            b.ptr(draw(any_id))
        elif what in ("typedef", "type_tag"):
            b.ref(K.TYPEDEF if what == "typedef" else K.TYPE_TAG, draw(any_id), name)
        elif what == "const":
            b.ref(K.CONST, draw(any_id))
        elif what == "array":
            b.array(draw(any_id) or 1, 1, draw(st.integers(0, 9)))
        elif what == "proto":
            b.proto(draw(any_id), [(f"p{j}", draw(any_id)) for j in range(draw(st.integers(0, 2)))])
    base = reparse(base)
    split = Btf(base=base)
    s = Builder(split)
    n_split = draw(st.integers(1, 12))
    start = split.start_id
    all_ids = st.integers(0, start + n_split - 1)
    for i in range(n_split):
        what = draw(st.sampled_from(["struct", "ptr", "proto", "typedef", "array"]))
        if what == "struct":
            s.comp(f"s{i}", 64, [(f"f{j}", draw(all_ids) or 1, 32 * j)
                                  for j in range(draw(st.integers(0, 4)))])
        elif what == "ptr":
            s.ptr(draw(all_ids))
        elif what == "proto":
            s.proto(draw(all_ids), [("a", draw(all_ids))])
        elif what == "typedef":  # modifiers and arrays only point back: no cycles
            s.ref(K.TYPEDEF, draw(st.integers(0, split.type_cnt - 1)), f"t{i}")
        else:
            s.array(draw(st.integers(1, split.type_cnt - 1)), 1, 4)
    return base, reparse(split, base)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_and_split())
def test_distill_relocate_round_trip(pair: tuple[Btf, Btf]) -> None:
    base, split = pair
    nb, ns = distill_base(split)
    # Golden fact: a distilled base holds INT/FLOAT/FWD, empty STRUCT/UNION, vlen-0 ENUM.
    for t in nb.types:
        kind = K.kind_of(t[1])
        assert kind in (K.INT, K.FLOAT, K.FWD, STRUCT, K.UNION, ENUM) and t[0]
        if kind in (STRUCT, K.UNION, ENUM):
            assert len(t) == 3 and K.vlen_of(t[1]) == 0
    # ...in ascending order of the base IDs they came from (names are unique "n<ID-1>").
    origins = [int(nb.str_at(t[0])[1:]) for t in nb.types]
    assert origins == sorted(origins)
    nb2 = reparse(nb)
    ns2 = reparse(ns, nb2)
    assert len(ns2.types) >= len(split.types)
    rel = relocate(ns2, base)
    tm = TypeMatcher(split, rel)
    for i in range(split.start_id, split.type_cnt):
        assert tm.equal(i, i), i
