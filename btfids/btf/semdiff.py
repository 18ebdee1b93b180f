"""Semantic diff of two BTFs: types matched by what they are, not by their IDs.

*Roots* are what a diff reports: named types (struct, union, enum, typedef, fwd, int,
float, func, var, datasec), decl tags, and anonymous types nothing references. A root's
identity is (kind, name), a decl tag's is its whole form (name, target, component), an
unreferenced anonymous type's is its form. Anonymous types that are referenced belong
to their referrer's form (:mod:`btfids.btf.canon`): a new prototype of a function shows
as a change of that function. Same identity, different form: *changed*; a form present
more or fewer times (dedup merged copies): *changed* ("copies 2 -> 1"). Every type whose
form is on both sides is paired in ID order; pairs with different IDs are *renumbered*.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from . import kinds as K
from .canon import CUT_KINDS, Canon, Forms, render

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .model import Btf

Key = tuple  # a root's identity


class Snapshot:
    """One BTF's own types reduced to forms: ``forms[i]`` is own type ``start + i``'s
    form number; ``roots`` maps identity → [(form, id)] in ID order."""

    def __init__(self, btf: Btf, canon: Canon) -> None:
        self.canon = canon
        self.start = btf.start_id
        self.base = btf.base
        self._base_names: set[Key] | None = None
        fm = Forms(btf, canon)
        own = range(btf.start_id, btf.type_cnt)
        self.forms = list(map(fm.form, own))
        referenced = fm.referenced
        self.roots: dict[Key, list[tuple[int, int]]] = defaultdict(list)
        forms = canon.forms
        named = CUT_KINDS | {K.DATASEC}
        DECL_TAG = K.DECL_TAG
        for tid, n in zip(own, self.forms, strict=True):
            f = forms[n]
            kind, name = f[0], f[1]
            if kind == DECL_TAG:
                key: Key = (kind, name, f[3], f[4], f[2])
            elif name and kind in named:
                key = (kind, name)
            elif referenced(tid):
                continue
            else:
                key = (kind, name, n)
            self.roots[key].append((n, tid))
        self.present = set(self.forms)


def diff(old: Btf, new: Btf, canon: Canon | None = None) -> Diff:
    """The semantic diff of the own types of ``old`` and ``new``."""
    canon = canon or Canon()
    return compare(Snapshot(old, canon), Snapshot(new, canon))


class Diff:
    """``added``/``removed``/``changed``: entries (dicts with ``kind``, ``name`` and
    more, see :func:`_entry`); ``renumbered``: paired types whose ID differs."""

    def __init__(self) -> None:
        self.added: list[dict[str, Any]] = []
        self.removed: list[dict[str, Any]] = []
        self.changed: list[dict[str, Any]] = []
        self.renumbered = 0

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed,
                "renumbered": self.renumbered}

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.removed)} removed, "
                f"{len(self.changed)} changed; renumbered: {self.renumbered}")

    def brief(self, first: int = 5) -> dict[str, Any]:
        """Counts per kind and the first few names of each list (a pass's changes)."""
        out: dict[str, Any] = {}
        for label in ("added", "removed", "changed"):
            entries = getattr(self, label)
            out[label] = {"count": len(entries),
                          "by_kind": dict(sorted(Counter(e["kind"] for e in entries).items())),
                          "first": [label_of(e) for e in entries[:first]]}
        out["renumbered"] = self.renumbered
        return out


def label_of(e: dict[str, Any]) -> str:
    """``KIND name`` (a decl tag: ``DECL_TAG name -> target``)."""
    text = f"{e['kind']} {e['name'] or '(anon)'}"
    if "target" in e:
        text += f" -> {e['target']}"
        if e.get("component_idx", -1) >= 0:
            text += f" #{e['component_idx']}"
    if e.get("in_base"):
        text += " (the base has it)"
    if e.get("from_base"):
        text += " (the old base had it)"
    return text


def compare(a: Snapshot, b: Snapshot) -> Diff:
    """Diff two snapshots made with the same :class:`Canon`."""
    canon = a.canon
    out = Diff()
    out.renumbered = _renumbered(a, b)
    for key in sorted(_differing(a.roots, b.roots), key=_sort_key):
        old = a.roots.get(key, [])
        new = b.roots.get(key, [])
        co = Counter(n for n, _ in old)
        cn = Counter(n for n, _ in new)
        for n in sorted(co.keys() & cn.keys()):
            if co[n] != cn[n]:
                e = _entry(canon, n, _first_id(old, n), _first_id(new, n))
                e["changes"] = [f"copies {co[n]} -> {cn[n]}"]
                out.changed.append(e)
        gone = [(n, tid) for n, tid in old if n not in cn]
        came = [(n, tid) for n, tid in new if n not in co]
        named = key[0] != K.DECL_TAG and len(key) == 2
        while named and gone and came:
            (on, otid), (nn, ntid) = _closest(canon, gone, came)
            e = _entry(canon, nn, otid, ntid)
            e["changes"] = describe(canon, canon.forms[on], canon.forms[nn])
            out.changed.append(e)
        for n, tid in gone:
            if len(key) == 3 and n in b.present:
                continue        # unreferenced now, still there: not removed
            e = _entry(canon, n, tid, None)
            if len(key) == 2 and b.base is not None and key in _base_names(b):
                e["in_base"] = True     # dedup let the base's type stand for it
            out.removed.append(e)
        for n, tid in came:
            if len(key) == 3 and n in a.present:
                continue        # left unreferenced by a change elsewhere: not new
            e = _entry(canon, n, None, tid)
            if len(key) == 2 and a.base is not None and key in _base_names(a):
                e["from_base"] = True   # distill moved it out of the base
            out.added.append(e)
    return out


def _base_names(snap: Snapshot) -> set[Key]:
    """(kind, name) of every named type of the snapshot's base (built on first use)."""
    names = snap._base_names
    if names is None:
        base = snap.base
        assert base is not None
        infos = list(base.names_and_infos())
        strs = base.strings_at([off for off, _ in infos])
        names = {((info >> 24) & 0x7F, s) for s, (_, info) in zip(strs, infos, strict=True)}
        snap._base_names = names
    return names


def _differing(ra: dict[Key, list[tuple[int, int]]],
               rb: dict[Key, list[tuple[int, int]]]) -> list[Key]:
    """Identities whose forms (with their multiplicity and order) differ."""
    out = [k for k in rb.keys() - ra.keys()]
    get = rb.get
    for k, old in ra.items():
        new = get(k)
        if new is None:
            out.append(k)
        elif len(old) == 1 and len(new) == 1:
            if old[0][0] != new[0][0]:
                out.append(k)
        elif [n for n, _ in old] != [n for n, _ in new]:
            out.append(k)
    return out


def _closest(canon: Canon, gone: list[tuple[int, int]],
             came: list[tuple[int, int]]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Take the most alike old/new pair of forms off the two lists (several changed
    types of one name: pair each with its own new form, not by ID order)."""
    if len(gone) == 1 and len(came) == 1:
        return gone.pop(), came.pop()
    forms = canon.forms
    best = max(((i, j) for i in range(len(gone)) for j in range(len(came))),
               key=lambda ij: _likeness(forms[gone[ij[0]][0]], forms[came[ij[1]][0]]))
    return gone.pop(best[0]), came.pop(best[1])


def _likeness(a: Any, b: Any) -> int:
    """Fields and elements (members, params, values) two forms share."""
    same = sum(1 for x, y in zip(a, b, strict=False) if x == y)
    for x, y in zip(a, b, strict=False):
        if isinstance(x, tuple) and isinstance(y, tuple):
            same += len(set(x) & set(y))
    return same


def _first_id(pairs: list[tuple[int, int]], n: int) -> int:
    return next(tid for m, tid in pairs if m == n)


def _sort_key(key: Key) -> tuple[Any, ...]:
    return (key[0], key[1], *(str(k) for k in key[2:]))


def _renumbered(a: Snapshot, b: Snapshot) -> int:
    """Types paired by form (in ID order within a form) whose IDs differ."""
    first_a, first_b = _first_ids(a), _first_ids(b)
    common = first_a.keys() & first_b.keys()
    moved = sum(1 for n in common if first_a[n] != first_b[n])
    if len(first_a) == len(a.forms) and len(first_b) == len(b.forms):
        return moved
    # forms held by several types: pair the second, third... copies too
    ids_a: dict[int, list[int]] = defaultdict(list)
    ids_b: dict[int, list[int]] = defaultdict(list)
    for ids, snap in ((ids_a, a), (ids_b, b)):
        for n, count in Counter(snap.forms).items():
            if count > 1 and n in common:
                ids[n] = []
        for i, n in enumerate(snap.forms, snap.start):
            if n in ids:
                ids[n].append(i)
    for n in ids_a.keys() | ids_b.keys():
        pa, pb = ids_a.get(n) or [first_a[n]], ids_b.get(n) or [first_b[n]]
        moved += sum(1 for x, y in zip(pa[1:], pb[1:], strict=False) if x != y)
    return moved


def _first_ids(snap: Snapshot) -> dict[int, int]:
    """Form → the lowest ID holding it."""
    last = snap.start + len(snap.forms) - 1
    return dict(zip(reversed(snap.forms), range(last, snap.start - 1, -1), strict=True))


def _entry(canon: Canon, n: int, old_id: int | None, new_id: int | None) -> dict[str, Any]:
    f = canon.forms[n]
    kind = f[0]
    e: dict[str, Any] = {"kind": K.kind_name(kind), "name": f[1].decode("latin-1")}
    if kind == K.DECL_TAG:
        e["target"] = _target_name(canon, f[3])
        e["component_idx"] = f[4]
    e["old_id"] = old_id
    e["new_id"] = new_id
    return e


def _target_name(canon: Canon, n: int) -> str:
    f = canon.forms[n]
    if f[0] == "ref":
        return f[2].decode("latin-1")
    return render(canon, n)


# ------------------------------------------------------------------ what changed
def describe(canon: Canon, old: Any, new: Any) -> list[str]:
    """What differs between two forms of one identity, one phrase per difference."""
    kind = new[0]

    def r(n: int) -> str:
        return render(canon, n)

    if old[0] != kind:
        return [f"kind {K.kind_name(old[0])} -> {K.kind_name(kind)}"]
    out: list[str] = []
    if kind in (K.STRUCT, K.UNION):
        _attr(out, "size", old[2], new[2])
        _attr(out, "kflag", old[3], new[3])
        out += _members(canon, old[4], new[4])
    elif kind in (K.ENUM, K.ENUM64):
        _attr(out, "size", old[2], new[2])
        _attr(out, "signed", old[3], new[3])
        ov, nv = dict(old[4]), dict(new[4])
        for name in ov.keys() - nv.keys():
            out.append(f"value {_t(name)} removed")
        for name in nv.keys() - ov.keys():
            out.append(f"value {_t(name)} = {nv[name]} added")
        for name in ov.keys() & nv.keys():
            _attr(out, f"value {_t(name)}", ov[name], nv[name])
    elif kind == K.FUNC:
        _attr(out, "linkage", old[2], new[2])
        if old[3] != new[3]:
            out += _proto_changes(canon, old[3], new[3])
    elif kind == K.FUNC_PROTO:
        out += _proto_changes(canon, canon.intern(old), canon.intern(new))
    elif kind == K.DATASEC:
        _attr(out, "size", old[2], new[2])
        ov = {r(v): (off, sz) for v, off, sz in old[3]}
        nv = {r(v): (off, sz) for v, off, sz in new[3]}
        for v in sorted(ov.keys() - nv.keys()):
            out.append(f"{v} removed")
        for v in sorted(nv.keys() - ov.keys()):
            out.append(f"{v} added")
        for v in sorted(ov.keys() & nv.keys()):
            _attr(out, f"{v} at", ov[v], nv[v])
    elif kind == K.VAR:
        _ref(out, canon, "type", old[2], new[2])
        _attr(out, "linkage", old[3], new[3])
    elif kind in (K.TYPEDEF, K.PTR, K.CONST, K.VOLATILE, K.RESTRICT, K.TYPE_TAG):
        _ref(out, canon, "type", old[3], new[3])
    elif kind in (K.INT, K.FLOAT, K.FWD):
        out.append(f"attributes {old[2:]} -> {new[2:]}")
    if not out:
        out.append("form differs")
    return out


def _t(name: bytes) -> str:
    return name.decode("latin-1") or "(anon)"


def _attr(out: list[str], what: str, a: Any, b: Any) -> None:
    if a != b:
        out.append(f"{what} {a} -> {b}")


def _ref(out: list[str], canon: Canon, what: str, a: int, b: int) -> None:
    if a != b:
        out.append(f"{what} {render(canon, a)} -> {render(canon, b)}")


def _members(canon: Canon, old: tuple[Any, ...], new: tuple[Any, ...]) -> list[str]:
    """Member changes: matched by name (anonymous members by their order)."""
    out: list[str] = []

    def keyed(ms: tuple[Any, ...]) -> dict[tuple[bytes, int], tuple[int, int]]:
        seen: Counter[bytes] = Counter()
        d = {}
        for name, ref, off in ms:
            d[(name, seen[name])] = (ref, off)
            seen[name] += 1
        return d

    om, nm = keyed(old), keyed(new)
    for k in om:
        if k not in nm:
            out.append(f"member {_t(k[0])} removed")
    for k, (ref, off) in nm.items():
        if k not in om:
            out.append(f"member {_t(k[0])} added ({render(canon, ref)} at bit {off})")
            continue
        oref, ooff = om[k]
        _ref(out, canon, f"member {_t(k[0])} type", oref, ref)
        _attr(out, f"member {_t(k[0])} offset", ooff, off)
    return out


def _proto_changes(canon: Canon, a: int, b: int) -> list[str]:
    fa, fb = canon.forms[a], canon.forms[b]
    if fa[0] != K.FUNC_PROTO or fb[0] != K.FUNC_PROTO:
        return [f"type {render(canon, a)} -> {render(canon, b)}"]
    out: list[str] = []
    _ref(out, canon, "return", fa[2], fb[2])
    pa, pb = fa[3], fb[3]
    for i in range(max(len(pa), len(pb))):
        if i >= len(pb):
            out.append(f"param {i} {_t(pa[i][0])} removed ({render(canon, pa[i][1])})")
        elif i >= len(pa):
            out.append(f"param {i} {_t(pb[i][0])} added ({render(canon, pb[i][1])})")
        else:
            if pa[i][0] != pb[i][0]:
                out.append(f"param {i} name {_t(pa[i][0])} -> {_t(pb[i][0])}")
            _ref(out, canon, f"param {i} {_t(pb[i][0])} type", pa[i][1], pb[i][1])
    return out
