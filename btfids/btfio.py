"""Reading BTF from a file: raw BTF (detected by magic) or the ``.BTF`` section of an ELF,
with ``.BTF.base`` handling (spec btf-format.md §7)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from .btf import Btf, BtfError
from .elf import SHT_PROGBITS, ElfError, ElfImage, open_elf

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import BinaryIO, Protocol

    class Parse(Protocol):
        def __call__(self, data: bytes | memoryview, base: Btf | None = None, *,
                     records: bool = True) -> Btf: ...


class BtfLoadError(Exception):
    """The BTF of a file could not be loaded; ``str()`` is the detail."""


def _is_btf_magic(head: bytes) -> bool:
    return len(head) >= 2 and struct.unpack("<H", head[:2])[0] in (0xEB9F, 0x9FEB)


def load_btf(path: str, base: Btf | None = None, *, records: bool = True,
             parse: Parse = Btf.parse) -> Btf:
    """``btf__parse_split(path, base)``: raw BTF, or an ELF's ``.BTF`` (split on its own
    ``.BTF.base`` if it has one, relocated onto ``base`` when one is also given).
    ``records=False``: see :meth:`Btf.parse` (a relocated split BTF is decoded anyway).
    ``parse`` parses the BTF itself (not a ``.BTF.base``): ``Btf.parse`` or a
    :class:`~btfids.btf.background.BackgroundChecks`' parse."""
    return _load(path, base, False, records, parse)


def btf_size(path: str | None, elf: ElfImage | None = None) -> int:
    """Bytes of the BTF :func:`load_btf` reads from ``path``, or with no ``path``
    :func:`load_btf_from_elf` from ``elf`` (the file or section size; 0 if unknown)."""
    if path:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0
    sec = elf.last_section(b".BTF") if elf is not None else None
    return 0 if sec is None else sec.size


def load_base_btf(path: str, cache: bool = True) -> Btf:
    """:func:`load_btf` of a ``--btf_base``: with ``cache``, a standalone BTF goes
    through the base index cache (:mod:`btfids.btf.baseindex`) and comes back lazily
    decoded. Same object contents, same errors."""
    return _load(path, None, cache)


def _load(path: str, base: Btf | None, cache: bool, records: bool = True,
          parse: Parse = Btf.parse) -> Btf:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if len(head) < 2:
                raise BtfLoadError("Input/output error (file shorter than 2 bytes)")
            if _is_btf_magic(head):
                if cache and base is None:
                    return _parse_base(f, 0, os.fstat(f.fileno()).st_size,
                                       lambda: head + f.read())
                return parse(head + f.read(), base, records=records)
    except OSError as exc:
        raise BtfLoadError(exc.strerror or str(exc)) from exc
    except BtfError as exc:
        raise BtfLoadError(str(exc)) from exc
    try:
        with open_elf(path) as elf:
            return load_btf_from_elf(elf, base, cache=cache, records=records, parse=parse)
    except ElfError as exc:
        raise BtfLoadError(str(exc)) from exc


def load_btf_from_elf(elf: ElfImage, base: Btf | None = None, *, cache: bool = False,
                      records: bool = True, parse: Parse = Btf.parse,
                      section_types: bool = True) -> Btf:
    """The ELF half of :func:`load_btf`, on an already opened image.
    ``section_types=False``: the 6.12 tool's libbpf, which does not check them."""
    btf_sec = elf.last_section(b".BTF")
    dist_sec = elf.last_section(b".BTF.base")
    for sec in (btf_sec, dist_sec, elf.last_section(b".BTF.ext")):
        if section_types and sec is not None and sec.type != SHT_PROGBITS:
            raise BtfLoadError(
                f"unexpected section type ({sec.type}) of section '{sec.name.decode()}'"
            )
    if btf_sec is None:
        raise BtfLoadError("failed to find '.BTF' ELF section")
    try:
        if dist_sec is None and cache and base is None and btf_sec.size:
            return _parse_base(elf.stream, btf_sec.offset, btf_sec.size,
                               lambda: elf.data(btf_sec))
    except BtfError as exc:
        raise BtfLoadError(str(exc)) from exc
    except ElfError as exc:
        raise BtfLoadError(str(exc)) from exc
    try:
        btf_data = elf.data(btf_sec)
        dist_data = elf.data(dist_sec) if dist_sec is not None else None
    except ElfError as exc:
        raise BtfLoadError(str(exc)) from exc
    try:
        if dist_data is None:
            return parse(btf_data, base, records=records)
        distilled = Btf.parse(dist_data)
        split = Btf.parse(btf_data, distilled)
        if base is None:
            return split
        from .btf.relocate import relocate

        return relocate(split, base)
    except BtfError as exc:
        raise BtfLoadError(str(exc)) from exc


def _parse_base(f: BinaryIO, offset: int, size: int, read: Callable[[], bytes]) -> Btf:
    """A standalone base of ``size`` bytes at ``offset`` of ``f``, through the index
    cache: lazily decoded when the index of these bytes is cached (found by the file's
    stat stamp without reading it, else by the bytes' digest), else parsed in full and
    indexed (the index is stored). ``read()`` returns the bytes when they are needed."""
    from .btf import baseindex
    from .cache import cache_enabled

    if not cache_enabled():
        return Btf.parse(read())
    hit = baseindex.load_by_stamp(f, offset, size)
    if hit is not None and hit[0].describes(hit[1]):
        idx, view = hit
        return Btf.parse(view, index=idx)
    before = baseindex.stamp_of(f, offset, size)
    data = read()
    cached, digest = baseindex.load_cached(data)
    if cached is not None and cached.describes(data):
        btf = Btf.parse(data, index=cached)
    else:
        btf = Btf.parse(data)
        built = baseindex.BaseIndex.build(btf)
        if built is None:
            return btf
        baseindex.store(built, digest)
        built.attach(btf)
    baseindex.remember_stamp(f, offset, size, before, digest)
    return btf
