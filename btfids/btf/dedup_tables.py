"""dedup's candidate tables (spec finalize.md §1.11, §1.12): the key of a type per kind,
and libbpf's hashmap with the order of its same-key chains, which decides which
candidate a type is compared with first.

Two emulations (see :mod:`btfids.btf.dedup`): :class:`RefTable` keeps one list per real
64-bit hash and reverses every list on growth, as the spec describes; :class:`FastTable`
and :class:`FastSplitTable` key by the fields each hash folds and track growth as an
orientation flag. :class:`BasePart` is a base's share of the fast table after prep,
computed once per base (:func:`base_part`) or read from the base index.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

from . import kinds as K
from .model import Btf, BtfError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

_M64 = (1 << 64) - 1
#: kinds that never enter the table: each is its own canonical type
SELF_MAPPED = frozenset({K.VAR, K.DATASEC})


# --------------------------------------------------------------------- hashes (§1.11)
def _h_common(t: Sequence[int]) -> int:
    return ((t[0] * 31 + t[1]) * 31 + t[2]) & _M64


def _h_typedef(t: Sequence[int]) -> int:
    return (t[0] * 31 + t[1]) & _M64


def _h_int_tag(t: Sequence[int]) -> int:
    return (_h_common(t) * 31 + t[3]) & _M64


def _h_enum(t: Sequence[int]) -> int:
    return t[0]


def _h_struct(t: Sequence[int]) -> int:
    h = _h_common(t)
    for i in range(3, len(t), 3):
        h = ((h * 31 + t[i]) * 31 + t[i + 2]) & _M64
    return h


def _h_array(t: Sequence[int]) -> int:
    return (((_h_common(t) * 31 + t[3]) * 31 + t[4]) * 31 + t[5]) & _M64


def _h_fnproto(t: Sequence[int]) -> int:
    h = _h_common(t)
    for i in range(3, len(t), 2):
        h = ((h * 31 + t[i]) * 31 + t[i + 1]) & _M64
    return h


# ------------------------------------------------- field-tuple keys (fast path, see top)
def _k_typedef(t: Sequence[int]) -> tuple[int, ...]:
    return (t[0], t[1])


def _k_enum(t: Sequence[int]) -> tuple[int, ...]:
    return (t[0],)


def key_struct(t: list[int]) -> tuple[int, ...]:
    return (*t[:3], *t[3::3], *t[5::3])


# Per kind: the table key of a type (prep, prim, struct and ref phases agree per kind).
HASH_BY_KIND: dict[int, Callable[[Any], Any]] = {
    K.CONST: _h_common, K.VOLATILE: _h_common, K.RESTRICT: _h_common, K.PTR: _h_common,
    K.FWD: _h_common, K.FUNC: _h_common, K.FLOAT: _h_common, K.TYPE_TAG: _h_common,
    K.TYPEDEF: _h_typedef, K.INT: _h_int_tag, K.DECL_TAG: _h_int_tag,
    K.ENUM: _h_enum, K.ENUM64: _h_enum, K.STRUCT: _h_struct, K.UNION: _h_struct,
    K.ARRAY: _h_array, K.FUNC_PROTO: _h_fnproto,
}


def key_words(t: Sequence[int]) -> int:
    """Key of a kind whose hash folds every word (candidates are compared word for
    word): the tuple's hash (hot loops inline it)."""
    return hash(tuple(t))


# Kinds whose hash folds every word of the record: the key is ``hash(tuple(t))``.
KEY_BY_KIND: dict[int, Callable[[Any], Any]] = {
    k: key_words for k in (K.CONST, K.VOLATILE, K.RESTRICT, K.PTR, K.FWD, K.FUNC, K.FLOAT,
                           K.TYPE_TAG, K.INT, K.DECL_TAG, K.ARRAY, K.FUNC_PROTO)
}
KEY_BY_KIND.update({K.TYPEDEF: _k_typedef, K.ENUM: _k_enum, K.ENUM64: _k_enum,
                     K.STRUCT: key_struct, K.UNION: key_struct})


def _next_grow(cap: int) -> int:
    """Smallest table size at which libbpf's hashmap grows before the next insert:
    ``cap == 0`` or ``(size + 1) * 4 // 3 > cap``."""
    if cap == 0:
        return 0
    return (3 * (cap + 1) + 3) // 4 - 1


# ----------------------------------------------------------------------- candidate tables
class RefTable:
    """libbpf hashmap emulation, verbatim from the spec (§1.12): one list per hash, the
    newest entry first; every growth reverses every list."""

    def __init__(self) -> None:
        self.lists: dict[Any, list[int]] = {}
        self.size = 0
        self.cap = 0

    def add(self, key: Any, tid: int) -> None:
        if self.cap == 0 or (self.size + 1) * 4 // 3 > self.cap:
            self.cap = max(4, 2 * self.cap)
            for chain in self.lists.values():
                chain.reverse()
        lst = self.lists.get(key)
        if lst is None:
            self.lists[key] = [tid]
        else:
            lst.insert(0, tid)
        self.size += 1

    def cands(self, key: Any) -> Sequence[int]:
        return self.lists.get(key, ())


class BasePart:
    """The table state right after prep for one base BTF (fast path): per key the base
    IDs in *stored* orientation (see :class:`FastTable`), plus size/cap/orientation."""

    def __init__(self, lists: Any, size: int, cap: int, flip: int,
                 type_cnt: int) -> None:
        self.lists = lists
        self.size = size
        self.cap = cap
        self.flip = flip
        self.type_cnt = type_cnt
        # struct-phase filters for long same-key base chains (see _Dedup.base_filter)
        self.filters: dict[Any, tuple[set[int], dict[Any, Any]]] = {}
        # prim phase: per often-looked-up enum key, the base chain's records → IDs, or
        # None when the chain holds an enum FWD or twins (see _Dedup.prim_types)
        self.enum_twins: dict[Any, dict[tuple[int, ...], int] | None] = {}


#: the base part of each base object, computed once (a batch's modules share vmlinux's)
BASE_PARTS: weakref.WeakKeyDictionary[Btf, BasePart] = weakref.WeakKeyDictionary()


class FastTable:
    """Field-tuple-keyed emulation for standalone BTF. A key's entries are stored in
    *virtual* order; libbpf's (real) order is the virtual one, reversed while ``flip``
    is set. A growth toggles ``flip`` instead of reversing every list; an insert at the
    real front is a prepend (flip clear) or an append (flip set). A key with a single
    entry (most of vmlinux's ~100k) stores the bare ID, not a one-item list."""

    def __init__(self) -> None:
        self.lists: dict[Any, int | list[int]] = {}
        self.size = 0
        self.cap = 0
        self.flip = 0
        self.grow_at = 0

    def add(self, key: Any, tid: int) -> None:
        if self.size == self.grow_at:
            self.cap = max(4, 2 * self.cap)
            self.flip ^= 1
            self.grow_at = _next_grow(self.cap)
        lists = self.lists
        lst = lists.get(key)
        if lst is None:
            lists[key] = tid
        elif isinstance(lst, int):
            lists[key] = [lst, tid] if self.flip else [tid, lst]
        elif self.flip:
            lst.append(tid)
        else:
            lst.insert(0, tid)
        self.size += 1

    def first(self, key: Any) -> int:
        """The first candidate in libbpf order, or -1."""
        lst = self.lists.get(key)
        if lst is None:
            return -1
        if isinstance(lst, int):
            return lst
        return lst[-1] if self.flip else lst[0]

    def cands(self, key: Any) -> Sequence[int]:
        lst = self.lists.get(key)
        if lst is None:
            return ()
        if isinstance(lst, int):
            return (lst,)
        return lst[::-1] if self.flip else lst


class FastSplitTable:
    """:class:`FastTable` on top of a shared, never modified base part ``B``: a key's
    virtual list is ``reversed(L) + B + R``, own inserts go to ``L`` (flip clear) or
    ``R`` (flip set)."""

    def __init__(self, base: BasePart) -> None:
        self.base = base.lists
        self.own: dict[Any, tuple[list[int], list[int]]] = {}
        self.size = base.size
        self.cap = base.cap
        self.flip = base.flip
        self.grow_at = _next_grow(self.cap)

    def add(self, key: Any, tid: int) -> None:
        if self.size == self.grow_at:
            self.cap = max(4, 2 * self.cap)
            self.flip ^= 1
            self.grow_at = _next_grow(self.cap)
        lr = self.own.get(key)
        if lr is None:
            lr = self.own[key] = ([], [])
        lr[self.flip].append(tid)
        self.size += 1

    def first(self, key: Any) -> int:
        cands = self.cands(key)
        return cands[0] if cands else -1

    def own_cands(self, key: Any) -> list[int]:
        """The own (non-base) candidates under ``key``, in no particular order."""
        lr = self.own.get(key)
        return lr[0] + lr[1] if lr is not None else []

    def cands(self, key: Any) -> Sequence[int]:
        b = self.base.get(key)
        lr = self.own.get(key)
        if lr is None:
            if not b:
                return ()
            return b[::-1] if self.flip else b
        left, right = lr
        virt = left[::-1] + (b or []) + right
        return virt[::-1] if self.flip else virt


def base_part(base_types: list[list[int]], type_cnt: int) -> BasePart:
    """Prep (§1.1) of the base in the fast representation, computed once per base."""
    lists: dict[Any, list[int]] = {}
    size = 0
    cap = 0
    flip = 0
    grow_at = 0
    keyf = KEY_BY_KIND
    setdefault = lists.setdefault
    for tid, t in enumerate(base_types, 1):
        kind = (t[1] >> 24) & 0x7F
        f = keyf.get(kind)
        if f is None:
            if kind in SELF_MAPPED:
                continue
            raise BtfError(f"dedup: unknown kind {kind} for base type [{tid}]")
        if size == grow_at:
            cap = max(4, 2 * cap)
            flip ^= 1
            grow_at = _next_grow(cap)
        lst = setdefault(hash(tuple(t)) if f is key_words else f(t), [])
        # base entries are added at the real front; stored orientation depends on flip
        if flip:
            lst.append(tid)
        else:
            lst.insert(0, tid)
        size += 1
    return BasePart(lists, size, cap, flip, type_cnt)
