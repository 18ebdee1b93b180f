"""The Linux 6.12 in-place flow (legacy-6.12.md) on ELF files built byte by byte: patched
section, zeroed gaps, truncation, early return, compressed-section fix, cross-endian
quirks, failures that leave stored words in the file."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from elfbuilder import SHF_COMPRESSED, BtfIdsBuilder, ElfBuilder, btfids_elf, simple_btf

from btfids.btf import Btf
from btfids.context import Log
from btfids.elf import open_elf
from btfids.errors import BtfidsError
from btfids.legacy import run_in_place
from btfids.symbols import collect_symbols, patch_section, resolve_ids

HOST = "<" if struct.pack("=I", 1) == struct.pack("<I", 1) else ">"
OTHER = ">" if HOST == "<" else "<"
# BTF IDs: int 1, proto 2, S 3, f 4, g 5
ENTRIES = [("struct", "S"), ("func", "f"), ("func", "g")]


def _log(verbose: int = 0) -> Log:
    return Log(verbose, io.StringIO())


def _text(log: Log) -> str:
    assert isinstance(log.stream, io.StringIO)
    return log.stream.getvalue()


def _ids(order: str) -> BtfIdsBuilder:
    ids = BtfIdsBuilder(order)
    ids.btf_id("struct", "S")
    ids.unused()
    with ids.set("s"):
        ids.btf_id("func", "g")
        ids.btf_id("func", "f")
    with ids.kfuncs("k"):
        ids.btf_id("func", "g", flags=0x20)
        ids.btf_id("func", "f", flags=0x10)
    return ids


EXPECTED = [3, 0, 2, 4, 5, 2, 1, 4, 0x10, 5, 0x20]


def _words(data: bytes, order: str) -> list[int]:
    return list(struct.unpack(f"{order}{len(data) // 4}I", data))


def _expected_file(ids: BtfIdsBuilder, words: list[int], kw: dict[str, int]) -> bytes:
    """The same object built with zero gaps, no trailer and the patched words."""
    order = "<" if kw.get("order", "<") == "<" else ">"
    ref = BtfIdsBuilder(order)
    ref.data = bytearray(struct.pack(f"{order}{len(words)}I", *words))
    ref.symbols = ids.symbols
    return btfids_elf(ref, simple_btf(ENTRIES, order), **kw)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("elfclass", [64, 32])
def test_same_endian_patch_gaps_truncation(tmp_path: Path, elfclass: int) -> None:
    ids = _ids(HOST)
    kw = {"elfclass": elfclass, "order": HOST, "addr": 0x1000, "phnum": 1}
    data, b = btfids_elf(ids, simple_btf(ENTRIES, HOST), gap_fill=0xAA,
                         trailing=b"~Module signature appended~\n", **kw)  # type: ignore[arg-type]
    assert data.count(b"\xaa") > 6 and b.shoff > b.data_end  # gaps and SHT padding planted
    path = tmp_path / "m.ko"
    path.write_bytes(data)
    log = _log()
    seconds: dict[str, float] = {}
    run_in_place(str(path), log=log, seconds=seconds)
    assert list(seconds) == ["load_elf", "load_btf", "resolve", "write"]  # for --report
    assert all(v >= 0 for v in seconds.values())
    out = path.read_bytes()
    want = bytearray(_expected_file(ids, EXPECTED, kw))  # type: ignore[arg-type]
    # the padding between the last section and the section header table is not a gap
    want[b.data_end : b.shoff] = data[b.data_end : b.shoff]
    assert out == bytes(want)
    assert len(out) == b.extent and _text(log) == ""


def test_result_equals_newest_patch_for_same_endian(tmp_path: Path) -> None:
    ids = _ids(HOST)
    data, b = btfids_elf(ids, simple_btf(ENTRIES, HOST), addr=0x40)
    path = tmp_path / "x.o"
    path.write_bytes(data)
    with open_elf(str(path)) as elf:
        syms = collect_symbols(elf, _log())
    assert syms is not None
    resolve_ids(syms, Btf.parse(simple_btf(ENTRIES, HOST)), _log())
    newest = patch_section(syms, _log())
    run_in_place(str(path), log=_log())
    off = b.layout()[b".BTF_ids"][1]
    assert path.read_bytes()[off : off + len(newest)] == newest


def test_cross_endian_quirk_from_spec(tmp_path: Path) -> None:
    """legacy-6.12.md §7: words 0 1 0 0xf0f 0 0x55 0 0xaabbccdd → 2 1 3 0x55 4 0xf0f 3
    0xddccbbaa (set8 right and sorted, the stray flags word byte-swapped)."""
    order = OTHER
    ids = BtfIdsBuilder(order)
    with ids.kfuncs("k"):
        ids.btf_id("func", "a", flags=0xF0F)
        ids.btf_id("func", "b", flags=0x55)
    ids.btf_id("func", "b", flags=0xAABBCCDD)
    btf = simple_btf([("func", "b"), ("func", "a")], order)  # b = 3, a = 4
    data, b = btfids_elf(ids, btf, order=order)
    path = tmp_path / "be.o"
    path.write_bytes(data)
    assert _words(bytes(ids.data), order) == [0, 1, 0, 0xF0F, 0, 0x55, 0, 0xAABBCCDD]
    run_in_place(str(path), log=_log())
    off = b.layout()[b".BTF_ids"][1]
    got = _words(path.read_bytes()[off : off + 32], order)
    assert got == [2, 1, 3, 0x55, 4, 0xF0F, 3, 0xDDCCBBAA]


def test_cross_endian_odd_size_converts_groups_from_the_end(tmp_path: Path) -> None:
    order = OTHER
    ids = BtfIdsBuilder(order)
    ids.btf_id("func", "f")
    data, b = btfids_elf(ids, simple_btf([("func", "f")], order), order=order,
                         ids_extra=b"\xab\xcd")
    path = tmp_path / "odd.o"
    path.write_bytes(data)
    run_in_place(str(path), log=_log())
    off = b.layout()[b".BTF_ids"][1]
    host_id = struct.pack(HOST + "I", 3)  # stored in host order, then groups from the end
    expect = host_id[:2] + (host_id[2:] + b"\xab\xcd")[::-1]
    assert path.read_bytes()[off : off + 6] == expect


def test_early_return_leaves_file_untouched(tmp_path: Path) -> None:
    data, _ = btfids_elf(None, None, gap_fill=0xAA, trailing=b"SIGNATURE")  # no .BTF either
    path = tmp_path / "plain.ko"
    path.write_bytes(data)
    log = _log(verbose=1)
    run_in_place(str(path), base_path=str(tmp_path / "missing-base"), log=log)
    assert path.read_bytes() == data
    assert _text(log) == "Cannot find .BTF_ids or symbols sections, nothing to do\n"


def _compressed_obj(order: str, elfclass: int, with_ids: bool) -> tuple[bytes, ElfBuilder]:
    ids = None
    if with_ids:
        ids = BtfIdsBuilder(order)
        ids.btf_id("func", "f")
    return btfids_elf(ids, simple_btf([("func", "f")], order), order=order, elfclass=elfclass,
                      more=[(".debug_str", b"\x01" * 12, {"flags": SHF_COMPRESSED, "align": 1})])


def _addralign_field(data: bytes, b: ElfBuilder, elfclass: int, order: str) -> int:
    idx = b.layout()[b".debug_str"][0]
    shentsize = 64 if elfclass == 64 else 40
    at = b.shoff + idx * shentsize + (48 if elfclass == 64 else 32)
    return int(struct.unpack_from(order + ("Q" if elfclass == 64 else "I"), data, at)[0])


@pytest.mark.parametrize("elfclass", [64, 32])
def test_compressed_fix_same_endian_even_on_early_return(tmp_path: Path, elfclass: int) -> None:
    data, b = _compressed_obj(HOST, elfclass, with_ids=False)
    path = tmp_path / "c.o"
    path.write_bytes(data)
    log = _log(verbose=2)
    run_in_place(str(path), log=log)
    out = path.read_bytes()
    want = 8 if elfclass == 64 else 4
    assert _addralign_field(out, b, elfclass, HOST) == want
    assert sum(x != y for x, y in zip(out, data, strict=True)) == 1
    assert f" - fixing wrong alignment sh_addralign 1, expected {want}\n" in _text(log)


def test_compressed_fix_cross_endian_only_with_update(tmp_path: Path) -> None:
    data, b = _compressed_obj(OTHER, 64, with_ids=False)
    path = tmp_path / "c.o"
    path.write_bytes(data)
    run_in_place(str(path), log=_log())
    assert path.read_bytes() == data
    data, b = _compressed_obj(OTHER, 64, with_ids=True)
    path.write_bytes(data)
    run_in_place(str(path), log=_log())
    assert _addralign_field(path.read_bytes(), b, 64, OTHER) == 8


def test_failure_after_patching_keeps_stored_words(tmp_path: Path) -> None:
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("func", "f")
    ids.btf_id("func", "g")
    ids.symbol("__BTF_ID__func__a__9", 64)  # out of bounds; "a" is patched last
    data, b = btfids_elf(ids, simple_btf([("func", "a"), ("func", "f"), ("func", "g")]),
                         gap_fill=0xAA, trailing=b"SIG")
    path = tmp_path / "oob.o"
    path.write_bytes(data)
    with pytest.raises(BtfidsError, match=r"^FAILED patching index 64 out of bounds 8$"):
        run_in_place(str(path), log=_log())
    out = path.read_bytes()
    off = b.layout()[b".BTF_ids"][1]
    assert _words(out[off : off + 8], HOST) == [4, 5]  # f and g were stored first
    assert out[:off] + out[off + 8 :] == data[:off] + data[off + 8 :]  # no fill, no cut


def test_failure_before_patching_changes_nothing(tmp_path: Path) -> None:
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("func", "f")
    data, _ = btfids_elf(ids, None, trailing=b"SIG")  # no .BTF
    path = tmp_path / "nobtf.o"
    path.write_bytes(data)
    with pytest.raises(BtfidsError) as exc:
        run_in_place(str(path), log=_log())
    assert str(exc.value) == f"FAILED: load BTF from {path}: failed to find '.BTF' ELF section"
    assert path.read_bytes() == data


def test_base_btf_and_btf_base_section(tmp_path: Path) -> None:
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("struct", "S")
    ids.btf_id("struct", "own")
    base = Btf.parse(simple_btf([("struct", "X"), ("struct", "S")]))  # S = 3
    (tmp_path / "vmlinux.btf").write_bytes(base.raw_data())
    split = Btf(base=base, hdr_len=24)
    split.add_type_words([split.add_str(b"own"), 4 << 24, 4])  # own = 4
    data, b = btfids_elf(ids, split.raw_data())
    path = tmp_path / "mod.ko"
    path.write_bytes(data)
    run_in_place(str(path), base_path=str(tmp_path / "vmlinux.btf"), log=_log())
    off = b.layout()[b".BTF_ids"][1]
    assert _words(path.read_bytes()[off : off + 8], HOST) == [3, 4]
    missing = str(tmp_path / "nope")
    path.write_bytes(data)
    with pytest.raises(BtfidsError, match=f"^FAILED: load base BTF from {missing}: No such"):
        run_in_place(str(path), base_path=missing, log=_log())
    # with a .BTF.base section the -b path is dropped (a missing file does not matter)
    dist = Btf(hdr_len=24)
    dist.add_type_words([dist.add_str(b"S"), 4 << 24, 4])  # S = 1
    split2 = Btf(base=dist, hdr_len=24)
    split2.add_type_words([split2.add_str(b"own"), 4 << 24, 4])  # own = 2
    data, b = btfids_elf(ids, split2.raw_data(),
                         more=[(".BTF.base", dist.raw_data(), {"flags": 0})])
    path.write_bytes(data)
    run_in_place(str(path), base_path=missing, log=_log())
    off = b.layout()[b".BTF_ids"][1]
    assert _words(path.read_bytes()[off : off + 8], HOST) == [1, 2]


def test_btf_from_separate_file_and_uncounted_warnings(tmp_path: Path) -> None:
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("func", "f")
    ids.btf_id("func", "nothere")
    ids.btf_id("func", "x" * 600)  # no name length limit in 6.12
    raw = tmp_path / "ext.btf"
    raw.write_bytes(simple_btf([("func", "f")]))
    data, b = btfids_elf(ids, None)
    path = tmp_path / "o.o"
    path.write_bytes(data)
    log = _log(verbose=1)
    run_in_place(str(path), btf_path=str(raw), log=log)
    off = b.layout()[b".BTF_ids"][1]
    assert _words(path.read_bytes()[off : off + 12], HOST) == [3, 0, 0]
    text = _text(log)
    assert "WARN: resolve_btfids: unresolved symbol nothere\n" in text
    assert text.endswith(f"update ok for {path}\n") and log.warnings == 0


def test_open_and_format_errors(tmp_path: Path) -> None:
    with pytest.raises(BtfidsError, match=f"^FAILED cannot open {tmp_path}: Is a directory$"):
        run_in_place(str(tmp_path), log=_log())
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 100)
    with pytest.raises(BtfidsError, match=r"^FAILED cannot get shdr str ndx$") as exc:
        run_in_place(str(junk), log=_log())
    assert exc.value.exit_code == 255


def test_invalid_alignment_fails_update_with_words_stored(tmp_path: Path) -> None:
    """Not a power of two (as the C 6.12 tool: on x86 libelf asks no alignment of a
    section's data, so a NOTE aligned to 2, or 0, passes; differential fuzzing)."""
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("func", "f")
    data, b = btfids_elf(ids, simple_btf([("func", "f")]), trailing=b"SIG",
                         more=[(".note.x", b"\0" * 12, {"type": 7, "align": 6})])
    path = tmp_path / "al.o"
    path.write_bytes(data)
    with pytest.raises(BtfidsError, match=r"^FAILED elf_update\(WRITE\): invalid section align"):
        run_in_place(str(path), log=_log())
    out = path.read_bytes()
    off = b.layout()[b".BTF_ids"][1]
    assert _words(out[off : off + 4], HOST) == [3] and out.endswith(b"SIG")


@pytest.mark.parametrize("phoff", [1 << 40, 1 << 62, 1 << 63])
def test_far_program_headers_never_grow_the_file(tmp_path: Path, phoff: int) -> None:
    """Issue 23 (checked against the C 6.12 tool, also in test_differential): the 6.12
    tool never loads the program headers, so libelf leaves them out of the file's
    extent: a wild ``e_phoff`` neither fails the update nor grows the file (btfids once
    made a 1 TiB sparse file of it); the update runs as usual (gaps zeroed, signature
    cut)."""
    ids = BtfIdsBuilder(HOST)
    ids.btf_id("func", "f")
    data, b = btfids_elf(ids, simple_btf([("func", "f")]), trailing=b"SIG", gap_fill=0xAA)
    data = bytearray(data)
    struct.pack_into("<Q", data, 32, phoff)          # e_phoff
    struct.pack_into("<HH", data, 54, 56, 1)         # e_phentsize 56, e_phnum 1
    path = tmp_path / "far.o"
    path.write_bytes(data)
    run_in_place(str(path), log=_log())
    out = path.read_bytes()
    off = b.layout()[b".BTF_ids"][1]
    assert _words(out[off : off + 4], HOST) == [3]
    assert len(out) == len(data) - 3 and out[32:40] == data[32:40]   # cut, e_phoff kept


def test_huge_set_count_is_stored_as_a_u32_before_the_failure(tmp_path: Path) -> None:
    """Found by fuzzing: a set symbol whose size gives a count past 32 bits. The count
    word gets its low 32 bits, as upstream's u32 store; the sort then fails."""
    ids = BtfIdsBuilder(HOST)
    with ids.set("s"):
        ids.btf_id("func", "f")
    ids.symbols = [(n, o, (1 << 40) + 8 if n.endswith(b"__s") or n == b"s" else size)
                   for n, o, size in ids.symbols]
    data, b = btfids_elf(ids, simple_btf([("func", "f")]))
    path = tmp_path / "huge.o"
    path.write_bytes(data)
    with pytest.raises(BtfidsError, match=r"^FAILED malformed data for set 's'$"):
        run_in_place(str(path), log=_log())
    off = b.layout()[b".BTF_ids"][1]
    assert _words(path.read_bytes()[off : off + 8], HOST) == [((1 << 38) + 1) & 0xFFFFFFFF, 3]
