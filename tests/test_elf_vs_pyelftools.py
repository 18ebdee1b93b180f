"""The run path reads ELF headers with ``struct`` (importing pyelftools costs ~40 ms per
process, paid once per module in a kernel build). pyelftools stays the reference: for
hand-built files of every class and byte order and for the real kernel, both readers must
see the same sections and the same ``__BTF_ID__`` symbols."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from elfbuilder import BtfIdsBuilder, btfids_elf, simple_btf
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from btfids.elf import ElfImage, open_elf


def _sections_ref(f: io.BufferedIOBase) -> list[tuple[object, ...]]:
    elf = ELFFile(f)
    out = []
    for i in range(elf.num_sections()):
        h = elf._get_section_header(i)
        name = elf.get_section(i).name.encode() if i else b""
        out.append((name, h["sh_flags"], h["sh_addr"], h["sh_offset"], h["sh_size"],
                    h["sh_link"], h["sh_entsize"], h["sh_addralign"]))
    return out


def _sections(img: ElfImage) -> list[tuple[object, ...]]:
    return [(s.name if s.index else b"", s.flags, s.addr, s.offset, s.size, s.link,
             s.entsize, s.addralign) for s in img.sections]


def _btf_id_symbols_ref(path: Path) -> list[tuple[bytes, int, int]]:
    with path.open("rb") as f:
        elf = ELFFile(f)
        ids = elf.get_section_by_name(".BTF_ids")
        if ids is None:
            return []
        index = next(i for i in range(elf.num_sections()) if elf.get_section(i).name == ".BTF_ids")
        out = []
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection) and sec["sh_type"] == "SHT_SYMTAB":
                out = [(s.name.encode(), s["st_value"], s["st_size"]) for s in sec.iter_symbols()
                       if s.name.startswith("__BTF_ID__") and s["st_shndx"] == index]
        return out


def _btf_id_symbols(path: Path) -> list[tuple[bytes, int, int]]:
    with open_elf(str(path)) as img:
        ids = img.last_section(b".BTF_ids")
        symtab = img.symtab()
        if ids is None or symtab is None:
            return []
        return [(s.name, s.value, s.size)
                for s in img.symbols_with_prefix(symtab, b"__BTF_ID__", ids.index)]


def _compare(path: Path, *, symbols: bool = True) -> None:
    with path.open("rb") as f:
        ref = _sections_ref(f)
    with open_elf(str(path)) as img:
        assert _sections(img) == ref
        with path.open("rb") as f:
            elf = ELFFile(f)
            assert img.order == ("<" if elf.little_endian else ">")
            assert img.elfclass == elf.elfclass
    if symbols:
        assert _btf_id_symbols(path) == _btf_id_symbols_ref(path)


@pytest.mark.parametrize("elfclass", [32, 64])
@pytest.mark.parametrize("order", ["<", ">"])
def test_hand_built(tmp_path: Path, elfclass: int, order: str) -> None:
    ids = BtfIdsBuilder(order)
    ids.btf_id("struct", "foo")
    ids.btf_id("func", "bar", flags=7)
    data, _ = btfids_elf(ids, simple_btf([("struct", "foo"), ("func", "bar")], order),
                         elfclass=elfclass, order=order, addr=0x1000, phnum=1)
    path = tmp_path / "t.o"
    path.write_bytes(data)
    _compare(path)
    assert len(_btf_id_symbols(path)) == 2


@pytest.mark.corpus
def test_vmlinux_sections(corpus: Path) -> None:
    _compare(corpus / "vmlinux", symbols=False)  # 190k symbols: pyelftools takes too long


@pytest.mark.corpus
def test_module_sample(corpus: Path) -> None:
    mods = sorted((corpus / "modules").rglob("*.ko"))
    sample = [m for m in mods if "netfilter" in str(m) or "ipv4" in str(m)][:40] + mods[::60]
    for mod in sample:
        _compare(mod)


@pytest.mark.sweep
def test_every_module(corpus: Path) -> None:
    for mod in sorted((corpus / "modules").rglob("*.ko")):
        _compare(mod)
