"""``.BTF_ids`` symbols: collection, the address index, ID resolution, patching, set sorting.

Spec: resolve.md §3–§7. Names are bytes. Every "for each node" walk is in descending
byte order, because upstream's tree comparator is inverted.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left
from collections.abc import Callable
from itertools import compress

from ._dc import dataclass, field
from .btf import kinds as K
from .elf import SHT_NOBITS, ElfError
from .errors import BtfidsError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from .btf import Btf
    from .btf.model import NameQuery
    from .elf import ElfImage, Section
    from .log import Log

PREFIX = b"__BTF_ID__"
ADDR_CNT = 100
KSYM_NAME_LEN = 512
_HOST = "<" if struct.pack("=I", 1) == struct.pack("<I", 1) else ">"

# Kind words in upstream's prefix-match order (set8 before set).
_KIND_WORDS = (b"struct", b"union", b"typedef", b"func", b"set8", b"set")
_TABLE_OF_BTF_KIND = {K.FUNC: "func", K.STRUCT: "struct", K.UNION: "union", K.TYPEDEF: "typedef"}


class SymbolError(BtfidsError):
    """A fatal symbol-collection or patching problem; ``str()`` is the whole line."""


def _s(name: bytes) -> str:
    return name.decode("latin-1")


@dataclass
class IdNode:
    """One name of one table, with the addresses of every symbol naming it."""

    name: bytes
    kind: str
    addrs: list[int] = field(default_factory=list)
    id: int = 0
    cnt: int = 0


@dataclass
class BtfIdsSection:
    """The ``.BTF_ids`` section: location and its UNPATCHED words as host integers."""

    index: int
    addr: int
    size: int
    order: str
    words: list[int]
    tail: bytes

    def word_at(self, addr: int) -> int:
        return self.words[(addr - self.addr) // 4]

    @classmethod
    def decode(cls, index: int, addr: int, data: bytes, order: str) -> BtfIdsSection:
        n = len(data) // 4
        words = array("I")
        words.frombytes(data[: n * 4])
        if order != _HOST:
            words.byteswap()
        return cls(index, addr, len(data), order, words.tolist(), data[n * 4 :])

    def encode(self, words: list[int]) -> bytes:
        arr = array("I", words)
        if self.order != _HOST:
            arr.byteswap()
        return arr.tobytes() + self.tail


class BtfIdSymbols:
    """The five name-keyed tables, per-kind symbol counters and the address index."""

    def __init__(self, section: BtfIdsSection) -> None:
        self.section = section
        self.structs: dict[bytes, IdNode] = {}
        self.unions: dict[bytes, IdNode] = {}
        self.typedefs: dict[bytes, IdNode] = {}
        self.funcs: dict[bytes, IdNode] = {}
        self.sets: dict[bytes, IdNode] = {}
        self.nr: dict[str, int] = {"struct": 0, "union": 0, "typedef": 0, "func": 0}
        self._index_addrs: list[int] = []
        self._index_names: list[bytes] = []

    def table(self, kind: str) -> dict[bytes, IdNode]:
        return {
            "struct": self.structs, "union": self.unions, "typedef": self.typedefs,
            "func": self.funcs, "set": self.sets, "set8": self.sets,
        }[kind]

    @staticmethod
    def descending(table: dict[bytes, IdNode]) -> list[IdNode]:
        """Nodes in upstream's walk order (descending ``strcmp``)."""
        return [table[k] for k in sorted(table, reverse=True)]

    def name_at(self, addr: int) -> bytes | None:
        """The address index: parsed name of the symbol at exactly ``addr``; the first in
        symbol-table order when several share it (Decision D8)."""
        i = bisect_left(self._index_addrs, addr)
        if i < len(self._index_addrs) and self._index_addrs[i] == addr:
            return self._index_names[i]
        return None

    def _build_index(self, entries: list[tuple[int, bytes]]) -> None:
        entries.sort(key=lambda e: e[0])  # stable: symbol-table order among equals
        self._index_addrs = [a for a, _ in entries]
        self._index_names = [n for _, n in entries]


def _parse_name(p: bytes, word: bytes, ksym_name_len: int | None) -> bytes:
    r = p[len(word) :]
    if len(r) <= 2 or (ksym_name_len is not None and len(r) - 2 >= ksym_name_len):
        raise SymbolError(f"FAILED to parse symbol name: {_s(p)}")
    s = r[2:]
    i = s.rfind(b"_")
    if i <= 0 or s[i - 1] != 0x5F:
        raise SymbolError(f"FAILED to parse symbol name: {_s(p)}")
    return s[: i - 1]


def collect_symbols(
    elf: ElfImage, log: Log, *, ksym_name_len: int | None = KSYM_NAME_LEN
) -> BtfIdSymbols | None:
    """Collect ``__BTF_ID__*`` symbols (resolve.md §4) and build the address index (§5).

    Returns None when the ELF has no ``.BTF_ids`` section or no symbol table.
    """
    scan_sections(elf, log)
    sec = elf.last_section(b".BTF_ids")
    symtab = elf.symtab()
    if sec is None or symtab is None:
        log.debug("Cannot find .BTF_ids or symbols sections, skip symbols resolution")
        return None
    if elf.order != _HOST:
        log.debug("bswap_32 .BTF_ids data from target to host endianness")
    section = BtfIdsSection.decode(sec.index, sec.addr, elf.data(sec), elf.order)
    return collect_from(elf, section, symtab, log, ksym_name_len=ksym_name_len)


def scan_sections(elf: ElfImage, log: Log) -> None:
    """The section walk of both tools: every section's data must be readable; debug2
    line per section."""
    for sec in elf.sections[1:]:
        if sec.type != SHT_NOBITS and sec.offset + sec.size > elf.file_size:
            raise ElfError(f"FAILED to get section({sec.index}) data from {_s(sec.name)}")
        if log.verbose >= 2:
            log.debug2(
                f"section({sec.index}) {_s(sec.name)}, size {sec.size}, link {sec.link},"
                f" flags {sec.flags:x}, type={sec.type}"
            )


def collect_from(
    elf: ElfImage,
    section: BtfIdsSection,
    symtab: Section,
    log: Log,
    *,
    ksym_name_len: int | None = KSYM_NAME_LEN,
) -> BtfIdSymbols:
    """Collect the symbols pointing into ``section`` (already decoded by the caller)."""
    syms = BtfIdSymbols(section)
    index: list[tuple[int, bytes]] = []
    for sym in elf.symbols_with_prefix(symtab, PREFIX, section.index):
        p = sym.name[len(PREFIX) :]
        for word in _KIND_WORDS:
            if p.startswith(word):
                break
        else:
            raise SymbolError(f"FAILED unsupported prefix {_s(p)}")
        kind = word.decode()
        if kind in ("set", "set8"):
            name = p[len(word) + 2 :]  # skips "set8__" / "set__" unchecked
            if not name:
                raise SymbolError(f"FAILED to parse set name: {_s(p)}")
            if name in syms.sets:
                raise SymbolError(f"FAILED: duplicate set name {_s(name)}")
            unit = 8 if kind == "set8" else 4
            if sym.size == 0 or sym.size % unit:
                raise SymbolError(f"FAILED: bad size {sym.size} for set {_s(name)}")
            node = IdNode(name, kind, cnt=sym.size // unit - 1)
            syms.sets[name] = node
            log.debug(f"adding symbol {_s(name)}")
        else:
            name = _parse_name(p, word, ksym_name_len)
            table = syms.table(kind)
            node = table.get(name)  # type: ignore[assignment]
            if node is None:
                node = table[name] = IdNode(name, kind)
                log.debug(f"adding symbol {_s(name)}")
            syms.nr[kind] += 1
        if len(node.addrs) >= ADDR_CNT:
            raise SymbolError(f"FAILED symbol {_s(name)} crossed the number of allowed lists")
        node.addrs.append(sym.value)
        index.append((sym.value, name))
    overrun = elf.symbol_overrun(symtab)   # after the real symbols, as upstream's loop
    if overrun is not None:
        raise overrun
    syms._build_index(index)
    return syms


def _active_tables(syms: BtfIdSymbols) -> dict[int, dict[bytes, IdNode]] | None:
    """The name tables :func:`resolve_ids` starts looking up, by BTF kind: those whose
    counter is above 0 (upstream skips a kind whose counter is 0); None when every
    table is empty (nothing is resolved)."""
    tables = {K.FUNC: syms.funcs, K.STRUCT: syms.structs, K.UNION: syms.unions,
              K.TYPEDEF: syms.typedefs}
    if not any(tables.values()):
        return None
    return {k: t for k, t in tables.items() if syms.nr[_TABLE_OF_BTF_KIND[k]] > 0}


def name_query(syms: BtfIdSymbols) -> NameQuery | None:
    """What :func:`resolve_ids` looks for in the own types of a BTF, for a parse that
    answers it on its walk (``Btf.parse(named=...)``); None if it looks for nothing."""
    active = _active_tables(syms)
    return None if active is None else _name_query(active)


def _name_query(active: dict[int, dict[bytes, IdNode]]) -> NameQuery:
    """(kinds table over ``info >> 24`` with upstream's 5-bit kind, every wanted name)."""
    return (bytes(1 if (b & 0x1F) in active else 0 for b in range(256)),
            frozenset().union(*active.values()))


def resolve_ids(syms: BtfIdSymbols, btf: Btf, log: Log, *, count_warnings: bool = True,
                own_names: list[bytes] | None = None) -> None:
    """Give every struct/union/typedef/func node its BTF ID (resolve.md §6): first match by
    ascending ID over the whole BTF, base included, with upstream's counter rule.
    ``own_names``: :meth:`~btfids.btf.Btf.own_names` of ``btf`` when the caller has
    them (the sort's result)."""
    # Kinds still being looked up (upstream skips a kind once its counter reaches 0).
    start = _active_tables(syms)
    if start is None:
        return
    active = dict(start)
    nr = {k: syms.nr[_TABLE_OF_BTF_KIND[k]] for k in active}
    slow = btf.str_at_fast
    tid = 0

    def found(kind: int, name: bytes, tid: int) -> None:
        table = active.get(kind)
        if table is None:
            return
        node = table.get(name)
        if node is None:
            return
        if node.id == 0:
            node.id = tid
            nr[kind] -= 1
            if nr[kind] == 0:
                del active[kind]
        else:
            msg = (
                f"WARN: multiple IDs found for '{_s(node.name)}': {node.id}, {tid}"
                f" - using {node.id}"
            )
            if count_warnings:
                log.warn(msg)
            else:
                log.info(msg)

    for level in btf.levels():
        idx = level.index
        if idx is not None and level.base is None:
            # indexed base: only the IDs named like a symbol, in ascending ID order
            hits = sorted(
                (hit, kind, name)
                for kind, table in active.items()
                for name in table
                for hit in idx.ids_named(kind, name)
            )
            for hit, kind, name in hits:
                found(kind, name, hit)
            tid = level.type_cnt - 1
            continue
        all_wanted = set().union(*active.values())
        names = own_names if level is btf else None
        if names is not None or level.built_strings_by_offset() is not None:
            # after dedup (newest flow): every name through the existing table, in C,
            # then only the records named like a symbol are looked at
            types = level.types
            if names is None:
                names = level.own_names()
            elif len(names) != len(types):
                raise SymbolError(f"FAILED: {len(names)} type names passed for"
                                  f" {len(types)} types")
            first = level.start_id
            for i in compress(range(len(names)), map(all_wanted.__contains__, names)):
                found((types[i][1] >> 24) & 0x1F, names[i], first + i)
            tid = level.type_cnt - 1
            continue
        if level.named is not None and level.named[0] == _name_query(start):
            # the parse answered the query on its walk (only the records it finds)
            for hit, top, name in level.named[1]:
                table = active.get(top & 0x1F)
                if table is not None and name in table:
                    found(top & 0x1F, name, hit)
            tid = level.type_cnt - 1
            continue
        # offsets of the wanted names only; a name offset that is neither one of them
        # nor a whole-string start (it points into a string) is read the slow way
        wanted = level.offsets_of(all_wanted)
        own_start = level.start_str_off
        strs = level.strs
        for off, info in level.names_and_infos():
            tid += 1
            kind = (info >> 24) & 0x1F
            table = active.get(kind)
            if table is None:
                continue
            own_name = wanted.get(off)
            if own_name is None:
                # a whole own string starts at the section start or after a NUL
                local = off - own_start
                if local == 0 or (local > 0 and strs[local - 1] == 0):
                    continue        # a whole own string, not a wanted one
                own_name = slow(off)    # a base string, or one inside an own string
            if own_name in table:
                found(kind, own_name, tid)


def patch_words(
    syms: BtfIdSymbols, words: list[int], log: Log, *, count_warnings: bool = True
) -> None:
    """Write IDs and set counts into ``words`` (resolve.md §7 step 1)."""
    sec = syms.section
    for table in (syms.structs, syms.unions, syms.typedefs, syms.funcs, syms.sets):
        for node in BtfIdSymbols.descending(table):
            is_set = node.kind in ("set", "set8")
            if not is_set and node.id == 0:
                msg = f"WARN: resolve_btfids: unresolved symbol {_s(node.name)}"
                if count_warnings:
                    log.warn(msg)
                else:
                    log.info(msg)
            value = node.cnt if is_set else node.id
            for addr in node.addrs:
                off = (addr - sec.addr) & 0xFFFFFFFFFFFFFFFF
                log.debug(f"patching addr {off:5d}: ID {value:7d} [{_s(node.name)}]")
                if off >= sec.size or off // 4 >= len(words):
                    raise SymbolError(f"FAILED patching index {off} out of bounds {sec.size}")
                words[off // 4] = value & 0xFFFFFFFF   # a u32 store, as upstream's


def sort_sets(
    syms: BtfIdSymbols,
    words: list[int],
    log: Log,
    on_set8: Callable[[IdNode, int], None] | None = None,
) -> list[IdNode]:
    """Sort every set's IDs (set8: pairs by ID, flags moving along), stably
    (resolve.md §7 step 2). ``on_set8(node, header_word_index)`` runs right after each
    set8 is sorted. Returns the set8 nodes in the order they were sorted."""
    sec = syms.section
    done = []
    for node in BtfIdSymbols.descending(syms.sets):
        if len(node.addrs) != 1:
            raise SymbolError(f"FAILED malformed data for set '{_s(node.name)}'")
        off = (node.addrs[0] - sec.addr) & 0xFFFFFFFFFFFFFFFF
        base = off // 4
        if node.kind == "set":
            lo, hi = base + 1, base + 1 + node.cnt
            if hi > len(words):
                raise SymbolError(f"FAILED malformed data for set '{_s(node.name)}'")
            words[lo:hi] = sorted(words[lo:hi])
        else:
            lo, hi = base + 2, base + 2 + 2 * node.cnt
            if hi > len(words):
                raise SymbolError(f"FAILED malformed data for set '{_s(node.name)}'")
            pairs = sorted(zip(words[lo:hi:2], words[lo + 1 : hi : 2], strict=True),
                           key=lambda p: p[0])
            words[lo:hi] = [w for pair in pairs for w in pair]
            done.append(node)
            if on_set8 is not None:
                on_set8(node, base)
        log.debug(f"sorting  addr {off:5d}: cnt {node.cnt:6d} [{_s(node.name)}]")
    return done


def patch_section(syms: BtfIdSymbols, log: Log) -> bytes:
    """The patched ``.BTF_ids`` bytes in the ELF's byte order (newest semantics)."""
    words = list(syms.section.words)
    patch_words(syms, words, log)
    sort_sets(syms, words, log)
    return syms.section.encode(words)
