"""The BTF codec: parse and serialise every kind, both byte orders, split BTF, libbpf's
checks with precise errors, and hypothesis properties (round trip; any truncation or
corruption gives a clean BtfError, never another exception).

Blobs are built here by an independent field-by-field encoder (``encode``), so a parse →
``raw_data`` round trip is a differential check against it, not against the codec itself.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfids.btf import Btf, BtfError
from btfids.btf import kinds as K

# ------------------------------------------------------------------ independent encoder
# A type is (kind, name_off, vlen_or_linkage, kflag, size_or_type, trailing words).


def encode(types: list[tuple[int, int, int, int, int, list[int]]], strs: bytes,
           order: str = "<", hdr_len: int = 24) -> bytes:
    body = b""
    for kind, name_off, vlen, kflag, size_or_type, extra in types:
        info = (kflag << 31) | (kind << 24) | vlen
        body += struct.pack(order + "III", name_off, info, size_or_type)
        body += b"".join(struct.pack(order + "I", w & 0xFFFFFFFF) for w in extra)
    hdr = struct.pack(order + "HBBIIIII", 0xEB9F, 1, 0, hdr_len, 0, len(body), len(body),
                      len(strs))
    hdr = hdr.ljust(hdr_len, b"\0")
    return hdr + body + strs


STRS = b"\0int\0foo\0bar\0x\0bpf_kfunc\0"
INT, FOO, BAR, X, TAG = 1, 5, 9, 13, 15

ALL_KINDS = [
    (K.INT, INT, 0, 0, 4, [(1 << 24) | 32]),              # 1 int (signed)
    (K.PTR, 0, 0, 0, 1, []),                               # 2 int *
    (K.ARRAY, 0, 0, 0, 0, [1, 1, 8]),                      # 3 int[8]
    (K.STRUCT, FOO, 2, 0, 8, [X, 1, 0, BAR, 2, 32]),       # 4 struct foo
    (K.UNION, BAR, 1, 1, 4, [X, 1, (3 << 24) | 0]),       # 5 union bar (bitfield)
    (K.ENUM, FOO, 2, 1, 4, [X, -1, BAR, 7]),               # 6 enum foo (signed)
    (K.FWD, BAR, 0, 1, 0, []),                             # 7 union fwd
    (K.TYPEDEF, X, 0, 0, 1, []),                           # 8 typedef x
    (K.VOLATILE, 0, 0, 0, 1, []),                          # 9
    (K.CONST, 0, 0, 0, 9, []),                             # 10
    (K.RESTRICT, 0, 0, 0, 2, []),                          # 11
    (K.FUNC_PROTO, 0, 2, 0, 1, [X, 1, 0, 0]),              # 12 int (int x, ...)
    (K.FUNC, FOO, 1, 0, 12, []),                           # 13 global func foo
    (K.VAR, X, 0, 0, 1, [1]),                              # 14 var x
    (K.DATASEC, BAR, 1, 0, 4, [14, 0, 4]),                 # 15 datasec
    (K.FLOAT, BAR, 0, 0, 8, []),                           # 16 float
    (K.DECL_TAG, TAG, 0, 0, 13, [-1]),                     # 17 decl tag
    (K.TYPE_TAG, TAG, 0, 1, 1, []),                        # 18 type attr
    (K.ENUM64, BAR, 1, 0, 8, [X, 0xDEADBEEF, 0x1]),        # 19 enum64
]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("hdr_len", [24, 32])
def test_every_kind_round_trips(order: str, hdr_len: int) -> None:
    blob = encode(ALL_KINDS, STRS, order, hdr_len)
    btf = Btf.parse(blob)
    assert btf.order == order and btf.hdr_len == hdr_len
    assert len(btf.types) == len(ALL_KINDS)
    for tid, (kind, name_off, *_rest) in enumerate(ALL_KINDS, 1):
        assert btf.kind(tid) == kind
        assert btf.type(tid)[0] == name_off
    assert btf.name(4) == b"foo" and btf.name(17) == b"bpf_kfunc"
    assert K.to_signed32(btf.type(6)[4]) == -1
    assert btf.raw_data() == blob
    btf.make_modifiable()  # forces the rebuild path (not the cached input bytes)
    btf._raw = None
    assert btf.raw_data() == blob


def test_field_positions_follow_libbpf_order() -> None:
    btf = Btf.parse(encode(ALL_KINDS, STRS))
    assert list(K.id_slots(btf.type(4))) == [4, 7]
    assert list(K.str_slots(btf.type(4))) == [0, 3, 6]
    assert list(K.id_slots(btf.type(12))) == [2, 4, 6]
    assert list(K.str_slots(btf.type(6))) == [0, 3, 5]
    assert list(K.str_slots(btf.type(19))) == [0, 3]
    assert list(K.id_slots(btf.type(3))) == [3, 4]
    assert list(K.id_slots(btf.type(15))) == [3]
    assert list(K.id_slots(btf.type(7))) == [2]


def test_split_numbering_and_strings() -> None:
    base = Btf.parse(encode(ALL_KINDS, STRS))
    split_strs = b"mod\0"
    # own string offsets continue the base's: "mod" is at len(STRS)
    own = [(K.PTR, 0, 0, 0, 4, []), (K.TYPEDEF, len(STRS), 0, 0, 20, []),
           (K.STRUCT, FOO, 1, 0, 8, [len(STRS), 21, 0])]
    body = encode(own, split_strs)
    split = Btf.parse(body, base)
    assert split.start_id == 20 and split.type_cnt == 23
    assert split.start_str_off == len(STRS)
    assert split.name(21) == b"mod" and split.name(22) == b"foo" and split.name(4) == b"foo"
    assert split.find_str(b"foo") == FOO  # base first
    assert split.add_str(b"mod") == len(STRS)
    new = split.add_str(b"new")
    assert new == len(STRS) + len(split_strs) and split.str_at(new) == b"new"
    assert split.raw_data()[-4:] == b"new\0"


def test_split_string_section_may_start_without_nul() -> None:
    base = Btf.parse(encode(ALL_KINDS, STRS))
    split = Btf.parse(encode([(K.TYPEDEF, len(STRS), 0, 0, 1, [])], b"abc\0"), base)
    assert split.name(20) == b"abc"
    with pytest.raises(BtfError, match="forget to provide base BTF"):
        Btf.parse(encode([(K.TYPEDEF, 0, 0, 0, 1, [])], b"abc\0"))


def test_add_api_bytes() -> None:
    btf = Btf.parse(encode(ALL_KINDS, STRS))
    tag = btf.add_decl_tag(b"bpf_kfunc", 13, -1)
    assert btf.type(tag) == [TAG, K.DECL_TAG << 24, 13, 0xFFFFFFFF]
    attr = btf.add_type_attr(b"address_space(1)", 1)
    assert btf.type(attr)[1] == (1 << 31) | (K.TYPE_TAG << 24)
    proto = btf.add_func_proto(1)
    btf.add_func_param(b"", 1)
    btf.add_func_param(b"x", 2)
    assert btf.type(proto) == [0, (K.FUNC_PROTO << 24) | 2, 1, 0, 1, X, 2]
    func = btf.add_func(b"foo_impl", 1, proto)
    assert btf.name(func) == b"foo_impl"
    assert btf.raw_data().endswith(b"address_space(1)\0foo_impl\0")
    with pytest.raises(BtfError):
        btf.add_decl_tag(b"", 1, -1)
    with pytest.raises(BtfError):
        btf.add_decl_tag(b"t", 1, -2)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:20], "BTF header not found"),
        (lambda b: b"\x00\x00" + b[2:], "Invalid BTF magic"),
        (lambda b: b[:4] + struct.pack("<I", 4096) + b[8:], "larger than data size"),
        (lambda b: b[:20] + struct.pack("<I", 10**6) + b[24:], "Invalid BTF total size"),
        (lambda b: b[:12] + struct.pack("<I", 10**5) + b[16:], "sections layout"),
        (lambda b: b + b"\0", "non-canonical"),
        (lambda b: b[:-1] + b"x", "Invalid BTF string section"),
        (lambda b: b[:24] + struct.pack("<III", 10**6, 1 << 24, 4) + b[36:],
         "invalid string offset"),
        (lambda b: b[:48] + struct.pack("<I", 999) + b[52:], "invalid referenced type ID"),
    ],
)
@pytest.mark.parametrize("records", [True, False])
def test_libbpf_checks(mutate, message: str, records: bool) -> None:  # type: ignore[no-untyped-def]
    blob = encode(ALL_KINDS, STRS)
    with pytest.raises(BtfError, match=message):
        Btf.parse(mutate(blob), records=records)


@pytest.mark.parametrize("records", [True, False])
def test_func_must_reference_a_proto(records: bool) -> None:
    types = [(K.INT, INT, 0, 0, 4, [32]), (K.FUNC, FOO, 1, 0, 1, [])]
    with pytest.raises(BtfError, match="is not FUNC_PROTO"):
        Btf.parse(encode(types, STRS), records=records)
    base = Btf.parse(encode(ALL_KINDS, STRS))
    proto = 1 + next(i for i, t in enumerate(ALL_KINDS) if t[0] == K.FUNC_PROTO)
    ok = encode([(K.FUNC, 0, 0, 0, proto, []), (K.FUNC_PROTO, 0, 0, 0, 0, []),
                 (K.FUNC, 0, 0, 0, base.type_cnt + 1, [])], b"", hdr_len=24)
    split = Btf.parse(ok, base, records=records)
    assert [t[2] for t in split.types] == [proto, 0, base.type_cnt + 1]
    bad = encode([(K.FUNC, 0, 0, 0, 1, [])], b"", hdr_len=24)  # [1] is the INT
    with pytest.raises(BtfError, match="is not FUNC_PROTO"):
        Btf.parse(bad, base, records=records)


def test_nonzero_header_tail_is_unmodifiable() -> None:
    blob = bytearray(encode(ALL_KINDS[:1], STRS, hdr_len=40))
    blob[36] = 1
    btf = Btf.parse(bytes(blob))
    with pytest.raises(BtfError, match="not modifiable"):
        btf.add_ptr(1)


def test_real_vmlinux_round_trips(corpus: Path) -> None:
    data = (corpus / "btf-vmlinux").read_bytes()
    btf = Btf.parse(data)
    assert len(btf.types) == 107331
    btf.make_modifiable()
    assert btf.raw_data() == data
    # the same BTF written big-endian parses back to the same types and strings
    swapped = Btf.parse(data)
    swapped.order = ">"
    swapped._raw = None
    be = Btf.parse(swapped.raw_data())
    assert be.order == ">" and be.types == btf.types and be.strs == btf.strs


# ------------------------------------------------------------------ hypothesis
@st.composite
def btf_blobs(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, int, int, int, list[int]]]]:
    """A random valid standalone BTF of ints, pointers, arrays, structs, protos, funcs."""
    n_strs = draw(st.integers(1, 6))
    names = [draw(st.binary(min_size=1, max_size=6).filter(lambda s: b"\0" not in s))
             for _ in range(n_strs)]
    strs = b"\0" + b"".join(n + b"\0" for n in names)
    offs = [0]
    pos = 1
    for n in names:
        offs.append(pos)
        pos += len(n) + 1
    types: list[tuple[int, int, int, int, int, list[int]]] = [(K.INT, offs[-1], 0, 0, 4, [32])]
    for _ in range(draw(st.integers(0, 25))):
        cnt = len(types) + 1
        ref = st.integers(0, cnt - 1)
        name = st.sampled_from(offs)
        kind = draw(st.sampled_from([K.PTR, K.ARRAY, K.STRUCT, K.FUNC_PROTO, K.TYPEDEF,
                                     K.ENUM, K.ENUM64, K.DECL_TAG, K.CONST]))
        if kind in (K.PTR, K.CONST):
            types.append((kind, 0, 0, 0, draw(ref), []))
        elif kind == K.TYPEDEF:
            types.append((kind, draw(name), 0, 0, draw(ref), []))
        elif kind == K.ARRAY:
            types.append((kind, 0, 0, 0, 0, [draw(ref), 1, draw(st.integers(0, 9))]))
        elif kind == K.STRUCT:
            m = draw(st.integers(0, 3))
            extra = [w for i in range(m) for w in (draw(name), draw(ref), 32 * i)]
            types.append((kind, draw(name), m, 0, 4 * m, extra))
        elif kind == K.FUNC_PROTO:
            m = draw(st.integers(0, 3))
            extra = [w for _ in range(m) for w in (draw(name), draw(ref))]
            types.append((kind, 0, m, 0, draw(ref), extra))
        elif kind == K.ENUM:
            m = draw(st.integers(0, 3))
            extra = [w for _ in range(m) for w in (draw(name), draw(st.integers(-9, 9)))]
            types.append((kind, draw(name), m, 0, 4, extra))
        elif kind == K.ENUM64:
            m = draw(st.integers(0, 2))
            extra = [w for _ in range(m) for w in (draw(name), draw(st.integers(0, 2**32 - 1)),
                                                    draw(st.integers(0, 2**32 - 1)))]
            types.append((kind, draw(name), m, 0, 8, extra))
        else:
            types.append((kind, offs[-1], 0, 0, draw(ref), [draw(st.integers(-1, 3))]))
    order = draw(st.sampled_from(["<", ">"]))
    return encode(types, strs, order, draw(st.sampled_from([24, 32]))), types


@given(btf_blobs())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_property(case: tuple[bytes, list]) -> None:  # type: ignore[type-arg]
    blob, types = case
    btf = Btf.parse(blob)
    assert len(btf.types) == len(types)
    assert btf.raw_data() == blob
    btf.make_modifiable()
    btf._raw = None
    assert btf.raw_data() == blob


@given(btf_blobs(), st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_truncation_is_a_clean_error(case: tuple[bytes, list], data: st.DataObject) -> None:  # type: ignore[type-arg]
    blob, _ = case
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(BtfError):
        Btf.parse(blob[:cut])


@given(btf_blobs(), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_corruption_never_crashes(case: tuple[bytes, list], data: st.DataObject) -> None:  # type: ignore[type-arg]
    blob, _ = case
    pos = data.draw(st.integers(0, len(blob) - 1))
    byte = data.draw(st.integers(0, 255))
    bad = blob[:pos] + bytes([byte]) + blob[pos + 1 :]
    try:
        btf = Btf.parse(bad)
    except BtfError:
        return
    assert Btf.parse(btf.raw_data()).types == btf.types


@given(btf_blobs(), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_undecoded_records_check_and_read_the_same(
    case: tuple[bytes, list], data: st.DataObject  # type: ignore[type-arg]
) -> None:
    """``records=False`` (classic runs) accepts and refuses exactly what a full parse
    does, with the same message, and reads the same records, names and kinds."""
    blob, _ = case
    if data.draw(st.booleans()):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob = blob[:pos] + bytes([data.draw(st.integers(0, 255))]) + blob[pos + 1 :]

    def outcome(records: bool) -> object:
        try:
            btf = Btf.parse(blob, records=records)
        except BtfError as exc:
            return str(exc)
        return list(btf.names_and_infos()), list(btf.types), btf.raw_data()

    assert outcome(False) == outcome(True)


_words = st.lists(st.sampled_from([b"", b"a", b"b", b"ab", b"ba", b"abc", b"bpf_kfunc"]),
                  max_size=12)


def _strings_btf(base_strs: list[bytes], own_strs: list[bytes], split: bool) -> Btf:
    """A BTF with no types and these strings (``own_strs`` split on ``base_strs``, or
    appended to them)."""
    base = Btf()
    for s in base_strs:
        base.strs += s + b"\0"
    btf = Btf(base=base) if split else base
    for s in own_strs:
        btf.strs += s + b"\0"
    btf.invalidate_str_index()
    return btf


@given(_words, _words, st.lists(st.sampled_from([b"", b"a", b"ab", b"bpf_kfunc", b"x"]),
                                max_size=8), st.booleans())
def test_string_lookups_scan_and_index_agree(
        base_strs: list[bytes], own_strs: list[bytes], queries: list[bytes],
        split: bool) -> None:
    """find_str/add_str answer the same whether they scan the section (the first
    lookups) or use the whole-string index (after many), on standalone and split
    sections with repeated and empty strings; strings_by_offset sees every string."""
    scanned = _strings_btf(base_strs, own_strs, split)
    indexed = _strings_btf(base_strs, own_strs, split)
    indexed._own_str_index()
    for q in queries:
        assert scanned.find_str(q) == indexed.find_str(q)
        assert scanned.add_str(q) == indexed.add_str(q)
    assert scanned.strs == indexed.strs
    table = scanned.strings_by_offset()
    for off, s in table.items():
        assert scanned.str_at(off) == s
    assert len(table) == bytes(scanned.strs).count(b"\0")


@given(_words, _words, st.sets(st.sampled_from([b"", b"a", b"b", b"ab", b"ba", b"abc"])),
       st.booleans())
def test_offsets_of_is_the_filtered_string_table(
        base_strs: list[bytes], own_strs: list[bytes], wanted: set[bytes],
        split: bool) -> None:
    """offsets_of (the classic lookup, which searches forward from hit to hit) gives
    every whole own string in ``wanted`` at every offset it occurs, before and after the
    offset -> string table exists; repeated, empty and tail-shared strings included."""
    btf = _strings_btf(base_strs, own_strs, split)
    data = bytes(btf.strs)
    want = {}
    for local in range(len(data)):
        if local == 0 or data[local - 1] == 0:
            s = data[local:data.index(0, local)]
            if s in wanted:
                want[btf.start_str_off + local] = s
    assert btf.offsets_of(wanted) == want
    btf.strings_by_offset()
    assert btf.offsets_of(wanted) == want


@given(_words, _words, st.lists(st.integers(0, 60), max_size=12), st.booleans(),
       st.booleans())
def test_strings_at_is_str_at_of_every_offset(
        base_strs: list[bytes], own_strs: list[bytes], picks: list[int], split: bool,
        table: bool) -> None:
    """strings_at (sliced in C, or through the offset table once built) reads what
    str_at reads at every offset: string starts, offsets inside a string, base
    offsets of a split BTF; an offset past the section fails as str_at does."""
    btf = _strings_btf(base_strs, own_strs, split)
    if table:
        btf.strings_by_offset()
    end = btf.start_str_off + len(btf.strs)
    offs = [p % end for p in picks] if end else []
    assert btf.strings_at(offs) == [btf.str_at(o) for o in offs]
    own = [o for o in offs if o >= btf.start_str_off]   # the sliced path, split too
    assert btf.strings_at(own) == [btf.str_at(o) for o in own]
    with pytest.raises(BtfError, match="out of range"):
        btf.strings_at([*offs, end])


@given(st.lists(st.integers(0, 2**32 - 1), max_size=40), st.sets(st.integers(0, 127)),
       st.integers(0, 45), st.integers(0, 45))
def test_kind_masks_select_what_kind_of_selects(
        infos: list[int], kinds: set[int], lo: int, hi: int) -> None:
    """own_info_bytes + kind_table, the C-level kind filter, picks exactly the records
    whose (info >> 24) & 0x7F is wanted, kflag and unused bits set or not, any range."""
    from itertools import compress

    b = Btf()
    b.types = [[0, info, 0] for info in infos]
    table = K.kind_table(*kinds)
    lo, hi = min(lo, hi), max(lo, hi)
    for rng, recs in (((0, None), b.types), ((lo, hi), b.types[lo:hi])):
        mask = b.own_info_bytes(*rng).translate(table)
        assert list(compress(range(len(recs)), mask)) == [
            i for i, t in enumerate(recs) if K.kind_of(t[1]) in kinds]


@given(st.lists(st.lists(st.integers(0, 0xFFFFFFFF), min_size=2, max_size=5), max_size=40))
def test_info_high_bytes_is_the_top_byte_of_each_info(records: list[list[int]]) -> None:
    from btfids.btf.model import info_high_bytes

    assert info_high_bytes(records) == bytes(t[1] >> 24 for t in records)
