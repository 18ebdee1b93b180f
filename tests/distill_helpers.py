"""Small BTF builders for the distill/relocate/check tests (records written word by word)."""

from __future__ import annotations

from btfids.btf import Btf
from btfids.btf import kinds as K


class Builder:
    """Appends raw records to a :class:`Btf`; every method returns the new type ID."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf

    def s(self, name: str) -> int:
        return self.btf.add_str(name.encode()) if name else 0

    def rec(self, kind: int, name: str, size_or_type: int, *trail: int,
            vlen: int = 0, kflag: int = 0) -> int:
        name_off = self.s(name)
        return self.btf.add_type_words(
            [name_off, K.make_info(kind, vlen, kflag), size_or_type, *trail]
        )

    def int_(self, name: str, size: int = 4, enc: int = 1) -> int:
        return self.rec(K.INT, name, size, (enc << 24) | size * 8)

    def float_(self, name: str, size: int = 8) -> int:
        return self.rec(K.FLOAT, name, size)

    def ref(self, kind: int, ref: int, name: str = "") -> int:
        return self.rec(kind, name, ref)

    def ptr(self, ref: int) -> int:
        return self.rec(K.PTR, "", ref)

    def fwd(self, name: str, union: bool = False) -> int:
        return self.rec(K.FWD, name, 0, kflag=int(union))

    def array(self, elem: int, index: int, n: int) -> int:
        return self.rec(K.ARRAY, "", 0, elem, index, n)

    def comp(self, name: str, size: int, members: list[tuple[str, int, int]],
             union: bool = False) -> int:
        words: list[int] = []
        name_off = self.s(name)
        for mname, mtype, moff in members:
            words += [self.s(mname), mtype, moff]
        kind = K.UNION if union else K.STRUCT
        return self.btf.add_type_words(
            [name_off, K.make_info(kind, len(members)), size, *words]
        )

    def enum(self, name: str, size: int, values: list[tuple[str, int]]) -> int:
        name_off = self.s(name)
        words: list[int] = []
        for vname, val in values:
            words += [self.s(vname), val & 0xFFFFFFFF]
        return self.btf.add_type_words([name_off, K.make_info(K.ENUM, len(values)), size, *words])

    def enum64(self, name: str, size: int, values: list[tuple[str, int]]) -> int:
        name_off = self.s(name)
        words: list[int] = []
        for vname, val in values:
            words += [self.s(vname), val & 0xFFFFFFFF, (val >> 32) & 0xFFFFFFFF]
        return self.btf.add_type_words(
            [name_off, K.make_info(K.ENUM64, len(values)), size, *words]
        )

    def proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        words: list[int] = []
        for pname, ptype in params:
            words += [self.s(pname), ptype]
        return self.btf.add_type_words([0, K.make_info(K.FUNC_PROTO, len(params)), ret, *words])

    def func(self, name: str, proto: int, linkage: int = 1) -> int:
        return self.rec(K.FUNC, name, proto, vlen=linkage)

    def var(self, name: str, type_id: int, linkage: int = 1) -> int:
        return self.rec(K.VAR, name, type_id, linkage)

    def decl_tag(self, value: str, ref: int, idx: int = -1) -> int:
        return self.rec(K.DECL_TAG, value, ref, idx & 0xFFFFFFFF)


def reparse(btf: Btf, base: Btf | None = None) -> Btf:
    """Serialise and parse again (what a reader of the written file sees)."""
    return Btf.parse(btf.raw_data(), base=base)


def records(btf: Btf) -> list[tuple[str, bytes, list[int]]]:
    """(kind, name, trailing words after name/info) of every own type, for readable asserts."""
    return [
        (K.kind_name(K.kind_of(t[1])), btf.str_at(t[0]), t[1:])
        for t in btf.types
    ]
