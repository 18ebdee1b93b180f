"""libbpf-exact ``btf__dedup`` (spec finalize.md §1).

The algorithm is libbpf's, phase by phase: strings (§1.2), primitive types (§1.3),
STRUCT/UNION/TYPEDEF with graph equivalence (§1.4, §1.6-§1.8), remaining FWDs (§1.5),
reference types (§1.9), compaction and remap (§1.10). Only own types are deduplicated;
the base is read, never changed.

Candidate order matters (§1.12): libbpf keeps candidates in a hashmap whose same-key
chains are newest-first and get reversed by every table growth. Two emulations exist:

* ``reference=True`` folds the real 64-bit hashes (§1.11) and keeps one list per hash,
  reversing every list on growth, exactly as the spec describes.
* the default (fast) path keys the table by the tuple of the very fields each hash
  folds. Every libbpf equality check used on a candidate compares (at least) exactly
  those fields, so an acceptable candidate always has the same tuple; entries with the
  same tuple always share a hash and see the same insert/growth sequence, so their
  relative order is identical. Growth is a global orientation flag instead of list
  reversals, and the base's part of the table (split BTF) is computed once per base
  object and shared. Both paths run the same phase code (the tables:
  :mod:`btfids.btf.dedup_tables`).
  Where the hash folds every word of the record (and every candidate is compared word
  for word), the key is Python's ``hash`` of that tuple, an int: entries of different
  tuples that share it are rejected by the comparison, and those of one tuple keep
  their relative order (vmlinux: 88k reference-type keys, 3.6 MB less at the peak).
"""

from __future__ import annotations

import itertools
import operator
import time
from array import array
from collections.abc import Callable, Iterable, MutableSequence, Sequence

from . import kinds as K
from .background import Child as _Child
from .background import worth_a_child
from .dedup_tables import (
    BASE_PARTS,
    HASH_BY_KIND,
    KEY_BY_KIND,
    SELF_MAPPED,
    BasePart,
    FastSplitTable,
    FastTable,
    RefTable,
    base_part,
    key_struct,
)
from .model import Btf, BtfError, info_high_bytes

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

UNPROCESSED = 0xFFFFFFFF
IN_PROGRESS = 0xFFFFFFFE
MAX_NR = 0x7FFFFFFF

_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = (
    K.INT, K.PTR, K.ARRAY, K.STRUCT, K.UNION, K.ENUM, K.FWD, K.TYPEDEF)
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = (
    K.VOLATILE, K.CONST, K.RESTRICT, K.FUNC, K.FUNC_PROTO, K.VAR, K.DATASEC)
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = K.FLOAT, K.DECL_TAG, K.TYPE_TAG, K.ENUM64

# Kinds whose is_equiv / identical_types step follows the single ``type`` field.
_REF_CHAIN = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _TYPEDEF, _FUNC, _TYPE_TAG})
# Kinds handled by btf_dedup_ref_type, common-hash flavour.
_REF_COMMON = frozenset({_CONST, _VOLATILE, _RESTRICT, _PTR, _FUNC, _TYPE_TAG})
_REF_KINDS = _REF_COMMON | {_DECL_TAG, _ARRAY, _FUNC_PROTO}
_ANY_ENUM = frozenset({_ENUM, _ENUM64})

_COMPOSITE = frozenset({_STRUCT, _UNION})
_STRUCT_PHASE = frozenset({_STRUCT, _UNION, _TYPEDEF})
_PRIM_EXACT = frozenset({_INT, _FWD, _FLOAT})
# Kinds the primitive phase leaves for later phases (kind 0 and unknown kinds fail there).
_NO_PRIM = _REF_KINDS | _STRUCT_PHASE | {_VAR, _DATASEC}
_KIND_7BIT = bytes(b & 0x7F for b in range(256))   # info >> 24 -> kind
_STRUCT_PHASE_TABLE = K.kind_table(*_STRUCT_PHASE)
# the primitive phase takes every kind it does not leave to later phases (and fails on
# an unknown one)
_PRIM_PHASE_TABLE = K.kind_table(*(k for k in range(128) if k not in _NO_PRIM))
_SINGLE_REF = _REF_COMMON | {_DECL_TAG}
_ARRAY_SLOTS = (3, 4)
# Standalone struct-phase filter (_Dedup._own_insert): member kinds whose canonical
# entries are final for the phase, and reference kinds the phase leaves unprocessed.
_OWN_STABLE = _COMPOSITE | {_TYPEDEF, _INT, _FLOAT}
_OWN_STABLE_REF = _REF_KINDS - {_DECL_TAG, _TYPEDEF}
_UNKNOWN: Any = object()
#: a split run's enum key is looked up by content once met this many times (building
#: the lookup decodes the key's base chain: ~1 ms for the ~830 anonymous base enums)
_TWINS_AFTER = 8


# -------------------------------------------------------------------------- the algorithm
def _flatten(btf: Btf) -> list[list[int]]:
    """All records by ID (index 0 is VOID), base chain included."""
    chain = []
    b: Btf | None = btf
    while b is not None:
        chain.append(b)
        b = b.base
    out: list[list[int]] = [[0, 0, 0]]
    for level in reversed(chain):
        out.extend(level.types)
    return out


def _enum_compat(t1: list[int], t2: list[int]) -> bool:
    """``btf_compat_enum``."""
    k1 = (t1[1] >> 24) & 0x7F
    k2 = (t2[1] >> 24) & 0x7F
    fwd1 = k1 in _ANY_ENUM and not t1[1] & 0xFFFFFF
    fwd2 = k2 in _ANY_ENUM and not t2[1] & 0xFFFFFF
    if not fwd1 and not fwd2:
        return t1 == t2
    return t1[0] == t2[0] and k1 in _ANY_ENUM and k2 in _ANY_ENUM


def _shallow_struct_eq(t1: list[int], t2: list[int]) -> bool:
    """``btf_shallow_equal_struct`` (equal ``info`` implies equal lengths)."""
    return t1[:3] == t2[:3] and t1[3::3] == t2[3::3] and t1[5::3] == t2[5::3]


def _compat_fnproto(t1: list[int], t2: list[int]) -> bool:
    return t1[0] == t2[0] and t1[1] == t2[1] and t1[3::2] == t2[3::2]


class _SplitT(dict[int, list[int]]):
    """``T`` of a split BTF on an indexed base: own records stored, base records
    fetched (lazily decoded) on first use; ``len`` is the whole ID space."""

    def __init__(self, base_types: Any, n: int) -> None:
        super().__init__()
        self.base_types = base_types
        self.nbase = len(base_types) + 1
        self.n = n

    def __missing__(self, tid: int) -> list[int]:
        if 0 < tid < self.nbase:
            rec: list[int] = self.base_types[tid - 1]
            self[tid] = rec
            return rec
        raise IndexError(tid)

    def __len__(self) -> int:
        return self.n


class _Dedup:
    def __init__(self, btf: Btf, reference: bool) -> None:
        self.btf = btf
        self.reference = reference
        self.start = btf.start_id
        self.index = (
            btf.base.index
            if btf.base is not None and btf.base.base is None and not reference else None
        )

    def tables(self) -> None:
        """The per-ID tables of the type phases (records by ID, kinds, the map, the
        candidate table). Built after the string phase, which needs none of them:
        vmlinux's run peaks there, and this keeps ~2.5 MB out of that peak."""
        btf = self.btf
        reference = self.reference
        base = btf.base
        idx = self.index
        self.T: Any
        if idx is not None:
            assert base is not None
            start = self.start
            split = _SplitT(base.types, btf.type_cnt)
            split[0] = [0, 0, 0]
            split.update(enumerate(btf.types, start))
            self.T = split
            # a copy of the base's kind bytes (a list of 100k ints costs ~1 ms to build)
            kinds: MutableSequence[int] = bytearray(idx.kinds)
            kinds.extend([(t[1] >> 24) & 0x7F for t in btf.types])
            # an array: copying the base identity from bytes beats allocating 100k ints
            m: Any = array("q", idx.identity())
            m.extend([UNPROCESSED] * len(btf.types))
            for tid in range(start, len(kinds)):
                if kinds[tid] in SELF_MAPPED:
                    m[tid] = tid
        else:
            flat = self.T = _flatten(btf)
            if len(flat) != btf.type_cnt:
                raise BtfError("dedup: inconsistent base chain")
            # the kind bytes in C (map chain + translate), then a list of small ints
            kinds = list(info_high_bytes(flat).translate(_KIND_7BIT))
            kinds[0] = 0
            m = [UNPROCESSED] * len(flat)
            m[0] = 0
            all_kinds = bytes(kinds)
            for k in SELF_MAPPED:
                for tid in _ids_of_kind(all_kinds, k, 0, 0):
                    m[tid] = tid
        self.kinds = kinds
        # the own types' kinds, a byte each, for scans by kind in C (``_of_kinds``)
        self.own_kinds = bytes(kinds[self.start:])
        self.map = m
        self.hyp: dict[int, int] = {}
        self.adjust = False
        self.keyf = HASH_BY_KIND if reference else KEY_BY_KIND
        self.table: RefTable | FastTable | FastSplitTable
        self.table = RefTable() if reference else FastTable()
        self.base_part: BasePart | None = None
        # standalone fast path: per long struct-phase key, (covered, trie), see own_filter
        self.own_filters: dict[Any, tuple[set[int], Any]] = {}

    def _of_kinds(self, table: bytes) -> Iterable[int]:
        """Own IDs whose kind ``table`` (:func:`kinds.kind_table`) selects, ascending,
        picked in C (a kind test per type in Python costs ~40 ns)."""
        start = self.start
        return itertools.compress(range(start, len(self.kinds)),
                                  self.own_kinds.translate(table))

    # ------------------------------------------------------------------ phases
    def run(self, seconds: dict[str, float] | None = None) -> None:
        btf = self.btf
        btf.make_modifiable()
        secs: dict[str, float] = {} if seconds is None else seconds
        type_phases = [("tables", self.tables), ("prep", self.prep),
                       ("prim", self.prim_types), ("struct", self.struct_types),
                       ("fwds", self.resolve_fwds), ("ref", self.ref_types)]
        if not btf.strs_deduped:
            child = self._type_phases_in_child(type_phases)
            injective = self._timed("strings", lambda: self.strings(child is not None),
                                    secs, child)
            if child is not None and self._adopt_child_map(child, injective, secs):
                type_phases = []
        for name, phase in type_phases:
            self._timed(name, phase, secs)
        self._timed("compact", self.compact_and_remap, secs)

    @staticmethod
    def _timed(name: str, phase: Callable[[], Any], secs: dict[str, float],
               child: _Child | None = None) -> Any:
        t0 = time.perf_counter()
        try:
            return phase()
        except BaseException:
            if child is not None:
                child.cancel()
            raise
        finally:
            secs[name] = time.perf_counter() - t0

    # -------------------------------------------- the type phases in a second process
    def _type_phases_in_child(self, phases: list[tuple[str, Callable[[], None]]]
                              ) -> _Child | None:
        """For a big standalone BTF, run the type phases (tables to reference types)
        in a forked child on the records as they are, while this process runs the
        string phase. They only ever compare string offsets for equality, so on the
        old offsets they decide as on the new ones whenever the string phase maps no
        two referenced offsets to one (:meth:`strings` tells). The child sends its ID
        map; vmlinux: the 98 ms of type phases overlap the 130 ms string phase."""
        btf = self.btf
        if self.reference or btf.base is not None or not worth_a_child(
                len(btf.strs) + 16 * len(btf.types)):
            return None
        return _Child.start(lambda: array("q", self._run_all(phases)).tobytes())

    def _run_all(self, phases: list[tuple[str, Callable[[], None]]]) -> Any:
        for _name, phase in phases:
            phase()
        return self.map

    def _adopt_child_map(self, child: _Child, injective: bool,
                         secs: dict[str, float]) -> bool:
        """The child's ID map, if it answered and the string phase kept the offsets
        apart; False: the type phases run here after all (same errors, same result)."""
        if not injective:
            child.cancel()   # its answer would not hold: no need to wait for it
            return False
        t0 = time.perf_counter()
        payload = child.result()
        secs["types_in_child_wait"] = time.perf_counter() - t0
        if payload is None or len(payload) != 8 * self.btf.type_cnt:
            return False
        self.T = _flatten(self.btf)
        m = array("q")
        m.frombytes(payload)
        self.map = m
        return True

    def prep(self) -> None:
        """§1.1: base types map to themselves and enter the table."""
        start = self.start
        base = self.btf.base
        if base is None:
            return
        m = self.map
        if self.index is None:
            m[1:start] = range(1, start)
        if not self.reference:
            part = BASE_PARTS.get(base)
            if part is None or part.type_cnt != start:
                idx = self.index
                if idx is not None:
                    part = BasePart(idx.dedup_lists, idx.size, idx.cap, idx.flip, start)
                else:
                    part = base_part(self.T[1:start], start)
                BASE_PARTS[base] = part
            self.table = FastSplitTable(part)
            self.base_part = part
            return
        T, kinds, keyf, add = self.T, self.kinds, self.keyf, self.table.add
        for tid in range(1, start):
            k = kinds[tid]
            if k in SELF_MAPPED:
                continue
            f = keyf.get(k)
            if f is None:
                raise BtfError(f"dedup: unknown kind {k} for base type [{tid}]")
            add(f(T[tid]), tid)

    def strings(self, check_apart: bool = False) -> bool:
        """§1.2: rebuild the own string section in first-reference order. With
        ``check_apart``: True when no two referenced offsets got one new offset."""
        btf = self.btf
        start_off = btf.start_str_off
        base = btf.base
        # a string is sliced from the section on its first reference (an offset table
        # of vmlinux's section would be ~13 MB at the run's peak)
        data = bytes(btf.strs)   # data.index(0, pos): the NUL ending the string at pos
        str_at = btf.str_at      # past the section: its error
        # new string → its offset in the new section (insertion order = section order);
        # ``size`` is the section's length so far (it is joined once at the end)
        newset: dict[bytes, int] = {}
        size = 0

        # old offset → new offset, computed on first reference (a dict's __missing__:
        # every later reference is a C-level hit)
        if base is None:
            newset[b""] = 0
            size = 1

            def missing(self: dict[int, int], off: int) -> int:
                nonlocal size
                try:
                    s = data[off : data.index(0, off)]
                except ValueError:
                    s = str_at(off)
                v = newset.get(s)
                if v is None:
                    v = newset[s] = size
                    size += len(s) + 1
                self[off] = v
                return v
        else:
            # run() made the object modifiable, which checked the base chain: an indexed
            # base answers directly (no per-string modifiability re-check)
            find_base = base.index.find_str if base.index is not None else base.find_str

            def missing(self: dict[int, int], off: int) -> int:
                nonlocal size
                if off == 0 or off < start_off:
                    self[off] = off
                    return off
                local = off - start_off
                try:
                    s = data[local : data.index(0, local)]
                except ValueError:
                    s = str_at(off)
                b = find_base(s)
                if b >= 0:
                    self[off] = b
                    return b
                v = newset.get(s)
                if v is None:
                    v = newset[s] = size
                    size += len(s) + 1
                v += start_off
                self[off] = v
                return v

        OffMap = type("OffMap", (dict,), {"__missing__": missing})
        om = OffMap()
        new_off = om.__getitem__   # calls __missing__ too (map: no per-record frame)
        three = (_STRUCT, _UNION, _ENUM64)
        two = (_ENUM, _FUNC_PROTO)
        known = K.MAX_KNOWN_KIND
        try:
            for t in btf.types:
                kind = (t[1] >> 24) & 0x7F
                if kind == 0:
                    continue
                t[0] = om[t[0]]
                if len(t) > 3:
                    if kind in three:
                        t[3::3] = map(new_off, t[3::3])
                    elif kind in two:
                        t[3::2] = map(new_off, t[3::2])
                if kind > known:
                    raise BtfError(f"dedup: unsupported BTF kind {kind}")
            # no two referenced offsets got one new offset: the type phases decide on
            # the old offsets as on the new ones (see _type_phases_in_child)
            injective = check_apart and len(set(om.values())) == len(om)
        finally:
            del om, new_off
            # A class is a reference cycle, freed only by the cyclic GC, which a run
            # pauses (gcpause.py); dropping the method frees its closure now (the
            # section's copy, the string table, the BTF).
            delattr(OffMap, "__missing__")
        data = b""   # the old section's copy goes before the new is built
        btf.invalidate_str_index()
        # every string and its NUL, joined a slice at a time: a join allocates an 80-byte
        # buffer record per item (vmlinux's 100k strings at once: 8 MB at the peak)
        buf = bytearray()
        strings = iter(newset)
        while chunk := list(itertools.islice(strings, 8192)):
            buf += b"\0".join(chunk)
            buf.append(0)
        btf.strs = buf
        # ``newset`` already is the new section's string table, inverted (sort needs it)
        offs = newset.values() if not start_off else map(start_off.__add__, newset.values())
        btf.set_strings_by_offset(dict(zip(offs, newset, strict=True)))
        btf.strs_deduped = True
        return injective

    def prim_types(self) -> None:
        """§1.3: INT, ENUM, ENUM64, FWD, FLOAT."""
        T, kinds, m, keyf = self.T, self.kinds, self.map, self.keyf
        table = self.table
        add = table.add
        cands = table.cands
        # An enum key is the name alone, so the chain of anonymous enums is long
        # (vmlinux ~1,000; a module meets the base's). While a key's chain holds no enum
        # FWD, a full enum's only possible effect is its exact twin, of which the chain
        # holds at most one: it is found by content instead of a walk of the chain (the
        # loop below was quadratic: vmlinux ~25 ms, mlx5_ib 18 ms). Standalone: every
        # key, from the first enum. Split: a key met more than _TWINS_AFTER times, once
        # its base chain is known to be FWD- and twin-free (kept with the base).
        exact: dict[tuple[int, ...], int] = {}   # own full enums added, by content
        standalone = isinstance(table, FastTable)
        part = self.base_part if isinstance(table, FastSplitTable) else None
        met: dict[Any, int] = {}
        fwd_keys: set[Any] = set()
        for tid in self._of_kinds(_PRIM_PHASE_TABLE):
            k = kinds[tid]
            t = T[tid]
            new = tid
            if k in _PRIM_EXACT:
                h = keyf[k](t)
                for c in cands(h):
                    if T[c] == t:     # equal_int_tag / equal_common: every word
                        new = c
                        break
            elif k in _ANY_ENUM:
                h = keyf[k](t)
                t_fwd = not t[1] & 0xFFFFFF
                if t_fwd:
                    fwd_keys.add(h)
                elif h not in fwd_keys and (standalone or part is not None):
                    twins = None if part is None else self._base_enum_twins(part, h, met)
                    if standalone or twins is not None:
                        content = tuple(t)
                        new = exact.get(content, tid)
                        if twins and new == tid:
                            new = twins.get(content, tid)
                        m[tid] = new
                        if new == tid:
                            exact[content] = tid
                            add(h, tid)
                        continue
                for c in cands(h):
                    ct = T[c]
                    if ct == t:       # btf_equal_enum
                        new = c
                        break
                    if kinds[c] in _ANY_ENUM and ct[0] == t[0] and (
                            t_fwd or not ct[1] & 0xFFFFFF):   # btf_compat_enum
                        if t_fwd:
                            new = c
                            break
                        m[c] = tid
                if new == tid and not t_fwd:
                    exact[tuple(t)] = tid
            else:
                raise BtfError(f"dedup: unsupported BTF kind {k} for type [{tid}]")
            m[tid] = new
            if new == tid:
                add(h, tid)

    def _base_enum_twins(self, part: BasePart, key: Any, met: dict[Any, int]
                         ) -> dict[tuple[int, ...], int] | None:
        """The base chain of enum ``key`` as record → ID, for the content lookup of
        :meth:`prim_types`; None while ``key`` has been met too few times to pay, or
        when the chain holds an enum FWD or two equal records (then it is walked)."""
        twins = part.enum_twins.get(key, _UNKNOWN)
        if twins is not _UNKNOWN:
            return twins
        n = met[key] = met.get(key, 0) + 1
        if n <= _TWINS_AFTER:
            return None
        T, kinds = self.T, self.kinds
        found: dict[tuple[int, ...], int] = {}
        for c in part.lists.get(key) or ():
            ct = T[c]
            content = tuple(ct)
            if kinds[c] not in _ANY_ENUM or not ct[1] & 0xFFFFFF or content in found:
                part.enum_twins[key] = None
                return None
            found[content] = c
        part.enum_twins[key] = found
        return found

    def struct_types(self) -> None:
        """§1.4: STRUCT, UNION, TYPEDEF through graph equivalence."""
        T, kinds, m, keyf = self.T, self.kinds, self.map, self.keyf
        table = self.table
        is_equiv = self.is_equiv
        merge = self.merge_hypot
        fast = not self.reference
        quick_reject = self.quick_reject
        split_table = table if isinstance(table, FastSplitTable) else None
        own_filters = self.own_filters
        for tid in self._of_kinds(_STRUCT_PHASE_TABLE):
            if m[tid] <= MAX_NR:
                continue
            k = kinds[tid]
            t = T[tid]
            h = keyf[k](t)
            new = tid
            cands = table.cands(h)
            if fast and len(cands) > 8:
                # drop candidates the filters prove to fail (order is kept)
                if split_table is None:
                    covered, maybe = self.own_filter(h, cands, t, k)
                    ncov = len(covered)
                else:
                    covered, maybe = self.base_filter(h, t, k)
                    ncov = len(covered)
                    own_cands = split_table.own_cands(h)
                    if len(own_cands) > 8 or h in own_filters:
                        ocov, omaybe = self.own_filter(h, own_cands, t, k)
                        covered = covered | ocov if ncov else ocov
                        maybe = maybe | omaybe if maybe else omaybe
                        ncov += len(ocov)
                if ncov == len(cands):      # every candidate covered (common)
                    cands = [c for c in cands if c in maybe] if maybe else ()
                elif ncov:
                    cands = [c for c in cands if c not in covered or c in maybe]
            for c in cands:
                if fast:
                    # the key is the shallow-equality tuple: the guard always passes
                    if quick_reject(t, c):
                        continue
                else:
                    ct = T[c]
                    if k == _TYPEDEF:
                        if ct[0] != t[0] or ct[1] != t[1]:
                            continue
                    elif not _shallow_struct_eq(t, ct):
                        continue
                self.hyp = {}
                self.adjust = False
                if not is_equiv(tid, c):
                    continue
                merge()
                if self.adjust:
                    continue
                new = c
                break
            m[tid] = new
            if new == tid:
                table.add(h, tid)
                got = own_filters.get(h)
                if got is not None:
                    self._own_insert(got, tid)

    def own_filter(self, key: Any, cands: Sequence[int], t: list[int],
                   k: int) -> tuple[set[int], set[int]]:
        """Standalone counterpart of :meth:`base_filter` for a long chain of own
        candidates: (covered, maybe), with the same guarantee. The trie is built on the
        chain's first long query and then grows with every candidate added under
        ``key``; a candidate enters it only if its members are *stable*
        (:meth:`_own_insert`), i.e. resolve to themselves until the struct phase ends,
        so what the trie recorded stays true for every later query."""
        got = self.own_filters.get(key)
        if got is None:
            got = self.own_filters[key] = (set(), ({}, {}, []))
            for c in cands:
                self._own_insert(got, c)
        covered, root = got
        m, kinds = self.map, self.kinds
        members = (t[2],) if k == _TYPEDEF else t[4::3]
        maybe: set[int] = set()
        node: Any = root
        for x in members:
            children, by_sig, everyone = node
            kx = kinds[x]
            if kx == _FWD or kx == 0:
                # a FWD may pass any node check; a kind-0 record is left to is_equiv
                maybe.update(everyone)
                break
            r = x
            while True:
                v = m[r]
                if v > MAX_NR or v == r:
                    break
                r = v
            for y, lst in by_sig.get(self._local_sig(x), {}).items():
                if y != r:          # the r branch passes trivially: walked below
                    maybe.update(lst)
            node = children.get(r)
            if node is None:
                break
        else:
            maybe.update(node[2])
        return covered, maybe

    def _own_insert(self, got: tuple[set[int], Any], c: int) -> None:
        """Add canonical candidate ``c`` to a trie if every member ``y`` is stable:
        not ``c`` itself, and either canonical (``map[y] == y``) of a kind whose node
        check is decided by :meth:`_local_sig` (never a FWD or enum, so its map entry
        no longer changes in this phase), or a reference kind still unprocessed
        (the struct phase never maps those, so ``y`` resolves to itself throughout).
        ID 0 is stable; other kind-0 and unknown-kind members are not."""
        m, kinds = self.map, self.kinds
        ct = self.T[c]
        mem = (ct[2],) if kinds[c] == _TYPEDEF else ct[4::3]
        for y in mem:
            if y == c:
                return
            ky = kinds[y]
            v = m[y]
            if ky in _OWN_STABLE:
                if v != y:
                    return
            elif ky in _OWN_STABLE_REF:
                if v != y and v <= MAX_NR:
                    return
            elif y != 0:
                return
        covered, root = got
        covered.add(c)
        sig = self._local_sig
        node = root
        for y in mem:
            children, by_sig, everyone = node
            everyone.append(c)
            by_sig.setdefault(sig(y), {}).setdefault(y, []).append(c)
            nxt = children.get(y)
            if nxt is None:
                nxt = children[y] = ({}, {}, [])
            node = nxt
        node[2].append(c)

    def _local_sig(self, x: int) -> Any:
        """What is_equiv's node check compares of a non-FWD, non-enum type: two such
        types pass that check only if their signatures are equal."""
        t = self.T[x]
        k = self.kinds[x]
        if k in _COMPOSITE:
            return key_struct(t)
        if k in _REF_CHAIN:
            return (t[0], t[1])
        if k == _FUNC_PROTO:
            return (t[0], t[1], *t[3::2])
        if k == _ARRAY:
            return (t[0], t[1], t[2], t[5])
        return (k, *t)

    def base_filter(self, key: Any, t: list[int], k: int) -> tuple[set[int], set[int]]:
        """For a long chain of same-key *base* candidates: (covered, maybe). A covered
        candidate not in maybe certainly fails :meth:`quick_reject`'s test: walking its
        member types, those equal to ``t``'s resolved ones pass trivially, and the
        first other one is a stable base type (never remapped: not FWD/enum) whose
        node check against ``t``'s raw member cannot pass (signatures differ)."""
        part = self.base_part
        assert part is not None
        got = part.filters.get(key)
        if got is None:
            got = part.filters[key] = self._build_filter(part.lists.get(key) or [])
        covered, root = got
        m, kinds = self.map, self.kinds
        members = (t[2],) if k == _TYPEDEF else t[4::3]
        maybe: set[int] = set()
        node = root
        for x in members:
            if node is None:
                break
            children, by_sig, everyone = node
            if kinds[x] == _FWD:
                maybe.update(everyone)
                break
            r = x
            while True:
                v = m[r]
                if v > MAX_NR or v == r:
                    break
                r = v
            for y, lst in by_sig.get(self._local_sig(x), {}).items():
                if y != r:          # the r branch passes trivially: walked below
                    maybe.update(lst)
            node = children.get(r)
        else:
            if node is not None:
                maybe.update(node[2])
        return covered, maybe

    def _build_filter(self, base_cands: list[int]) -> tuple[set[int], Any]:
        T, kinds, m = self.T, self.kinds, self.map
        unstable = _ANY_ENUM | {_FWD, _VAR, _DATASEC, _DECL_TAG}
        stable: list[tuple[int, Sequence[int]]] = []
        for c in base_cands:
            ct = T[c]
            mem = (ct[2],) if kinds[c] == _TYPEDEF else ct[4::3]
            if all(kinds[y] not in unstable and y != c and m[y] == y
                   and kinds[y] <= K.MAX_KNOWN_KIND for y in mem):
                stable.append((c, mem))

        def build(items: list[tuple[int, Sequence[int]]], d: int) -> Any:
            everyone = [c for c, _ in items]
            if not items or d >= len(items[0][1]):
                return ({}, {}, everyone)
            groups: dict[int, list[tuple[int, Sequence[int]]]] = {}
            by_sig: dict[Any, dict[int, list[int]]] = {}
            for c, mem in items:
                y = mem[d]
                groups.setdefault(y, []).append((c, mem))
                by_sig.setdefault(self._local_sig(y), {}).setdefault(y, []).append(c)
            children = {y: build(g, d + 1) for y, g in groups.items()}
            return (children, by_sig, everyone)

        return {c for c, _ in stable}, build(stable, 0)

    def quick_reject(self, t: list[int], c: int) -> bool:
        """True when ``is_equiv(t, c)`` is certainly false, decided the way the full
        DFS decides it: the root pair passes (shallow-equal, ``c`` canonical), member
        pairs that resolve to one type pass without side effects, and the first other
        pair fails its own node check while the hypothetical map holds only ``c``. A
        failing check leaves no trace, so skipping it changes nothing. Anything else
        (including error kinds) returns False and the full check runs."""
        m, T, kinds = self.map, self.T, self.kinds
        if m[c] != c:
            return False
        ct = T[c]
        if kinds[c] == _TYPEDEF:
            pairs: Iterable[tuple[int, int]] = ((t[2], ct[2]),)
        else:
            pairs = zip(t[4::3], ct[4::3], strict=True)
        for x, y in pairs:
            a = x
            while True:
                v = m[a]
                if v > MAX_NR or v == a:
                    break
                a = v
            b = y
            while True:
                v = m[b]
                if v > MAX_NR or v == b:
                    break
                b = v
            if a == b:
                continue
            canon = b if kinds[y] == _FWD and kinds[b] != _FWD else y
            if canon == c:
                return False
            xt = T[x]
            nt = T[canon]
            if xt[0] != nt[0]:
                return True
            xk = kinds[x]
            nk = kinds[canon]
            if xk != nk:
                return xk != _FWD and nk != _FWD
            if xk in _COMPOSITE:
                return not _shallow_struct_eq(xt, nt)
            if xk in _REF_CHAIN:
                return xt[1] != nt[1]
            if xk == _FUNC_PROTO:
                return not _compat_fnproto(xt, nt)
            if xk == _ARRAY:
                return xt[:3] != nt[:3] or xt[5] != nt[5]
            if xk in _PRIM_EXACT:
                return xt != nt
            if xk in _ANY_ENUM:
                return not _enum_compat(xt, nt)
            return False
        return False

    def _resolve(self, tid: int) -> int:
        m = self.map
        while True:
            x = m[tid]
            if x > MAX_NR or x == tid:
                return tid
            tid = x

    def is_equiv(self, cand_id: int, canon_id: int) -> bool:
        """§1.6 as an explicit-stack preorder DFS: any false node makes the whole check
        false (every level returns the first non-positive result)."""
        T, kinds, m, hyp = self.T, self.kinds, self.map, self.hyp
        start = self.start
        identical = self.identical
        stack = [(cand_id, canon_id)]
        pop = stack.pop
        push = stack.append
        extend = stack.extend
        while stack:
            cand, canon = pop()
            a = cand
            while True:
                x = m[a]
                if x > MAX_NR or x == a:
                    break
                a = x
            b = canon
            while True:
                x = m[b]
                if x > MAX_NR or x == b:
                    break
                b = x
            if a == b:
                continue
            if kinds[canon] == _FWD and kinds[b] != _FWD:
                canon = b
            hv = hyp.get(canon)
            if hv is not None:
                if hv == cand or identical(hv, cand, 16):
                    continue
                return False
            hyp[canon] = cand
            ct = T[cand]
            nt = T[canon]
            if ct[0] != nt[0]:
                return False
            ck = kinds[cand]
            nk = kinds[canon]
            if ck != nk:
                if ck == _FWD:
                    real = nk
                    fwd_kind = _UNION if ct[1] >> 31 else _STRUCT
                elif nk == _FWD:
                    real = ck
                    fwd_kind = _UNION if nt[1] >> 31 else _STRUCT
                    if fwd_kind == real and canon < start:
                        self.adjust = True
                else:
                    return False
                if fwd_kind != real:
                    return False
                continue
            if ck in _COMPOSITE:
                if not _shallow_struct_eq(ct, nt):
                    return False
                n = len(ct)
                if n > 3:       # members in order: push the last first
                    extend(zip(ct[n - 2:3:-3], nt[n - 2:3:-3], strict=True))
            elif ck in _REF_CHAIN:
                if ct[1] != nt[1]:
                    return False
                push((ct[2], nt[2]))
            elif ck == _FUNC_PROTO:
                if not _compat_fnproto(ct, nt):
                    return False
                n = len(ct)
                if n > 3:
                    extend(zip(ct[n - 1:3:-2], nt[n - 1:3:-2], strict=True))
                push((ct[2], nt[2]))          # return type first
            elif ck == _ARRAY:
                if ct[:3] != nt[:3] or ct[5] != nt[5]:
                    return False
                push((ct[3], nt[3]))          # element type second
                push((ct[4], nt[4]))          # index type first
            elif ck in _PRIM_EXACT:
                if ct != nt:
                    return False
            elif ck in _ANY_ENUM:
                if not _enum_compat(ct, nt):
                    return False
            else:
                raise BtfError(
                    f"dedup: unexpected kind {ck} in type graph equivalence ([{cand}])")
        return True

    def identical(self, id1: int, id2: int, depth: int) -> bool:
        """§1.8 ``btf_dedup_identical_types``, ARRAY quirk included."""
        T, kinds = self.T, self.kinds
        steps = 0
        limit = len(T) + 1
        while True:
            if depth <= 0:
                return False
            k = kinds[id1]
            if k != kinds[id2]:
                return False
            t1 = T[id1]
            t2 = T[id2]
            if k in _REF_CHAIN:
                if t1[1] != t2[1] or t1[0] != t2[0]:
                    return False
                id1 = t1[2]
                id2 = t2[2]
                steps += 1
                if steps > limit:       # libbpf would spin forever
                    raise BtfError("dedup: reference type loop")
                continue
            if k == 0:
                return True
            if k in _PRIM_EXACT:
                return t1 == t2
            if k in _ANY_ENUM:
                return _enum_compat(t1, t2)
            if k == _ARRAY:
                # libbpf compares t1's index/elem with themselves: always identical
                return t1[:3] == t2[:3] and t1[5] == t2[5]
            if k in _COMPOSITE:
                if not _shallow_struct_eq(t1, t2):
                    return False
                for a, b in zip(t1[4::3], t2[4::3], strict=True):
                    if a != b and not self.identical(a, b, depth - 1):
                        return False
                return True
            if k == _FUNC_PROTO:
                if not _compat_fnproto(t1, t2):
                    return False
                if t1[2] != t2[2] and not self.identical(t1[2], t2[2], depth - 1):
                    return False
                for a, b in zip(t1[4::2], t2[4::2], strict=True):
                    if a != b and not self.identical(a, b, depth - 1):
                        return False
                return True
            return False

    def merge_hypot(self) -> None:
        """§1.7."""
        kinds, m = self.kinds, self.map
        resolve = self._resolve
        adjust = self.adjust
        for canon, targ in self.hyp.items():
            t_id = resolve(targ)
            c_id = resolve(canon)
            tk = kinds[t_id]
            ck = kinds[c_id]
            if tk != _FWD and ck == _FWD:
                m[c_id] = t_id
            if adjust:
                continue
            if tk == _FWD and ck != _FWD:
                m[t_id] = c_id
            if tk in _COMPOSITE and ck != _FWD and m[c_id] <= MAX_NR and m[t_id] > MAX_NR:
                m[t_id] = c_id

    def resolve_fwds(self) -> None:
        """§1.5: FWDs left unmapped go to the unique canonical STRUCT/UNION of that name."""
        T, kinds, m = self.T, self.kinds, self.map
        start = self.start
        idx = self.index
        if idx is None and self.btf.base is not None:
            lo, kind_bytes = 0, bytes(kinds)  # the base's composites count too
        else:   # own types only (an indexed base answers for its part below)
            lo, kind_bytes = start, self.own_kinds
        fwds = _ids_of_kind(kind_bytes, _FWD, start - lo, lo)
        if not fwds:
            return
        names: dict[int, int] = {}
        # a name's entry is the same in any visiting order: its ID if unique, else 0
        for kind in _COMPOSITE:
            for tid in _ids_of_kind(kind_bytes, kind, 0, lo):
                if m[tid] == tid:
                    n = T[tid][0]
                    names[n] = 0 if n in names else tid
        for tid in fwds:
            if m[tid] != tid:
                continue
            t = T[tid]
            c = names.get(t[0])
            if idx is not None:
                # the base's part of ``names`` (base types always map to themselves)
                b = idx.composite(t[0])
                if b is not None:
                    c = b if c is None else 0
            if not c:
                continue
            ck = kinds[c]
            fwd_union = t[1] >> 31
            if (ck == _STRUCT and fwd_union) or (ck == _UNION and not fwd_union):
                continue
            m[tid] = c

    def ref_types(self) -> None:
        """§1.9: reference types bottom-up. A type whose referenced IDs are all mapped
        is finished inline; anything else goes through the explicit-stack walk
        (``reference=True``: everything does)."""
        T, kinds, m = self.T, self.kinds, self.map
        table = self.table
        add = table.add
        cands = table.cands
        slow = self._dedup_ref
        if self.reference:   # the literal walk for every type (what the tests compare)
            for root in range(self.start, len(T)):
                if m[root] > MAX_NR:
                    slow(root)
            return
        # standalone: most keys are new, and a dict probe says so without a cands() call
        # (vmlinux: 91k roots)
        fast = table if isinstance(table, FastTable) else FastTable()  # (unused if not)
        fast_lists = fast.lists
        has_key = fast_lists.__contains__ if fast is table else None
        for root in range(self.start, len(T)):
            if m[root] <= MAX_NR:
                continue
            k = kinds[root]
            t = T[root]
            if k in _SINGLE_REF:
                ref = t[2]
                x = m[ref]
                if x > MAX_NR:
                    slow(root)
                    continue
                while x != ref:
                    ref = x
                    x = m[ref]
                    if x > MAX_NR:
                        break
                t[2] = ref
            elif k in (_FUNC_PROTO, _ARRAY):
                # the same when every referenced ID is already mapped (checked before
                # any slot is rewritten, so the walk sees the record untouched
                # otherwise): 27k of vmlinux's 28k
                slots = range(2, len(t), 2) if k == _FUNC_PROTO else _ARRAY_SLOTS
                for s in slots:
                    if m[t[s]] > MAX_NR:
                        slow(root)
                        break
                else:
                    for s in slots:
                        ref = t[s]
                        x = m[ref]
                        while x != ref:
                            ref = x
                            x = m[ref]
                            if x > MAX_NR:
                                break
                        t[s] = ref
                if m[root] <= MAX_NR:   # the walk did it
                    continue
            else:
                slow(root)
                continue
            # every referenced ID is mapped: finish inline, as the walk would (every
            # reference kind's key is key_words)
            h = hash(tuple(t))
            new = root
            if has_key is None or has_key(h):
                for c in cands(h):
                    if T[c] == t:
                        new = c
                        break
                m[root] = new
                if new == root:
                    add(h, root)
            else:
                m[root] = root
                # FastTable.add for a key it lacks, without the call (vmlinux: 88k)
                if fast.size == fast.grow_at:
                    add(h, root)
                else:
                    fast_lists[h] = root
                    fast.size += 1

    def _dedup_ref(self, root: int) -> int:
        """``btf_dedup_ref_type`` with an explicit stack (no recursion limit)."""
        T, kinds, m, keyf = self.T, self.kinds, self.map, self.keyf
        table = self.table
        # frame: [type id, record, ID slots, next slot position]
        stack: list[list[Any]] = []
        cur = root
        new = -1
        while True:
            # enter ``cur``: unmapped here
            if m[cur] == IN_PROGRESS:
                raise BtfError(f"dedup: reference type loop at [{cur}]")
            k = kinds[cur]
            if k not in _REF_KINDS:
                raise BtfError(f"dedup: unexpected kind {k} for type [{cur}]")
            t = T[cur]
            m[cur] = IN_PROGRESS
            if k == _ARRAY:
                slots: Sequence[int] = (3, 4)
            elif k == _FUNC_PROTO:
                slots = (2, *range(4, len(t), 2))
            else:
                slots = (2,)
            stack.append([cur, t, slots, 0])
            descend = -1
            while stack:
                fr = stack[-1]
                t = fr[1]
                slots = fr[2]
                pos = fr[3]
                while pos < len(slots):
                    s = slots[pos]
                    ref = t[s]
                    x = m[ref]
                    if x <= MAX_NR:
                        while x != ref:
                            ref = x
                            x = m[ref]
                            if x > MAX_NR:
                                break
                        t[s] = ref
                        pos += 1
                        continue
                    if x == IN_PROGRESS:
                        raise BtfError(f"dedup: reference type loop at [{ref}]")
                    descend = ref
                    break
                if descend >= 0:
                    fr[3] = pos
                    break
                # every referenced ID is canonical now: look for an equal candidate
                tid = fr[0]
                h = keyf[kinds[tid]](t)
                new = tid
                for c in table.cands(h):
                    if T[c] == t:
                        new = c
                        break
                m[tid] = new
                if new == tid:
                    table.add(h, tid)
                stack.pop()
                if stack:
                    parent = stack[-1]
                    parent[1][parent[2][parent[3]]] = new
                    parent[3] += 1
            if descend < 0:
                return new
            cur = descend

    def compact_and_remap(self) -> None:
        """§1.10."""
        btf = self.btf
        T, m = self.T, self.map
        start = self.start
        cnt = len(T)
        new_id: Any
        if self.index is not None:
            ident = self.index.identity()
            base_same = memoryview(m)[:start] == memoryview(ident)   # no copy of the base part
            if base_same and m[start:] == array("q", range(start, cnt)):
                return      # nothing merged, nothing redirected: IDs stay as they are
            new_id = array("q", ident)
        else:
            # compared without a list of 107k new ints (peak RSS)
            if all(map(operator.eq, m, range(cnt))):
                return      # nothing merged, nothing redirected: IDs stay as they are
            base_same = False
            new_id = list(range(start))
        new_id.extend([-1] * (cnt - start))
        kept: list[list[int]] = []
        nid = start
        for tid in range(start, cnt):
            x = m[tid]
            if x == tid:
                # up to the first merge, store the map's own int: ~3 MB fewer objects
                new_id[tid] = x if nid == tid else nid
                nid += 1
                kept.append(T[tid])
        # updated in place: a redirected ID's entry is written, only chain ends (which are
        # never redirected) are read, so no copy is needed (a module: 856 KB less to copy)
        fin = new_id
        # base IDs map to themselves unless the enum rule redirected one (§1.3)
        redirected: Iterable[int]
        if base_same:
            redirected = ()
        elif self.index is not None:
            redirected = _differing(memoryview(m)[:start], memoryview(ident))
        else:
            redirected = range(start)
        for tid in itertools.chain(redirected, range(start, cnt)):
            x = m[tid]
            if x <= MAX_NR and x != tid:
                r = x
                while True:
                    x = m[r]
                    if x > MAX_NR or x == r:
                        break
                    r = x
                fin[tid] = new_id[r]
        btf.types = kept
        bad = False
        for t in kept:
            k = (t[1] >> 24) & 0x7F
            if k in _COMPOSITE:
                if len(t) > 3:
                    v = [fin[x] for x in t[4::3]]
                    bad |= -1 in v
                    t[4::3] = v
            elif k == _FUNC_PROTO:
                t[2] = fin[t[2]]
                bad |= t[2] < 0
                if len(t) > 3:
                    v = [fin[x] for x in t[4::2]]
                    bad |= -1 in v
                    t[4::2] = v
            elif k == _ARRAY:
                t[3] = fin[t[3]]
                t[4] = fin[t[4]]
                bad |= t[3] < 0 or t[4] < 0
            elif k == _DATASEC:
                if len(t) > 3:
                    v = [fin[x] for x in t[3::3]]
                    bad |= -1 in v
                    t[3::3] = v
            elif k in K._TYPE_REF_KINDS:
                t[2] = fin[t[2]]
                bad |= t[2] < 0
        if bad:
            raise BtfError("dedup: a type references a type that was not kept")


def _differing(a: memoryview, b: memoryview) -> list[int]:
    """Indexes where two equally long flat arrays differ, by halving: a few slice
    comparisons (in C) when the differences are few, as for a base's ID map."""
    out: list[int] = []
    todo = [(0, len(a))]
    while todo:
        lo, hi = todo.pop()
        if a[lo:hi] == b[lo:hi]:
            continue
        if hi - lo <= 32:
            out.extend(i for i in range(lo, hi) if a[i] != b[i])
            continue
        mid = (lo + hi) // 2
        todo.append((mid, hi))
        todo.append((lo, mid))
    return out


def _ids_of_kind(kinds: bytes, kind: int, first: int, first_id: int) -> list[int]:
    """The IDs of ``kind`` from ``kinds`` (one byte per type, ``kinds[0]`` is ID
    ``first_id``), starting at index ``first``, ascending. ``bytes.find`` is a memchr; a
    Python or ``compress`` pass over a list costs 35–50 ns per type (vmlinux's FWD
    resolution: 11 -> 6 ms)."""
    out: list[int] = []
    find = kinds.find
    i = find(kind, first)
    while i >= 0:
        out.append(i + first_id)
        i = find(kind, i + 1)
    return out


def dedup(btf: Btf, *, reference: bool = False,
          seconds: dict[str, float] | None = None) -> None:
    """``btf__dedup(btf, NULL)`` in place. ``reference=True`` runs the literal hashmap
    emulation (real hashes, list reversals, no shortcuts) instead of the fast tables.
    ``seconds`` receives the wall time of each phase (``strings``, ``prim``, ``struct``,
    ``ref``, ...), for ``--report``."""
    d = _Dedup(btf, reference)
    try:
        d.run(seconds)
    except IndexError:
        raise BtfError("dedup: invalid type ID reference") from None
