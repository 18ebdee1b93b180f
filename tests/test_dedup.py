"""btf__dedup on small built BTF, phase by phase (spec finalize.md §1), every case run
through both the fast path and the literal reference emulation."""

from __future__ import annotations

import builtins
import gc
import random
import struct as _struct
from unittest import mock

import pytest
from dedup_helpers import (
    array,
    composite,
    decl_tag,
    describe,
    enum,
    enum64,
    float_,
    fwd,
    int_,
    proto,
    ptr,
    ref,
    reparse,
    struct,
    typedef,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from parallel_helpers import counting_forks, parallel

from btfids.btf import dedup as dedup_module
from btfids.btf import kinds as K
from btfids.btf.dedup import dedup
from btfids.btf.dedup_tables import BasePart, FastSplitTable, FastTable, RefTable
from btfids.btf.model import Btf, BtfError

MODES = [pytest.param(False, id="fast"), pytest.param(True, id="reference")]


def run(b: Btf, reference: bool) -> Btf:
    dedup(b, reference=reference)
    return b


# ------------------------------------------------------------------ strings (§1.2)
@pytest.mark.parametrize("reference", MODES)
def test_strings_first_reference_order_and_unused_dropped(reference: bool) -> None:
    b = Btf()
    for s in (b"unused", b"zeta", b"alpha"):
        b.add_str(s)
    a = int_(b, "alpha")
    struct(b, "zeta", [("alpha", a)])
    b = reparse(b)
    assert not b.strs_deduped
    run(b, reference)
    # "" first, then alpha (INT name), zeta (struct name); the member reuses alpha
    assert bytes(b.strs) == b"\0alpha\0zeta\0"
    assert describe(b) == [("INT", "alpha", ()), ("STRUCT", "zeta", (1,))]
    assert b.types[1][3] == b.types[0][0] == 1
    assert b.strs_deduped


def test_phase_seconds_for_the_report() -> None:
    """``seconds`` gets every phase that ran, in order (the --report profile); the
    string phase is skipped when the strings are already deduplicated."""
    b = Btf()
    struct(b, "s", [("m", int_(b, "int"))])
    b = reparse(b)
    seconds: dict[str, float] = {}
    dedup(b, seconds=seconds)
    assert list(seconds) == [
        "strings", "tables", "prep", "prim", "struct", "fwds", "ref", "compact"]
    assert all(v >= 0 for v in seconds.values())
    seconds.clear()
    dedup(b, seconds=seconds)
    assert "strings" not in seconds and len(seconds) == 7


@pytest.mark.parametrize("reference", MODES)
def test_strings_mid_string_and_empty_offsets(reference: bool) -> None:
    b = Btf()
    off = b.add_str(b"foobar")
    int_(b, "x")
    b = reparse(b)
    b.types[0][0] = off + 3            # "bar", an offset into the middle of "foobar"
    b.types.append([off + 6, K.make_info(K.INT), 4, 32])   # points at the NUL: ""
    run(b, reference)
    assert bytes(b.strs) == b"\0bar\0"
    assert [t[0] for t in b.types] == [1, 0]


@pytest.mark.parametrize("reference", MODES)
def test_split_strings_found_in_base_use_base_offsets(reference: bool) -> None:
    base = Btf()
    int_(base, "int")
    base = reparse(base)
    split = Btf(base=base)
    split.add_str(b"junk")
    typedef(split, "my_t", 1)
    int_(split, "int")
    split = reparse(split)
    run(split, reference)
    # "int" resolves to the base's offset, "my_t" is the only own string left
    assert bytes(split.strs) == b"my_t\0"
    assert describe(split) == [("TYPEDEF", "my_t", (1,))]
    assert split.types[0][0] == split.start_str_off


# ------------------------------------------------------------------ primitives (§1.3)
@pytest.mark.parametrize("reference", MODES)
def test_duplicate_ints_fold_into_first(reference: bool) -> None:
    b = Btf()
    i1 = int_(b, "int")
    i2 = int_(b, "int")
    int_(b, "int", enc=1)              # signed: different data word, stays
    ptr(b, i2)
    ptr(b, i1)
    run(b, reference)
    assert describe(b) == [("INT", "int", ()), ("INT", "int", ()), ("PTR", "", (1,))]


@pytest.mark.parametrize("reference", MODES)
def test_enum_fwd_resolves_to_full_enum_both_orders(reference: bool) -> None:
    b = Btf()
    f = enum(b, "e", [])               # enum fwd (vlen 0) first: canonical fwd ...
    full = enum(b, "e", [("A", 0), ("B", 1)])
    ptr(b, f)
    ptr(b, full)
    f2 = enum(b, "e", [])              # ... and a later fwd maps to the full enum
    ptr(b, f2)
    run(b, reference)
    assert describe(b) == [("ENUM", "e", ()), ("PTR", "", (1,))]
    assert b.types[0][1] & 0xFFFFFF == 2


@pytest.mark.parametrize("reference", MODES)
def test_enum_fwd_compatible_with_enum64(reference: bool) -> None:
    b = Btf()
    f = enum(b, "big", [], size=4)
    enum64(b, "big", [("X", 1 << 40)])
    ptr(b, f)
    run(b, reference)
    assert describe(b) == [("ENUM64", "big", ()), ("PTR", "", (1,))]


# ------------------------------------------------------------------ structs (§1.4, §1.6)
@pytest.mark.parametrize("reference", MODES)
def test_identical_cyclic_structs_merge(reference: bool) -> None:
    b = Btf()
    for _cu in range(2):
        i = int_(b, "int")
        node = b.type_cnt
        struct(b, "node", [("v", i), ("next", node + 1)])
        ptr(b, node)
    run(b, reference)
    assert describe(b) == [("INT", "int", ()), ("STRUCT", "node", (1, 3)), ("PTR", "", (2,))]


@pytest.mark.parametrize("reference", MODES)
def test_fwd_in_one_cu_resolved_through_graph(reference: bool) -> None:
    b = Btf()
    i = int_(b, "int")
    foo = struct(b, "foo", [("x", i)])
    struct(b, "bar", [("f", ptr(b, foo))])
    f = fwd(b, "foo")
    struct(b, "bar", [("f", ptr(b, f))])
    run(b, reference)
    assert describe(b) == [
        ("INT", "int", ()), ("STRUCT", "foo", (1,)), ("PTR", "", (2,)),
        ("STRUCT", "bar", (3,)),
    ]


@pytest.mark.parametrize("reference", MODES)
def test_unambiguous_fwd_resolved_by_name(reference: bool) -> None:
    b = Btf()
    i = int_(b, "int")
    struct(b, "foo", [("x", i)])
    f = fwd(b, "foo")
    u = fwd(b, "foo", union=True)      # kind mismatch: stays a FWD
    ptr(b, f)
    ptr(b, u)
    run(b, reference)
    assert describe(b) == [
        ("INT", "int", ()), ("STRUCT", "foo", (1,)), ("FWD", "foo", (0,)),
        ("PTR", "", (2,)), ("PTR", "", (3,)),
    ]


@pytest.mark.parametrize("reference", MODES)
def test_ambiguous_fwd_name_stays(reference: bool) -> None:
    b = Btf()
    i = int_(b, "int")
    struct(b, "foo", [("x", i)])
    struct(b, "foo", [("y", i)])
    ptr(b, fwd(b, "foo"))
    run(b, reference)
    assert [k for k, _, _ in describe(b)] == ["INT", "STRUCT", "STRUCT", "FWD", "PTR"]


@pytest.mark.parametrize("reference", MODES)
def test_anonymous_structs_and_typedefs(reference: bool) -> None:
    b = Btf()
    i = int_(b, "int")
    a1 = struct(b, "", [("a", i)])
    typedef(b, "t", a1)
    a2 = struct(b, "", [("a", i)])
    typedef(b, "t", a2)
    struct(b, "", [("b", i)])
    run(b, reference)
    assert describe(b) == [
        ("INT", "int", ()), ("STRUCT", "", (1,)), ("TYPEDEF", "t", (2,)), ("STRUCT", "", (1,)),
    ]


@pytest.mark.parametrize("reference", MODES)
def test_array_quirk_in_identical_types(reference: bool) -> None:
    """§1.8: identical_types takes both ARRAY records from the first type, so two arrays
    of equal nelems but different element types count as identical."""
    b = Btf()
    i = int_(b, "int")
    c = int_(b, "char", size=1)
    arr = array(b, i, i, 2)
    struct(b, "s", [("x", arr), ("y", arr)], size=16)          # canonical
    struct(b, "s", [("x", array(b, i, i, 2)), ("y", array(b, c, i, 2))], size=16)
    run(b, reference)
    # the second struct merged into the first; its char[2] survives as an orphan
    assert describe(b) == [
        ("INT", "int", ()), ("INT", "char", ()), ("ARRAY", "", (1, 1)),
        ("STRUCT", "s", (3, 3)), ("ARRAY", "", (2, 1)),
    ]


def _candidate_order_btf(padding: bool) -> Btf:
    b = Btf()
    i = int_(b, "int")
    x = struct(b, "F", [("a", i)])
    y = struct(b, "F", [("a", i), ("b", i)])
    px, py = ptr(b, x), ptr(b, y)
    struct(b, "A", [("p", px)])
    struct(b, "A", [("p", py)])
    if padding:
        struct(b, "Z", [("z", i)])
    struct(b, "A", [("p", ptr(b, fwd(b, "F")))])
    return b


@pytest.mark.parametrize("reference", MODES)
@pytest.mark.parametrize("padding", [False, True])
def test_candidate_order_follows_hashmap_growth(reference: bool, padding: bool) -> None:
    """§1.12: a struct with a FWD member is equivalent to both earlier ``A``s; libbpf
    takes the first of the same-hash chain, newest first, reversed by each table growth.
    Inserts: int, fwd F, F, F(grows to 8), A, A [, Z (grows to 16: chain reversed)]."""
    b = run(_candidate_order_btf(padding), reference)
    n = len(b.types)
    assert n == (8 if padding else 7)
    fwd_target = 2 if padding else 3        # FWD F resolved into the chosen A's struct
    ptrs = {b.types[tid - 1][2]: tid for tid in (4, 5)}
    assert set(ptrs) == {2, 3}
    assert b.kind(ptrs[fwd_target]) == K.PTR


# ------------------------------------------------------------------ split BTF
@pytest.mark.parametrize("reference", MODES)
def test_split_duplicates_of_base_collapse(reference: bool) -> None:
    base = Btf()
    i = int_(base, "int")
    s = struct(base, "s", [("a", i)])
    ptr(base, s)
    base = reparse(base)
    split = Btf(base=base)
    si = int_(split, "int")
    ss = struct(split, "s", [("a", si)])
    typedef(split, "t", ptr(split, ss))
    split = reparse(split)
    raw_base = base.raw_data()
    run(split, reference)
    assert describe(split) == [("TYPEDEF", "t", (3,))]
    assert split.start_id == 4
    assert base.raw_data() == raw_base


@pytest.mark.parametrize("reference", MODES)
def test_split_base_fwd_is_never_adjusted(reference: bool) -> None:
    """§1.6 step 6: equivalence through a *base* FWD sets hypot_adjust_canon: the split
    struct stays distinct, only the base FWD is pointed at the split struct."""
    base = Btf()
    i = int_(base, "int")
    struct(base, "holder", [("p", ptr(base, fwd(base, "s")))])
    base = reparse(base)
    split = Btf(base=base)
    si = int_(split, "int")
    s = struct(split, "s", [("a", si)])
    struct(split, "holder", [("p", ptr(split, s))])
    typedef(split, "h", 3)               # the base's ptr to FWD s now means struct s
    split = reparse(split)
    run(split, reference)
    assert describe(split) == [
        ("STRUCT", "s", (i,)), ("PTR", "", (5,)), ("STRUCT", "holder", (6,)),
        ("TYPEDEF", "h", (3,)),
    ]


# ------------------------------------------------------------------ reference types (§1.9)
@pytest.mark.parametrize("reference", MODES)
def test_long_reference_chain_has_no_recursion_limit(reference: bool) -> None:
    b = Btf()
    int_(b, "int")
    ends = []
    for _ in range(2):
        # build the chain top-down so each type references a *later* ID (deep recursion)
        first = b.type_cnt
        for n in range(3000):
            ref(b, K.CONST if n % 2 else K.PTR, first + n + 1)
        int_(b, "int")
        ends.append(first)
    typedef(b, "a", ends[0])
    typedef(b, "b", ends[1])
    run(b, reference)
    assert len(b.types) == 1 + 3000 + 2
    assert b.types[-1][2] == b.types[-2][2] == 2


@pytest.mark.parametrize("reference", MODES)
def test_reference_loop_is_an_error(reference: bool) -> None:
    b = Btf()
    ptr(b, 2)
    ref(b, K.CONST, 1)
    with pytest.raises(BtfError, match="loop"):
        run(b, reference)


@pytest.mark.parametrize("reference", MODES)
def test_decl_tags_and_orphan_protos(reference: bool) -> None:
    b = Btf()
    i = int_(b, "int")
    p = proto(b, i, [("x", i)])
    fn = b.add_func(b"f", 1, p)
    decl_tag(b, "bpf_kfunc", fn)
    proto(b, i, [("x", i)])              # identical proto folds into the first
    proto(b, i, [("y", i)])              # orphan: kept
    decl_tag(b, "bpf_kfunc", fn)         # duplicate tag folds
    decl_tag(b, "bpf_kfunc", fn, 0)      # other component_idx: kept
    run(b, reference)
    assert describe(b) == [
        ("INT", "int", ()), ("FUNC_PROTO", "", (1, 1)), ("FUNC", "f", (2,)),
        ("DECL_TAG", "bpf_kfunc", (3,)), ("FUNC_PROTO", "", (1, 1)),
        ("DECL_TAG", "bpf_kfunc", (3,)),
    ]
    assert b.types[3][3] == 0xFFFFFFFF and b.types[5][3] == 0


def test_invalid_reference_is_an_error() -> None:
    b = Btf()
    ptr(b, 99)
    with pytest.raises(BtfError):
        dedup(b)


def test_unknown_kind_is_an_error() -> None:
    b = Btf()
    b.types.append([0, 0, 0])            # a stored kind-0 record
    with pytest.raises(BtfError, match="kind"):
        dedup(b)


# ------------------------------------------------------------------ hashmap emulation
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=120), st.integers(0, 60))
def test_fast_tables_match_literal_hashmap(keys: list[int], base_n: int) -> None:
    """The flip-flag tables give libbpf's chain order (the spec's list-reversal model)
    after every insert, standalone and on top of a shared base part."""
    literal = RefTable()
    fast = FastTable()
    base_n = min(base_n, len(keys))
    for n, k in enumerate(keys[:base_n]):
        literal.add(k, n)
        fast.add(k, n)
    # stored orientation; a single entry is kept as a bare ID
    snapshot = {k: [v] if isinstance(v, int) else v[:] for k, v in fast.lists.items()}
    split = FastSplitTable(BasePart(snapshot, fast.size, fast.cap, fast.flip, 0))
    for n, k in enumerate(keys[base_n:], base_n):
        literal.add(k, n)
        fast.add(k, n)
        split.add(k, n)
        for key in range(6):
            want = list(literal.cands(key))
            assert list(fast.cands(key)) == want
            assert list(split.cands(key)) == want
            assert fast.first(key) == split.first(key) == (want[0] if want else -1)


# ------------------------------------------------------------------ properties
def _random_btf(rnd: random.Random) -> Btf:
    """Several "compilation units" over shared names: duplicated and conflicting
    structs, FWDs, typedefs, pointers, arrays, protos and enums (named or anonymous,
    twins or not, enum FWDs, ENUM64)."""
    b = Btf()
    names = ["a", "b", "c", "d"]
    for _cu in range(rnd.randint(1, 4)):
        i = int_(b, "int")
        c = int_(b, "char", size=1)
        pool = [i, c]
        structs: dict[str, int] = {}
        for _ in range(rnd.randint(1, 8)):
            what = rnd.random()
            name = rnd.choice(names)
            if what < 0.3:
                first = b.type_cnt
                targets = [*pool, first + 1]     # first + 1: its own pointer (a cycle)
                members = [(f"m{n}", rnd.choice(targets)) for n in range(rnd.randint(0, 3))]
                sid = struct(b, name, members)
                ptr(b, sid)
                structs[name] = sid
                pool += [sid, sid + 1]
            elif what < 0.4:
                f = fwd(b, name)
                pool += [f, ptr(b, f)]
            elif what < 0.5:
                pool.append(typedef(b, name, rnd.choice(pool)))
            elif what < 0.6:
                pool.append(array(b, rnd.choice(pool), i, rnd.randint(1, 3)))
            elif what < 0.7:
                pool.append(proto(b, rnd.choice(pool), [("x", rnd.choice(pool))]))
            elif what < 0.8:
                # named and anonymous, twins and conflicts, FWDs (vlen 0), ENUM64
                ename = rnd.choice([name, name, ""])
                vals = [] if rnd.random() < 0.25 else [
                    ("V" + ename, rnd.randint(0, 2)) for _ in range(rnd.randint(1, 2))]
                make = enum64 if rnd.random() < 0.2 else enum
                pool.append(make(b, ename, vals))
            else:
                pool.append(ref(b, rnd.choice([K.CONST, K.VOLATILE]), rnd.choice(pool)))
    return reparse(b)


def _canonical(b: Btf) -> list[tuple[object, ...]]:
    """Records with every string offset replaced by its string."""
    out = []
    for t in b.types:
        strs = set(K.str_slots(t))
        out.append(tuple(b.str_at(w) if i in strs else w for i, w in enumerate(t)))
    return out


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fast_path_equals_reference_and_is_idempotent(seed: int) -> None:
    once = _random_btf(random.Random(seed))
    ref_copy = Btf.parse(once.raw_data())
    dedup(once)
    dedup(ref_copy, reference=True)
    out = once.raw_data()
    assert out == ref_copy.raw_data()
    # Idempotent up to string placement: the string phase orders strings by first
    # reference in its *input*, which still held the types this run dropped.
    again = Btf.parse(out)
    dedup(again)
    assert _canonical(again) == _canonical(once)
    assert sorted(bytes(again.strs).split(b"\0")) == sorted(bytes(once.strs).split(b"\0"))
    for t in once.types:                 # every ID field points at an existing type
        assert all(t[s] < once.type_cnt for s in K.id_slots(t))
    # the offset table dedup leaves behind is the one the new section derives
    assert once.strings_by_offset() == Btf.parse(out).strings_by_offset()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fast_path_survives_colliding_word_keys(seed: int) -> None:
    """The fast table keys whole-record kinds by ``hash(tuple(t))``: force that hash
    to collide (two bits) and the candidate comparisons alone must keep the output
    equal to the literal emulation's."""
    fast = _random_btf(random.Random(seed))
    ref_copy = Btf.parse(fast.raw_data())
    with mock.patch.object(dedup_module, "hash", lambda x: builtins.hash(x) & 3,
                           create=True):
        dedup(fast)
    dedup(ref_copy, reference=True)
    assert fast.raw_data() == ref_copy.raw_data()


def _enums(b: Btf, rnd: random.Random, count: int, fwd_share: float,
           unique: bool = False) -> list[int]:
    """``count`` ENUM/ENUM64s, mostly anonymous, values from a small space (so twins
    across base and split are common; ``unique``: no two alike), a ``fwd_share`` of
    them enum FWDs (vlen 0)."""
    out = []
    for n in range(count):
        vals = [] if rnd.random() < fwd_share else [("V", n)] if unique else [
            ("V", rnd.randint(0, 2)) for _ in range(rnd.randint(1, 2))]
        make = enum64 if rnd.random() < 0.2 else enum
        out.append(make(b, rnd.choice(["", "", "", "e"]), vals))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_split_enum_twins_equal_reference(seed: int) -> None:
    """A split run looks an often-met enum key up by content once its base chain is
    known to be FWD- and twin-free (_Dedup._base_enum_twins): bases with and without
    enum FWDs and twins, split enums that are twins of base ones, of each other, FWDs
    met before or after the lookup is built, pointers at base enums (a base FWD's map
    entry moves to a full split enum): the output must be the literal emulation's."""
    rnd = random.Random(seed)
    base = Btf()
    i = int_(base, "int")
    shape = rnd.choice(["deduped", "deduped", "unique", "raw"])
    base_enums = _enums(base, rnd, rnd.randint(5, 40),
                        rnd.choice([0.0, 0.1] if shape != "unique" else [0.1, 0.3]),
                        unique=shape == "unique")
    base = reparse(base)
    if shape == "deduped":   # a base is normally a dedup output: no twins left in it
        dedup(base)
        base = reparse(base)
        base_enums = [tid for tid, t in base.iter_own() if K.kind_of(t[1]) in (K.ENUM, K.ENUM64)]
    split = Btf(base=base)
    si = int_(split, "int")
    for e in base_enums:          # what a base FWD's moved map entry shows in
        ptr(split, e)
    for e in _enums(split, rnd, rnd.randint(dedup_module._TWINS_AFTER, 40),
                    rnd.choice([0.0, 0.0, 0.05])):
        typedef(split, "t", e)    # which twin a split enum became shows in
    typedef(split, "t", si if rnd.random() < 0.5 else i)
    split = reparse(split)
    fast = Btf.parse(split.raw_data(), base=base)
    literal = Btf.parse(split.raw_data(), base=base)
    dedup(fast)
    dedup(literal, reference=True)
    assert fast.raw_data() == literal.raw_data()


def _dedup_in_two(b: Btf) -> dict[str, float]:
    """dedup with its type phases in a forked child (any size); the phase times."""
    secs: dict[str, float] = {}
    with parallel("always"), counting_forks() as forks:
        dedup(b, seconds=secs)
    assert len(forks) == 1    # a child ran
    return secs


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_type_phases_in_a_child_equal_reference(seed: int) -> None:
    """The type phases on the pre-string-phase offsets, in a child, decide as the
    literal emulation does on the new offsets (only equality of offsets matters)."""
    for make in (_random_btf, _same_shape_btf):
        two = make(random.Random(seed))
        literal = Btf.parse(two.raw_data())
        secs = _dedup_in_two(two)
        dedup(literal, reference=True)
        assert two.raw_data() == literal.raw_data()
        assert "prim" not in secs    # the child's map was taken, not recomputed


def _raw_btf(strs: bytes, records: list[list[int]]) -> bytes:
    """Raw BTF bytes with exactly this string section (duplicates allowed)."""
    types = b"".join(_struct.pack(f"<{len(r)}I", *r) for r in records)
    return _struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                       len(strs)) + types + strs


def test_offsets_of_one_string_make_the_types_run_here() -> None:
    """Two INTs named by two copies of "int": the string phase gives them one offset,
    so they merge; on the old offsets they would not. The child's answer is dropped
    and the type phases run here (same bytes as one process)."""
    info = K.make_info(K.INT)
    data = _raw_btf(b"\0int\0int\0", [[1, info, 4, 32], [5, info, 4, 32],
                                        [0, K.make_info(K.PTR), 2]])
    two, one = Btf.parse(data), Btf.parse(data)
    secs = _dedup_in_two(two)
    with parallel("0"):
        dedup(one)
    assert two.raw_data() == one.raw_data()
    assert two.type_cnt == 3 and "prim" in secs   # merged, by the phases run here
    assert "types_in_child_wait" not in secs      # the child was not waited for


def test_type_phase_error_in_the_child_is_raised_here() -> None:
    """A kind the primitive phase rejects (0) fails in the child; the phases then run
    here and raise the one-process error."""
    data = _raw_btf(b"\0x\0", [[1, K.make_info(K.INT), 4, 32], [0, 0, 0]])
    errors = []
    for mode in ("always", "0"):
        with parallel(mode), pytest.raises(BtfError) as exc:
            dedup(Btf.parse(data))
        errors.append(str(exc.value))
    assert errors[0] == errors[1] and "kind 0" in errors[0]


def _same_shape_btf(rnd: random.Random) -> Btf:
    """Long chains of same-shape anonymous unions and typedefs (the standalone struct
    filter's case) over a varied member pool: typedefs, structs (some of them not yet
    processed), FWDs, enums, pointers, arrays, protos and self references."""
    b = Btf()
    pool: list[int] = [0]
    for _cu in range(rnd.randint(2, 4)):
        i = int_(b, "int")
        pool += [i, int_(b, "char", size=1), float_(b, "double")]
        for n in range(rnd.randint(2, 5)):
            pool.append(typedef(b, rnd.choice(["t0", "t1", f"t{n}"]), rnd.choice(pool)))
        f = fwd(b, rnd.choice(["s", "u"]))
        pool += [f, ptr(b, f), enum(b, "e", [("E", 1)] if rnd.random() < 0.7 else [])]
        pool += [array(b, i, i, 2), proto(b, i, [("x", rnd.choice(pool))])]
        later = b.type_cnt + rnd.randint(1, 40)     # maybe a struct defined below
        for _ in range(rnd.randint(6, 30)):
            first = b.type_cnt
            mem = [rnd.choice([*pool, later, first]) for _ in range(rnd.randint(0, 3))]
            if rnd.random() < 0.2:
                typedef(b, "tt", mem[0] if mem and mem[0] != first else i)
            else:
                composite(b, "", 8, [(f"m{n}", x, 0) for n, x in enumerate(mem)],
                          union=True)
        while b.type_cnt <= later:
            struct(b, rnd.choice(["s", "u"]), [("a", i)])
    return reparse(b)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_standalone_struct_filter_equals_reference(seed: int) -> None:
    fast = _same_shape_btf(random.Random(seed))
    ref_copy = Btf.parse(fast.raw_data())
    dedup(fast)
    dedup(ref_copy, reference=True)
    assert fast.raw_data() == ref_copy.raw_data()


def test_dedup_leaves_no_reference_cycle_holding_its_data() -> None:
    """A run pauses the cyclic GC (gcpause.py), so anything dedup leaves in a reference
    cycle stays in memory to the end of the run: its tables must be freed by reference
    counting alone."""
    b = _random_btf(random.Random(7))
    gc.collect()
    gc.disable()
    try:
        dedup(b)
        del b
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    kinds = {type(o).__name__ for o in garbage}
    assert not any(isinstance(o, Btf) for o in garbage), kinds
    assert "cell" not in kinds and "function" not in kinds, kinds
