"""The Linux 6.12 ``resolve_btfids``: ``.BTF_ids`` patched in place inside the ELF, with
the byte effects of libelf's ``elf_update`` (spec legacy-6.12.md).

Effects reproduced: the compressed-section alignment fix (§6), host-order stores and the
cross-endian write-back conversion (§7), words stored before a failure staying in the
file (§5), zeroed inter-section gaps and truncation to the ELF extent (§5).
"""

from __future__ import annotations

import os
import struct
import time
from array import array

from . import loader
from .elf import (
    SHF_ALLOC,
    SHF_COMPRESSED,
    SHT_NOBITS,
    SHT_SYMTAB,
    ElfError,
    ElfImage,
    Section,
    open_elf,
)
from .errors import BtfidsError
from .interrupts import held
from .symbols import BtfIdsSection, IdNode, patch_words, sort_sets

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from .log import Log

_HOST = "<" if struct.pack("=I", 1) == struct.pack("<I", 1) else ">"

# Size of one entry of a section's data type (ELF32, ELF64), for the section types whose
# data libelf converts as records: elf_getdata fails on a size that is not a multiple,
# and elf_update writes that size back as sh_entsize (found by differential fuzzing).
_DATA_UNIT = {2: (16, 24), 11: (16, 24), 4: (12, 24), 9: (8, 16), 6: (8, 16), 5: (4, 4),
              0x6FFFFFFF: (2, 2)}   # SYMTAB DYNSYM RELA REL DYNAMIC HASH GNU_versym
# elf_getdata's record sizes: those, and arrays of addresses and words
_DATA_SIZE = {**_DATA_UNIT, 14: (4, 8), 15: (4, 8), 16: (4, 8), 17: (4, 4), 18: (4, 4)}


def run_in_place(
    elf_path: str, *, btf_path: str | None = None, base_path: str | None = None, log: Log,
    seconds: dict[str, float] | None = None,
) -> None:
    """Run the 6.12 tool on ``elf_path`` (changing it in place). Raises
    :class:`~btfids.errors.BtfidsError` (exit 255) with the upstream message.
    ``seconds`` receives the wall time of each step (for ``--report``)."""
    with open_elf(elf_path, writable=True, libelf=True) as elf:
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
        if sec.index in elf.bad_names:
            raise ElfError(f"FAILED get section({sec.index}) name")
        unit = 1 if sec.flags & SHF_COMPRESSED else _DATA_SIZE.get(sec.type, (1, 1))[
            elf.elfclass == 64]
        if sec.type != SHT_NOBITS and sec.size and (sec.offset + sec.size > elf.file_size
                                                    or sec.size % unit):
            raise ElfError(f"FAILED to get section({sec.index}) data from "
                           f"{sec.name.decode('latin-1')}")
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
            stores, error = _update_headers(elf)
            if not cross:   # made in the shared mapping, so kept even when it fails
                _store(elf, stores)
            if error is not None:
                raise error
            # elf_update's first write (libelf: ELF_E_WRITE_ERROR), before the others
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
        _store(elf, (stores if cross else []) + _ehdr_sizes(elf))
        for sec in fixes if cross else ():
            _write_addralign(elf, sec)
        elf.zero_gaps()
        elf.truncate_to_extent()
        elf.flush()
    lap("write")
    log.debug(f"update ok for {elf.path}")


def _update_headers(elf: ElfImage) -> tuple[list[tuple[int, bytes]], BtfidsError | None]:
    """What ``elf_update`` with ELF_F_LAYOUT does to the headers before it writes any
    section (libelf's ``updatenull``; found by differential fuzzing against the 6.12
    tool): ``e_ehsize`` gets libelf's size and, without program headers, ``e_phoff``
    becomes 0; then section by section a
    record type's ``sh_entsize`` is set to its record size (:data:`_DATA_UNIT`), and a
    section fails the update when it is compressed, allocated and has entries of more
    than a byte (``invalid section flags``), when its ``sh_addralign`` is not a power of two (or 0),
    or below a compressed section's header alignment (on x86 libelf asks no alignment
    of other data: ``invalid section alignment``), or when its ``sh_entsize`` does not
    divide its size (a compressed section's: the size in its header; ``invalid section
    entry size``). Returns (the stores up to the failure, in order; the failure or
    None). :func:`_ehdr_sizes` come with the write itself."""
    is64 = elf.elfclass == 64
    o = elf.order
    stores = [(52 if is64 else 40, struct.pack(o + "H", elf.ehsize))]
    if not elf.phnum:
        stores.append((32, struct.pack(o + "Q", 0)) if is64 else (28, struct.pack(o + "I", 0)))
    need = 8 if is64 else 4
    for sec in elf.sections[1:]:
        compressed = sec.flags & SHF_COMPRESSED
        if compressed and sec.flags & SHF_ALLOC and sec.entsize > 1:
            return stores, BtfidsError("FAILED elf_update(WRITE): invalid section flags")
        a = sec.addralign
        if a & (a - 1) or (compressed and a < need):
            return stores, BtfidsError("FAILED elf_update(WRITE): invalid section alignment")
        unit = 0 if compressed else _DATA_UNIT.get(sec.type, (0, 0))[is64]
        size = _chdr_size(elf, sec) if compressed and sec.entsize else sec.size
        if unit:
            if sec.entsize != unit:
                at = elf.shdr_offset(sec.index) + (56 if is64 else 36)
                stores.append((at, struct.pack(o + ("Q" if is64 else "I"), unit)))
        elif sec.entsize and size % sec.entsize:
            return stores, BtfidsError("FAILED elf_update(WRITE): invalid section entry size")
    return stores, None


def _chdr_size(elf: ElfImage, sec: Section) -> int:
    """``ch_size`` (the uncompressed size) of a compressed section's header; 0 when
    the section is too short to hold one."""
    is64 = elf.elfclass == 64
    n = 24 if is64 else 12
    if sec.type == SHT_NOBITS or sec.size < n:
        return 0
    head = os.pread(elf.stream.fileno(), n, sec.offset)
    if len(head) < n:
        return 0
    return struct.unpack_from(elf.order + ("Q" if is64 else "I"), head, 8 if is64 else 4)[0]


def _ehdr_sizes(elf: ElfImage) -> list[tuple[int, bytes]]:
    """The ELF header's ``e_shentsize`` as libelf writes it: its own structure size,
    whatever the file said (a successful update only)."""
    is64 = elf.elfclass == 64
    return [(58 if is64 else 46, struct.pack(elf.order + "H", elf.shentsize))]


def _store(elf: ElfImage, stores: list[tuple[int, bytes]]) -> None:
    for offset, data in stores:
        elf.write_at(offset, data)


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
