"""``resolve_btfids --patch_btfids BLOB ELF``: copy a blob over the ELF's ``.BTF_ids``
section in place, with the byte effects of libelf's ``elf_update`` (resolve.md §8): the gap
just before the section is zeroed and the file is cut to the ELF extent."""

from __future__ import annotations

import os

from .elf import SHT_NOBITS, ElfError, open_elf

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from .log import Log

SECTION = b".BTF_ids"


def patch_btfids(blob_path: str, elf_path: str, log: Log) -> None:
    """Patch ``elf_path`` with the bytes of ``blob_path``. Raises
    :class:`~btfids.elf.ElfError` (exit 255) with upstream's message."""
    with open_elf(elf_path, writable=True, open_msg="FAILED to open") as elf:
        sec = elf.first_section(SECTION)
        if sec is None:
            raise ElfError(f"FAILED: section {SECTION.decode()} not found in {elf_path}")
        if sec.type == SHT_NOBITS or sec.offset + sec.size > elf.file_size:
            raise ElfError(f"FAILED to get {SECTION.decode()} section data from {elf_path}")
        try:
            blob_size = os.stat(blob_path).st_size
        except OSError as exc:
            raise ElfError(f"FAILED to stat {blob_path}: {exc.strerror}") from exc
        if blob_size != sec.size:
            raise ElfError(
                f"FAILED: size mismatch - {SECTION.decode()} section in {elf_path} is"
                f" {sec.size} bytes, {blob_path} is {blob_size} bytes"
            )
        try:
            f = open(blob_path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ElfError(f"FAILED to open {blob_path}: {exc.strerror}") from exc
        with f:
            log.debug(
                f"Copying data from {blob_path} to {SECTION.decode()} section of {elf_path}"
                f" ({sec.size} bytes)"
            )
            try:
                data = f.read(sec.size)
            except OSError:
                data = b""
        if len(data) != sec.size:
            raise ElfError(f"FAILED to read {blob_path}")
        # Raw copy (the blob is already in target byte order), then elf_update's effects:
        # only .BTF_ids data was loaded, so only the gap before it is filled.
        elf.write_at(sec.offset, data)
        elf.grow_to_extent(f"FAILED to update ELF file {elf_path}")  # the blob stays
        elf.zero_gaps(before={sec.index})
        elf.truncate_to_extent()
        elf.flush()
