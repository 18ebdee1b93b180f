"""``.BTF_ids`` symbols: collection, names, address index, resolution, patching, sorting
(resolve.md §3–§7), on ELF files the tests build byte by byte."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from elfbuilder import SHN_ABS, SHN_XINDEX, BtfIdsBuilder, ElfBuilder, btfids_elf, simple_btf
from hypothesis import given
from hypothesis import strategies as st

from btfids.btf import Btf
from btfids.context import Log
from btfids.elf import ElfError, open_elf
from btfids.symbols import (
    BtfIdsSection,
    BtfIdSymbols,
    SymbolError,
    _parse_name,
    collect_symbols,
    patch_section,
    resolve_ids,
)

VARIANTS = [(64, "<"), (64, ">"), (32, "<"), (32, ">")]


def _log(verbose: int = 0) -> Log:
    return Log(verbose, io.StringIO())


def _out(log: Log) -> str:
    assert isinstance(log.stream, io.StringIO)
    return log.stream.getvalue()


def _write(tmp_path: Path, data: bytes, name: str = "obj.o") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _collect(tmp_path: Path, data: bytes, log: Log | None = None, **kw: object) -> BtfIdSymbols:
    with open_elf(_write(tmp_path, data)) as elf:
        syms = collect_symbols(elf, log or _log(), **kw)  # type: ignore[arg-type]
    assert syms is not None
    return syms


def _words(data: bytes, order: str) -> list[int]:
    return list(struct.unpack(f"{order}{len(data) // 4}I", data[: len(data) // 4 * 4]))


def _selftest_like(order: str) -> BtfIdsBuilder:
    ids = BtfIdsBuilder(order)
    ids.list("test_list")
    ids.unused()
    ids.btf_id("typedef", "T")
    ids.btf_id("struct", "S")
    ids.btf_id("union", "U")
    ids.btf_id("func", "f")
    with ids.set("test_set"):
        ids.btf_id("func", "g")
        ids.btf_id("struct", "S")
        ids.btf_id("func", "f")
    with ids.kfuncs("test_kfuncs"):
        ids.btf_id("func", "g", flags=0x10)
        ids.btf_id("func", "f", flags=0x20)
        ids.btf_id("func", "missing", flags=0x40)
    ids.btf_id("func", "g", flags=0xAABBCCDD)  # BTF_ID_FLAGS outside a set8
    return ids


# BTF IDs: int 1, proto 2, S 3, U 4, T 5, f 6, g 7
_BTF_ENTRIES = [("struct", "S"), ("union", "U"), ("typedef", "T"), ("func", "f"), ("func", "g")]


@pytest.mark.parametrize(("elfclass", "order"), VARIANTS)
def test_collect_resolve_patch_every_layout(tmp_path: Path, elfclass: int, order: str) -> None:
    ids = _selftest_like(order)
    data, _ = btfids_elf(ids, simple_btf(_BTF_ENTRIES, order), elfclass=elfclass, order=order,
                         addr=0x1000)
    log = _log()
    syms = _collect(tmp_path, data, log)
    assert sorted(syms.funcs) == [b"f", b"g", b"missing"]
    assert syms.nr == {"struct": 2, "union": 1, "typedef": 1, "func": 7}
    assert syms.sets[b"test_set"].cnt == 3 and syms.sets[b"test_set"].kind == "set"
    assert syms.sets[b"test_kfuncs"].cnt == 3 and syms.sets[b"test_kfuncs"].kind == "set8"
    assert syms.section.order == order and syms.section.words == _words(bytes(ids.data), order)
    btf = Btf.parse(simple_btf(_BTF_ENTRIES, order))
    resolve_ids(syms, btf, log)
    assert (syms.structs[b"S"].id, syms.unions[b"U"].id, syms.typedefs[b"T"].id) == (3, 4, 5)
    assert (syms.funcs[b"f"].id, syms.funcs[b"g"].id, syms.funcs[b"missing"].id) == (6, 7, 0)
    out = patch_section(syms, log)
    assert len(out) == len(ids.data)
    assert _words(out, order) == [
        0, 5, 3, 4, 6,            # UNUSED, T, S, U, f
        3, 3, 6, 7,               # set: cnt 3, sorted (S, f, g)
        3, 1, 0, 0x40, 6, 0x20, 7, 0x10,  # set8: cnt, flags kept, pairs sorted by ID
        7, 0xAABBCCDD,            # stray flags word kept (newest semantics)
    ]
    assert _out(log) == "WARN: resolve_btfids: unresolved symbol missing\n"
    assert log.warnings == 1


def test_symbols_outside_section_and_xindex_are_ignored(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    ids.symbol("__BTF_ID__func__bogus__1", 0)  # goes to SHN_ABS below
    elf = ElfBuilder()
    idx = ids.add_to(elf, 0)
    elf._syms[-1].shndx = SHN_ABS
    elf.add_symbol("__BTF_ID__func__xindex__2", 0, 4, SHN_XINDEX)
    elf.add_symbol("__BTF_ID__nonsense__3", 0, 4, idx + 1)  # another section: ignored
    elf.add_section(".other", b"\0" * 4)
    syms = _collect(tmp_path, elf.build())
    assert list(syms.funcs) == [b"f"] and syms.nr["func"] == 1


def test_debug_messages_and_address_index(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    ids.btf_id("func", "b")
    ids.btf_id("func", "a")
    ids.btf_id("func", "b")
    with ids.set8("s8"):
        ids.btf_id("func", "a", flags=1)
    data, _ = btfids_elf(ids, None, addr=0x40)
    log = _log(verbose=1)
    syms = _collect(tmp_path, data, log)
    assert _out(log) == "adding symbol b\nadding symbol a\nadding symbol s8\n"
    assert syms.funcs[b"b"].addrs == [0x40, 0x48]
    assert syms.name_at(0x40) == b"b" and syms.name_at(0x44) == b"a"
    assert syms.name_at(0x4C) == b"s8"  # set symbol at the set8 header
    assert syms.name_at(0x54) == b"a" and syms.name_at(0x41) is None
    assert syms.section.word_at(0x4C) == 0


def test_address_index_first_symbol_wins(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    off = ids.btf_id("func", "second_in_name_order")
    ids.symbol("__BTF_ID__func__alias__9", off)
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    assert syms.name_at(0) == b"second_in_name_order"  # Decision D8: table order


@pytest.mark.parametrize(
    ("sym", "msg"),
    [
        ("__BTF_ID__foo__x__1", "FAILED unsupported prefix foo__x__1"),
        ("__BTF_ID__func__", "FAILED to parse symbol name: func__"),
        ("__BTF_ID__func__x", "FAILED to parse symbol name: func__x"),
        ("__BTF_ID__func__abc", "FAILED to parse symbol name: func__abc"),
        ("__BTF_ID__func___1", "FAILED to parse symbol name: func___1"),
        ("__BTF_ID__func__a_1", "FAILED to parse symbol name: func__a_1"),
        ("__BTF_ID__set__", "FAILED to parse set name: set__"),
        ("__BTF_ID__set8__", "FAILED to parse set name: set8__"),
    ],
)
def test_malformed_names(tmp_path: Path, sym: str, msg: str) -> None:
    ids = BtfIdsBuilder()
    ids.raw(0, 0)
    ids.symbol(sym, 0, 8)
    with pytest.raises(SymbolError) as exc:
        _collect(tmp_path, btfids_elf(ids, None)[0])
    assert str(exc.value) == msg
    assert exc.value.exit_code == 255


def test_name_length_limit(tmp_path: Path) -> None:
    long = "x" * 510
    ids = BtfIdsBuilder()
    ids.btf_id("func", long)  # R = "__" + name + "__101": len(R) - 2 = 515 >= 512
    data = btfids_elf(ids, None)[0]
    with pytest.raises(SymbolError, match=r"FAILED to parse symbol name: func__x"):
        _collect(tmp_path, data)
    syms = _collect(tmp_path, data, ksym_name_len=None)  # the 6.12 tool has no limit
    assert list(syms.funcs) == [long.encode()]


def test_set_errors(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    with ids.set("dup"):
        ids.btf_id("func", "a")
    with ids.set8("dup"):
        pass
    with pytest.raises(SymbolError, match=r"^FAILED: duplicate set name dup$"):
        _collect(tmp_path, btfids_elf(ids, None)[0])
    for kind, size in (("set", 0), ("set", 6), ("set8", 12)):
        ids = BtfIdsBuilder()
        ids.raw(0, 0, 0, 0)
        ids.symbol(f"__BTF_ID__{kind}__bad", 0, size)
        with pytest.raises(SymbolError, match=f"^FAILED: bad size {size} for set bad$"):
            _collect(tmp_path, btfids_elf(ids, None)[0])


def test_address_limit(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    for _ in range(100):
        ids.btf_id("struct", "s")
    assert len(_collect(tmp_path, btfids_elf(ids, None)[0]).structs[b"s"].addrs) == 100
    ids.btf_id("struct", "s")
    with pytest.raises(SymbolError, match=r"^FAILED symbol s crossed the number of allowed"):
        _collect(tmp_path, btfids_elf(ids, None)[0])


def test_missing_sections_return_none(tmp_path: Path) -> None:
    log = _log(verbose=1)
    with open_elf(_write(tmp_path, btfids_elf(None, None)[0])) as elf:
        assert collect_symbols(elf, log) is None
    assert _out(log) == "Cannot find .BTF_ids or symbols sections, skip symbols resolution\n"
    ids = BtfIdsBuilder()
    ids.raw(0)
    with open_elf(_write(tmp_path, btfids_elf(ids, None, with_symtab=False)[0])) as elf:
        assert collect_symbols(elf, _log()) is None


def test_symtab_entsize_zero_is_an_error(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    elf = ElfBuilder(symtab_entsize=0)
    ids.add_to(elf)
    with pytest.raises(ElfError, match=r"sh_entsize 0"):
        _collect(tmp_path, elf.build())


def test_counter_rule_and_multiple_ids(tmp_path: Path) -> None:
    # BTF: int 1, proto 2, f 3, f 4, S 5, S 6
    btf = Btf.parse(simple_btf([("func", "f"), ("func", "f"), ("struct", "S"), ("struct", "S")]))
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")  # one func symbol: counter hits 0 after ID 3, no warning
    ids.btf_id("struct", "S")
    ids.btf_id("struct", "S")  # two struct symbols, one name: counter stays 1
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    log = _log()
    resolve_ids(syms, btf, log)
    assert syms.funcs[b"f"].id == 3 and syms.structs[b"S"].id == 5
    assert _out(log) == "WARN: multiple IDs found for 'S': 5, 6 - using 5\n"
    assert log.warnings == 1
    log2 = _log()
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    resolve_ids(syms, btf, log2, count_warnings=False)
    assert log2.warnings == 0 and "multiple IDs" in _out(log2)


def test_resolution_walks_base_ids_first(tmp_path: Path) -> None:
    base = Btf.parse(simple_btf([("struct", "S")]))  # S = 2 in the base
    split = Btf(base=base)
    split.add_type_words([split.add_str(b"S"), 4 << 24, 4])  # S = 3 in the split
    split.add_type_words([split.add_str(b"own"), 4 << 24, 4])  # own = 4
    ids = BtfIdsBuilder()
    ids.btf_id("struct", "S")
    ids.btf_id("struct", "own")
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    resolve_ids(syms, split, _log())
    assert syms.structs[b"S"].id == 2 and syms.structs[b"own"].id == 4


def test_unresolved_warning_order_and_patch_debug(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    for kind, name in (("func", "a"), ("func", "b"), ("struct", "z"), ("union", "y"),
                       ("typedef", "x"), ("struct", "c")):
        ids.btf_id(kind, name)
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    resolve_ids(syms, Btf.parse(simple_btf([])), _log())
    log = _log(verbose=1)
    patch_section(syms, log)
    lines = _out(log).splitlines()
    warns = [ln.rsplit(" ", 1)[1] for ln in lines if ln.startswith("WARN")]
    assert warns == ["z", "c", "y", "x", "b", "a"]  # structs, unions, typedefs, funcs; desc.
    assert "patching addr     8: ID       0 [z]" in lines


def test_sort_is_stable_and_unused_slots_stay_zero(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    with ids.set8("s"):
        ids.btf_id("func", "zz_unknown", flags=1)
        ids.btf_id("func", "f", flags=2)
        ids.btf_id("func", "aa_unknown", flags=3)
        ids.unused()
        ids.raw(4)  # an UNUSED entry inside a set8 with flags 4
    btf = Btf.parse(simple_btf([("func", "f")]))
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    resolve_ids(syms, btf, _log())
    words = _words(patch_section(syms, _log()), "<")
    assert words == [4, 0, 0, 1, 0, 3, 0, 4, 3, 2]


def test_patch_out_of_bounds(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    ids.symbol("__BTF_ID__func__g__5", 8)  # past the 4-byte section
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    resolve_ids(syms, Btf.parse(simple_btf([("func", "f"), ("func", "g")])), _log())
    log = _log(verbose=1)
    with pytest.raises(SymbolError, match=r"^FAILED patching index 8 out of bounds 4$"):
        patch_section(syms, log)
    assert _out(log).splitlines()[-1] == "patching addr     8: ID       4 [g]"


def test_section_tail_bytes_kept(tmp_path: Path) -> None:
    ids = BtfIdsBuilder(">")
    ids.btf_id("func", "f")
    data, _ = btfids_elf(ids, None, order=">", ids_extra=b"\xab\xcd")
    syms = _collect(tmp_path, data)
    assert syms.section.size == 6 and syms.section.tail == b"\xab\xcd"
    resolve_ids(syms, Btf.parse(simple_btf([("func", "f")], ">")), _log())
    assert patch_section(syms, _log()) == b"\0\0\0\x03\xab\xcd"


@given(st.text("abcXYZ019_", min_size=1, max_size=40), st.integers(0, 10**6))
def test_name_parser_inverts_the_macro(name: str, uniq: int) -> None:
    for kind in (b"func", b"struct", b"union", b"typedef"):
        p = kind + b"__" + name.encode() + b"__" + str(uniq).encode()
        assert _parse_name(p, kind, 512) == name.encode()


@given(st.binary(max_size=64), st.sampled_from("<>"))
def test_section_codec_round_trip(data: bytes, order: str) -> None:
    sec = BtfIdsSection.decode(1, 0, data, order)
    assert sec.words == _words(data, order)
    assert sec.tail == data[len(data) // 4 * 4 :]
    assert sec.encode(sec.words) == data


@pytest.mark.parametrize("with_table", [False, True])
def test_names_inside_strings_and_split_names_resolve(tmp_path: Path, with_table: bool) -> None:
    """A name offset may point into another string (``foo`` inside ``xfoo``) or, in split
    BTF, into the base's strings: both are matched like whole own strings are, with or
    without the offset -> string table built."""
    ids = BtfIdsBuilder()
    for kind, name in (("struct", "foo"), ("struct", "bar"), ("func", "main"),
                       ("struct", "baz")):
        ids.btf_id(kind, name)
    syms = _collect(tmp_path, btfids_elf(ids, None)[0])
    base = Btf()
    xfoo = base.add_str(b"xfoo")
    base.add_type_words([base.add_str(b"bar"), (4 << 24), 0])         # [1] struct bar
    split = Btf(base=base)
    split.add_type_words([split.add_str(b"other"), (4 << 24), 0])     # [2] not wanted
    split.add_type_words([xfoo + 1, (4 << 24), 0])                    # [3] "foo" in base
    main = split.add_str(b"mainly")
    split.add_type_words([split.add_str(b"int"), 1 << 24, 4, 0x20])   # [4]
    proto = split.add_type_words([0, 13 << 24, 4])                     # [5] proto
    split.add_type_words([split.add_str(b"main"), 12 << 24, proto])   # [6] func main
    split.add_type_words([main + 2, (4 << 24), 0])                    # [7] "inly": no
    split.add_type_words([split.add_str(b"xbaz") + 1, (4 << 24), 0])  # [8] "baz", own
    if with_table:
        split.strings_by_offset()
    resolve_ids(syms, split, _log())
    assert (syms.structs[b"foo"].id, syms.structs[b"bar"].id, syms.funcs[b"main"].id,
            syms.structs[b"baz"].id) == (3, 1, 6, 8)


_KINDS = ("func", "struct", "union", "typedef", "int")


@given(st.lists(st.tuples(st.sampled_from(_KINDS), st.sampled_from(["f", "S", "U", "T", "x"])),
                max_size=12),
       st.lists(st.tuples(st.sampled_from(_KINDS[:4]), st.sampled_from(["f", "S", "U", "T"])),
                min_size=1, max_size=6))
def test_resolution_through_the_built_string_table_is_the_scan(
    tmp_path_factory: pytest.TempPathFactory, types: list[tuple[str, str]],
    symbols: list[tuple[str, str]],
) -> None:
    """After dedup the BTF has its offset -> string table built, and resolution takes
    every name from it; IDs, warnings and counters equal the offset scan's."""
    ids = BtfIdsBuilder()
    for kind, name in symbols:
        ids.btf_id(kind, name)
    elf = btfids_elf(ids, None)[0]
    tmp = tmp_path_factory.mktemp("r")
    raw = simple_btf(types)
    results = []
    for build_table in (False, True):
        btf = Btf.parse(raw)
        if build_table:
            btf.strings_by_offset()
        assert (btf.built_strings_by_offset() is not None) == build_table
        syms = _collect(tmp, elf)
        log = _log()
        resolve_ids(syms, btf, log)
        tables = (syms.funcs, syms.structs, syms.unions, syms.typedefs)
        results.append(([sorted((n, node.id) for n, node in t.items()) for t in tables],
                         _out(log), log.warnings))
    assert results[0] == results[1]
