"""The BTF object: parse, query, append (libbpf add-API semantics) and serialise.

Spec: btf-format.md. Types are flat lists of u32 words (see :mod:`btfids.btf.kinds`);
own types live in :attr:`Btf.types` (index ``id - start_id``), base types in
:attr:`Btf.base`. Strings are raw bytes; offsets are *logical* (split BTF continues the
base's offsets).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, compress, repeat
from operator import itemgetter, sub

from . import kinds as K

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

HOST_ORDER = "<" if sys.byteorder == "little" else ">"
# libbpf's own header size for objects it creates (1.8 and later): 32 bytes.
DEFAULT_NEW_HDR_LEN = 32
MAX_ID = 0x7FFFFFFF
#: own-string lookups answered by scanning before the whole-string index is built
_SCANS_BEFORE_INDEX = 64


class RecordIndex:
    """An index of the very bytes a :meth:`Btf.parse` reads (content-checked by its
    caller): each record's word offset, so the records can be decoded lazily, and the
    whole-string lookups. :class:`btfids.btf.baseindex.BaseIndex` is the one kind; it
    builds on this module, which knows it by this interface only."""

    #: word offset of each record in the type section, ``offs[0]`` for ID 1
    offs: Any

    def attach(self, btf: Btf) -> None:
        """Become ``btf.index`` (``btf`` was parsed from the indexed bytes)."""
        raise NotImplementedError

    def find_str(self, s: bytes) -> int:
        """First offset of ``s`` as a whole string, or -1."""
        raise NotImplementedError


def info_high_bytes(records: Iterable[Sequence[int]]) -> bytes:
    """``info >> 24`` of each record, a byte each, in C: the info words as a uint32
    array, then every fourth byte (25% faster than ``rshift`` through ``map``)."""
    words = array("I", map(itemgetter(1), records)).tobytes()
    return words[3::4] if sys.byteorder == "little" else words[0::4]


def _per_top_byte(words: Sequence[int]) -> tuple[Any, ...]:
    """``words`` (by kind) indexed by an info word's top byte (kflag and 7-bit kind);
    None for unknown kinds (arithmetic on it raises TypeError: the walk's signal)."""
    return tuple(words[b & 0x7F] if b & 0x7F <= K.MAX_KNOWN_KIND else None
                 for b in range(256))


#: words of a record before its vlen elements, and per element, by ``info >> 24``
_HEAD_WORDS = _per_top_byte([3 + n for n in K._FIXED_WORDS])
_ELEM_WORDS = _per_top_byte(K._ELEM_WORDS)


#: a name lookup folded into a parse: (``bytes.translate`` table taking ``info >> 24`` to
#: 1 for the wanted kinds, see :func:`kinds.kind_table`; the wanted names)
NameQuery = tuple[bytes, frozenset[bytes]]


class BtfError(ValueError):
    """Malformed BTF or an operation libbpf would refuse; ``str()`` is the detail."""


class LazyTypes:
    """``Btf.types`` decoded on demand: record ``i`` is ``words[offs[i]:offs[i + 1]]``
    (``words`` a list, or a memoryview of the section). Used for a base loaded through
    its index and for a parse with ``records=False``. A decoded record is kept, so
    changes to it stay; iteration and slices decode (correct, not fast)."""

    __slots__ = ("_infos", "_memo", "_n", "_names", "_offs", "_words")

    def __init__(self, words: Any, offs: Any, names: Sequence[int] | None = None,
                 infos: Sequence[int] | None = None) -> None:
        self._words = words
        self._offs = offs
        self._names = names
        self._infos = infos
        self._n = len(offs) - 1
        self._memo: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        rec = self._memo.get(i)
        if rec is not None:
            return rec
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("type index out of range")
        rec = self._words[self._offs[i] : self._offs[i + 1]]
        if not isinstance(rec, list):
            rec = rec.tolist()
        self._memo[i] = rec
        return rec

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(self._n):
            yield self[i]

    def names_and_infos(self) -> Iterator[tuple[int, int]]:
        """(name_off, info) of every record in order, without decoding records."""
        if self._memo:  # a decoded record may have been changed
            return ((t[0], t[1]) for t in self)
        if self._names is not None and self._infos is not None:
            return zip(self._names, self._infos, strict=True)
        at = self._words.__getitem__
        starts = self._offs[:-1]
        return zip(map(at, starts), map(at, map((1).__add__, starts)), strict=True)


class Btf:
    """One BTF object (standalone, or split on top of :attr:`base`)."""

    def __init__(
        self,
        *,
        order: str = "<",
        base: Btf | None = None,
        hdr_len: int = DEFAULT_NEW_HDR_LEN,
        version: int = K.BTF_VERSION,
        flags: int = 0,
    ) -> None:
        self.order = order
        self.base = base
        self.hdr_len = hdr_len
        self.version = version
        self.flags = flags
        self.layout_off = 0
        self.layout = b""
        self.types: list[list[int]] = []
        self.strs = bytearray() if base is not None else bytearray(b"\0")
        self.start_id: int = base.type_cnt if base is not None else 1
        self.start_str_off: int = base.start_str_off + len(base.strs) if base is not None else 0
        # Parsed objects remember their bytes until the first modification (§8.3).
        self._raw: bytes | memoryview | None = None
        self._unmodifiable = False
        self.strs_deduped = False
        self._modifiable = False
        # whole string → first offset: every string once full, else the ones looked up
        self._str_index: dict[bytes, int] | None = None
        self._str_index_full = False
        self._str_scans = 0
        self._str_by_off: dict[int, bytes] | None = None
        # Base-BTF index: lookups without full scans of this object. A
        # baseindex.BaseIndex, which builds on this module: typed by use, not imported.
        self.index: Any = None
        #: (query, hits) of ``parse(named=query)``: hits are (id, ``info >> 24``, name)
        #: of the own records of a wanted kind with a wanted name, in ID order
        self.named: tuple[NameQuery, list[tuple[int, int, bytes]]] | None = None

    # ------------------------------------------------------------------ parsing
    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        base: Btf | None = None,
        *,
        index: RecordIndex | None = None,
        records: bool = True,
        checks: bool = True,
        named: NameQuery | None = None,
        _keep: bool = True,
    ) -> Btf:
        """Parse raw BTF bytes with libbpf's checks (btf-format.md §5.1). With the
        ``index`` of these very bytes (content-checked by the caller), the records are
        decoded lazily and the type checks it already passed are not repeated (and a
        memoryview ``data``, e.g. a file mapping, is used without copying).
        ``records=False`` checks as fully but leaves the records undecoded
        (:class:`LazyTypes`): for a caller that only reads names and kinds.
        ``checks=False`` stops after the layout: header, strings and record sizes are
        checked (their errors are raised), libbpf's sanity pass over the records' string
        offsets and type IDs is not. The caller runs it elsewhere (a full parse of the
        same bytes) before it trusts the object: :mod:`btfids.btf.background`.
        ``named``: a standalone BTF parsed with ``checks=False, records=False`` also
        collects :attr:`named`, the records that query finds, in the same walk."""
        if index is None or base is not None or isinstance(data, bytearray):
            data = bytes(data)
        if len(data) < 24:
            raise BtfError("BTF header not found")
        magic_le = struct.unpack_from("<H", data)[0]
        if magic_le == K.BTF_MAGIC:
            order = "<"
        elif magic_le == 0x9FEB:
            order = ">"
        else:
            raise BtfError("Invalid BTF magic: %x" % magic_le)
        version, flags, hdr_len = struct.unpack_from(order + "BBI", data, 2)
        if order != HOST_ORDER and hdr_len < 24:
            raise BtfError("BTF has unsupported header len %u" % hdr_len)
        if len(data) < hdr_len:
            raise BtfError("BTF header len %u larger than data size" % hdr_len)
        hdr = bytes(data[: min(hdr_len, 32)]).ljust(32, b"\0")
        type_off, type_len, str_off, str_len, layout_off, layout_len = struct.unpack_from(
            order + "6I", hdr, 8
        )
        self = cls(order=order, base=base, hdr_len=hdr_len, version=version, flags=flags)
        if hdr_len > 32 and any(data[32:hdr_len]):
            self._unmodifiable = True
        body = len(data) - hdr_len
        if str_off + str_len > body:
            raise BtfError("Invalid BTF total size")
        if type_off + type_len > str_off:
            raise BtfError("Invalid BTF data sections layout")
        if type_off % 4:
            raise BtfError("BTF type section is not aligned to 4 bytes")
        if layout_len and (
            layout_off % 4
            or layout_off < type_off + type_len
            or layout_off + layout_len > str_off
        ):
            raise BtfError("Invalid BTF layout section")
        # Decision D9: only the canonical layout libbpf writes is accepted.
        expect_str = type_len + layout_len
        if (
            type_off != 0
            or str_off != expect_str
            or (layout_len and layout_off != type_len)
            or str_off + str_len != body
        ):
            raise BtfError(
                "non-canonical BTF layout (type_off %u, str_off %u, layout_off %u, "
                "%u trailing bytes)" % (type_off, str_off, layout_off, body - str_off - str_len)
            )
        self.layout_off = layout_off
        base_off = hdr_len
        strs = data[base_off + str_off : base_off + str_off + str_len]
        self._check_strings(strs)
        self.strs = bytearray(strs)
        if layout_len:
            if layout_len % 4:
                raise BtfError("Invalid BTF layout section size %u" % layout_len)
            self.layout = bytes(data[base_off + layout_off : base_off + layout_off + layout_len])
        if index is not None and base is None:
            words = memoryview(data)[base_off + type_off : base_off + type_off + type_len]
            self.types = LazyTypes(words.cast("I"), index.offs)  # type: ignore[assignment]
            index.attach(self)
            self._raw = data
            return self
        section = memoryview(data)[base_off + type_off : base_off + type_off + type_len]
        if not checks:
            if named is not None and (records or base is not None):
                named = None    # only the walk over offsets of a standalone BTF collects
            walked = self._walk(section, order, records, named)
            if walked is not None:
                self.types = walked
                self._raw = data
                return self
            # an odd layout (unknown kind, bad size): the checked parse names the problem
        self.types, checked = self._split_and_check(section, order, records, _keep)
        if not checked:
            if not _keep:   # naming the offending type needs the records after all
                self.types, _ = self._split_and_check(section, order, records)
            self._validate_types()
        self._raw = data
        return self

    @classmethod
    def verify(cls, data: bytes | bytearray | memoryview, base: Btf | None = None) -> None:
        """Raise the :class:`BtfError` :meth:`parse` raises for these bytes, if any,
        building only what the checks read (the verdict of btf/background.py's child:
        vmlinux ~6 ms less than a ``records=False`` parse)."""
        cls.parse(data, base, records=False, _keep=False)

    def _check_strings(self, strs: bytes | memoryview) -> None:
        if self.base is None and (not strs or strs[0] != 0):
            raise BtfError(
                "Malformed BTF string section, did you forget to provide base BTF?"
            )
        if strs and strs[-1] != 0:
            raise BtfError("Invalid BTF string section")
        if strs and len(strs) - 1 > 0x7FFFFFFF:
            raise BtfError("BTF string section too large")

    def _layout_sizes(self) -> bytes:
        if self.layout:
            return self.layout
        if self.base is not None:
            return self.base._layout_sizes()
        return b""

    def _split_types(self, section: bytes, order: str) -> list[list[int]]:
        nwords, rem = divmod(len(section), 4)
        words = array("I")
        words.frombytes(section[: nwords * 4])
        if order != HOST_ORDER:
            words.byteswap()
        w = words.tolist()
        types: list[list[int]] = []
        append = types.append
        fixed = K._FIXED_WORDS
        elem = K._ELEM_WORDS
        pos = 0
        tid = self.start_id
        while pos + 3 <= nwords:
            info = w[pos + 1]
            kind = (info >> 24) & 0x7F
            if kind <= K.MAX_KNOWN_KIND:
                end = pos + 3 + fixed[kind] + elem[kind] * (info & 0xFFFFFF)
            else:
                end = pos + 3 + self._unknown_kind_words(kind, info & 0xFFFFFF, order)
            if end > nwords:
                raise BtfError("BTF type [%u] is malformed" % tid)
            append(w[pos:end])
            pos = end
            tid += 1
        if pos != nwords or rem:
            raise BtfError("BTF types data is malformed")
        return types

    def _walk(self, section: memoryview, order: str, records: bool,
              named: NameQuery | None = None) -> Any:
        """The records of a type section of known kinds and sound sizes, without the
        sanity checks (``parse(checks=False)``); None for anything else (a name
        offset ``named`` cannot read, too). With ``named`` (``records=False``, own
        strings only) sets :attr:`named`."""
        nwords, rem = divmod(len(section), 4)
        if rem:
            return None
        words = array("I")
        words.frombytes(section)
        if order != HOST_ORDER:
            words.byteswap()
        head, elem = _HEAD_WORDS, _ELEM_WORDS
        # records, or with records=False their word offsets (an array, as the names and
        # infos: no int object kept per word read, vmlinux ~2.5k page faults less)
        types: Any = [] if records else array("I")
        append = types.append
        pos = 0
        try:
            if records:
                w = words.tolist()
                del words
                while pos < nwords:
                    info = w[pos + 1]
                    k = info >> 24
                    end = pos + head[k] + elem[k] * (info & 0xFFFFFF)
                    append(w[pos:end])
                    pos = end
            elif named is not None:
                return self._walk_named(words, nwords, named)
            else:
                names, infos = array("I"), array("I")
                names_append, infos_append = names.append, infos.append
                while pos < nwords:
                    append(pos)
                    names_append(words[pos])
                    info = words[pos + 1]
                    infos_append(info)
                    k = info >> 24
                    pos += head[k] + elem[k] * (info & 0xFFFFFF)
        except (IndexError, TypeError):  # a cut record, an unknown kind (no table entry)
            return None
        if pos != nwords:
            return None
        if records:
            return types
        append(pos)
        return LazyTypes(words, types, names, infos)

    def _walk_named(self, words: array[int], nwords: int, query: NameQuery) -> Any:
        """:meth:`_walk` with ``records=False`` that answers ``query`` on the way
        (resolution's scan of every name and kind, folded into the walk: vmlinux
        ~15 ms less). A name is read as :meth:`str_at` reads it."""
        kinds, names = query
        at_offset = self.offsets_of(names)   # whole own strings that are wanted
        strs = self.strs
        head, elem = _HEAD_WORDS, _ELEM_WORDS
        offs = array("I")
        append = offs.append
        found: list[tuple[int, int, bytes]] = []
        pos = 0
        try:
            while pos < nwords:
                append(pos)
                info = words[pos + 1]
                k = info >> 24
                if kinds[k]:
                    off = words[pos]
                    name = at_offset.get(off)
                    if name is None and off and strs[off - 1]:   # inside a string
                        name = bytes(strs[off : strs.index(0, off)])
                        if name not in names:
                            name = None
                    if name is not None:
                        found.append((self.start_id + len(offs) - 1, k, name))
                pos += head[k] + elem[k] * (info & 0xFFFFFF)
        except (IndexError, TypeError, ValueError):  # as in _walk; a name past the end
            return None
        if pos != nwords:
            return None
        append(pos)
        self.named = (query, found)
        return LazyTypes(words, offs)

    def _split_and_check(self, section: bytes | memoryview, order: str,
                         records: bool = True, keep: bool = True,
                         ) -> tuple[list[list[int]], bool]:
        """:meth:`_split_types` and the fast half of :meth:`_validate_types` in one pass
        over the words: (records, True when every check the fast pass makes holds).
        False means "run :meth:`_validate_types`" (it names the offending type).
        ``records=False``: a :class:`LazyTypes` over the words instead of the records
        (vmlinux: 12 ms and ~12 MB less)."""
        nwords, rem = divmod(len(section), 4)
        words = array("I")
        words.frombytes(section[: nwords * 4])
        if order != HOST_ORDER:
            words.byteswap()
        if records:
            w = words.tolist()
            del words  # vmlinux: 2.7 MB less at the parse's peak
        else:
            # read the array itself: an int per read, freed at once, instead of a list
            # of every word as ints (vmlinux: 684k ints, 27 MB, ~7k page faults)
            w = words  # type: ignore[assignment]
        # records, or with records=False their word offsets (arrays, as the names and
        # infos and FUNC types: no int object kept per word read)
        types: Any = [] if records else array("I")
        append = types.append
        names, infos = array("I"), array("I")
        names_append, infos_append = names.append, infos.append
        head, elem = _HEAD_WORDS, _ELEM_WORDS   # by kind here (known kinds only)
        single_ref = K._TYPE_REF_KINDS
        known = K.MAX_KNOWN_KIND
        FUNC, FUNC_PROTO, STRUCT, UNION, ENUM, ENUM64, ARRAY, DATASEC = (
            K.FUNC, K.FUNC_PROTO, K.STRUCT, K.UNION, K.ENUM, K.ENUM64, K.ARRAY, K.DATASEC)
        max_name = 0
        max_ref = 0
        funcs = array("I")
        pos = 0
        while pos + 3 <= nwords:
            info = w[pos + 1]
            kind = (info >> 24) & 0x7F
            name = w[pos]
            if name > max_name:
                max_name = name
            if kind == FUNC:    # vmlinux: 47k of 107k, three words (vlen is the linkage)
                x = w[pos + 2]
                if x > max_ref:
                    max_ref = x
                funcs.append(x)
                if records:
                    append(w[pos : pos + 3])
                else:
                    infos_append(info)
                    if keep:
                        append(pos)
                        names_append(name)
                pos += 3
                continue
            if kind <= known:
                vlen = info & 0xFFFFFF
                end = pos + head[kind] + elem[kind] * vlen
            else:
                end = pos + 3 + self._unknown_kind_words(kind, info & 0xFFFFFF, order)
            if end > nwords:
                raise BtfError("BTF type [%u] is malformed"
                               % (self.start_id + len(types if records else infos)))
            if kind in single_ref:    # FUNC is done above
                x = w[pos + 2]
                if x > max_ref:
                    max_ref = x
            elif kind == FUNC_PROTO:
                x = w[pos + 2]
                if x > max_ref:
                    max_ref = x
                if vlen:
                    x = max(w[pos + 3 : end : 2])
                    if x > max_name:
                        max_name = x
                    x = max(w[pos + 4 : end : 2])
                    if x > max_ref:
                        max_ref = x
            elif kind in (STRUCT, UNION):
                if vlen:
                    x = max(w[pos + 3 : end : 3])
                    if x > max_name:
                        max_name = x
                    x = max(w[pos + 4 : end : 3])
                    if x > max_ref:
                        max_ref = x
            elif kind == ENUM:
                if vlen:
                    x = max(w[pos + 3 : end : 2])
                    if x > max_name:
                        max_name = x
            elif kind == ENUM64:
                if vlen:
                    x = max(w[pos + 3 : end : 3])
                    if x > max_name:
                        max_name = x
            elif kind == ARRAY:
                x = max(w[pos + 3], w[pos + 4])
                if x > max_ref:
                    max_ref = x
            elif kind == DATASEC and vlen:
                x = max(w[pos + 3 : end : 3])
                if x > max_ref:
                    max_ref = x
            if records:
                append(w[pos:end])
            else:
                infos_append(info)
                if keep:
                    append(pos)
                    names_append(name)
            pos = end
        if pos != nwords or rem:
            raise BtfError("BTF types data is malformed")
        cnt = self.start_id + len(types if records else infos)
        if max_name >= self.start_str_off + len(self.strs) or max_ref >= cnt:
            checked = False
        else:
            checked = self._funcs_typed_by_protos(funcs, types if records else infos, records)
        if not keep:
            return [], checked   # Btf.verify: the verdict alone
        if not records:
            append(pos)
            return LazyTypes(w, types, names, infos), checked  # type: ignore[return-value]
        return types, checked

    def _funcs_typed_by_protos(self, funcs: Iterable[int], own: Sequence[Any],
                               records: bool) -> bool:
        """Every FUNC's type (``funcs``) is a FUNC_PROTO. ``own[i]`` is own type ``i``'s
        record, or with ``records=False`` its info word."""
        start = self.start_id
        base = self.base
        FUNC_PROTO = K.FUNC_PROTO   # a local: the loop runs once per FUNC (vmlinux: 47k)
        for proto in funcs:
            if proto >= start:
                info = own[proto - start]
                if records:
                    info = info[1]
                if (info >> 24) & 0x7F != FUNC_PROTO:
                    return False
            elif proto == 0 or base is None or base.kind(proto) != FUNC_PROTO:
                return False
        return True

    def _unknown_kind_words(self, kind: int, vlen: int, order: str) -> int:
        layout = self._layout_sizes() if self.layout or order == HOST_ORDER else b""
        if order != HOST_ORDER or kind >= len(layout) // 4:
            raise BtfError("Unsupported BTF_KIND:%u" % kind)
        info_sz, elem_sz = layout[kind * 4], layout[kind * 4 + 1]
        size = info_sz + vlen * elem_sz
        if size % 4:
            raise BtfError("Unsupported BTF_KIND:%u" % kind)
        return size // 4

    def _validate_types(self) -> None:
        """libbpf's sanity pass: string offsets and referenced IDs in range."""
        cnt = self.type_cnt
        str_end = self.start_str_off + len(self.strs)
        single_ref = K._TYPE_REF_KINDS
        funcs: list[int] = []
        # Fast pass: whole-slice max() per record; the slow per-field pass below runs
        # only to name the first offending type.
        for t in self.types:
            kind = (t[1] >> 24) & 0x7F
            if t[0] >= str_end:
                break
            if kind in single_ref:
                if t[2] >= cnt:
                    break
                if kind == K.FUNC:
                    funcs.append(t[2])
            elif kind == K.STRUCT or kind == K.UNION or kind == K.ENUM64:
                if len(t) > 3 and (
                    max(t[3::3]) >= str_end or (kind != K.ENUM64 and max(t[4::3]) >= cnt)
                ):
                    break
            elif kind == K.ENUM:
                if len(t) > 3 and max(t[3::2]) >= str_end:
                    break
            elif kind == K.FUNC_PROTO:
                if t[2] >= cnt or (
                    len(t) > 3 and (max(t[3::2]) >= str_end or max(t[4::2]) >= cnt)
                ):
                    break
            elif kind == K.ARRAY:
                if t[3] >= cnt or t[4] >= cnt:
                    break
            elif kind == K.DATASEC and len(t) > 3 and max(t[3::3]) >= cnt:
                break
        else:
            for proto in funcs:
                if self.kind(proto) != K.FUNC_PROTO:
                    break
            else:
                return
        self._validate_types_slowly(cnt, str_end)

    def _validate_types_slowly(self, cnt: int, str_end: int) -> None:
        for i, t in enumerate(self.types):
            tid = self.start_id + i
            kind = (t[1] >> 24) & 0x7F
            if kind > K.MAX_KNOWN_KIND or kind == K.UNKN:
                if t[0] >= str_end:
                    raise BtfError("BTF type [%d]: invalid name_off %u" % (tid, t[0]))
                continue
            for s in K.str_slots(t):
                if t[s] >= str_end:
                    raise BtfError("BTF type [%d]: invalid string offset %u" % (tid, t[s]))
            for s in K.id_slots(t):
                if t[s] >= cnt:
                    raise BtfError(
                        "BTF type [%d]: invalid referenced type ID %u" % (tid, t[s])
                    )
            if kind == K.FUNC and self.kind(t[2]) != K.FUNC_PROTO:
                raise BtfError(
                    "BTF type [%d]: referenced type [%u] is not FUNC_PROTO" % (tid, t[2])
                )

    # ------------------------------------------------------------------ queries
    @property
    def type_cnt(self) -> int:
        """Number of type IDs including VOID and the base's types (libbpf ``type_cnt``)."""
        return self.start_id + len(self.types)

    @property
    def str_len(self) -> int:
        return len(self.strs)

    def levels(self) -> list[Btf]:
        """This BTF and its bases, base-most first (ID order)."""
        chain = []
        level: Btf | None = self
        while level is not None:
            chain.append(level)
            level = level.base
        return chain[::-1]

    def type(self, tid: int) -> list[int]:
        """The record of ``tid`` (own or base). ID 0 (VOID) has no record."""
        btf = self
        while tid < btf.start_id:
            if btf.base is None:
                if tid == 0:
                    raise BtfError("type ID 0 (VOID) has no record")
                break
            btf = btf.base
        return btf.types[tid - btf.start_id]

    def kind(self, tid: int) -> int:
        if tid == 0:
            return K.UNKN
        return (self.type(tid)[1] >> 24) & 0x7F

    def str_at(self, off: int) -> bytes:
        """The NUL-terminated string at logical offset ``off``."""
        btf = self
        while off < btf.start_str_off and btf.base is not None:
            btf = btf.base
        local = off - btf.start_str_off
        strs = btf.strs
        if local >= len(strs):
            raise BtfError("string offset %u out of range" % off)
        return bytes(strs[local : strs.index(0, local)])

    def strings_by_offset(self) -> dict[int, bytes]:
        """Own whole strings keyed by logical offset (built lazily, kept current by
        :meth:`add_str`). Offsets into the middle of a string are not keys: use
        :meth:`str_at_fast`."""
        if self._str_by_off is None:
            parts, offs = self._own_strings()
            self._str_by_off = dict(zip(offs, parts, strict=False))
        return self._str_by_off

    def own_names(self) -> list[bytes]:
        """The names of the own types in ID order (:meth:`strings_at`)."""
        return self.strings_at(list(map(itemgetter(0), self.types)))

    def strings_at(self, offs: list[int]) -> list[bytes]:
        """:meth:`str_at_fast` of every logical offset in ``offs``, in C: through the
        :meth:`strings_by_offset` table when something built it, else sliced from the
        section (vmlinux: the table is ~13 MB that a run need never build)."""
        by_off = self._str_by_off
        if by_off is not None:
            found: list[bytes] = list(map(by_off.get, offs))  # type: ignore[arg-type]
            if None in found:   # a base string, or an offset inside a string
                str_at = self.str_at_fast
                found = [s if s is not None else str_at(off)
                         for s, off in zip(found, offs, strict=True)]
            return found
        if not offs:
            return []
        start = self.start_str_off
        data = bytes(self.strs)
        end = start + len(data)
        if min(offs) < start or max(offs) >= end:
            # some base strings (a module names a few things with the base's strings),
            # or an offset past the section (str_at_fast raises its error)
            return [data[off - start : data.index(0, off - start)] if start <= off < end
                    else self.str_at_fast(off) for off in offs]
        local = list(map(sub, offs, repeat(start))) if start else offs
        # data[off : data.index(0, off)] for each: the section ends with a NUL (``repeat``
        # rather than a ``partial``: one call layer less, 10% of this)
        ends = map(data.index, repeat(0), local)
        return list(map(data.__getitem__, map(slice, local, ends)))

    def built_strings_by_offset(self) -> dict[int, bytes] | None:
        """:meth:`strings_by_offset` when something already built it, else None."""
        return self._str_by_off

    def offsets_of(self, wanted: set[bytes] | frozenset[bytes]) -> dict[int, bytes]:
        """Own whole strings that are in ``wanted``, keyed by logical offset: the part of
        :meth:`strings_by_offset` a name lookup needs, without building all of it
        (vmlinux: ~18 MB) when it does not exist yet."""
        if self._str_by_off is not None:
            return {o: s for o, s in self._str_by_off.items() if s in wanted}
        data = bytes(self.strs)
        parts = data.split(b"\0")
        # Offsets of the wanted strings only (vmlinux: 10.6 vs 15.8 ms for all 108k):
        # each is the first whole-string match after the previous one, since a match in
        # between would be a wanted string itself. ``hay`` index = section offset.
        find = (b"\0" + data).find
        start = self.start_str_off
        found: dict[int, bytes] = {}
        pos = 0
        for i in compress(range(len(parts) - 1), map(wanted.__contains__, parts)):
            s = parts[i]
            pos = find(b"\0" + s + b"\0", pos)
            found[pos + start] = s
            pos += len(s) + 1
        return found

    def set_strings_by_offset(self, table: dict[int, bytes]) -> None:
        """Install the :meth:`strings_by_offset` table of the current section (from a
        caller that built the section and knows it), so it need not be derived again."""
        self._str_by_off = table

    def _own_strings(self) -> tuple[list[bytes], Iterator[int]]:
        """The own whole strings in order, and their logical offsets (the offsets run
        one past the last string: zip them non-strictly)."""
        data = bytes(self.strs)
        parts = data.split(b"\0") if data else [b""]
        parts.pop()  # after the final NUL
        # start + running sum of (len + 1), all in C
        return parts, accumulate(map((1).__add__, map(len, parts)), initial=self.start_str_off)

    def str_at_fast(self, off: int) -> bytes:
        """:meth:`str_at` through the per-level offset tables where they are built."""
        btf = self
        while off < btf.start_str_off and btf.base is not None:
            btf = btf.base
        by_off = btf._str_by_off
        if by_off is None or btf.index is not None:
            return btf.str_at(off)
        s = by_off.get(off)
        return s if s is not None else btf.str_at(off)

    def name(self, tid: int) -> bytes:
        return b"" if tid == 0 else self.str_at(self.type(tid)[0])

    def own_info_bytes(self, lo: int = 0, hi: int | None = None) -> bytes:
        """``info >> 24`` (kind and kflag) of own types ``lo:hi`` (indexes into
        :attr:`types`), one byte each, computed in C. With a :func:`kinds.kind_table`,
        ``translate`` makes it a 0/1 mask for ``itertools.compress`` (a kind test per
        record in Python costs ~3x more)."""
        recs = self.types if lo == 0 and hi is None else self.types[lo:hi]
        return info_high_bytes(recs)

    def names_and_infos(self) -> Iterator[tuple[int, int]]:
        """(name_off, info) of every own type in ID order; undecoded records
        (``records=False``) stay undecoded."""
        types = self.types
        if isinstance(types, LazyTypes):
            return types.names_and_infos()
        return zip(map(itemgetter(0), types), map(itemgetter(1), types), strict=True)

    def iter_own(self) -> Iterator[tuple[int, list[int]]]:
        """(id, record) for every own type."""
        return enumerate(self.types, self.start_id)

    def find_by_name_kind_own(self, name: bytes, kind: int) -> int:
        """Lowest own ID of a ``kind`` type named ``name``, or -1 (libbpf semantics)."""
        for tid, t in enumerate(self.types, self.start_id):
            if (t[1] >> 24) & 0x7F == kind and self.str_at(t[0]) == name:
                return tid
        return -1

    # ------------------------------------------------------------------ strings
    def _own_str_index(self) -> dict[bytes, int]:
        """Whole strings of the own section → first logical offset (built lazily)."""
        if self._str_index is None or not self._str_index_full:
            parts, offs = self._own_strings()
            index: dict[bytes, int] = {}
            setdefault = index.setdefault
            for part, off in zip(parts, offs, strict=False):
                setdefault(part, off)
            self._str_index = index
            self._str_index_full = True
        return self._str_index

    def _find_own_str(self, s: bytes) -> int:
        """First own offset of ``s`` as a whole string, or -1. The first few lookups scan
        the section (a kfunc pass asks for a handful of strings of vmlinux's 2.5 MB);
        after :data:`_SCANS_BEFORE_INDEX` of them the full index is built instead."""
        index = self._str_index
        if index is None:
            index = self._str_index = {}
        hit = index.get(s)
        if hit is not None or self._str_index_full:
            return -1 if hit is None else hit
        self._str_scans += 1
        if self._str_scans > _SCANS_BEFORE_INDEX:
            return self._own_str_index().get(s, -1)
        data = self.strs
        if data.startswith(s + b"\0"):
            local = 0
        else:
            local = data.find(b"\0" + s + b"\0")
            if local < 0:
                return -1
            local += 1
        off = index[s] = self.start_str_off + local
        return off

    def find_str(self, s: bytes) -> int:
        """Offset of ``s`` as a whole string (base chain first), or -1."""
        if self.base is not None:
            off = self.base.find_str(s)
            if off >= 0:
                return off
        self._check_modifiable()
        if self.index is not None:
            return self.index.find_str(s)
        return self._find_own_str(s)

    def add_str(self, s: bytes | str) -> int:
        """``btf__add_str``: existing whole-string offset, or append ``s`` (a ``str`` is
        UTF-8 encoded; every add method that takes a name goes through here)."""
        self.make_modifiable()
        if isinstance(s, str):
            s = s.encode()
        if not s:
            return 0
        off = self.find_str(s)
        if off >= 0:
            return off
        off = self.start_str_off + len(self.strs)
        self.strs += s + b"\0"
        if self._str_index is None:
            self._str_index = {}
        self._str_index[s] = off
        if self._str_by_off is not None:
            self._str_by_off[off] = s
        return off

    # ------------------------------------------------------------------ modification
    def _check_modifiable(self) -> None:
        if self._unmodifiable:
            raise BtfError("BTF object is not modifiable (non-zero header bytes past 32)")
        if self.base is not None:
            self.base._check_modifiable()

    def make_modifiable(self) -> None:
        """libbpf's conversion on the first modifying call (btf-format.md §8.1)."""
        if self._modifiable:
            return
        self._check_modifiable()
        self._modifiable = True
        self._raw = None
        if self.index is not None:  # the index describes the parsed bytes only
            self.types = list(self.types)
            self.index = None
        if (self.base is not None and not self.strs) or (
            self.base is None and bytes(self.strs) == b"\0"
        ):
            self.strs_deduped = True

    def invalidate_str_index(self) -> None:
        """Call after replacing :attr:`strs` wholesale."""
        self._str_index = None
        self._str_index_full = False
        self._str_scans = 0
        self._str_by_off = None

    def add_type_words(self, words: list[int]) -> int:
        """Append a fully formed record; returns its ID."""
        self.make_modifiable()
        tid = self.type_cnt
        if tid > MAX_ID:
            raise BtfError("too many types")
        self.types.append(words)
        return tid

    @staticmethod
    def _check_ref(ref: int) -> None:
        if ref < 0 or ref > MAX_ID:
            raise BtfError("invalid type ID %d" % ref)

    def _named(self, name: bytes | str) -> int:
        if not name:
            raise BtfError("empty name")
        return self.add_str(name)

    def add_ref(self, kind: int, ref: int, name: bytes | str = b"", kflag: int = 0) -> int:
        """PTR/CONST/VOLATILE/RESTRICT (unnamed) and TYPEDEF/TYPE_TAG (named)."""
        self._check_ref(ref)
        name_off = self._named(name) if kind in (K.TYPEDEF, K.TYPE_TAG) else 0
        return self.add_type_words([name_off, K.make_info(kind, 0, kflag), ref])

    def add_ptr(self, ref: int) -> int:
        return self.add_ref(K.PTR, ref)

    def add_type_attr(self, value: bytes | str, ref: int) -> int:
        return self.add_ref(K.TYPE_TAG, ref, value, kflag=1)

    def add_func(self, name: bytes | str, linkage: int, proto: int) -> int:
        if linkage not in (0, 1, 2):
            raise BtfError("invalid linkage %d" % linkage)
        self._check_ref(proto)
        return self.add_type_words([self._named(name), K.make_info(K.FUNC, linkage), proto])

    def add_func_proto(self, ret: int) -> int:
        self._check_ref(ret)
        return self.add_type_words([0, K.make_info(K.FUNC_PROTO), ret])

    def add_func_param(self, name: bytes | str, type_id: int) -> None:
        if not self.types or self.start_id + len(self.types) - 1 < self.start_id:
            raise BtfError("no FUNC_PROTO to add a parameter to")
        proto = self.types[-1]
        if K.kind_of(proto[1]) != K.FUNC_PROTO:
            raise BtfError("last type is not a FUNC_PROTO")
        self._check_ref(type_id)
        name_off = self.add_str(name) if name else 0
        proto.extend((name_off, type_id))
        proto[1] += 1

    def add_decl_tag(
        self, value: bytes | str, ref: int, component_idx: int, kflag: int = 0
    ) -> int:
        if component_idx < -1:
            raise BtfError("invalid component_idx %d" % component_idx)
        self._check_ref(ref)
        return self.add_type_words(
            [self._named(value), K.make_info(K.DECL_TAG, 0, kflag), ref, component_idx & 0xFFFFFFFF]
        )

    def copy_type(self, src: Btf, t: Sequence[int], str_map: dict[int, int] | None = None) -> int:
        """``btf__add_type``: copy ``t`` from ``src``, re-adding its strings; IDs kept."""
        words = list(t)
        for s in K.str_slots(words):
            off = words[s]
            if off:
                if str_map is not None and off in str_map:
                    words[s] = str_map[off]
                else:
                    new = self.add_str(src.str_at(off))
                    if str_map is not None:
                        str_map[off] = new
                    words[s] = new
        return self.add_type_words(words)

    # ------------------------------------------------------------------ output
    def raw_data(self) -> bytes:
        """``btf__raw_data``: the serialised object (btf-format.md §8.3)."""
        if self._raw is not None and self.order == HOST_ORDER:
            return bytes(self._raw)
        # (functools: already loaded where BTF is serialised; the 6.12 flow never is)
        from functools import reduce
        from operator import iadd

        words = array("I")
        types = self.types
        # list to list (~35% faster than array.extend per record), a slice at a time:
        # vmlinux's words as one list would be 3 MB more at the run's peak. ``reduce``
        # makes the per-record ``+=`` calls from C (10% faster than a loop)
        for lo in range(0, len(types), 8192):
            words.fromlist(reduce(iadd, types[lo : lo + 8192], []))
        if self.order != HOST_ORDER:
            words.byteswap()
        type_len = len(words) * 4
        layout_len = len(self.layout)
        if layout_len:
            layout_off = type_len
            str_off = type_len + layout_len
        else:
            layout_off = self.layout_off
            str_off = type_len
        hdr = struct.pack(
            self.order + "HBBI6I",
            K.BTF_MAGIC, self.version, self.flags, self.hdr_len,
            0, type_len, str_off, len(self.strs), layout_off, layout_len,
        )
        hdr = hdr[: min(self.hdr_len, 32)].ljust(self.hdr_len, b"\0")
        # join straight from the buffers: no intermediate copies of vmlinux's MBs
        return b"".join((hdr, memoryview(words), self.layout, self.strs))

    # ------------------------------------------------------------------ helpers
    def names_of(self, ids: Iterable[int]) -> list[bytes]:
        return [self.name(i) for i in ids]

    def __repr__(self) -> str:
        kind = "split" if self.base is not None else "standalone"
        return (
            f"<Btf {kind} {self.order} start_id={self.start_id} "
            f"types={len(self.types)} str_len={len(self.strs)}>"
        )
