"""Output checks: the kernel's BTF load rules, sortedness, and module relocation.

Spec btf-format.md §5.2 (kernel verifier rules, marked UNVERIFIED there: this is an
approximation of ``kernel/bpf/btf.c``'s meta checks plus its modifier-chain limit) and
finalize.md §3.3 (sorted output). Problems are returned as one-line strings; an empty
list means the BTF passed. :class:`TypeMatcher` decides structural equivalence of types
across two BTF objects (used to compare outputs that number types differently).
"""

from __future__ import annotations

import re
import sys

from . import kinds as K
from .model import Btf, BtfError
from .relocate import relocate

KERNEL_MAX_TYPE = 0x000FFFFF
KERNEL_MAX_NAME_OFFSET = 0x00FFFFFF
KSYM_NAME_LEN = 512
MAX_RESOLVE_DEPTH = 32
_INFO_MASK = 0x9F00FFFF  # bits a kernel without the widened vlen/kind accepts
_IDENT = re.compile(rb"[A-Za-z_.][A-Za-z0-9_.]*")
_MODIFIERS = (K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG)


def _is_ident(name: bytes) -> bool:
    """Kernel identifier rule: letter, ``_`` or ``.`` first, then alnum/``_``/``.``."""
    return len(name) < KSYM_NAME_LEN and _IDENT.fullmatch(name) is not None


def _type_problems(btf: Btf, tid: int, t: list[int]) -> list[str]:
    """Per-type meta checks of the kernel verifier (btf-format.md §5.2 table)."""
    info = t[1]
    kind = (info >> 24) & 0x7F
    vlen = info & 0xFFFFFF
    kflag = info >> 31
    out: list[str] = []
    if kind == K.UNKN or kind > K.MAX_KNOWN_KIND:
        return [f"invalid kind {kind}"]
    if info & ~_INFO_MASK:
        out.append(f"info 0x{info:08x} sets bits the kernel rejects")
    str_end = btf.start_str_off + len(btf.strs)

    def name_of(off: int) -> bytes | None:
        if off >= str_end or off > KERNEL_MAX_NAME_OFFSET:
            out.append(f"string offset {off} out of range")
            return None
        return btf.str_at(off)

    name = name_of(t[0])
    if name is None:
        return out
    type_cnt = btf.type_cnt

    def ref_ok(ref: int, what: str, nonzero: bool = False) -> None:
        if ref >= type_cnt or ref > KERNEL_MAX_TYPE:
            out.append(f"{what} type ID {ref} out of range")
        elif nonzero and not ref:
            out.append(f"{what} type ID is 0 (void)")

    def no_vlen_kflag(kflag_ok: bool = False) -> None:
        if vlen:
            out.append("vlen != 0")
        if kflag and not kflag_ok:
            out.append("kind_flag set")

    if kind == K.INT:
        no_vlen_kflag()
        data = t[3]
        bits, off, enc = data & 0xFF, (data >> 16) & 0xFF, (data >> 24) & 0xFF
        if data & 0xF0000000:
            out.append(f"invalid int data 0x{data:x}")
        if bits + off > 128:
            out.append("int bits exceed 128")
        if (bits + off + 7) // 8 > t[2]:
            out.append("int bits exceed the type size")
        if enc not in (0, 1, 2, 4):
            out.append(f"unsupported int encoding {enc}")
    elif kind in (K.PTR, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPEDEF):
        no_vlen_kflag()
        ref_ok(t[2], "referenced")
        if kind == K.TYPEDEF:
            if not _is_ident(name):
                out.append("invalid name")
        elif t[0]:
            out.append("name_off != 0")
    elif kind == K.TYPE_TAG:
        no_vlen_kflag(kflag_ok=True)
        ref_ok(t[2], "referenced")
        if not name:
            out.append("empty tag value")
    elif kind == K.ARRAY:
        no_vlen_kflag()
        if t[0]:
            out.append("name_off != 0")
        if t[2]:
            out.append("size != 0")
        ref_ok(t[3], "element", nonzero=True)
        ref_ok(t[4], "index", nonzero=True)
    elif kind in (K.STRUCT, K.UNION):
        if name and not _is_ident(name):
            out.append("invalid name")
        size = t[2]
        last = 0
        for i in range(vlen):
            m_name, m_type, m_off = t[3 + 3 * i : 6 + 3 * i]
            mn = name_of(m_name)
            if mn and not _is_ident(mn):
                out.append(f"member {i}: invalid name")
            ref_ok(m_type, f"member {i}", nonzero=True)
            bit_off = m_off & 0xFFFFFF if kflag else m_off
            if kind == K.UNION and bit_off:
                out.append(f"member {i}: union member offset != 0")
            if bit_off < last:
                out.append(f"member {i}: offset goes backwards")
            last = bit_off
            if (bit_off + 7) // 8 > size:
                out.append(f"member {i}: offset beyond the struct size")
    elif kind in (K.ENUM, K.ENUM64):
        size = t[2]
        if not size or size > 8 or size & (size - 1):
            out.append(f"invalid enum size {size}")
        if name and not _is_ident(name):
            out.append("invalid name")
        step = 2 if kind == K.ENUM else 3
        for i in range(vlen):
            vn = name_of(t[3 + step * i])
            if vn is not None and not _is_ident(vn):
                out.append(f"value {i}: invalid name")
    elif kind == K.FWD:
        if vlen:
            out.append("vlen != 0")
        if t[2]:
            out.append("type != 0")
        if not _is_ident(name):
            out.append("invalid name")
    elif kind == K.FUNC:
        if not _is_ident(name):
            out.append("invalid name")
        if vlen > 1:
            out.append(f"invalid linkage {vlen}")
        if kflag:
            out.append("kind_flag set")
        ref_ok(t[2], "prototype", nonzero=True)
        if t[2] < type_cnt and btf.kind(t[2]) != K.FUNC_PROTO:
            out.append("referenced type is not a FUNC_PROTO")
    elif kind == K.FUNC_PROTO:
        if t[0]:
            out.append("name_off != 0")
        if kflag:
            out.append("kind_flag set")
        ref_ok(t[2], "return")
        for i in range(vlen):
            name_of(t[3 + 2 * i])
            ref_ok(t[4 + 2 * i], f"param {i}")
    elif kind == K.VAR:
        no_vlen_kflag()
        if not _is_ident(name):
            out.append("invalid name")
        ref_ok(t[2], "variable", nonzero=True)
        if t[3] > 1:
            out.append(f"invalid linkage {t[3]}")
    elif kind == K.DATASEC:
        if kflag:
            out.append("kind_flag set")
        if not t[2]:
            out.append("size == 0")
        if not name:
            out.append("empty name")
        end = 0
        total = 0
        for i in range(vlen):
            v_type, v_off, v_size = t[3 + 3 * i : 6 + 3 * i]
            ref_ok(v_type, f"entry {i}", nonzero=True)
            if not v_size:
                out.append(f"entry {i}: size == 0")
            if v_off < end:
                out.append(f"entry {i}: offset not increasing")
            if v_off + v_size > t[2]:
                out.append(f"entry {i}: beyond the section size")
            end = v_off + v_size
            total += v_size
        if total > t[2]:
            out.append("entries exceed the section size")
    elif kind == K.FLOAT:
        no_vlen_kflag()
        if t[2] not in (2, 4, 8, 12, 16):
            out.append(f"invalid float size {t[2]}")
    elif kind == K.DECL_TAG:
        if vlen:
            out.append("vlen != 0")
        if not name:
            out.append("empty tag value")
        ref_ok(t[2], "target", nonzero=True)
        if K.to_signed32(t[3]) < -1:
            out.append(f"invalid component_idx {K.to_signed32(t[3])}")
    return out


def _chain_problems(btf: Btf) -> list[str]:
    """Modifier/pointer chains must end within MAX_RESOLVE_DEPTH and not loop."""
    out: list[str] = []
    depth: dict[int, int] = {}  # longest modifier/PTR chain starting at an own ID
    chain_kinds = (*_MODIFIERS, K.PTR)
    start, cnt = btf.start_id, btf.type_cnt
    for tid, t in btf.iter_own():
        if tid in depth or (t[1] >> 24) & 0x7F not in chain_kinds:
            continue
        path: list[int] = []
        on_path: set[int] = set()
        cur = tid
        tail = 0
        while True:
            if cur in depth:
                tail = depth[cur]
                break
            if cur in on_path:
                out.append(f"[{tid}] {K.kind_name(btf.kind(tid))}: type chain loops at [{cur}]")
                tail = MAX_RESOLVE_DEPTH + 1
                break
            if not start <= cur < cnt:
                break  # VOID or a base type (checked with the base)
            ct = btf.types[cur - start]
            if (ct[1] >> 24) & 0x7F not in chain_kinds:
                break
            path.append(cur)
            on_path.add(cur)
            cur = ct[2]
        for i, p in enumerate(reversed(path)):
            depth[p] = tail + i + 1
        if depth.get(tid, 0) > MAX_RESOLVE_DEPTH and not out:
            out.append(f"[{tid}] {K.kind_name(btf.kind(tid))}: type chain longer than "
                       f"{MAX_RESOLVE_DEPTH}")
    return out


def sort_problems(btf: Btf) -> list[str]:
    """The own types must be in non-decreasing byte-wise name order (finalize.md §3)."""
    prev = b""
    prev_id = 0 if btf.base is None else -1
    for tid, t in btf.iter_own():
        name = btf.str_at(t[0]) if (t[1] >> 24) & 0x7F else b""
        if name < prev:
            return [
                f"not sorted by name: [{tid}] {name.decode(errors='replace')!r} after "
                f"[{prev_id}] {prev.decode(errors='replace')!r}"
            ]
        prev, prev_id = name, tid
    return []


def check_btf(btf: Btf, *, require_sorted: bool = True) -> list[str]:
    """Problems the kernel's BTF verifier would report for ``btf`` (own types), plus a
    sortedness problem when ``require_sorted`` (vmlinux and module outputs are sorted;
    a distilled base is not)."""
    out: list[str] = []
    if btf.version != K.BTF_VERSION:
        out.append(f"header: version {btf.version} != 1")
    if btf.flags:
        out.append(f"header: flags {btf.flags} != 0")
    if btf.order != ("<" if sys.byteorder == "little" else ">"):
        out.append("header: byte order is not the host's (the kernel rejects it)")
    if btf._unmodifiable:
        out.append("header: non-zero bytes past the known header")
    strs = bytes(btf.strs)
    if btf.base is None:
        if not strs or strs[0]:
            out.append("strings: section must start with NUL")
        if not btf.types:
            out.append("types: base BTF has no types")
    if strs and strs[-1]:
        out.append("strings: section must end with NUL")
    if len(strs) - 1 > KERNEL_MAX_NAME_OFFSET:
        out.append("strings: section too large")
    for tid, t in btf.iter_own():
        for p in _type_problems(btf, tid, t):
            name = btf.str_at(t[0]).decode(errors="replace") if t[0] < (
                btf.start_str_off + len(strs)) else "?"
            out.append(f"[{tid}] {K.kind_name((t[1] >> 24) & 0x7F)} '{name}': {p}")
    out.extend(_chain_problems(btf))
    if require_sorted:
        out.extend(sort_problems(btf))
    return out


def check_module_outputs(
    btf_data: bytes, vmlinux: Btf, base_data: bytes | None = None, *,
    require_sorted: bool = True,
) -> list[str]:
    """Check a module's written ``.BTF`` (and ``.BTF.base``) as the kernel loads them.

    Without ``base_data`` the split is parsed on ``vmlinux``. With it, the distilled
    base and the split on it are parsed and checked, then the split is relocated onto
    ``vmlinux`` (btf__relocate) and the result checked again.
    """
    out: list[str] = []
    try:
        if base_data is None:
            return check_btf(Btf.parse(btf_data, base=vmlinux), require_sorted=require_sorted)
        dist = Btf.parse(base_data)
        out += [f".BTF.base: {p}" for p in check_btf(dist, require_sorted=False)]
        split = Btf.parse(btf_data, base=dist)
        out += [f".BTF (on .BTF.base): {p}"
                for p in check_btf(split, require_sorted=require_sorted)]
        rel = relocate(split, vmlinux)
        out += [f".BTF (relocated): {p}" for p in check_btf(rel, require_sorted=require_sorted)]
    except BtfError as e:
        out.append(f"{e}")
    return out


class TypeMatcher:
    """Structural equivalence of type IDs of ``a`` and ``b`` (names compared as strings,
    IDs followed). Proven pairs are remembered across calls. IDs below both objects'
    ``start_id`` of a shared base are equal only when identical; an own type may equal a
    base type (a distilled split's copy of a base PTR equals that PTR)."""

    def __init__(self, a: Btf, b: Btf) -> None:
        self.a, self.b = a, b
        self.proven: set[tuple[int, int]] = set()
        self.shared = min(a.start_id, b.start_id) if a.base is b.base and a.base else 0

    def equal(self, a_id: int, b_id: int) -> bool:
        a, b = self.a, self.b
        assumed: set[tuple[int, int]] = set()
        work = [(a_id, b_id)]
        while work:
            pair = work.pop()
            x, y = pair
            if pair in assumed or pair in self.proven:
                continue
            if (x < self.shared and y < self.shared) or not x or not y:
                if x != y:
                    return False
                continue
            assumed.add(pair)
            tx, ty = a.type(x), b.type(y)
            if len(tx) != len(ty) or tx[1] != ty[1]:
                return False
            try:
                ids = K.id_slots(tx)
                strs = K.str_slots(tx)
            except K.UnknownKindError:
                return tx == ty
            for s in range(2, len(tx)):
                if s not in ids and s not in strs and tx[s] != ty[s]:
                    return False
            for s in strs:
                if a.str_at(tx[s]) != b.str_at(ty[s]):
                    return False
            for s in ids:
                work.append((tx[s], ty[s]))
        self.proven |= assumed
        return True
