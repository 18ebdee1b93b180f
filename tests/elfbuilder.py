"""A small ELF writer for tests, and a ``.BTF_ids`` emitter that mimics the kernel macros.

Typical use::

    ids = BtfIdsBuilder()
    ids.btf_id("struct", "foo")                  # BTF_ID(struct, foo)
    with ids.set8("my_kfuncs", flags=1):         # BTF_KFUNCS_START/END(my_kfuncs)
        ids.btf_id("func", "bpf_a", flags=0x4)   # BTF_ID_FLAGS(func, bpf_a, 0x4)
    elf = ElfBuilder(elfclass=64, order="<")
    elf.add_section(".text", b"\\x90" * 16, flags=SHF_ALLOC | SHF_EXECINSTR)
    ids.add_to(elf, addr=0x1000)                 # .BTF_ids section + its symbols
    elf.add_section(".BTF", btf_bytes)
    data = elf.build(trailing=b"signature")

Layout written by :meth:`ElfBuilder.build`: ELF header, program headers (``phnum`` dummy
PT_NULL entries), the added sections in order (each aligned to its ``align``; the gap bytes
are ``gap_fill``), then ``.symtab``, ``.strtab``, ``.shstrtab``, then the section header
table (aligned to 8) and finally ``trailing``. Section indices: 0 is the null section, the
added sections follow from 1 in the order added. :meth:`ElfBuilder.layout` reports every
section's offset after a build.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 0, 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 0x1, 0x2, 0x4, 0x800
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
SHN_UNDEF, SHN_ABS, SHN_XINDEX = 0, 0xFFF1, 0xFFFF


@dataclass
class _Sec:
    name: bytes
    data: bytes
    type: int
    flags: int
    addr: int
    align: int
    link: int
    info: int
    entsize: int
    size: int | None  # explicit sh_size (SHT_NOBITS)
    offset: int = 0


@dataclass
class _Sym:
    name: bytes
    value: int
    size: int
    shndx: int
    info: int
    other: int = 0


@dataclass
class ElfBuilder:
    """Writes a complete ELF file (either class, either byte order) as bytes."""

    elfclass: int = 64
    order: str = "<"
    e_type: int = ET_REL
    machine: int = 62
    phnum: int = 0
    #: force ``sh_entsize`` of .symtab (0 exercises Decision D6)
    symtab_entsize: int | None = None
    #: emit .symtab even with no symbols added (None = only when symbols exist)
    with_symtab: bool | None = None
    #: point a symbol's name into the tail of an earlier string when it is one (as
    #: linkers merge string tables)
    tail_merge: bool = False
    _secs: list[_Sec] = field(default_factory=list)
    _syms: list[_Sym] = field(default_factory=list)

    # ----------------------------------------------------------------- building
    def add_section(
        self,
        name: str | bytes,
        data: bytes = b"",
        *,
        type: int = SHT_PROGBITS,
        flags: int = SHF_ALLOC,
        addr: int = 0,
        align: int = 4,
        link: int = 0,
        info: int = 0,
        entsize: int = 0,
        size: int | None = None,
    ) -> int:
        """Append a section; returns its index (1 for the first one added)."""
        nm = name.encode() if isinstance(name, str) else name
        self._secs.append(_Sec(nm, bytes(data), type, flags, addr, max(align, 1), link, info,
                               entsize, size))
        return len(self._secs)

    def index_of(self, name: str | bytes) -> int:
        """Index of the last added section called ``name``."""
        nm = name.encode() if isinstance(name, str) else name
        found = [i + 1 for i, s in enumerate(self._secs) if s.name == nm]
        if not found:
            raise KeyError(name)
        return found[-1]

    def add_symbol(
        self,
        name: str | bytes,
        value: int,
        size: int = 0,
        shndx: int = SHN_ABS,
        *,
        bind: int = STB_LOCAL,
        type: int = STT_OBJECT,
    ) -> None:
        """Append a symbol (after the implicit null symbol), in table order."""
        nm = name.encode() if isinstance(name, str) else name
        self._syms.append(_Sym(nm, value, size, shndx, (bind << 4) | type))

    # ----------------------------------------------------------------- output
    def build(self, *, trailing: bytes = b"", gap_fill: int = 0) -> bytes:
        """The file bytes. ``gap_fill`` is written into every inter-section gap."""
        o = self.order
        is64 = self.elfclass == 64
        ehsize = 64 if is64 else 52
        phentsize = 56 if is64 else 32
        shentsize = 64 if is64 else 40
        symentsize = 24 if is64 else 16

        secs = list(self._secs)
        want_symtab = self.with_symtab if self.with_symtab is not None else bool(self._syms)
        strtab_idx = 0
        if want_symtab:
            strtab = bytearray(b"\0")
            symdata = bytearray(symentsize)  # null symbol
            for s in self._syms:
                noff = strtab.find(s.name + b"\0") if self.tail_merge and s.name else -1
                if noff < 0:
                    noff = len(strtab)
                    strtab += s.name + b"\0"
                if is64:
                    symdata += struct.pack(o + "IBBHQQ", noff, s.info, s.other, s.shndx,
                                           s.value, s.size)
                else:
                    symdata += struct.pack(o + "IIIBBH", noff, s.value, s.size, s.info,
                                           s.other, s.shndx)
            strtab_idx = len(secs) + 2
            entsize = symentsize if self.symtab_entsize is None else self.symtab_entsize
            secs.append(_Sec(b".symtab", bytes(symdata), SHT_SYMTAB, 0, 0, 8, strtab_idx,
                             1, entsize, None))
            secs.append(_Sec(b".strtab", bytes(strtab), SHT_STRTAB, 0, 0, 1, 0, 0, 0, None))
        shstr = bytearray(b"\0")
        name_offs = []
        for s in secs:
            name_offs.append(len(shstr))
            shstr += s.name + b"\0"
        shstr_name = len(shstr)
        shstr += b".shstrtab\0"
        secs.append(_Sec(b".shstrtab", bytes(shstr), SHT_STRTAB, 0, 0, 1, 0, 0, 0, None))
        name_offs.append(shstr_name)
        shstrndx = len(secs)

        phoff = ehsize if self.phnum else 0
        out = bytearray(ehsize + self.phnum * phentsize)
        fill = bytes([gap_fill])
        for s in secs:
            if s.type == SHT_NOBITS:
                s.offset = _align(len(out), s.align)
                continue
            start = _align(len(out), s.align)
            out += fill * (start - len(out))
            s.offset = start
            out += s.data
        self._data_end = len(out)
        shoff = _align(len(out), 8)
        out += fill * (shoff - len(out))
        out += bytes(shentsize)  # null section header
        for s, noff in zip(secs, name_offs, strict=True):
            size = s.size if s.size is not None else len(s.data)
            if is64:
                out += struct.pack(o + "IIQQQQIIQQ", noff, s.type, s.flags, s.addr, s.offset,
                                   size, s.link, s.info, s.align, s.entsize)
            else:
                out += struct.pack(o + "IIIIIIIIII", noff, s.type, s.flags, s.addr, s.offset,
                                   size, s.link, s.info, s.align, s.entsize)
        ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if o == "<" else 2, 1, 0]) + bytes(8)
        if is64:
            hdr = ident + struct.pack(o + "HHIQQQIHHHHHH", self.e_type, self.machine, 1, 0,
                                      phoff, shoff, 0, ehsize, phentsize, self.phnum,
                                      shentsize, len(secs) + 1, shstrndx)
        else:
            hdr = ident + struct.pack(o + "HHIIIIIHHHHHH", self.e_type, self.machine, 1, 0,
                                      phoff, shoff, 0, ehsize, phentsize, self.phnum,
                                      shentsize, len(secs) + 1, shstrndx)
        out[:ehsize] = hdr
        self._layout = {s.name: (i + 1, s.offset) for i, s in enumerate(secs)}
        self._shoff = shoff
        self._extent = len(out)
        return bytes(out) + trailing

    def layout(self) -> dict[bytes, tuple[int, int]]:
        """After :meth:`build`: section name → (index, file offset) (last one wins)."""
        return dict(self._layout)

    @property
    def shoff(self) -> int:
        return self._shoff

    @property
    def data_end(self) -> int:
        """After :meth:`build`: end of the last section's bytes (the padding up to the
        section header table starts here)."""
        return self._data_end

    @property
    def extent(self) -> int:
        """After :meth:`build`: the ELF extent (file size without ``trailing``)."""
        return self._extent


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class BtfIdsBuilder:
    """Emits ``.BTF_ids`` bytes and symbols exactly as ``include/linux/btf_ids.h`` does.

    Offsets are section-relative; :meth:`add_to` places the section at ``addr`` and
    turns every symbol into an ELF symbol with ``st_value = addr + offset``. Unique
    suffixes (``__COUNTER__`` ``__LINE__``) come from a running counter.
    """

    def __init__(self, order: str = "<") -> None:
        self.order = order
        self.data = bytearray()
        #: (name, section offset, size) in emission order
        self.symbols: list[tuple[bytes, int, int]] = []
        self._uniq = 100
        self._open: list[tuple[str, str, int]] = []

    def _word(self, value: int) -> int:
        off = len(self.data)
        self.data += struct.pack(self.order + "I", value & 0xFFFFFFFF)
        return off

    def symbol(self, name: str | bytes, offset: int, size: int = 4) -> None:
        """Add an arbitrary symbol (e.g. a malformed ``__BTF_ID__`` name)."""
        nm = name.encode() if isinstance(name, str) else name
        self.symbols.append((nm, offset, size))

    def btf_id(self, kind: str, name: str, flags: int | None = None) -> int:
        """``BTF_ID(kind, name)``, or ``BTF_ID_FLAGS(kind, name, flags)`` when ``flags``
        is given (then a flags word follows). Returns the entry's offset."""
        self._uniq += 1
        off = self._word(0)
        self.symbol(f"__BTF_ID__{kind}__{name}__{self._uniq}", off, 4)
        if flags is not None:
            self._word(flags)
        return off

    def unused(self) -> int:
        """``BTF_ID_UNUSED``: a zero word with no symbol."""
        return self._word(0)

    def raw(self, *words: int) -> int:
        """Plain words with no symbol (e.g. pre-existing data)."""
        off = len(self.data)
        for w in words:
            self._word(w)
        return off

    def list(self, name: str) -> int:
        """``BTF_ID_LIST(name)``: only a label symbol (ignored by the tool)."""
        self.symbol(name, len(self.data), 0)
        return len(self.data)

    @contextlib.contextmanager
    def set(self, name: str) -> Iterator[int]:
        """``BTF_SET_START(name)`` … ``BTF_SET_END(name)``."""
        start = self._word(0)
        yield start
        self._close_set("set", name, start)

    @contextlib.contextmanager
    def set8(self, name: str, flags: int = 0) -> Iterator[int]:
        """``BTF_SET8_START(name)`` … ``BTF_SET8_END``; ``flags=1`` is ``BTF_KFUNCS``."""
        start = self._word(0)
        self._word(flags)
        yield start
        self._close_set("set8", name, start)

    def kfuncs(self, name: str) -> contextlib.AbstractContextManager[int]:
        """``BTF_KFUNCS_START(name)`` … ``BTF_KFUNCS_END(name)``."""
        return self.set8(name, flags=1)

    def _close_set(self, kind: str, name: str, start: int) -> None:
        size = len(self.data) - start
        self.symbol(name, start, size)
        self.symbol(f"__BTF_ID__{kind}__{name}", start, size)

    def add_to(
        self,
        elf: ElfBuilder,
        addr: int = 0,
        *,
        extra: bytes = b"",
        type: int = SHT_PROGBITS,
    ) -> int:
        """Add the ``.BTF_ids`` section (data + ``extra`` bytes) at ``addr`` and its
        symbols; returns the section index."""
        idx = elf.add_section(".BTF_ids", bytes(self.data) + extra, type=type, addr=addr,
                              align=4, flags=SHF_ALLOC)
        for name, off, size in self.symbols:
            elf.add_symbol(name, addr + off, size, idx)
        return idx


def simple_btf(entries: list[tuple[str, str]], order: str = "<", hdr_len: int = 24) -> bytes:
    """Raw BTF bytes holding ``int`` (ID 1), then one type per ``(kind, name)`` entry in
    order (IDs 2, 3, ...). Kinds: ``struct``/``union`` (size 4, no members), ``typedef``
    (of int), ``func`` (global, on one shared ``int (void)`` proto placed right after
    ``int``, so the first entry is ID 3 when any func exists), ``int``."""
    from btfids.btf import Btf
    from btfids.btf import kinds as K

    btf = Btf(order=order, hdr_len=hdr_len)
    int_id = btf.add_type_words([btf.add_str(b"int"), K.make_info(K.INT), 4, (1 << 24) | 32])
    proto = 0
    if any(k == "func" for k, _ in entries):
        proto = btf.add_type_words([0, K.make_info(K.FUNC_PROTO), int_id])
    for kind, name in entries:
        off = btf.add_str(name.encode())
        if kind in ("struct", "union"):
            kk = K.STRUCT if kind == "struct" else K.UNION
            btf.add_type_words([off, K.make_info(kk), 4])
        elif kind == "typedef":
            btf.add_type_words([off, K.make_info(K.TYPEDEF), int_id])
        elif kind == "func":
            btf.add_type_words([off, K.make_info(K.FUNC, 1), proto])
        elif kind == "int":
            btf.add_type_words([off, K.make_info(K.INT), 4, (1 << 24) | 32])
        else:
            raise ValueError(kind)
    return btf.raw_data()


def btfids_elf(
    ids: BtfIdsBuilder | None,
    btf: bytes | None,
    *,
    elfclass: int = 64,
    order: str = "<",
    e_type: int = ET_REL,
    addr: int = 0,
    phnum: int = 0,
    trailing: bytes = b"",
    gap_fill: int = 0,
    ids_extra: bytes = b"",
    with_symtab: bool | None = None,
    more: list[tuple[str, bytes, dict[str, int]]] | None = None,
) -> tuple[bytes, ElfBuilder]:
    """A typical object: ``.text`` (5 bytes), ``.BTF_ids`` (from ``ids``, at ``addr``),
    ``.data`` (1 byte), ``.BTF`` (``btf``), then ``more`` sections ``(name, data,
    add_section kwargs)``; gaps of 3 bytes sit before ``.BTF_ids`` and ``.BTF``.
    Returns (file bytes, builder) — the builder's :meth:`ElfBuilder.layout` gives offsets."""
    elf = ElfBuilder(elfclass=elfclass, order=order, e_type=e_type, phnum=phnum,
                     with_symtab=with_symtab)
    text = elf.add_section(".text", b"\x90" * 5, flags=SHF_ALLOC | SHF_EXECINSTR, align=1,
                           addr=max(addr - 0x100, 0))
    elf.add_symbol("some_func", max(addr - 0x100, 0), 5, text, type=STT_FUNC)
    if ids is not None:
        ids.add_to(elf, addr, extra=ids_extra)
    elf.add_section(".data", b"\x01", flags=SHF_ALLOC | SHF_WRITE, align=1)
    if btf is not None:
        elf.add_section(".BTF", btf, flags=0, align=4)
    for name, data, kw in more or []:
        elf.add_section(name, data, **kw)
    return elf.build(trailing=trailing, gap_fill=gap_fill), elf
