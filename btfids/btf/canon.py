"""Structural canonical forms of BTF types: identity by what a type is, not by its ID.

A form is a flat tuple: the kind, the name, the attributes, and one *reference number*
per referenced type. A reference to a named type that can stand for itself (struct,
union, enum, typedef, fwd, int, float, func, var) is the number of ``("ref", kind,
name)``: the cut that ends every cycle. A reference to anything else (pointers,
qualifiers, arrays, prototypes, anonymous aggregates, type tags) is the number of that
type's own form, so an anonymous type is known by its place in the type referring to it.
Forms are interned in a :class:`Canon` shared by the BTFs being compared: equal forms
get equal numbers, and a form is hashed once, however often it is referenced.
"""

from __future__ import annotations

from . import kinds as K

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .model import Btf

Form = tuple  # (kind, name, ...): see _form
#: reference number of VOID (type ID 0)
VOID = 0
REF = "ref"
CYCLE = "cycle"
#: kinds referenced by (kind, name) when named
CUT_KINDS = frozenset({K.INT, K.FLOAT, K.STRUCT, K.UNION, K.ENUM, K.ENUM64, K.FWD,
                       K.TYPEDEF, K.FUNC, K.VAR})


class Canon:
    """The interning table: form ↔ number (0 is VOID)."""

    def __init__(self) -> None:
        self.forms: list[Any] = [("void",)]
        self.numbers: dict[Any, int] = {("void",): VOID}

    def intern(self, form: Any) -> int:
        n = self.numbers.get(form)
        if n is None:
            n = self.numbers[form] = len(self.forms)
            self.forms.append(form)
        return n

    def ref_of_name(self, kind: int, name: bytes) -> int:
        return self.intern((REF, kind, name))


class Forms:
    """The forms of one BTF (own types, and the base types they reach), computed on
    demand: :meth:`form` (a type's own form number) and :meth:`ref` (the number its
    referrers use). Anonymous types are followed by recursion (no generator in the
    way, so each level is a Python frame only); a chain deeper than the interpreter's
    limit is reported as a :class:`ValueError`."""

    def __init__(self, btf: Btf, canon: Canon) -> None:
        self.btf = btf
        self.canon = canon
        cnt = btf.type_cnt
        self._memo: list[int | None] = [None] * cnt
        self._refs: list[int | None] = [None] * cnt
        self._names = _Names(btf)
        self._own_names()

    def _own_names(self) -> None:
        """Every string the own records name, read in one go."""
        offs: list[int] = []
        for t in self.btf.types:
            offs.append(t[0])
            kind = (t[1] >> 24) & 0x7F
            if kind in (K.STRUCT, K.UNION, K.ENUM64):
                offs.extend(t[3::3])
            elif kind in (K.ENUM, K.FUNC_PROTO):
                offs.extend(t[3::2])
        self._names.update(zip(offs, self.btf.strings_at(offs), strict=True))

    def name(self, off: int) -> bytes:
        return self._names[off]

    def referenced(self, tid: int) -> bool:
        """Whether a type whose form was computed references ``tid``."""
        return self._refs[tid] is not None

    def ref(self, tid: int) -> int:
        """The reference number of type ``tid`` (VOID for 0)."""
        if tid == 0:
            return VOID
        n = self._refs[tid]
        if n is not None:
            return n
        t = self.btf.type(tid)
        kind = (t[1] >> 24) & 0x7F
        if kind in CUT_KINDS and t[0]:
            n = self._refs[tid] = self.canon.intern((REF, kind, self.name(t[0])))
            return n
        n = self._number(tid)
        if self.canon.forms[n][0] != CYCLE:
            self._refs[tid] = n
        return n

    def form(self, tid: int) -> int:
        """The number of type ``tid``'s own form."""
        n = self._memo[tid]
        if n is not None and n >= 0:
            return n
        try:
            return self._number(tid)
        except RecursionError:
            pass
        # a chain of anonymous types deeper than the interpreter's stack: forget the
        # half-done ones, then number the chain bottom up (one level deep each)
        memo = self._memo
        for i, m in enumerate(memo):
            if m is not None and m < 0:
                memo[i] = None
        try:
            for x in self._postorder(tid):
                self._number(x)
            return self._number(tid)
        except RecursionError:
            raise ValueError(f"type [{tid}]: a cycle of anonymous types too long") from None

    def _postorder(self, tid: int) -> list[int]:
        """``tid`` and the anonymous types it reaches, referenced ones first."""
        btf, memo = self.btf, self._memo
        out: list[int] = []
        seen = {tid}
        stack = [(tid, iter(_refs_of(btf.type(tid))))]
        while stack:
            cur, it = stack[-1]
            for x in it:
                if x and x not in seen and memo[x] is None and self._refs[x] is None:
                    t = btf.type(x)
                    if not (t[0] and (t[1] >> 24) & 0x7F in CUT_KINDS):
                        seen.add(x)
                        stack.append((x, iter(_refs_of(t))))
                        break
            else:
                stack.pop()
                out.append(cur)
        return out

    def _number(self, tid: int) -> int:
        memo = self._memo
        n = memo[tid]
        if n is not None:
            if n < 0:   # an anonymous cycle (malformed BTF): cut it here
                return self.canon.intern((CYCLE, self.btf.kind(tid)))
            return n
        memo[tid] = -1
        form = self._form(self.btf.type(tid))
        numbers = self.canon.numbers
        n = numbers.get(form)
        if n is None:
            n = numbers[form] = len(self.canon.forms)
            self.canon.forms.append(form)
        memo[tid] = n
        return n

    def _form(self, t: list[int]) -> Form:
        kind = (t[1] >> 24) & 0x7F
        kflag = t[1] >> 31
        nm = self._names.__getitem__
        name = nm(t[0])
        refs = self._refs
        r = self.ref
        if kind == K.FUNC:
            x = t[2]
            return (kind, name, t[1] & 0xFFFFFF, refs[x] or r(x))
        elems: list[tuple[Any, ...]]
        if kind == K.FUNC_PROTO:
            elems = []
            for i in range(3, len(t), 2):
                x = t[i + 1]
                elems.append((nm(t[i]), refs[x] or r(x)))
            x = t[2]
            return (kind, name, refs[x] or r(x), tuple(elems))
        if kind in (K.STRUCT, K.UNION):
            elems = []
            for i in range(3, len(t), 3):
                x = t[i + 1]
                elems.append((nm(t[i]), refs[x] or r(x), t[i + 2]))
            return (kind, name, t[2], kflag, tuple(elems))
        if kind in (K.PTR, K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG):
            x = t[2]
            return (kind, name, kflag, refs[x] or r(x))
        if kind == K.ENUM:
            return (kind, name, t[2], kflag, tuple(
                [(nm(t[i]), t[i + 1]) for i in range(3, len(t), 2)]))
        if kind == K.ENUM64:
            return (kind, name, t[2], kflag, tuple(
                [(nm(t[i]), t[i + 1] | t[i + 2] << 32) for i in range(3, len(t), 3)]))
        if kind == K.DATASEC:
            return (kind, name, t[2], tuple(
                [(r(t[i]), t[i + 1], t[i + 2]) for i in range(3, len(t), 3)]))
        if kind == K.ARRAY:
            return (kind, name, r(t[3]), r(t[4]), t[5])
        if kind in (K.INT, K.FLOAT):
            return (kind, name, t[2], *t[3:])
        if kind == K.FWD:
            return (kind, name, kflag)
        if kind == K.VAR:
            return (kind, name, r(t[2]), t[3])
        if kind == K.DECL_TAG:
            return (kind, name, kflag, r(t[2]), K.to_signed32(t[3]))
        return (kind, name, *t[1:])   # an unknown kind: its words as they are


def _refs_of(t: list[int]) -> list[int]:
    try:
        return [t[i] for i in K.id_slots(t)]
    except K.UnknownKindError:
        return []


class _Names(dict[int, bytes]):
    """String offset → string; an offset not read in advance is read on first use."""

    def __init__(self, btf: Btf) -> None:
        super().__init__()
        self.btf = btf

    def __missing__(self, off: int) -> bytes:
        s = self[off] = self.btf.str_at(off)
        return s


# ------------------------------------------------------------------ rendering
def kind_label(kind: int) -> str:
    return K.kind_name(kind)


def _text(name: bytes) -> str:
    return name.decode("latin-1")


def render(canon: Canon, n: int, depth: int = 0) -> str:
    """A C-like spelling of reference number ``n`` (``struct foo *``, ``const char``,
    ``int (int, void *)``); anonymous aggregates as ``struct {N members}``."""
    f = canon.forms[n]
    head = f[0]
    if head == "void":
        return "void"
    if head == REF:
        kind, name = f[1], _text(f[2])
        if kind in (K.STRUCT, K.UNION, K.ENUM, K.ENUM64):
            return f"{'enum' if kind == K.ENUM64 else K.kind_name(kind).lower()} {name}"
        if kind == K.FWD:
            return f"fwd {name}"
        if kind == K.FUNC:
            return f"func {name}"
        if kind == K.VAR:
            return f"var {name}"
        return name
    if head == CYCLE:
        return f"<cycle through {K.kind_name(f[1])}>"
    if depth > 8:
        return "..."
    kind = head

    def sub(m: int) -> str:
        return render(canon, m, depth + 1)

    if kind == K.PTR:
        return f"{sub(f[3])} *"
    if kind in (K.CONST, K.VOLATILE, K.RESTRICT):
        inner = sub(f[3])
        q = K.kind_name(kind).lower()
        return f"{inner} {q}" if inner.endswith("*") else f"{q} {inner}"
    if kind == K.TYPE_TAG:
        attr = f"__attribute__(({_text(f[1])}))" if f[2] else f"__tag({_text(f[1])})"
        return f"{sub(f[3])} {attr}"
    if kind == K.TYPEDEF:
        return _text(f[1])
    if kind == K.ARRAY:
        return f"{sub(f[2])}[{f[4]}]"
    if kind == K.FUNC_PROTO:
        params = ", ".join(sub(p[1]) + (f" {_text(p[0])}" if p[0] else "") for p in f[3])
        return f"{sub(f[2])} ({params})"
    if kind in (K.STRUCT, K.UNION, K.ENUM, K.ENUM64):
        word = "enum" if kind == K.ENUM64 else K.kind_name(kind).lower()
        label = f" {_text(f[1])}" if f[1] else ""
        return f"{word}{label} {{{len(f[4])} {'values' if word == 'enum' else 'members'}}}"
    return f"{K.kind_name(kind).lower()} {_text(f[1])}".rstrip()
