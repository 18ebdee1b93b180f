"""``--patch_btfids BLOB ELF`` (resolve.md §8): raw copy, size check, the gap before
``.BTF_ids`` zeroed, truncation to the ELF extent, every message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from elfbuilder import SHT_NOBITS, BtfIdsBuilder, btfids_elf, simple_btf

from btfids.context import Log
from btfids.elf import ElfError
from btfids.patchmode import patch_btfids


def _obj(tmp_path: Path, order: str = "<", **kw: object) -> tuple[Path, bytes, int, int]:
    ids = BtfIdsBuilder(order)
    ids.btf_id("func", "f")
    ids.btf_id("struct", "s")
    data, b = btfids_elf(ids, simple_btf([]), order=order, gap_fill=0xAA,
                         trailing=b"~Module signature appended~\n", **kw)  # type: ignore[arg-type]
    path = tmp_path / "m.ko"
    path.write_bytes(data)
    return path, data, b.layout()[b".BTF_ids"][1], b.extent


@pytest.mark.parametrize("order", "<>")
def test_copy_fill_before_section_and_truncate(tmp_path: Path, order: str) -> None:
    path, data, off, extent = _obj(tmp_path, order)
    blob = tmp_path / "m.ko.BTF_ids"
    blob.write_bytes(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    log = Log(1, io.StringIO())
    patch_btfids(str(blob), str(path), log)
    out = path.read_bytes()
    want = bytearray(data[:extent])
    want[off : off + 8] = blob.read_bytes()  # raw: no byte swapping
    gap_start = off - 3  # .text (5 bytes from 64) ends at 69, .BTF_ids at 72
    assert data[gap_start:off] == b"\xaa" * 3
    want[gap_start:off] = b"\0\0\0"
    assert out == bytes(want)
    assert out.count(b"\xaa") == data[:extent].count(b"\xaa") - 3  # other gaps untouched
    assert log.stream.getvalue() == (  # type: ignore[attr-defined]
        f"Copying data from {blob} to .BTF_ids section of {path} (8 bytes)\n"
    )


def test_errors(tmp_path: Path) -> None:
    path, data, _, _ = _obj(tmp_path)
    blob = tmp_path / "blob"
    blob.write_bytes(b"\0" * 7)
    log = Log(0, io.StringIO())
    with pytest.raises(ElfError) as exc:
        patch_btfids(str(blob), str(path), log)
    assert str(exc.value) == (
        f"FAILED: size mismatch - .BTF_ids section in {path} is 8 bytes, {blob} is 7 bytes"
    )
    missing = tmp_path / "missing"
    with pytest.raises(ElfError, match=f"^FAILED to stat {missing}: No such file"):
        patch_btfids(str(missing), str(path), log)
    with pytest.raises(ElfError, match=f"^FAILED to open {missing}: No such file"):
        patch_btfids(str(blob), str(missing), log)
    assert path.read_bytes() == data  # nothing written on any failure
    plain, _ = btfids_elf(None, simple_btf([]))
    other = tmp_path / "plain.o"
    other.write_bytes(plain)
    with pytest.raises(ElfError, match=f"^FAILED: section .BTF_ids not found in {other}$"):
        patch_btfids(str(blob), str(other), log)
    junk = tmp_path / "junk"
    junk.write_bytes(b"junk" * 30)
    with pytest.raises(ElfError, match=r"^FAILED cannot get shdr str ndx$"):
        patch_btfids(str(blob), str(junk), log)


def test_first_btf_ids_section_is_used(tmp_path: Path) -> None:
    ids = BtfIdsBuilder()
    ids.btf_id("func", "f")
    data, b = btfids_elf(ids, None, more=[(".BTF_ids", b"\0" * 8, {})])
    path = tmp_path / "two.o"
    path.write_bytes(data)
    blob = tmp_path / "b"
    blob.write_bytes(b"ABCD")
    patch_btfids(str(blob), str(path), Log(0, io.StringIO()))
    sec_off = b.layout()  # last .BTF_ids in the layout map; the first sits after .text
    out = path.read_bytes()
    assert out.count(b"ABCD") == 1 and out.index(b"ABCD") < sec_off[b".BTF_ids"][1]


def test_nobits_section_has_no_data(tmp_path: Path) -> None:
    data, _ = btfids_elf(None, None, more=[(".BTF_ids", b"", {"type": SHT_NOBITS, "size": 4})])
    path = tmp_path / "nb.o"
    path.write_bytes(data)
    blob = tmp_path / "b"
    blob.write_bytes(b"ABCD")
    with pytest.raises(ElfError, match=r"^FAILED to get .BTF_ids section data from"):
        patch_btfids(str(blob), str(path), Log(0, io.StringIO()))


def test_unreachable_extent_fails_update_with_the_blob_in_place(tmp_path: Path) -> None:
    """An ELF extent past the largest file (a program header table far away): the
    update's first step fails; the blob, already copied, stays; no fill, no cut."""
    import struct

    path, data, off, _ = _obj(tmp_path)
    raw = bytearray(data)
    struct.pack_into("<Q", raw, 32, 1 << 62)     # e_phoff
    struct.pack_into("<HH", raw, 54, 56, 1)      # e_phentsize, e_phnum
    path.write_bytes(raw)
    blob = tmp_path / "m.ko.BTF_ids"
    blob.write_bytes(bytes(range(1, 9)))
    with pytest.raises(ElfError, match=f"^FAILED to update ELF file {path}$"):
        patch_btfids(str(blob), str(path), Log(0, io.StringIO()))
    out = path.read_bytes()
    assert out[off : off + 8] == bytes(range(1, 9))
    assert out[:off] + out[off + 8 :] == raw[:off] + raw[off + 8 :]
