"""ELF access (sections, data on demand, symbol scan, gaps, extent), atomic writes, and
BTF loading from raw files or ELF sections (btf-format.md §7)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from elfbuilder import SHT_NOBITS, BtfIdsBuilder, ElfBuilder, btfids_elf, simple_btf
from hypothesis import given
from hypothesis import strategies as st

from btfids.btf import Btf
from btfids.btfio import BtfLoadError, load_btf
from btfids.elf import ElfError, _maybe_in_section, open_elf, write_file_atomic

VARIANTS = [(64, "<"), (64, ">"), (32, "<"), (32, ">")]


def _file(tmp_path: Path, data: bytes, name: str = "f.o") -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize(("elfclass", "order"), VARIANTS)
def test_headers_sections_and_data(tmp_path: Path, elfclass: int, order: str) -> None:
    ids = BtfIdsBuilder(order)
    ids.btf_id("func", "f")
    btf = simple_btf([("func", "f")], order)
    data, b = btfids_elf(ids, btf, elfclass=elfclass, order=order, addr=0x2000, phnum=2,
                         e_type=2)
    with open_elf(_file(tmp_path, data)) as elf:
        assert (elf.order, elf.elfclass, elf.e_type) == (order, elfclass, 2)
        names = [s.name for s in elf.sections]
        assert names == [b"", b".text", b".BTF_ids", b".data", b".BTF", b".symtab", b".strtab",
                         b".shstrtab"]
        sec = elf.last_section(b".BTF_ids")
        assert sec is not None and sec.addr == 0x2000 and sec.index == 2
        assert sec.offset == b.layout()[b".BTF_ids"][1]
        assert elf.data(sec) == bytes(ids.data)
        btf_sec = elf.first_section(b".BTF")
        assert btf_sec is not None and elf.data(btf_sec) == btf
        symtab = elf.symtab()
        assert symtab is not None and symtab.entsize == (24 if elfclass == 64 else 16)
        syms = elf.symbols_with_prefix(symtab, b"__BTF_ID__", 2)
        assert [(s.name, s.value, s.size) for s in syms] == [(b"__BTF_ID__func__f__101", 0x2000, 4)]
        assert elf.symbols_with_prefix(symtab, b"some_", 1)[0].name == b"some_func"
        assert elf.extent() == len(data) == b.extent
        assert elf.headers_end() == (64 if elfclass == 64 else 52) + 2 * (56 if elfclass == 64
                                                                          else 32)


def test_symbol_scan_finds_names_in_the_tail_of_longer_strings(tmp_path: Path) -> None:
    b = ElfBuilder(tail_merge=True)
    b.add_section(".text", b"\0" * 8)
    ids = b.add_section(".BTF_ids", b"\0" * 8)
    b.add_symbol("x__BTF_ID__func__f__1", 0, 4, ids)    # not a BTF_ID symbol
    b.add_symbol("__BTF_ID__func__f__1", 0, 4, ids)     # shares the string above
    b.add_symbol("__BTF_ID__func__g__2", 4, 4, ids)
    with open_elf(_file(tmp_path, b.build())) as elf:
        symtab = elf.symtab()
        assert symtab is not None
        strtab = elf.data(elf.sections[symtab.link])
        assert strtab.count(b"__BTF_ID__func__f__1") == 1    # really merged
        syms = elf.symbols_with_prefix(symtab, b"__BTF_ID__", ids)
        assert [(s.name, s.value) for s in syms] == [(b"__BTF_ID__func__f__1", 0),
                                                     (b"__BTF_ID__func__g__2", 4)]


_SHNDX = st.sampled_from([0, 1, 0xFF, 0x100, 0xFF00, 0xFFF1, 0xFFF2, 0x15, 0x1500])


@given(st.lists(_SHNDX, max_size=30), _SHNDX, st.sampled_from([(24, 6), (16, 14)]),
       st.sampled_from("<>"))
def test_shndx_column_search_finds_every_symbol_of_the_section(
        column: list[int], shndx: int, layout: tuple[int, int], order: str) -> None:
    """The st_shndx column search returns, ascending, every symbol whose st_shndx is
    the section's, whatever its neighbours' bytes are (SHN_ABS then SHN_UNDEF reads
    as 0x00ff across the two entries), and nothing a caller could not reject."""
    entsize, at = layout
    table = bytearray(entsize * len(column))
    for i, v in enumerate(column):
        struct.pack_into(order + "H", table, i * entsize + at, v)
    got = list(_maybe_in_section(bytes(table), len(column), entsize, at, shndx, order))
    assert got == sorted(got)
    assert [i for i in got if column[i] == shndx] == [
        i for i, v in enumerate(column) if v == shndx]


def test_symbols_of_section_255_next_to_absolute_symbols(tmp_path: Path) -> None:
    """.BTF_ids as section 255 (0x00ff): an SHN_ABS symbol (0xfff1) followed by an
    undefined one (0) holds the bytes ff 00 across the two entries."""
    b = ElfBuilder()
    for n in range(254):
        b.add_section(f".s{n}", b"")
    ids = b.add_section(".BTF_ids", b"\0" * 8)
    assert ids == 255
    b.add_symbol("__BTF_ID__func__abs__1", 0)                 # SHN_ABS
    b.add_symbol("__BTF_ID__func__undef__2", 0, 0, 0)         # SHN_UNDEF
    b.add_symbol("__BTF_ID__func__f__3", 4, 4, ids)
    with open_elf(_file(tmp_path, b.build())) as elf:
        symtab = elf.symtab()
        assert symtab is not None
        syms = elf.symbols_with_prefix(symtab, b"__BTF_ID__", ids)
        assert [(s.name, s.value) for s in syms] == [(b"__BTF_ID__func__f__3", 4)]


def test_gaps_skip_nobits_and_section_header_table(tmp_path: Path) -> None:
    elf_b = ElfBuilder()
    elf_b.add_section(".a", b"A" * 3, align=1)         # 64..67
    elf_b.add_section(".bss", b"", type=SHT_NOBITS, size=100, align=64)
    elf_b.add_section(".b", b"B" * 4, align=16)        # 80..84: gap 67..80
    elf_b.add_section(".empty", b"", align=32)         # 96: gap 84..96
    data = elf_b.build(gap_fill=0xAA, trailing=b"SIG")
    with open_elf(_file(tmp_path, data)) as elf:
        gaps = [(a, b) for a, b, _ in elf.gaps()]
        assert gaps[:2] == [(67, 80), (84, 96)]
        sht = (elf.shoff, elf.shoff + elf.shentsize * len(elf.sections))
        assert all(b <= sht[0] or a >= sht[1] for a, b in gaps)
        assert elf.extent() == len(data) - 3


@pytest.mark.parametrize(
    ("content", "msg"),
    [
        (b"", "FAILED cannot get shdr str ndx"),
        (b"not an elf file at all, clearly" * 3, "FAILED cannot get shdr str ndx"),
    ],
)
def test_not_elf(tmp_path: Path, content: bytes, msg: str) -> None:
    with pytest.raises(ElfError) as exc:
        open_elf(_file(tmp_path, content))
    assert str(exc.value) == msg and exc.value.exit_code == 255


def test_missing_file_and_truncated_elf(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.o")
    with pytest.raises(ElfError, match=f"^FAILED cannot open {missing}: No such file"):
        open_elf(missing)
    data, b = btfids_elf(None, simple_btf([]))
    cut = b.layout()[b".BTF"][1] + 10
    with pytest.raises(ElfError), open_elf(_file(tmp_path, data[:cut])) as elf:
        sec = elf.last_section(b".BTF")
        assert sec is not None
        elf.data(sec)


def test_write_file_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.BTF"
    target.write_bytes(b"old")
    write_file_atomic(str(target), b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["out.BTF"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(OSError):
        write_file_atomic(str(tmp_path / "no_dir" / "x"), b"")


# ------------------------------------------------------------------ BTF loading
@pytest.mark.parametrize("order", "<>")
def test_load_raw_and_elf_btf(tmp_path: Path, order: str) -> None:
    raw = simple_btf([("struct", "S")], order)
    assert load_btf(_file(tmp_path, raw, "raw.btf")).name(2) == b"S"
    data, _ = btfids_elf(None, raw, order=order)
    btf = load_btf(_file(tmp_path, data))
    assert btf.order == order and btf.raw_data() == raw


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(BtfLoadError, match=r"No such file"):
        load_btf(str(tmp_path / "missing"))
    with pytest.raises(BtfLoadError, match=r"Input/output error"):
        load_btf(_file(tmp_path, b"\x9f", "short"))
    with pytest.raises(BtfLoadError, match=r"failed to find '.BTF' ELF section"):
        load_btf(_file(tmp_path, btfids_elf(None, None)[0]))
    bad = simple_btf([])[:-3]  # raw by magic: no ELF fallback
    with pytest.raises(BtfLoadError):
        load_btf(_file(tmp_path, bad, "bad.btf"))
    data, _ = btfids_elf(None, None, more=[(".BTF", b"", {"type": SHT_NOBITS, "size": 8})])
    with pytest.raises(BtfLoadError, match=r"unexpected section type \(8\) of section '.BTF'"):
        load_btf(_file(tmp_path, data, "nobits.o"))


def test_load_split_on_explicit_base(tmp_path: Path) -> None:
    base = Btf.parse(simple_btf([("struct", "S")]))
    split = Btf(base=base, hdr_len=24)
    split.add_type_words([split.add_str(b"T"), 8 << 24, 2])  # typedef T -> S
    data, _ = btfids_elf(None, split.raw_data())
    got = load_btf(_file(tmp_path, data), base)
    assert got.base is base and got.start_id == 3 and got.name(3) == b"T"


def test_load_with_btf_base_section(tmp_path: Path) -> None:
    dist = Btf(hdr_len=24)
    dist.add_type_words([dist.add_str(b"S"), 4 << 24, 4])  # distilled base: struct S
    split = Btf(base=dist, hdr_len=24)
    split.add_type_words([split.add_str(b"P"), 8 << 24, 1])  # typedef P -> S
    data, _ = btfids_elf(None, split.raw_data(),
                         more=[(".BTF.base", dist.raw_data(), {"flags": 0})])
    path = _file(tmp_path, data)
    got = load_btf(path)
    assert got.base is not None and got.base.name(1) == b"S" and got.name(2) == b"P"
    full = Btf.parse(simple_btf([("struct", "X"), ("struct", "S")]))  # S = 3
    reloc = load_btf(path, full)
    assert reloc.base is full
    t = reloc.type(reloc.start_id)
    assert reloc.str_at(t[0]) == b"P" and t[2] == 3




def test_section_sizes_past_the_file_are_not_read(tmp_path: Path) -> None:
    """Found by fuzzing: a section name table whose size is past the end of the file (here
    2**60 bytes) is reported as truncated, without trying to read (or allocate) it."""
    data, b = btfids_elf(None, simple_btf([]))
    raw = bytearray(data)
    shstrndx = struct.unpack_from("<H", raw, 62)[0]
    struct.pack_into("<Q", raw, b.shoff + shstrndx * 64 + 32, 1 << 60)   # its sh_size
    with pytest.raises(ElfError, match=r"^FAILED: .*: truncated ELF \(section data past end"):
        open_elf(_file(tmp_path, bytes(raw)))


def test_symbol_names_are_read_as_elf_strptr_reads_them(tmp_path: Path) -> None:
    """Found by fuzzing: a name with no NUL before the end of the string table, or a
    symbol table linked to a section that is not SHT_STRTAB. libelf's elf_strptr
    returns NULL for both, and upstream skips a symbol with no name."""
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    ids.btf_id("func", "g")                        # its name ends the string table
    data, b = btfids_elf(ids, simple_btf([]))
    idx, off = b.layout()[b".strtab"]
    raw = bytearray(data)
    with open_elf(_file(tmp_path, data, "ok.o")) as elf:
        size = elf.sections[idx].size
    assert raw[off + size - 1] == 0 and raw[off + size - 2 : off + size - 1] != b"\0"
    raw[off + size - 1] = ord("x")                 # the last name loses its NUL
    with open_elf(_file(tmp_path, bytes(raw), "unterminated.o")) as elf:
        symtab = elf.symtab()
        assert symtab is not None
        assert [s.name for s in elf.symbols_with_prefix(symtab, b"__BTF_ID__", 2)] == [
            b"__BTF_ID__func__f__101"]
    raw = bytearray(data)
    struct.pack_into("<I", raw, b.shoff + idx * 64 + 4, 1)   # .strtab's sh_type: PROGBITS
    with open_elf(_file(tmp_path, bytes(raw), "progbits.o")) as elf:
        symtab = elf.symtab()
        assert symtab is not None
        assert elf.symbols_with_prefix(symtab, b"__BTF_ID__", 2) == []
