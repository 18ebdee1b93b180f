"""ELF access: section headers (own ``struct`` reader), section bytes on demand, a fast symbol scan,
and the file writes the tool needs (atomic side files, in-place section updates).

Only headers are parsed up front; a section's bytes are read when asked for, so a 340 MB
vmlinux costs a few reads. Knows nothing else of the project.
"""

from __future__ import annotations

import os
import struct

from ._dc import dataclass
from .errors import BtfidsError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import BinaryIO

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_NOBITS = 8
SHF_ALLOC = 0x2
SHF_COMPRESSED = 0x800
SHN_XINDEX = 0xFFFF
ET_REL = 1


class ElfError(BtfidsError):
    """An ELF problem, carrying the complete upstream-style message line (exit 255)."""


@dataclass
class Section:
    index: int
    name: bytes
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int
    addralign: int


@dataclass(frozen=True)
class Symbol:
    name: bytes
    value: int
    size: int
    shndx: int


class ElfImage:
    """An ELF file opened for reading: header facts, sections, section bytes."""

    def __init__(self, path: str, stream: BinaryIO, libelf: bool = False) -> None:
        self.path = path
        self._f = stream
        self._libelf = libelf
        self.file_size = os.fstat(stream.fileno()).st_size
        try:
            self._parse_headers()
        except (struct.error, ValueError, OSError) as exc:
            raise ElfError("FAILED cannot get shdr str ndx") from exc

    def _parse_headers(self) -> None:
        """ELF header and section headers with ``struct`` (what pyelftools' ELFFile
        accepted: magic, class 1/2, data 1/2, whole headers inside the file)."""
        f = self._f
        f.seek(0)
        ident = f.read(64)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise ValueError("bad ELF magic")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise ValueError("bad ELF class or data encoding")
        self.order = order = "<" if ident[5] == 1 else ">"
        self.elfclass = 64 if ident[4] == 2 else 32
        if self.elfclass == 64:
            (self.e_type, _, _, _, self.phoff, shoff, _, self.ehsize, self.phentsize,
             self.phnum, self.shentsize, shnum, shstrndx) = struct.unpack_from(
                order + "HHIQQQIHHHHHH", ident, 16)
            shfmt = order + "IIQQQQIIQQ"
        else:
            (self.e_type, _, _, _, self.phoff, shoff, _, self.ehsize, self.phentsize,
             self.phnum, self.shentsize, shnum, shstrndx) = struct.unpack_from(
                order + "HHIIIIIHHHHHH", ident, 16)
            shfmt = order + "IIIIIIIIII"
        self.shoff = shoff
        shsize = struct.calcsize(shfmt)
        if self._libelf:
            # libelf (elf_begin of the 6.12 tool) reads the table with the structure's
            # own stride whatever e_shentsize says, and sees no section at all when the
            # table does not fit in the file (found by differential fuzzing)
            self.e_shentsize, self.shentsize = self.shentsize, shsize
            self.e_ehsize, self.ehsize = self.ehsize, 64 if self.elfclass == 64 else 52

        def header(i: int) -> tuple[int, ...]:
            pos = shoff + i * self.shentsize
            if pos > self.file_size:
                raise ValueError(f"section header {i} past EOF")
            f.seek(pos)
            raw = f.read(shsize)
            return struct.unpack(shfmt, raw)  # struct.error when short

        if shoff == 0 and not self._libelf:   # libelf reads a table at 0 as any other
            num = 0
        elif shnum == 0:
            # libelf: no section 0 to hold the count means no sections
            num = 0 if self._libelf and shoff + shsize > self.file_size else header(0)[5]
            if self._libelf and num and shoff + num * shsize > self.file_size:
                raise ElfError("FAILED cannot create ELF descriptor: invalid ELF file data")
        else:
            num = shnum
        self.shstrndx = header(0)[6] if shstrndx == SHN_XINDEX else shstrndx
        heads: list[tuple[int, ...]] = []
        if num and self._libelf and shoff + num * shsize > self.file_size:
            num = 0
        if self._libelf and not num and shstrndx == SHN_XINDEX:
            raise ValueError("no section 0 to hold the string table index")
        if num:
            # the whole table in one read: header(i) for each i, failing the same way
            stride = self.shentsize
            if shoff + (num - 1) * stride > self.file_size:
                raise ValueError("section header past EOF")
            f.seek(shoff)
            table = f.read((num - 1) * stride + shsize)
            unpack = struct.Struct(shfmt).unpack_from   # struct.error when short
            heads = [unpack(table, i * stride) for i in range(num)]
        names = b""
        #: sections whose name libelf's elf_strptr cannot read (``libelf`` only)
        self.bad_names: set[int] = set()
        if num and self._libelf and (self.shstrndx >= num or heads[self.shstrndx][1] != 3
                                     or heads[self.shstrndx][2] & SHF_COMPRESSED):
            self.bad_names.update(range(1, num))   # no string table to read them from
        elif num:
            # read like pyelftools did: even an index past the table is a header read
            nh = heads[self.shstrndx] if self.shstrndx < num else header(self.shstrndx)
            if nh[1] != SHT_NOBITS:
                names = self._read_at(nh[4], nh[5])
            if self._libelf:
                self.bad_names.update(i for i in range(1, num) if heads[i][0] >= len(names)
                                      or names.find(b"\0", heads[i][0]) < 0)
        out: list[Section] = []
        for i, (name_off, typ, flags, addr, off, size, link, _, align, entsize) in enumerate(
                heads):
            end = names.find(b"\0", name_off)
            out.append(Section(   # positional, in field order (the fast path of _dc)
                i, names[name_off:end] if 0 <= name_off < len(names) and end >= 0 else b"",
                typ, flags, addr, off, size, link, entsize, align,
            ))
        self.sections = out

    def _read_at(self, offset: int, size: int) -> bytes:
        if offset + size > self.file_size:   # also spares reading (or allocating) it
            raise self._truncated()
        # a positional read: the file offset (shared with a forked child, see
        # btf/background.py) and the buffered reader's state stay as they are
        data = os.pread(self._f.fileno(), size, offset)
        if len(data) != size:
            raise self._truncated()
        return data

    def _truncated(self) -> ElfError:
        return ElfError(f"FAILED: {self.path}: truncated ELF (section data past end of file)")

    # -------------------------------------------------------------- queries
    @property
    def stream(self) -> BinaryIO:
        """The open file (for mapping a section's bytes without reading them)."""
        return self._f

    def data(self, sec: Section) -> bytes:
        """The bytes of ``sec`` (empty for SHT_NOBITS)."""
        if sec.type == SHT_NOBITS or sec.size == 0:
            return b""
        return self._read_at(sec.offset, sec.size)

    def last_section(self, name: bytes) -> Section | None:
        found = None
        for sec in self.sections[1:]:
            if sec.name == name:
                found = sec
        return found

    def first_section(self, name: bytes) -> Section | None:
        for sec in self.sections[1:]:
            if sec.name == name:
                return sec
        return None

    def symtab(self) -> Section | None:
        """The last SHT_SYMTAB section (upstream: last one wins)."""
        found = None
        for sec in self.sections[1:]:
            if sec.type == SHT_SYMTAB:
                found = sec
        return found

    def symbols_with_prefix(self, symtab: Section, prefix: bytes, shndx: int) -> list[Symbol]:
        """Symbols in table order whose name starts with ``prefix`` and whose ``st_shndx``
        is ``shndx``. The ``st_shndx`` column is cut out of the table in C and searched
        with ``bytes.find``, so of vmlinux's ~190k symbols only the ~1.4k in the section
        are looked at one by one. A name is read as libelf's ``elf_strptr`` reads it:
        not at all (the symbol is skipped, as upstream skips a NULL name) when the linked
        section is not a string table, or when no NUL ends the name inside it."""
        data, fmt, entsize, count = self._symbol_layout(symtab)
        link = symtab.link
        strsec = self.sections[link] if link < len(self.sections) else None
        if strsec is not None and strsec.type != SHT_NOBITS and (
                strsec.offset + strsec.size > self.file_size):
            raise self._truncated()   # read only if a symbol is in the section
        is64 = self.elfclass == 64
        strtab: bytes | None = None
        out: list[Symbol] = []
        for i in _maybe_in_section(data, count, entsize, 6 if is64 else 14, shndx,
                                   self.order):
            f = struct.unpack_from(fmt, data, i * entsize)
            if is64:
                noff, _, _, st_shndx, value, size = f
            else:
                noff, value, size, _, _, st_shndx = f
            if st_shndx != shndx:
                continue
            if strtab is None:
                strtab = (self.data(strsec)
                          if strsec is not None and strsec.type == SHT_STRTAB else b"")
            if strtab.startswith(prefix, noff):
                end = strtab.find(b"\0", noff)
                if end >= 0:
                    out.append(Symbol(strtab[noff:end], value, size, shndx))
        return out

    def named_symbols(self, symtab: Section) -> Iterator[tuple[bytes, int]]:
        """``(name, st_shndx)`` of every symbol, in table order, read as
        :meth:`symbols_with_prefix` reads them (a symbol whose name cannot be read is
        skipped)."""
        data, fmt, entsize, count = self._symbol_layout(symtab)
        link = symtab.link
        strsec = self.sections[link] if link < len(self.sections) else None
        if strsec is None or strsec.type != SHT_STRTAB:
            return
        strtab = self.data(strsec)
        shndx_at = 3 if self.elfclass == 64 else 5
        for i in range(count):
            f = struct.unpack_from(fmt, data, i * entsize)
            end = strtab.find(b"\0", f[0])
            if f[0] and end >= 0:
                yield strtab[f[0]:end], f[shndx_at]

    def _symbol_layout(self, symtab: Section) -> tuple[bytes, str, int, int]:
        """``(data, struct format, entry size, count)`` of a symbol table as libelf's
        ``gelf_getsym`` reads it: entries of the structure's own size, whatever
        ``sh_entsize`` says; ``sh_entsize`` only sets the count (symbol_overrun)."""
        if symtab.entsize == 0:
            raise ElfError(f"FAILED: {self.path}: symbol table has sh_entsize 0")
        data = self.data(symtab)
        is64 = self.elfclass == 64
        entsize = 24 if is64 else 16
        count = min(symtab.size // symtab.entsize, len(data) // entsize)
        return data, self.order + ("IBBHQQ" if is64 else "IIIBBH"), entsize, count

    def symbol_overrun(self, symtab: Section) -> ElfError | None:
        """The error of a symbol table whose ``sh_size / sh_entsize`` counts more
        entries than it holds: upstream reads them all, and its ``gelf_getsym`` fails
        past the last real one (exit 255, no message: Decision D12). None if it fits."""
        size = 24 if self.elfclass == 64 else 16
        if symtab.entsize and symtab.size // symtab.entsize > symtab.size // size:
            return ElfError(f"FAILED: {self.path}: symbol table sh_entsize {symtab.entsize}"
                            f" counts {symtab.size // symtab.entsize} symbols, it holds"
                            f" {symtab.size // size}")
        return None

    def extent(self) -> int:
        """End of the ELF proper: headers, section header table, non-NOBITS sections.
        (``libelf``: the 6.12 tool never loads the program headers, so libelf leaves
        them out: a wild ``e_phoff`` never grows the file.)"""
        end = max(self.ehsize, self.phoff + self.phnum * self.phentsize
                  if self.phnum and not self._libelf else 0)
        end = max(end, self.shoff + self.shentsize * len(self.sections))
        for sec in self.sections[1:]:
            if sec.type != SHT_NOBITS:
                end = max(end, sec.offset + sec.size)
        return end

    def headers_end(self) -> int:
        """End of the ELF header and program header table (start of the first gap)."""
        return max(self.ehsize, self.phoff + self.phnum * self.phentsize if self.phnum else 0)

    def shdr_offset(self, index: int) -> int:
        return self.shoff + index * self.shentsize

    # -------------------------------------------------- in-place writes (libelf effects)
    def write_at(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` (the file must have been opened writable).
        Written through at once: :meth:`data` reads the file, not the buffer."""
        self._f.seek(offset)
        self._f.write(data)
        self._f.flush()

    def gaps(self) -> list[tuple[int, int, int]]:
        """Inter-section gaps as libelf's mmap writer fills them: ``(start, end, index)``
        for each non-NOBITS section whose ``sh_offset`` lies past the end of the previous
        non-NOBITS section in offset order (the first starts after the ELF and program
        headers); the section header table is cut out of every gap."""
        out: list[tuple[int, int, int]] = []
        last = self.headers_end()
        sht = (self.shoff, self.shoff + self.shentsize * len(self.sections))
        order = sorted((s for s in self.sections[1:] if s.type != SHT_NOBITS),
                       key=lambda s: (s.offset, s.index))
        for sec in order:
            if last < sec.offset:
                for a, b in _minus(last, sec.offset, *sht):
                    out.append((a, b, sec.index))
            last = sec.offset + sec.size
        return out

    def zero_gaps(self, before: set[int] | None = None) -> None:
        """Set the gap bytes to 0x00 (all gaps, or only those before the sections whose
        index is in ``before``). Only gaps holding non-zero bytes are written."""
        gaps = [(a, b) for a, b, idx in self.gaps() if before is None or idx in before]
        if not gaps:
            return
        # one read buffer and one block of zeros for every chunk: vmlinux has 13 MB of
        # gaps, and fresh buffers per chunk cost ~3 ms of page faults
        size = min(max(b - a for a, b in gaps), 1 << 22)
        zeros = bytes(size)
        buf = memoryview(bytearray(size))
        fd = self._f.fileno()
        for a, b in gaps:
            pos = a
            while pos < b:
                n = min(b - pos, size)
                chunk = buf[:n]
                # a memcmp (counting the zeros took 4x longer); a short read differs
                if os.preadv(fd, [chunk], pos) != n or not zeros.startswith(chunk):
                    self.write_at(pos, zeros[:n])
                pos += n

    def grow_to_extent(self, failure: str) -> None:
        """Extend the file to :meth:`extent` if it is shorter: ``elf_update``'s first
        step, before it writes anything. An extent the file cannot reach (past the
        largest file size, say) fails as libelf does, raising :class:`ElfError` with
        the caller's upstream message ``failure``."""
        end = self.extent()
        if end > self.file_size:
            self._f.flush()
            try:
                os.ftruncate(self._f.fileno(), end)
            except (OSError, OverflowError) as exc:
                raise ElfError(failure) from exc
            self.file_size = end
            if self._libelf:
                # the 6.12 tool's libelf has the file grown, then cannot grow its
                # shared mapping in place (an empty section past the end, say)
                raise ElfError(failure)

    def truncate_to_extent(self) -> None:
        """Cut what lies past :meth:`extent` (a module signature), ``elf_update``'s last
        step; :meth:`grow_to_extent` did any extending at its start."""
        self._f.flush()
        end = self.extent()
        if end < self.file_size:
            os.ftruncate(self._f.fileno(), end)
            self.file_size = end

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ElfImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _maybe_in_section(data: bytes, count: int, entsize: int, at: int, shndx: int,
                      order: str) -> Iterable[int]:
    """Indexes (ascending) of the ``count`` symbols of ``data`` whose 2-byte
    ``st_shndx`` (at byte ``at`` of each ``entsize``-byte entry, byte order ``order``)
    may be ``shndx``: every such symbol, perhaps a few others (the caller checks)."""
    if not data:
        return ()
    if entsize % 2:
        return range(count)
    column = memoryview(data)[: count * entsize].cast("H")[at // 2 :: entsize // 2].tobytes()
    needle = struct.pack(order + "H", shndx)
    hits = []
    pos = column.find(needle)
    while pos >= 0:
        if not pos % 2:     # a match across two entries is not one
            hits.append(pos // 2)
        pos = column.find(needle, pos + 1)
    return hits


def _minus(a: int, b: int, c: int, d: int) -> list[tuple[int, int]]:
    """The range [a, b) without [c, d), as up to two non-empty ranges."""
    parts = [(a, min(b, c)), (max(a, d), b)]
    return [(x, y) for x, y in parts if x < y]


def open_elf(
    path: str, *, writable: bool = False, open_msg: str = "FAILED cannot open",
    libelf: bool = False,
) -> ElfImage:
    """Open ``path`` (read-only unless ``writable``: Decision D2) and parse its headers.
    An open failure is ``<open_msg> <path>: <strerror>``. ``libelf``: read the section
    header table as the 6.12 tool's libelf does (stride, a table past the end)."""
    try:
        f = open(path, "r+b" if writable else "rb")  # noqa: SIM115 - owned by the ElfImage
    except OSError as exc:
        raise ElfError(f"{open_msg} {path}: {exc.strerror}") from exc
    try:
        return ElfImage(path, f, libelf)
    except BaseException:
        f.close()
        raise


def write_file_atomic(path: str, data: bytes) -> None:
    """Write ``path`` through a temporary file in the same directory and a rename, so a
    reader (or a failed run) never sees a partial file. Mode follows the umask, as fopen."""
    directory = os.path.dirname(path) or "."
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".btfids-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
