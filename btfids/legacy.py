"""The Linux 6.12 ``resolve_btfids``: ``.BTF_ids`` patched in place inside the ELF, with
the byte effects of libelf's ``elf_update`` (spec legacy-6.12.md).

Effects reproduced: the compressed-section alignment fix (§6), host-order stores and the
cross-endian write-back conversion (§7), words stored before a failure staying in the
file (§5), zeroed inter-section gaps and truncation to the ELF extent (§5).
"""

from __future__ import annotations

import struct
import time
from array import array

from . import loader
from .elf import SHF_COMPRESSED, SHT_NOBITS, SHT_SYMTAB, ElfError, ElfImage, Section, open_elf
from .errors import BtfidsError
from .interrupts import held
from .symbols import (
    BtfIdsSection,
    BtfIdSymbols,
    IdNode,
    collect_from,
    name_query,
    patch_words,
    resolve_ids,
    sort_sets,
)

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from .log import Log

_HOST = "<" if struct.pack("=I", 1) == struct.pack("<I", 1) else ">"

# Alignment libelf gives each section's data (``__libelf_type_align`` of the ELF type the
# section type maps to). With ELF_F_LAYOUT ``elf_update`` refuses a section whose
# sh_addralign is not a power of two or is below it -- so 0 always fails, since the 6.12
# tool loads the data of every section. Types not listed hold bytes (alignment 1).
_ALIGN_4 = {5, 7, 17, 18, 0x6FFFFFF7, 0x6FFFFFFD, 0x6FFFFFFE}  # HASH NOTE GROUP SHNDX LIB VER*
_ALIGN_CLASS = {2, 4, 6, 9, 11, 14, 15, 16, 0x6FFFFFF6}  # SYM RELA DYN REL DYNSYM *ARRAY GNUHASH
_ALIGN_2 = {0x6FFFFFFF}  # GNU_versym


def run_in_place(
    elf_path: str, *, btf_path: str | None = None, base_path: str | None = None, log: Log,
    seconds: dict[str, float] | None = None,
) -> None:
    """Run the 6.12 tool on ``elf_path`` (changing it in place). Raises
    :class:`~btfids.errors.BtfidsError` (exit 255) with the upstream message.
    ``seconds`` receives the wall time of each step (for ``--report``)."""
    with open_elf(elf_path, writable=True) as elf:
        _run(elf, btf_path, base_path, log, {} if seconds is None else seconds)


def _run(elf: ElfImage, btf_path: str | None, base_path: str | None, log: Log,
         seconds: dict[str, float]) -> None:
    last = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds[step] = now - last
        last = now

    cross = elf.order != _HOST
    want_align = 8 if elf.elfclass == 64 else 4
    symtab: Section | None = None
    ids_sec: Section | None = None
    fixes: list[Section] = []
    for sec in elf.sections[1:]:
        if sec.type != SHT_NOBITS and sec.offset + sec.size > elf.file_size:
            raise ElfError(f"FAILED to get section({sec.index}) data from {elf.path}")
        log.debug2(
            f"section({sec.index}) {sec.name.decode('latin-1')}, size {sec.size}, link"
            f" {sec.link}, flags {sec.flags:x}, type={sec.type}"
        )
        if sec.type == SHT_SYMTAB:
            symtab = sec
        elif sec.name == b".BTF_ids":
            ids_sec = sec
        elif sec.name == b".BTF.base":
            base_path = None
        if sec.flags & SHF_COMPRESSED and sec.addralign != want_align:
            log.debug2(
                f" - fixing wrong alignment sh_addralign {sec.addralign}, expected {want_align}"
            )
            sec.addralign = want_align
            fixes.append(sec)
            if not cross:  # the shared mapping holds the header table itself
                _write_addralign(elf, sec)
    if ids_sec is None or symtab is None:
        log.debug("Cannot find .BTF_ids or symbols sections, nothing to do")
        return

    # No swap on load: the words are the raw file bytes read in host order.
    section = BtfIdsSection.decode(ids_sec.index, ids_sec.addr, elf.data(ids_sec), _HOST)
    # the symbols, the BTF (split on the base), the IDs resolved against it
    syms = loader.resolve_6_12(elf, section, symtab, btf_path, base_path, log, lap)

    # SIGINT/SIGTERM wait until the file is written through (btfids.interrupts)
    with held():
        words = list(section.words)

        def swap_flags(node: IdNode, base: int) -> None:
            words[base + 1] = _bswap(words[base + 1])
            for i in range(node.cnt):
                words[base + 3 + 2 * i] = _bswap(words[base + 3 + 2 * i])

        try:
            patch_words(syms, words, log, count_warnings=False)
            sort_sets(syms, words, log, swap_flags if cross else None)
            _check_update(elf)
            # elf_update's first step (libelf: ELF_E_WRITE_ERROR), before any other write
            elf.grow_to_extent("FAILED elf_update(WRITE): cannot write data to file")
        except BtfidsError:
            # ELF_C_RDWR_MMAP: every store already went to the shared mapping of the file.
            elf.write_at(ids_sec.offset, _host_bytes(words) + section.tail)
            elf.flush()
            raise
        data = _host_bytes(words) + section.tail
        if cross:
            r = ids_sec.size % 4
            data = data[:r] + _swapped(data[r:])
        elf.write_at(ids_sec.offset, data)
        for sec in fixes if cross else ():
            _write_addralign(elf, sec)
        elf.zero_gaps()
        elf.truncate_to_extent()
        elf.flush()
    lap("write")
    log.debug(f"update ok for {elf.path}")


def _check_update(elf: ElfImage) -> None:
    """``elf_update`` with ELF_F_LAYOUT: every section's ``sh_addralign`` must be a power
    of two and at least the alignment of its (loaded) data."""
    for sec in elf.sections[1:]:
        if sec.flags & SHF_COMPRESSED or sec.type in _ALIGN_CLASS:
            need = 8 if elf.elfclass == 64 else 4
        elif sec.type in _ALIGN_4:
            need = 4
        elif sec.type in _ALIGN_2:
            need = 2
        else:
            need = 1
        a = sec.addralign
        if a & (a - 1) or a < need:
            raise BtfidsError("FAILED elf_update(WRITE): invalid section alignment")


def _write_addralign(elf: ElfImage, sec: Section) -> None:
    if elf.elfclass == 64:
        elf.write_at(elf.shdr_offset(sec.index) + 48, struct.pack(elf.order + "Q", sec.addralign))
    else:
        elf.write_at(elf.shdr_offset(sec.index) + 32, struct.pack(elf.order + "I", sec.addralign))


def _bswap(w: int) -> int:
    return int.from_bytes(w.to_bytes(4, "little"), "big")


def _host_bytes(words: list[int]) -> bytes:
    return array("I", words).tobytes()


def _swapped(data: bytes) -> bytes:
    arr = array("I")
    arr.frombytes(data)
    arr.byteswap()
    return arr.tobytes()
