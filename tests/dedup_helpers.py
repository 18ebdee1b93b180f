"""Tiny BTF builder for the dedup/sort tests: every helper appends one record through
the model's add-API and returns its ID."""

from __future__ import annotations

from btfids.btf import kinds as K
from btfids.btf.model import Btf


def reparse(b: Btf, base: Btf | None = None) -> Btf:
    """Round-trip through bytes: a parsed object runs dedup's string phase (a built one
    has ``strs_deduped`` set, as in libbpf)."""
    return Btf.parse(b.raw_data(), base=base if base is not None else b.base)


def _s(b: Btf, name: str | bytes) -> int:
    if isinstance(name, str):
        name = name.encode()
    return b.add_str(name) if name else 0


def int_(b: Btf, name: str, size: int = 4, enc: int = 0) -> int:
    return b.add_type_words([_s(b, name), K.make_info(K.INT), size, (enc << 24) | size * 8])


def float_(b: Btf, name: str, size: int = 8) -> int:
    return b.add_type_words([_s(b, name), K.make_info(K.FLOAT), size])


def ref(b: Btf, kind: int, target: int, name: str = "") -> int:
    return b.add_type_words([_s(b, name), K.make_info(kind), target])


def ptr(b: Btf, target: int) -> int:
    return ref(b, K.PTR, target)


def typedef(b: Btf, name: str, target: int) -> int:
    return ref(b, K.TYPEDEF, target, name)


def composite(b: Btf, name: str, size: int, members: list[tuple[str, int, int]],
              union: bool = False) -> int:
    words = [_s(b, name), K.make_info(K.UNION if union else K.STRUCT, len(members)), size]
    for mname, mtype, bit_off in members:
        words += [_s(b, mname), mtype, bit_off]
    return b.add_type_words(words)


def struct(b: Btf, name: str, members: list[tuple[str, int]], size: int | None = None) -> int:
    mem = [(n, t, 32 * i) for i, (n, t) in enumerate(members)]
    return composite(b, name, size if size is not None else 4 * len(members), mem)


def fwd(b: Btf, name: str, union: bool = False) -> int:
    return b.add_type_words([_s(b, name), K.make_info(K.FWD, 0, int(union)), 0])


def enum(b: Btf, name: str, values: list[tuple[str, int]], size: int = 4) -> int:
    words = [_s(b, name), K.make_info(K.ENUM, len(values)), size]
    for n, v in values:
        words += [_s(b, n), v & 0xFFFFFFFF]
    return b.add_type_words(words)


def enum64(b: Btf, name: str, values: list[tuple[str, int]]) -> int:
    words = [_s(b, name), K.make_info(K.ENUM64, len(values)), 8]
    for n, v in values:
        words += [_s(b, n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF]
    return b.add_type_words(words)


def array(b: Btf, elem: int, index: int, nelems: int) -> int:
    return b.add_type_words([0, K.make_info(K.ARRAY), 0, elem, index, nelems])


def proto(b: Btf, ret: int, params: list[tuple[str, int]]) -> int:
    words = [0, K.make_info(K.FUNC_PROTO, len(params)), ret]
    for n, t in params:
        words += [_s(b, n), t]
    return b.add_type_words(words)


def func(b: Btf, name: str, proto_id: int, linkage: int = 1) -> int:
    return b.add_type_words([_s(b, name), K.make_info(K.FUNC, linkage), proto_id])


def var(b: Btf, name: str, target: int) -> int:
    return b.add_type_words([_s(b, name), K.make_info(K.VAR), target, 1])


def datasec(b: Btf, name: str, entries: list[tuple[int, int, int]]) -> int:
    words = [_s(b, name), K.make_info(K.DATASEC, len(entries)), 0]
    for t, off, size in entries:
        words += [t, off, size]
    return b.add_type_words(words)


def decl_tag(b: Btf, value: str, target: int, idx: int = -1) -> int:
    return b.add_type_words([_s(b, value), K.make_info(K.DECL_TAG), target, idx & 0xFFFFFFFF])


def describe(b: Btf) -> list[tuple[str, str, tuple[int, ...]]]:
    """(kind, name, ID fields) per own type: a readable, ID-exact summary."""
    out = []
    for _tid, t in b.iter_own():
        out.append((K.kind_name(K.kind_of(t[1])), b.str_at(t[0]).decode(),
                    tuple(t[s] for s in K.id_slots(t))))
    return out
