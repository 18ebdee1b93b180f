"""BTF kind numbers, record shapes and field positions (spec btf-format.md §4, §9).

A type record is held as a flat ``list[int]`` of u32 words: ``[name_off, info,
size_or_type, *trailing]``. Every trailing field of every kind is a u32 (signed values
such as ENUM values and DECL_TAG ``component_idx`` are stored as their u32 bit pattern),
so a record's bytes are exactly its words packed in the BTF's byte order.
"""

from __future__ import annotations

from collections.abc import Sequence

UNKN = 0
INT = 1
PTR = 2
ARRAY = 3
STRUCT = 4
UNION = 5
ENUM = 6
FWD = 7
TYPEDEF = 8
VOLATILE = 9
CONST = 10
RESTRICT = 11
FUNC = 12
FUNC_PROTO = 13
VAR = 14
DATASEC = 15
FLOAT = 16
DECL_TAG = 17
TYPE_TAG = 18
ENUM64 = 19
MAX_KNOWN_KIND = ENUM64

KIND_NAMES = (
    "UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
    "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT",
    "DECL_TAG", "TYPE_TAG", "ENUM64",
)

#: linkage names of a FUNC (its vlen) and of a VAR (its word 3), as bpftool prints them
LINKAGE_NAMES = ("static", "global", "extern")

# Trailing words of a record: fixed words, words per vlen element (known kinds).
_FIXED_WORDS = (0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0)
_ELEM_WORDS = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)

# Kinds whose single ID field is word 2 (``type``).
_TYPE_REF_KINDS = frozenset(
    {PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG, FWD}
)

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1


def kind_table(*kinds: int) -> bytes:
    """A ``bytes.translate`` table taking the top byte of an ``info`` word (``info >> 24``:
    the 7-bit kind and the kflag) to 1 for ``kinds``, else 0."""
    return bytes(1 if (b & 0x7F) in kinds else 0 for b in range(256))


def kind_of(info: int) -> int:
    """Kind from an ``info`` word (new UAPI width: 7 bits)."""
    return (info >> 24) & 0x7F


def vlen_of(info: int) -> int:
    """vlen from an ``info`` word (new UAPI width: 24 bits)."""
    return info & 0xFFFFFF


def kflag_of(info: int) -> int:
    return info >> 31


def make_info(kind: int, vlen: int = 0, kflag: int = 0) -> int:
    return (kflag << 31) | (kind << 24) | vlen


def trailing_words(kind: int, vlen: int) -> int:
    """Number of u32 words after the 12-byte common header, for kinds 0..19."""
    return _FIXED_WORDS[kind] + _ELEM_WORDS[kind] * vlen


def kind_name(kind: int) -> str:
    return KIND_NAMES[kind] if 0 <= kind <= MAX_KNOWN_KIND else f"KIND{kind}"


class UnknownKindError(ValueError):
    """A field walk met a kind it cannot walk (libbpf ``-EINVAL``)."""


def id_slots(t: Sequence[int]) -> Sequence[int]:
    """Word positions of ``t`` that hold type IDs, in libbpf's field-iteration order."""
    kind = (t[1] >> 24) & 0x7F
    if kind in _TYPE_REF_KINDS:
        return (2,)
    if kind in (INT, FLOAT, ENUM, ENUM64, UNKN):
        return ()
    if kind == ARRAY:
        return (3, 4)
    if kind in (STRUCT, UNION):
        return range(4, len(t), 3)
    if kind == FUNC_PROTO:
        return (2, *range(4, len(t), 2))
    if kind == DATASEC:
        return range(3, len(t), 3)
    raise UnknownKindError(f"unsupported BTF kind {kind}")


def str_slots(t: Sequence[int]) -> Sequence[int]:
    """Word positions of ``t`` that hold string offsets, in libbpf's iteration order."""
    kind = (t[1] >> 24) & 0x7F
    if kind in (STRUCT, UNION, ENUM64):
        return (0, *range(3, len(t), 3))
    if kind in (ENUM, FUNC_PROTO):
        return (0, *range(3, len(t), 2))
    if kind == UNKN:
        return ()
    if kind > MAX_KNOWN_KIND:
        raise UnknownKindError(f"unsupported BTF kind {kind}")
    return (0,)


def to_signed32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v
