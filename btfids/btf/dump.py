"""The text dump of ``bpftool btf dump file``: one ``[ID] KIND 'name' key=value`` line per
type, then one tab-indented line per member, parameter, enumerator or section entry.

The records are walked straight from the type section's words (no per-type objects), and
the text is produced in chunks for the caller to stream: vmlinux (107k types, 253k
lines) is dumped in about the time bpftool takes into a pipe (docs/user-guide.md). Names
are decoded as latin-1, so encoding the text as latin-1 gives the names' exact bytes.

Beyond bpftool 7.1: a DECL_TAG or TYPE_TAG with kflag 1 (an attribute) ends in
`` kflag=1``; a kind past ENUM64 prints ``KIND<n>`` and its words instead of failing.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator

from . import kinds as K
from .model import HOST_ORDER, Btf

_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}


def own_words(btf: Btf) -> array[int]:
    """The own type section of ``btf`` as u32 words in host order."""
    raw = btf.raw_data()
    hdr_len = struct.unpack_from(btf.order + "I", raw, 4)[0]
    type_off, type_len = struct.unpack_from(btf.order + "II", raw, 8)
    words = array("I")
    words.frombytes(raw[hdr_len + type_off : hdr_len + type_off + type_len])
    if btf.order != HOST_ORDER:
        words.byteswap()
    return words


class _Names:
    """Offset → name (latin-1 str) for a BTF and its bases: a slice of the own string
    section decoded once; base offsets and the rest through ``str_at``."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.text = bytes(btf.strs).decode("latin-1")
        self.start = btf.start_str_off

    def __call__(self, off: int) -> str:
        local = off - self.start
        if 0 <= local < len(self.text):
            return self.text[local : self.text.index("\0", local)]
        return self.btf.str_at(off).decode("latin-1")


def dump_lines(
    btf: Btf,
    *,
    ids: Iterable[int] | None = None,
    kind: int | None = None,
    name: bytes | None = None,
    limit: int = 0,
    with_base: bool = False,
    chunk: int = 2048,
) -> Iterator[str]:
    """Chunks of dump text (each ends in a newline) for ``btf``'s own types (and its
    bases' first with ``with_base``), or only ``ids``/``kind``/``name``; at most
    ``limit`` types when set."""
    chain = [btf]
    while with_base and chain[0].base is not None:
        chain.insert(0, chain[0].base)
    wanted = set(ids) if ids is not None else None
    sname = name.decode("latin-1") if name is not None else None
    shown = 0
    plain = wanted is None and kind is None and sname is None and not limit
    for part in chain:
        names = _Names(part)
        if plain and part.base is None:
            yield from _dump_standalone(part, names, chunk)
            continue
        buf: list[str] = []
        for _tid, text in _walk(part, names, wanted, kind, sname):
            buf.append(text)
            shown += 1
            if limit and shown >= limit:
                yield "\n".join(buf) + "\n"
                return
            if len(buf) >= chunk:
                yield "\n".join(buf) + "\n"
                buf = []
        if buf:
            yield "\n".join(buf) + "\n"


def _walk(btf: Btf, names: _Names, wanted: set[int] | None, only_kind: int | None,
          only_name: str | None, *, start: tuple[int, int] | None = None,
          words: array[int] | None = None) -> Iterator[tuple[int, str]]:
    """(ID, text) of every type that passes the filters, from ``start`` (word index,
    ID) on; ``words``: :func:`own_words` of ``btf`` if the caller has them."""
    w = own_words(btf) if words is None else words
    n = len(w)
    i, tid = start if start is not None else (0, btf.start_id)
    kind_names = K.KIND_NAMES
    while i < n:
        name_off, info, size = w[i], w[i + 1], w[i + 2]
        kind = (info >> 24) & 0x7F
        vlen = info & 0xFFFFFF
        end = i + 3 + (K.trailing_words(kind, vlen) if kind <= K.MAX_KNOWN_KIND else 0)
        skip = (
            (wanted is not None and tid not in wanted)
            or (only_kind is not None and kind != only_kind)
        )
        if not skip:
            nm = names(name_off) if name_off else ""
            if only_name is not None and nm != only_name:
                skip = True
        if skip:
            i = end
            tid += 1
            continue
        head = f"[{tid}] {kind_names[kind] if kind <= K.MAX_KNOWN_KIND else f'KIND{kind}'}" \
            f" '{nm or '(anon)'}'"
        if kind in (K.PTR, K.CONST, K.VOLATILE, K.RESTRICT, K.TYPEDEF):
            text = f"{head} type_id={size}"
        elif kind == K.STRUCT or kind == K.UNION:
            parts = [f"{head} size={size} vlen={vlen}"]
            kflag = info >> 31
            for j in range(i + 3, end, 3):
                moff = w[j]
                off = w[j + 2]
                mn = names(moff) if moff else ""
                if kflag and off >> 24:
                    parts.append(f"\t'{mn or '(anon)'}' type_id={w[j + 1]} "
                                 f"bits_offset={off & 0xFFFFFF} bitfield_size={off >> 24}")
                else:
                    parts.append(f"\t'{mn or '(anon)'}' type_id={w[j + 1]} "
                                 f"bits_offset={off & 0xFFFFFF if kflag else off}")
            text = "\n".join(parts)
        elif kind == K.FUNC_PROTO:
            parts = [f"{head} ret_type_id={size} vlen={vlen}"]
            for j in range(i + 3, end, 2):
                poff = w[j]
                parts.append(f"\t'{(names(poff) if poff else '') or '(anon)'}' "
                             f"type_id={w[j + 1]}")
            text = "\n".join(parts)
        elif kind == K.FUNC:
            text = (f"{head} type_id={size} "
                    f"linkage={K.LINKAGE_NAMES[vlen] if vlen < 3 else '(unknown)'}")
        elif kind == K.INT:
            v = w[i + 3]
            enc = _INT_ENC.get((v >> 24) & 0xF, "UNKN")
            text = (f"{head} size={size} bits_offset={(v >> 16) & 0xFF} nr_bits={v & 0xFF} "
                    f"encoding={enc}")
        elif kind == K.ARRAY:
            text = f"{head} type_id={w[i + 3]} index_type_id={w[i + 4]} nr_elems={w[i + 5]}"
        elif kind == K.ENUM:
            signed = info >> 31
            parts = [f"{head} encoding={'SIGNED' if signed else 'UNSIGNED'} size={size} "
                     f"vlen={vlen}"]
            for j in range(i + 3, end, 2):
                v = w[j + 1]
                if signed and v >> 31:
                    v -= 1 << 32
                parts.append(f"\t'{names(w[j])}' val={v}")
            text = "\n".join(parts)
        elif kind == K.ENUM64:
            signed = info >> 31
            parts = [f"{head} encoding={'SIGNED' if signed else 'UNSIGNED'} size={size} "
                     f"vlen={vlen}"]
            for j in range(i + 3, end, 3):
                v = w[j + 1] | (w[j + 2] << 32)
                if signed and v >> 63:
                    v -= 1 << 64
                parts.append(f"\t'{names(w[j])}' val={v}{'LL' if signed else 'ULL'}")
            text = "\n".join(parts)
        elif kind == K.VAR:
            var_link = w[i + 3]
            text = (f"{head} type_id={size}, linkage="
                    f"{K.LINKAGE_NAMES[var_link] if var_link < 3 else '(unknown)'}")
        elif kind == K.DATASEC:
            parts = [f"{head} size={size} vlen={vlen}"]
            for j in range(i + 3, end, 3):
                vid = w[j]
                parts.append(f"\ttype_id={vid} offset={w[j + 1]} size={w[j + 2]} "
                             f"({_kind_and_name(btf, vid)})")
            text = "\n".join(parts)
        elif kind == K.FWD:
            text = f"{head} fwd_kind={'union' if info >> 31 else 'struct'}"
        elif kind == K.FLOAT:
            text = f"{head} size={size}"
        elif kind == K.DECL_TAG:
            idx = w[i + 3]
            text = (f"{head} type_id={size} "
                    f"component_idx={idx - (1 << 32) if idx >> 31 else idx}")
            if info >> 31:
                text += " kflag=1"
        elif kind == K.TYPE_TAG:
            text = f"{head} type_id={size}" + (" kflag=1" if info >> 31 else "")
        else:  # UNKN or a kind this project does not know
            text = f"{head} info={info:#x} size_or_type={size}"
        yield tid, text
        i = end
        tid += 1


def _kind_and_name(btf: Btf, tid: int) -> str:
    if not 0 < tid < btf.type_cnt:
        return "UNKNOWN '(anon)'"
    t = btf.type(tid)
    name = btf.str_at(t[0]).decode("latin-1") if t[0] else ""
    return f"{K.kind_name(K.kind_of(t[1]))} '{name or '(anon)'}'"


def _dump_standalone(btf: Btf, names: _Names, chunk: int) -> Iterator[str]:
    """:func:`_walk`'s text, without filters, for a standalone BTF (vmlinux: the case
    that must be fast): the common kinds inline, most frequent first, members and
    parameters by one comprehension per type; the rare kinds through :func:`_walk`."""
    w = own_words(btf)
    n = len(w)
    text = names.text
    find = text.index
    z = "\0"
    fixed = (0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0)
    elem = (0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3)
    kn = K.KIND_NAMES
    linkage = K.LINKAGE_NAMES
    out: list[str] = []
    add, ext = out.append, out.extend
    i = 0
    tid = 1
    flush = chunk
    while i < n:
        name_off = w[i]
        info = w[i + 1]
        kind = (info >> 24) & 0x7F
        vlen = info & 0xFFFFFF
        if kind > K.MAX_KNOWN_KIND:
            break  # Btf.parse refuses these; _walk prints them below
        end = i + 3 + fixed[kind] + elem[kind] * vlen
        nm = text[name_off : find(z, name_off)] if name_off else "(anon)"
        if kind == 12:  # FUNC
            add(f"[{tid}] FUNC '{nm}' type_id={w[i + 2]} "
                f"linkage={linkage[vlen] if vlen < 3 else '(unknown)'}")
        elif kind == 13:  # FUNC_PROTO
            add(f"[{tid}] FUNC_PROTO '{nm}' ret_type_id={w[i + 2]} vlen={vlen}")
            if vlen:
                ext([f"\t'{text[o : find(z, o)] if o else '(anon)'}' type_id={t}"
                     for o, t in zip(w[i + 3 : end : 2], w[i + 4 : end : 2], strict=True)])
        elif kind == 2:  # PTR
            add(f"[{tid}] PTR '{nm}' type_id={w[i + 2]}")
        elif (kind == 4 or kind == 5) and not info >> 31:  # STRUCT/UNION, no bitfields
            add(f"[{tid}] {kn[kind]} '{nm}' size={w[i + 2]} vlen={vlen}")
            if vlen:
                ext([f"\t'{text[o : find(z, o)] if o else '(anon)'}' type_id={t} "
                     f"bits_offset={b}"
                     for o, t, b in zip(w[i + 3 : end : 3], w[i + 4 : end : 3],
                                        w[i + 5 : end : 3], strict=True)])
        elif kind == 3:  # ARRAY
            add(f"[{tid}] ARRAY '{nm}' type_id={w[i + 3]} index_type_id={w[i + 4]} "
                f"nr_elems={w[i + 5]}")
        elif kind == 10 or kind == 8:  # CONST, TYPEDEF
            add(f"[{tid}] {kn[kind]} '{nm}' type_id={w[i + 2]}")
        else:
            add(next(_walk_one(btf, names, w, i, tid)))
        i = end
        tid += 1
        if tid >= flush:
            flush += chunk
            yield "\n".join(out) + "\n"
            out = []
            add, ext = out.append, out.extend
    if i < n:  # an unknown kind: the general walk from here on
        ext([line for _tid, line in _walk(btf, names, None, None, None, start=(i, tid))])
    if out:
        yield "\n".join(out) + "\n"


def _walk_one(btf: Btf, names: _Names, w: array[int], i: int, tid: int
              ) -> Iterator[str]:
    for _tid, line in _walk(btf, names, None, None, None, start=(i, tid), words=w):
        yield line
        return
