"""``btf__relocate``: re-parent a split BTF from its distilled base onto the full base.

Spec finalize.md §2.3; this is what libbpf does when it reads an ELF with ``.BTF.base``
together with an explicit base, and what the kernel does when it loads a module built
with a distilled base. The input object is left untouched; a relocated copy is returned.

Deliberate differences from libbpf (none changes the result of a valid relocation):
a cyclic modifier chain in a split struct member is an error instead of a hang, and the
string shift also counts a multi-level base's ``start_str_off``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from . import kinds as K
from .model import Btf, BtfError

_EMBEDDED = -1  # a distilled composite embedded (not through a pointer) in a split one
_MODIFIERS = frozenset({K.CONST, K.RESTRICT, K.VOLATILE, K.TYPEDEF, K.TYPE_TAG})
_DIST_KINDS = frozenset({K.INT, K.FLOAT, K.ENUM, K.STRUCT, K.UNION, K.FWD})
_SIZE31 = 0x7FFFFFFF  # libbpf keeps sizes in a 31-bit bitfield for the name/size search


@dataclass(frozen=True)
class _BaseEntry:
    """One named base type relocation may match: its ID and the words it compares."""

    tid: int
    kind: int
    name_off: int
    size: int
    kflag: int
    int_enc: int


class _BaseIndex:
    """Named INT/FLOAT/ENUM/ENUM64/FWD/STRUCT/UNION base types by name (cached per base)."""

    def __init__(self, base: Btf) -> None:
        self.key = (base.type_cnt, base.start_str_off + len(base.strs))
        by_name: dict[bytes, list[_BaseEntry]] = {}
        comp_cnt: dict[int, int] = {}
        names: dict[int, bytes] = {}
        str_at = base.str_at
        wanted = (K.INT, K.FLOAT, K.ENUM, K.ENUM64, K.FWD, K.STRUCT, K.UNION)
        for tid in range(1, base.type_cnt):
            t = base.type(tid)
            name_off = t[0]
            if not name_off:
                continue
            kind = (t[1] >> 24) & 0x7F
            if kind not in wanted:
                continue
            name = names.get(name_off)
            if name is None:
                name = names[name_off] = str_at(name_off)
            if kind in (K.STRUCT, K.UNION):
                comp_cnt[name_off] = comp_cnt.get(name_off, 0) + 1
            enc = (t[3] >> 24) & 0x0F if kind == K.INT else 0
            by_name.setdefault(name, []).append(
                _BaseEntry(tid, kind, name_off, t[2], t[1] >> 31, enc)
            )
        self.by_name = by_name
        self.comp_cnt = comp_cnt


_INDEX_CACHE: weakref.WeakKeyDictionary[Btf, _BaseIndex] = weakref.WeakKeyDictionary()


def _base_index(base: Btf) -> _BaseIndex:
    idx = _INDEX_CACHE.get(base)
    if idx is None or idx.key != (base.type_cnt, base.start_str_off + len(base.strs)):
        idx = _INDEX_CACHE[base] = _BaseIndex(base)
    return idx


def _validate_distilled(dist: Btf) -> None:
    for i, t in dist.iter_own():
        kind = (t[1] >> 24) & 0x7F
        if kind not in _DIST_KINDS:
            raise BtfError(
                f"type [{i}] in distilled based BTF has unexpected kind [{kind}]"
            )
        if not t[0]:
            raise BtfError(
                f"type [{i}], kind [{kind}] is invalid for distilled base BTF; it is anonymous"
            )


def _mark_embedded(split: Btf, id_map: list[int], nr_dist: int) -> None:
    """Flag distilled composites a split composite contains by value (size must match)."""
    for t in split.types:
        if (t[1] >> 24) & 0x7F not in (K.STRUCT, K.UNION):
            continue
        for s in range(4, len(t), 3):
            next_id = t[s]
            steps = 0
            while next_id:
                rt = split.type(next_id)
                kind = (rt[1] >> 24) & 0x7F
                if kind in _MODIFIERS:
                    next_id = rt[2]
                elif kind == K.ARRAY:
                    next_id = rt[3]
                else:
                    if kind in (K.STRUCT, K.UNION) and next_id < nr_dist:
                        id_map[next_id] = _EMBEDDED
                    break
                steps += 1
                if steps > split.type_cnt:
                    raise BtfError(f"type [{next_id}]: cyclic type chain in member")


def _map_distilled(split: Btf, dist: Btf, base: Btf, id_map: list[int]) -> dict[int, int]:
    """Fill ``id_map`` for distilled IDs; return the distilled → base name offset map.

    Equivalent to libbpf's walk over base IDs with a (name, size) binary search into the
    sorted distilled types: the same matches, the same first error.
    """
    nr_dist = dist.type_cnt
    idx = _base_index(base)
    # Sorted (name, size descending) like libbpf's qsort; VOID (ID 0) included.
    dist_info: list[tuple[bytes, int, int]] = [(b"", 0, 0)]
    for i, t in dist.iter_own():
        dist_info.append((dist.str_at(t[0]), t[2] & _SIZE31, i))
    dist_info.sort(key=lambda e: (e[0], -e[1]))
    sorted_names = [e[0] for e in dist_info]

    errors: list[tuple[int, int, str]] = []  # (base ID, sorted position, message)
    matches: dict[int, list[_BaseEntry]] = {}
    pos = 0
    n = len(dist_info)
    while pos < n:
        name = sorted_names[pos]
        end = pos
        while end < n and sorted_names[end] == name:
            end += 1
        cands = idx.by_name.get(name, ())
        for p in range(pos, end):
            _, dsize, did = dist_info[p]
            for b in cands:
                if b.kind in (K.INT, K.FLOAT, K.ENUM, K.ENUM64):
                    needs_size = True
                elif b.kind == K.FWD:
                    needs_size = False
                else:
                    needs_size = idx.comp_cnt.get(b.name_off, 0) > 1
                if needs_size and (b.size & _SIZE31) != dsize:
                    continue
                if not did:
                    errors.append((
                        b.tid, p,
                        f"base BTF id [{b.tid}] maps to invalid distilled base BTF id [0]",
                    ))
                    continue
                found = matches.setdefault(did, [])
                # libbpf overwrites the embedded flag with the first match, so later
                # candidates are compared without the size rule.
                if _compatible(dist.type(did), b, id_map[did] == _EMBEDDED and not found):
                    found.append(b)
        pos = end
    pos_of = {e[2]: p for p, e in enumerate(dist_info)}
    for did, found in matches.items():
        if len(found) > 1:
            first, second = found[0], found[1]
            bname = base.str_at(second.name_off).decode(errors="replace")
            errors.append((
                second.tid, pos_of[did],
                f"distilled base BTF type '{bname}' "
                f"[{did}], size {base.type(second.tid)[2]} has multiple candidates of the "
                f"same size (ids [{second.tid}, {first.tid}]) in base BTF",
            ))
    if errors:
        raise BtfError(min(errors)[2])

    str_map: dict[int, tuple[int, int]] = {}  # dist name_off → (base ID, base name_off)
    for did, found in matches.items():
        if not found:
            continue
        b = found[0]
        id_map[did] = b.tid
        name_off = dist.type(did)[0]
        prev = str_map.get(name_off)
        if prev is None or prev[0] < b.tid:  # libbpf: the last match in base-ID order wins
            str_map[name_off] = (b.tid, b.name_off)
    for did in range(1, nr_dist):
        if id_map[did] <= 0:
            dname = dist.str_at(dist.type(did)[0]).decode(errors="replace")
            raise BtfError(
                f"distilled base BTF type '{dname}' "
                f"[{did}] is not mapped to base BTF id"
            )
    return {k: v[1] for k, v in str_map.items()}


def _compatible(dt: list[int], b: _BaseEntry, embedded: bool) -> bool:
    dkind = (dt[1] >> 24) & 0x7F
    if dkind == K.FWD:
        if b.kind == K.FWD:
            return b.kflag == dt[1] >> 31
        if b.kind == K.STRUCT:
            return not b.kflag
        if b.kind == K.UNION:
            return bool(b.kflag)
        return False
    if dkind == K.INT:
        return b.kind == K.INT and b.int_enc == (dt[3] >> 24) & 0x0F
    if dkind == K.FLOAT:
        return b.kind == K.FLOAT
    if dkind == K.ENUM:
        return b.kind in (K.ENUM, K.ENUM64)
    if dkind in (K.STRUCT, K.UNION):
        # The base kind is not checked (libbpf); embedded types must match in size.
        return not embedded or b.size == dt[2]
    return False


def relocate(split: Btf, base: Btf) -> Btf:
    """``btf__relocate(split, base)``: ``split`` sits on a distilled base; return a copy of
    it re-parented onto the full ``base`` with every type ID and string offset rewritten.
    """
    dist = split.base
    if dist is None or dist is base:
        raise BtfError("relocation needs split BTF on a distilled base (Invalid argument)")
    if dist.base is not None:
        raise BtfError("distilled base BTF must be standalone (Invalid argument)")
    nr_dist = dist.type_cnt
    nr_base = base.type_cnt
    nr_types = split.type_cnt
    _validate_distilled(dist)

    id_map = [0] * nr_types
    shift = nr_base - nr_dist
    for i in range(nr_dist, nr_types):
        id_map[i] = i + shift
    try:
        _mark_embedded(split, id_map, nr_dist)
        str_map = _map_distilled(split, dist, base, id_map)

        dist_str_len = len(dist.strs)
        str_shift = base.start_str_off + len(base.strs) - dist_str_len
        types: list[list[int]] = []
        for t in split.types:
            t = list(t)
            for s in K.id_slots(t):
                t[s] = id_map[t[s]]
            types.append(t)
        for tid, t in enumerate(types, nr_dist):
            for s in K.str_slots(t):
                off = t[s]
                if not off:
                    continue
                if off >= dist_str_len:
                    t[s] = off + str_shift
                else:
                    new = str_map.get(off)
                    if not new:
                        raise BtfError(
                            f"type [{tid}]: string '{split.str_at(off).decode(errors='replace')}' "
                            f"[offset {off}] is not mapped to base BTF"
                        )
                    t[s] = new
    except K.UnknownKindError as e:
        raise BtfError(str(e)) from None

    out = Btf(
        order=split.order, base=base, hdr_len=split.hdr_len,
        version=split.version, flags=split.flags,
    )
    out.types = types
    out.strs = bytearray(split.strs)
    out.layout = split.layout
    out.layout_off = split.layout_off
    out._unmodifiable = split._unmodifiable
    return out
