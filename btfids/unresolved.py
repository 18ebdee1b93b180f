"""Why a ``BTF_ID`` symbol does not resolve (``btfids explain``).

Resolution (symbols.py) looks a name up by kind over the whole BTF, base first, and
takes the lowest ID. Each symbol it leaves at 0, and each whose name it finds more than
once in its kind, gets a cause from a fixed vocabulary, with the evidence:

- ``not-in-symtab``: a ``func`` whose name no symbol of the ELF's ``.symtab`` defines
  (typically compiled out by the config);
- ``not-in-btf``: the symbol is there (or the name is a type's), the BTF has no type of
  that name at all (pahole skipped it: asm, inconsistent prototype, optimised away);
- ``wrong-kind``: the BTF has the name as other kinds only (they are listed);
- ``ambiguous``: several types of that name and kind (the ID taken is the lowest);
- split BTF: ``in-base`` / ``not-in-base``, whether the base has the name at all.
"""

from __future__ import annotations

from bisect import bisect_right

from ._dc import dataclass, field
from .btf import kinds as K
from .symbols import PREFIX, BtfIdSymbols, patch_words, resolve_ids

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .btf import Btf
    from .context import Log
    from .elf import ElfImage

CAUSES = ("not-in-symtab", "not-in-btf", "wrong-kind", "ambiguous")
_KIND_OF_TABLE = {"struct": K.STRUCT, "union": K.UNION, "typedef": K.TYPEDEF,
                  "func": K.FUNC}
SHN_UNDEF = 0


@dataclass
class Finding:
    """One symbol that does not resolve (or resolves to one of several types)."""

    kind: str       # the BTF_ID table: struct, union, typedef, func
    name: str
    cause: str      # one of CAUSES
    detail: str     # the evidence, one line
    sets: list[str] = field(default_factory=list)   # "set NAME" / "list NAME"
    base: str | None = None     # "in-base" / "not-in-base" for split BTF
    id: int = 0                 # the ID taken (ambiguous), else 0
    candidates: list[tuple[int, str]] = field(default_factory=list)   # (ID, KIND)

    def line(self) -> str:
        """The one-line cause printed under upstream's warning with ``-v``."""
        text = f"{self.cause}: {self.detail}"
        if self.base:
            text += f" [{self.base}]"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "cause": self.cause,
                "detail": self.detail, "sets": self.sets, "base": self.base,
                "id": self.id, "candidates": [list(c) for c in self.candidates]}


def explain(elf: ElfImage, syms: BtfIdSymbols, btf: Btf, log: Log) -> list[Finding]:
    """Resolve ``syms`` against ``btf`` (upstream's warnings go to ``log``, as the
    tool prints them) and explain every symbol left unresolved or found twice."""
    resolve_ids(syms, btf, log)
    patch_words(syms, list(syms.section.words), log)
    names = {n for k in _KIND_OF_TABLE for n in syms.table(k)}
    where = _types_named(btf, names)
    base_where = _types_named(btf.base, names) if btf.base is not None else None
    defined = _defined_symbols(elf)
    holders = _holders(elf, syms)
    out: list[Finding] = []
    for table, bkind in _KIND_OF_TABLE.items():
        for node in BtfIdSymbols.descending(syms.table(table)):
            hits = where.get(node.name, [])
            same = [tid for tid, k in hits if k == bkind]
            if node.id and len(same) < 2:
                continue
            f = _cause(table, node.name, node.id, hits, same, defined)
            f.sets = sorted({h for a in node.addrs for h in holders(a)})
            if base_where is not None:
                f.base = "in-base" if node.name in base_where else "not-in-base"
            out.append(f)
    return out


def _cause(table: str, name: bytes, taken: int, hits: list[tuple[int, int]],
           same: list[int], defined: dict[bytes, bool]) -> Finding:
    text = name.decode("latin-1")
    cands = [(tid, K.kind_name(k)) for tid, k in hits]
    if len(same) > 1:
        ids = ", ".join(map(str, same))
        return Finding(table, text, "ambiguous",
                       f"{len(same)} {K.kind_name(_KIND_OF_TABLE[table])} types named "
                       f"{text} ({ids}); ID {taken} was taken", id=taken, candidates=cands)
    if hits:
        kinds = ", ".join(f"{k} [{tid}]" for tid, k in cands)
        return Finding(table, text, "wrong-kind",
                       f"no {K.kind_name(_KIND_OF_TABLE[table])} named {text}; the BTF has "
                       f"{kinds}", candidates=cands)
    if table == "func" and name not in defined:
        detail = f"no symbol {text} in the ELF's .symtab (compiled out?)"
        return Finding(table, text, "not-in-symtab", detail)
    if table == "func":
        detail = (f"{'symbol' if defined[name] else 'undefined symbol'} {text} is in "
                  f".symtab, the BTF has no type of that name (skipped by pahole?)")
    else:
        detail = f"the BTF has no type named {text}"
    return Finding(table, text, "not-in-btf", detail)


def _types_named(btf: Btf, names: set[bytes]) -> dict[bytes, list[tuple[int, int]]]:
    """name → [(ID, kind)] over ``btf`` and its bases, for the wanted names (5-bit
    kinds, as resolution compares them)."""
    out: dict[bytes, list[tuple[int, int]]] = {}
    for lv in btf.levels():
        pairs = list(lv.names_and_infos())
        strs = lv.strings_at([off for off, _ in pairs])
        for tid, (s, (_, info)) in enumerate(zip(strs, pairs, strict=True), lv.start_id):
            if s in names:
                out.setdefault(s, []).append((tid, (info >> 24) & 0x1F))
    return out


def _defined_symbols(elf: ElfImage) -> dict[bytes, bool]:
    """Every named symbol of ``.symtab`` → whether it is defined (not SHN_UNDEF)."""
    symtab = elf.symtab()
    if symtab is None or not symtab.entsize:
        return {}
    out: dict[bytes, bool] = {}
    for name, shndx in elf.named_symbols(symtab):
        out[name] = out.get(name, False) or shndx != SHN_UNDEF
    return out


def _holders(elf: ElfImage, syms: BtfIdSymbols) -> Any:
    """address → the sets holding it, or the ``BTF_ID_LIST`` (the closest label of
    ``.BTF_ids`` at or before it that is not a set)."""
    sec = syms.section
    spans = []
    for node in syms.sets.values():
        if len(node.addrs) == 1:
            start = node.addrs[0] + (8 if node.kind == "set8" else 4)
            step = 8 if node.kind == "set8" else 4
            spans.append((start, start + step * node.cnt, node.name.decode("latin-1")))
    set_starts = {node.addrs[0] for node in syms.sets.values() if node.addrs}
    symtab = elf.symtab()
    labels = sorted(
        (s.value, s.name.decode("latin-1"))
        for s in (elf.symbols_with_prefix(symtab, b"", sec.index) if symtab else [])
        if not s.name.startswith(PREFIX) and s.value not in set_starts)
    addrs = [a for a, _ in labels]

    def holders(addr: int) -> list[str]:
        found = [f"set {name}" for lo, hi, name in spans if lo <= addr < hi]
        if not found:
            i = bisect_right(addrs, addr)
            if i:
                found.append(f"list {labels[i - 1][1]}")
        return found

    return holders


def annotate(warnings: list[str], findings: list[Finding], prefix: str = "    ") -> list[str]:
    """Upstream's warning lines as they are, each followed by its finding's cause line
    (``-v``). Unresolved warnings come in the order :func:`explain` lists its unresolved
    findings; a multiple-IDs warning names the symbol and the IDs it saw."""
    unresolved = iter([f for f in findings if f.cause != "ambiguous"])
    out: list[str] = []
    for line in warnings:
        out.append(line)
        f: Finding | None = None
        if line.startswith("WARN: resolve_btfids: unresolved symbol "):
            f = next(unresolved, None)
        elif line.startswith("WARN: multiple IDs found for '"):
            name, _, ids = line[len("WARN: multiple IDs found for '"):].partition("': ")
            seen = {int(x) for x in ids.split(" - ")[0].split(", ") if x.isdigit()}
            f = next((g for g in findings if g.cause == "ambiguous" and g.name == name
                      and seen <= {tid for tid, _ in g.candidates}), None)
        if f is not None:
            out.append(f"{prefix}{f.kind} {f.name}: {f.line()}")
    return out
