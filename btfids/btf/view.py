"""A small typed, read-only view of BTF types for plugin authors.

:class:`~btfids.btf.Btf` keeps each type as a flat list of u32 words (fast, but the
layout differs per kind). This module reads the same records through named fields, so
a pass can be written without knowing the word layout::

    from btfids.btf.view import find, types, view

    t = view(ctx.btf, kfunc.func_id)         # TypeView of any ID (own or base)
    proto = view(ctx.btf, t.type_id)         # FUNC -> its FUNC_PROTO
    for p in proto.params():                 # Param(name='skb', type_id=42)
        ...
    s = find(ctx.btf, "sk_buff", "STRUCT")   # lowest ID of that name and kind, or None
    for m in s.members(): ...                # Member(name, type_id, bits_offset, bitfield_size)
    for t in types(ctx.btf, kind="DECL_TAG"):  # own types (own=False: base ones too)
        ...

Names are ``str`` here (decoded as latin-1, so every byte round-trips); ``name_bytes``
gives the raw bytes. Kinds are accepted as names (``"STRUCT"``, case-insensitive) or as
numbers (:mod:`btfids.btf.kinds`). Views are snapshots: read them, then change the BTF
through its add API (``ctx.btf.add_decl_tag(...)`` etc.).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from . import kinds as K
from .model import Btf

#: linkage names of FUNC (vlen) and VAR (its word 3), as bpftool prints them
FUNC_LINKAGE = VAR_LINKAGE = K.LINKAGE_NAMES


class Member(NamedTuple):
    """A STRUCT/UNION member (``bitfield_size`` 0 unless the struct has kflag 1)."""

    name: str
    type_id: int
    bits_offset: int
    bitfield_size: int


class Param(NamedTuple):
    """A FUNC_PROTO parameter (``name`` "" when unnamed; type_id 0 is ``...``)."""

    name: str
    type_id: int


class EnumValue(NamedTuple):
    name: str
    value: int


class SecVar(NamedTuple):
    """A DATASEC entry: the VAR/FUNC ID, offset and size in the section."""

    type_id: int
    offset: int
    size: int


def kind_number(kind: str | int) -> int:
    """``"struct"``/``"STRUCT"``/``4`` → 4; ValueError for an unknown kind."""
    if isinstance(kind, int):
        return kind
    try:
        return K.KIND_NAMES.index(kind.upper())
    except ValueError:
        raise ValueError(f"unknown BTF kind {kind!r} (one of "
                         f"{', '.join(K.KIND_NAMES[1:])})") from None


def _text(b: bytes) -> str:
    return b.decode("latin-1")


class TypeView:
    """One type, read through named fields. ``btf.type(id)`` is the raw record."""

    __slots__ = ("btf", "id", "words")

    def __init__(self, btf: Btf, tid: int) -> None:
        if not 0 < tid < btf.type_cnt:
            raise ValueError(f"no type ID {tid} (1..{btf.type_cnt - 1})")
        self.btf = btf
        self.id = tid
        self.words = btf.type(tid)

    # ---------------------------------------------------------- common header
    @property
    def kind(self) -> int:
        return K.kind_of(self.words[1])

    @property
    def kind_name(self) -> str:
        """``"STRUCT"``, ``"FUNC"``, ... (``"KIND<n>"`` for a kind past ENUM64)."""
        return K.kind_name(self.kind)

    @property
    def name_bytes(self) -> bytes:
        return self.btf.str_at(self.words[0]) if self.words[0] else b""

    @property
    def name(self) -> str:
        """The name ("" for anonymous types)."""
        return _text(self.name_bytes)

    @property
    def vlen(self) -> int:
        return K.vlen_of(self.words[1])

    @property
    def kflag(self) -> int:
        return K.kflag_of(self.words[1])

    @property
    def size(self) -> int:
        """Byte size (INT, FLOAT, STRUCT, UNION, ENUM, ENUM64, DATASEC)."""
        self._want(K.INT, K.FLOAT, K.STRUCT, K.UNION, K.ENUM, K.ENUM64, K.DATASEC)
        return self.words[2]

    @property
    def type_id(self) -> int:
        """The referenced type: PTR/TYPEDEF/CONST/VOLATILE/RESTRICT/TYPE_TAG target, a
        FUNC's FUNC_PROTO, a VAR's type, a DECL_TAG's target, a FUNC_PROTO's return,
        an ARRAY's element type."""
        if self.kind == K.ARRAY:
            return self.words[3]
        self._want(K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG, K.FUNC,
                   K.VAR, K.DECL_TAG, K.FUNC_PROTO)
        return self.words[2]

    # ---------------------------------------------------------- per kind
    @property
    def linkage(self) -> str:
        """FUNC and VAR: ``static``, ``global`` or ``extern`` (as bpftool prints them)."""
        if self.kind == K.FUNC:
            return _pick(FUNC_LINKAGE, self.vlen)
        self._want(K.VAR)
        return _pick(VAR_LINKAGE, self.words[3])

    @property
    def component_idx(self) -> int:
        """DECL_TAG: −1 for the whole type, else the member/parameter index."""
        self._want(K.DECL_TAG)
        return K.to_signed32(self.words[3])

    def int_encoding(self) -> tuple[str, int, int]:
        """INT: (encoding, bits_offset, nr_bits); encoding ``(none)``, ``SIGNED``,
        ``CHAR`` or ``BOOL`` (as bpftool names them)."""
        self._want(K.INT)
        w = self.words[3]
        enc = (w >> 24) & 0xF
        name = ("SIGNED" if enc & 1 else "CHAR" if enc & 2 else "BOOL" if enc & 4
                else "(none)")
        return name, (w >> 16) & 0xFF, w & 0xFF

    def array(self) -> tuple[int, int, int]:
        """ARRAY: (element type, index type, number of elements)."""
        self._want(K.ARRAY)
        return self.words[3], self.words[4], self.words[5]

    def members(self) -> list[Member]:
        self._want(K.STRUCT, K.UNION)
        w, kflag, s = self.words, self.kflag, self.btf.str_at
        out = []
        for j in range(3, len(w), 3):
            off = w[j + 2]
            out.append(Member(_text(s(w[j])) if w[j] else "", w[j + 1],
                              off & 0xFFFFFF if kflag else off, off >> 24 if kflag else 0))
        return out

    def params(self) -> list[Param]:
        self._want(K.FUNC_PROTO)
        w, s = self.words, self.btf.str_at
        return [Param(_text(s(w[j])) if w[j] else "", w[j + 1]) for j in range(3, len(w), 2)]

    def enum_values(self) -> list[EnumValue]:
        """ENUM/ENUM64 values, signed when the kflag says so."""
        self._want(K.ENUM, K.ENUM64)
        w, s, signed = self.words, self.btf.str_at, self.kflag
        out = []
        if self.kind == K.ENUM:
            for j in range(3, len(w), 2):
                v = K.to_signed32(w[j + 1]) if signed else w[j + 1]
                out.append(EnumValue(_text(s(w[j])), v))
        else:
            for j in range(3, len(w), 3):
                v = w[j + 1] | (w[j + 2] << 32)
                if signed and v >> 63:
                    v -= 1 << 64
                out.append(EnumValue(_text(s(w[j])), v))
        return out

    def sec_vars(self) -> list[SecVar]:
        self._want(K.DATASEC)
        w = self.words
        return [SecVar(w[j], w[j + 1], w[j + 2]) for j in range(3, len(w), 3)]

    def _want(self, *kinds: int) -> None:
        if self.kind not in kinds:
            raise TypeError(f"[{self.id}] is a {self.kind_name}, not "
                            f"{'/'.join(K.kind_name(k) for k in kinds)}")

    def __repr__(self) -> str:
        return f"<TypeView [{self.id}] {self.kind_name} {self.name!r}>"


def _pick(names: tuple[str, ...], i: int) -> str:
    return names[i] if 0 <= i < len(names) else f"({i})"


def view(btf: Btf, tid: int) -> TypeView:
    """The type ``tid`` of ``btf`` (or of its base)."""
    return TypeView(btf, tid)


def types(btf: Btf, kind: str | int | None = None, *, own: bool = True) -> Iterator[TypeView]:
    """Every type in ID order (``own``: only ``btf``'s own, not its base's), optionally
    of one kind."""
    want = None if kind is None else kind_number(kind)
    first = btf.start_id if own else 1
    for tid in range(first, btf.type_cnt):
        if want is None or K.kind_of(btf.type(tid)[1]) == want:
            yield TypeView(btf, tid)


def find(btf: Btf, name: str | bytes, kind: str | int, *, own: bool = False
         ) -> TypeView | None:
    """The lowest-ID type of that name and kind (``own``: among ``btf``'s own types
    only), or None."""
    raw = name.encode("latin-1") if isinstance(name, str) else name
    want = kind_number(kind)
    first = btf.start_id if own else 1
    for tid in range(first, btf.type_cnt):
        t = btf.type(tid)
        if K.kind_of(t[1]) == want and t[0] and btf.str_at(t[0]) == raw:
            return TypeView(btf, tid)
    return None
