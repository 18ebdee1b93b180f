"""``btf__distill_base``: split a module's BTF off its full base (spec finalize.md §2.1).

The result is a small standalone *distilled base* holding only what relocation needs to
find the referenced base types again (named INT/FLOAT/FWD copied, named composites and
enums as empty sized shells), and a new split BTF on it that carries its own copies of
every other base type it references (pointers, typedefs, arrays, protos, anonymous
composites and enums). IDs and string placement follow libbpf byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import kinds as K
from .model import DEFAULT_NEW_HDR_LEN, Btf, BtfError

# Base kinds a split type may reference (anything else: FUNC, VAR, DATASEC, DECL_TAG...).
_REFERABLE = frozenset({
    K.INT, K.FLOAT, K.FWD, K.ARRAY, K.STRUCT, K.UNION, K.TYPEDEF, K.ENUM, K.ENUM64,
    K.PTR, K.CONST, K.RESTRICT, K.VOLATILE, K.FUNC_PROTO, K.TYPE_TAG,
})
# Kinds copied whole into the new split (besides anonymous composites and enums).
_TO_SPLIT = frozenset({
    K.ARRAY, K.TYPEDEF, K.PTR, K.CONST, K.RESTRICT, K.VOLATILE, K.FUNC_PROTO, K.TYPE_TAG,
})


def _ids(t: list[int]) -> list[int]:
    try:
        return [t[s] for s in K.id_slots(t)]
    except K.UnknownKindError as e:
        raise BtfError(str(e)) from None


def _mark(btf: Btf, id_map: list[int], split_start: int) -> None:
    """Mark every base type the own types reach (libbpf's DFS, same visiting order)."""
    type_of = btf.type
    for own in btf.types:
        stack: list[Iterator[int]] = [iter(_ids(own))]
        while stack:
            for ref in stack[-1]:
                if not ref or ref >= split_start or id_map[ref]:
                    continue
                bt = type_of(ref)
                kind = (bt[1] >> 24) & 0x7F
                if kind not in _REFERABLE:
                    raise BtfError(
                        f"unexpected reference to base type[{ref}] of kind [{kind}] when "
                        "creating distilled base BTF"
                    )
                id_map[ref] = ref
                # Named composites end the walk: their distilled form has no members.
                if kind in (K.STRUCT, K.UNION) and bt[0]:
                    continue
                stack.append(iter(_ids(bt)))
                break
            else:
                stack.pop()


def distill_base(btf: Btf, *, hdr_len: int = DEFAULT_NEW_HDR_LEN) -> tuple[Btf, Btf]:
    """``btf__distill_base(btf)`` → ``(new_base, new_split)``; ``btf`` is not changed.

    ``hdr_len`` is the header size of the new objects (32 for libbpf ≥ 1.8, else 24).
    """
    if btf.base is None:
        raise BtfError("distilling a base needs split BTF (Invalid argument)")
    split_start = btf.start_id
    id_map = [0] * btf.type_cnt
    _mark(btf, id_map, split_start)
    marked = [i for i in range(1, split_start) if id_map[i]]

    new_base = Btf(order=btf.order, hdr_len=hdr_len)
    str_map: dict[int, int] = {}  # src string offset → dst offset, shared by both phases
    type_of = btf.type
    for i in marked:
        t = type_of(i)
        kind = (t[1] >> 24) & 0x7F
        if kind in (K.INT, K.FLOAT, K.FWD):
            new_id = new_base.copy_type(btf, t, str_map)
        elif kind in (K.STRUCT, K.UNION, K.ENUM, K.ENUM64):
            if not t[0]:
                continue
            size = t[2]
            if kind in (K.ENUM, K.ENUM64):
                # btf__add_enum: a sized, memberless, unsigned ENUM.
                if not size or size & (size - 1) or size > 8:
                    raise BtfError(
                        f"cannot add enum '{btf.str_at(t[0]).decode(errors='replace')}' of "
                        f"size {size} to distilled base (Invalid argument)"
                    )
                kind = K.ENUM
            name_off = new_base.add_str(btf.str_at(t[0]))
            new_id = new_base.add_type_words([name_off, K.make_info(kind), size])
        else:
            continue
        id_map[i] = new_id

    new_split = Btf(order=btf.order, base=new_base, hdr_len=hdr_len)
    try:
        for t in btf.types:
            new_split.copy_type(btf, t, str_map)
        for i in marked:
            t = type_of(i)
            kind = (t[1] >> 24) & 0x7F
            if kind in _TO_SPLIT or (
                kind in (K.STRUCT, K.UNION, K.ENUM, K.ENUM64) and not t[0]
            ):
                id_map[i] = new_split.copy_type(btf, t, str_map)
    except K.UnknownKindError as e:
        raise BtfError(str(e)) from None

    # Own IDs shift down by the number of base types dropped; mapped base IDs move.
    diff = split_start - new_base.type_cnt
    n_map = len(id_map)
    for t in (*new_base.types, *new_split.types):
        for s in K.id_slots(t):
            v = t[s]
            m = id_map[v] if v < n_map else 0
            if m:
                t[s] = m
            elif v >= split_start:
                t[s] = v - diff
    return new_base, new_split
