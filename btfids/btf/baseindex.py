"""Base-BTF index and its on-disk cache (docs/performance.md).

A module run touches only a few of the ~100k vmlinux types, yet a plain run parses and
scans the whole base several times (record split + validation, dedup's base table,
whole-string lookups, ``.BTF_ids`` name lookups, DECL_TAG IDs, FWD resolution). The
:class:`BaseIndex` holds everything those scans derive, as flat arrays, so that a base
loaded through it stays *lazily decoded* (:class:`~btfids.btf.model.LazyTypes`: a
record is built from the word array only when asked for) and never needs a full scan.

The index is built once from a fully parsed and validated base and stored as one file
``base-<sha256 of the BTF bytes>.idx`` in ``$BTFIDS_CACHE_DIR`` (default
``~/.cache/btfids``), written atomically (temporary file + rename, no locks), keyed by
content, sealed with a crc32 of the whole file (:mod:`btfids.cache`) and holding the
digest of the base it was built from. A missing, stale, corrupt or inconsistent file is
silently rebuilt. ``BTFIDS_CACHE=0``
disables it. Nothing derived from the index may change output bytes: every lookup is
verified against the real records, and hash collisions only cost a comparison.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys
import time
import zlib
from array import array
from bisect import bisect_left

from ..cache import cache_dir, read_sealed, unseal, write_atomically
from . import kinds as K
from .dedup_tables import KEY_BY_KIND, base_part
from .model import HOST_ORDER, RecordIndex

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .model import Btf

FORMAT = b"btfids-base-index-6"
# The dedup table groups are keyed by Python's (deterministic) hash of int tuples,
# which may change between Python versions: part of the format tag.
_TAG = FORMAT + b"/%d" % sys.hexversion
_NAMED_KINDS = (K.FUNC, K.STRUCT, K.UNION, K.TYPEDEF)
#: radix directories: the top RADIX_BITS bits of a 32-bit key pick a bucket
RADIX_BITS = 16
_RADIX_SHIFT = 32 - RADIX_BITS
#: dedup keys are signed 64-bit hashes: bias them into unsigned order, keep the top bits
_HASH_BIAS = 1 << 63
_HASH_SHIFT = 64 - RADIX_BITS


def _radix(keys: list[int], shift: int, bias: int = 0) -> bytes:
    """u32 ``dir`` with ``dir[b]`` = the first position of a sorted ``keys`` whose
    bucket ``(key + bias) >> shift`` is at least ``b`` (``1 << RADIX_BITS`` + 1
    entries): a lookup bisects only its bucket, a few entries instead of ~17 probes of
    a 100k-entry array, each of which makes an int from the mapped bytes."""
    d = array("I", [0]) * ((1 << RADIX_BITS) + 1)
    for key in keys:
        d[((key + bias) >> shift) + 1] += 1
    total = 0
    for b in range(len(d)):
        total += d[b]
        d[b] = total
    return d.tobytes()


def _u32(a: array) -> bytes:
    return a.tobytes()


def _view(code: str, data: bytes | memoryview) -> memoryview:
    """A flat array without copying (an empty buffer cannot be cast to a format)."""
    view = memoryview(data)
    return view.cast(code) if len(view) else memoryview(array(code))  # type: ignore[call-overload]


class _DedupLists:
    """dedup's base table (key → base IDs in stored orientation) as sorted hash groups;
    ``get`` verifies the group's key on its first record."""

    def __init__(self, idx: BaseIndex) -> None:
        self.idx = idx
        self.memo: dict[Any, list[int] | None] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        got = self.memo.get(key, 0)
        if got == 0:
            got = self.memo[key] = self._find(key)
        return default if got is None else got

    def _find(self, key: Any) -> list[int] | None:
        idx = self.idx
        hashes, starts, ids = idx.khash, idx.kstart, idx.kids
        h = hash(key)
        b = (h + _HASH_BIAS) >> _HASH_SHIFT
        i = bisect_left(hashes, h, idx.kdir[b], idx.kdir[b + 1])
        types = idx.types
        while i < len(hashes) and hashes[i] == h:
            lo, hi = starts[i], starts[i + 1]
            first = ids[lo]
            if KEY_BY_KIND[idx.kinds[first]](types[first - 1]) == key:
                return ids[lo:hi].tolist()
            i += 1
        return None


class BaseIndex(RecordIndex):
    """What module runs derive from a full scan of a standalone base (see module doc)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.offs: Any = _view("I", fields["offs"])
        self.kinds: bytes = bytes(fields["kinds"])
        self.size, self.cap, self.flip = fields["table"]
        self.khash: Any = _view("q", fields["khash"])
        self.kstart: Any = _view("I", fields["kstart"])
        self.kids: Any = _view("I", fields["kids"])
        self.nkey: Any = _view("Q", fields["nkey"])
        self.nid: Any = _view("I", fields["nid"])
        self.scrc: Any = _view("I", fields["scrc"])
        self.kdir: Any = _view("I", fields["kdir"])
        self.sdir: Any = _view("I", fields["sdir"])
        self.soff: Any = _view("I", fields["soff"])
        self.cname: Any = _view("I", fields["cname"])
        self.cval: Any = _view("I", fields["cval"])
        self.decl_tags: Any = _view("I", fields["decl_tags"])
        self._ident: array | None = None
        self.types: Any = None
        self.strs: bytes | bytearray = b""
        self.dedup_lists = _DedupLists(self)

    def consistent(self) -> bool:
        """The arrays agree with each other (one entry per type ID, VOID included)."""
        n = len(self.offs)
        return (n >= 1 and len(self.kinds) == n and len(self.fields["ident"]) == 8 * n
                and len(self.kstart) == len(self.khash) + 1 and len(self.nid) == len(self.nkey)
                and len(self.soff) == len(self.scrc) and len(self.cval) == len(self.cname))

    def describes(self, data: bytes | memoryview) -> bool:
        """Whether this index can be of the raw BTF ``data`` (host order): as many type
        words as its record offsets cover. A cheap guard, checked on every load."""
        if len(data) < 24:
            return False
        hdr = memoryview(data)[:24].cast("I")
        hdr_len, type_len = hdr[1], hdr[3]
        return type_len % 4 == 0 and hdr_len + type_len <= len(data) and (
            self.offs[len(self.offs) - 1] == type_len // 4)

    def identity(self) -> array:
        """``array('q', range(type_cnt))``: dedup's base part of its ID map (copied from
        the stored bytes: building it from ``range`` allocates an int per ID)."""
        if self._ident is None:
            self._ident = array("q")
            self._ident.frombytes(self.fields["ident"])
        return self._ident

    def attach(self, btf: Btf) -> None:
        self.types = btf.types
        self.strs = btf.strs
        btf.index = self

    # -------------------------------------------------------------- lookups
    def _str(self, off: int) -> bytes:
        strs = self.strs
        return bytes(strs[off : strs.index(0, off)])

    def find_str(self, s: bytes) -> int:
        """First offset of ``s`` as a whole string, or -1."""
        crc = zlib.crc32(s)
        scrc, soff = self.scrc, self.soff
        b = crc >> _RADIX_SHIFT
        i = bisect_left(scrc, crc, self.sdir[b], self.sdir[b + 1])
        strs = self.strs
        end = len(s)
        while i < len(scrc) and scrc[i] == crc:
            off = soff[i]
            if strs.startswith(s, off) and strs[off + end] == 0:
                return off
            i += 1
        return -1

    def ids_named(self, kind: int, name: bytes) -> list[int]:
        """Every base ID of ``kind`` (FUNC/STRUCT/UNION/TYPEDEF) named ``name``, ascending."""
        key = (kind << 32) | zlib.crc32(name)
        nkey, nid = self.nkey, self.nid
        i = bisect_left(nkey, key)
        out = []
        types = self.types
        while i < len(nkey) and nkey[i] == key:
            tid = nid[i]
            if self._str(types[tid - 1][0]) == name:
                out.append(tid)
            i += 1
        return out

    def composite(self, name_off: int) -> int | None:
        """For dedup's FWD resolution: None when no base STRUCT/UNION has this name
        offset, else its ID when it is the only one, else 0."""
        cname = self.cname
        i = bisect_left(cname, name_off)
        if i < len(cname) and cname[i] == name_off:
            return int(self.cval[i])
        return None

    # -------------------------------------------------------------- build
    @classmethod
    def build(cls, btf: Btf) -> BaseIndex | None:
        """From a fully parsed standalone base in host order; None if not indexable."""
        if btf.base is not None or btf.order != HOST_ORDER or btf.layout:
            return None
        types = btf.types
        kinds = bytearray(len(types) + 1)
        offs = array("I", [0])
        pos = 0
        for i, t in enumerate(types, 1):
            k = (t[1] >> 24) & 0x7F
            if k > K.MAX_KNOWN_KIND:
                return None
            kinds[i] = k
            pos += len(t)
            offs.append(pos)
        try:
            part = base_part(types, btf.type_cnt)
        except ValueError:
            return None
        groups = sorted((hash(key), lst[0], lst) for key, lst in part.lists.items())
        khash = array("q", [g[0] for g in groups])
        kstart = array("I", [0])
        kids = array("I")
        for g in groups:
            kids.extend(g[2])
            kstart.append(len(kids))
        strs = bytes(btf.strs)
        names = []
        comps: dict[int, int] = {}
        tags = array("I")
        for tid, t in enumerate(types, 1):
            k = kinds[tid]
            if k in _NAMED_KINDS:
                end = strs.index(0, t[0])
                names.append(((k << 32) | zlib.crc32(strs[t[0] : end]), tid))
            if k == K.STRUCT or k == K.UNION:
                comps[t[0]] = 0 if t[0] in comps else tid
            elif k == K.DECL_TAG:
                tags.append(tid)
        names.sort()
        first: dict[bytes, int] = {}
        off = 0
        for s in strs.split(b"\0")[:-1]:
            first.setdefault(s, off)
            off += len(s) + 1
        sidx = sorted((zlib.crc32(s), o) for s, o in first.items())
        cn = sorted(comps.items())
        fields = {
            "offs": _u32(offs),
            "kinds": bytes(kinds),
            "table": (part.size, part.cap, part.flip),
            "khash": khash.tobytes(),
            "kdir": _radix(khash.tolist(), _HASH_SHIFT, _HASH_BIAS),
            "kstart": _u32(kstart),
            "kids": _u32(kids),
            "nkey": array("Q", [n[0] for n in names]).tobytes(),
            "nid": _u32(array("I", [n[1] for n in names])),
            "scrc": _u32(array("I", [x[0] for x in sidx])),
            "sdir": _radix([x[0] for x in sidx], _RADIX_SHIFT),
            "soff": _u32(array("I", [x[1] for x in sidx])),
            "cname": _u32(array("I", [c[0] for c in cn])),
            "cval": _u32(array("I", [c[1] for c in cn])),
            "decl_tags": _u32(tags),
            "ident": array("q", range(btf.type_cnt)).tobytes(),
        }
        return cls(fields)

    def dumps(self, digest: str) -> bytes:
        """``TAG\\n`` + u32 length + marshal of (digest, small fields, blob layout), then
        the flat arrays, each 8-byte aligned (loaded as memoryviews, no copies)."""
        small = {k: v for k, v in self.fields.items() if not isinstance(v, bytes)}
        blobs = [(k, bytes(v)) for k, v in self.fields.items() if isinstance(v, bytes)]
        layout = []
        pos = 0
        for k, v in blobs:
            layout.append((k, pos, len(v)))
            pos += (len(v) + 7) & ~7
        head = marshal.dumps((digest, small, layout))
        prefix = _TAG + b"\n" + len(head).to_bytes(4, "little") + head
        prefix += bytes(-len(prefix) % 8)
        body = bytearray()
        for _, v in blobs:
            body += v
            body += bytes(-len(v) % 8)
        return prefix + bytes(body)

    @classmethod
    def loads(cls, data: bytes | memoryview, digest: str) -> BaseIndex | None:
        n = len(_TAG) + 1
        if data[:n] != _TAG + b"\n":
            return None
        try:
            hlen = int.from_bytes(data[n : n + 4], "little")
            got, small, layout = marshal.loads(data[n + 4 : n + 4 + hlen])
            if got != digest:
                return None
            start = n + 4 + hlen
            start += -start % 8
            view = memoryview(data)
            fields = dict(small)
            for k, off, length in layout:
                if start + off + length > len(data):
                    return None
                fields[k] = view[start + off : start + off + length]
            return cls(fields)
        except Exception:  # corrupt: rebuild
            return None


# ------------------------------------------------------------------ cache front end
#: A stat stamp is trusted only for files whose ctime is at least this old when the
#: stamp is recorded: a later change in the same timestamp tick could not be seen.
SETTLE_NS = 2_000_000_000


def cache_path(digest: str) -> str:
    return os.path.join(cache_dir(), f"base-{digest}.idx")


def _map(f: Any) -> memoryview:
    """The whole open file as a read-only memoryview (pages are read on first touch)."""
    return memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))


def stamp_of(f: Any, offset: int, size: int) -> str:
    """The stat stamp of ``size`` bytes at ``offset`` of the open file ``f``: device,
    inode, size, mtime and ctime (which no user call can set back)."""
    st = os.fstat(f.fileno())
    return "%x-%x-%x-%x-%x-%x-%x" % (
        st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, offset, size)


def _stamp_path(stamp: str) -> str:
    return os.path.join(cache_dir(), f"stat-{stamp}")


def load_by_stamp(f: Any, offset: int, size: int) -> tuple[BaseIndex, memoryview] | None:
    """(index, the region's bytes mapped from ``f``) when the file's stat stamp was
    recorded for a content digest whose index is cached; else None (hash the bytes).

    This is how git and make trust an unchanged file: the digest was computed from
    these very bytes when the stamp was recorded, and any write since would have moved
    the ctime (stamps are recorded only for settled files, :data:`SETTLE_NS`)."""
    try:
        stored = read_sealed(_stamp_path(stamp_of(f, offset, size)))
        if stored is None:
            return None
        digest = stored.decode("ascii")
        idx = _cached_index(digest)
        if idx is None:
            return None
        view = _map(f)[offset : offset + size]
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # no stamp, or the file cannot be mapped: read it
    return (idx, view) if len(view) == size else None


def load_cached(data: bytes | memoryview) -> tuple[BaseIndex | None, str]:
    """(index or None, content digest) for raw base BTF bytes."""
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    return _cached_index(digest), digest


def _cached_index(digest: str) -> BaseIndex | None:
    """The stored index of ``digest``, mapped; None when missing, empty or corrupt."""
    try:
        with open(cache_path(digest), "rb") as f:
            blob = unseal(_map(f))   # the whole file's crc32: ~1.3 ms for vmlinux's
    except (OSError, ValueError):
        return None
    idx = None if blob is None else BaseIndex.loads(blob, digest)
    return idx if idx is not None and idx.consistent() else None


def store(idx: BaseIndex, digest: str) -> None:
    """Write the index atomically."""
    write_atomically(cache_path(digest), idx.dumps(digest))


def remember_stamp(f: Any, offset: int, size: int, before: str, digest: str) -> None:
    """Record ``stamp → digest`` when the file did not change while it was read (its
    stamp now is still ``before``) and its ctime has settled (:data:`SETTLE_NS`)."""
    if stamp_of(f, offset, size) != before:
        return
    ctime_ns = int(before.split("-")[4], 16)
    if time.time_ns() - ctime_ns < SETTLE_NS:
        return
    write_atomically(_stamp_path(before), digest.encode("ascii"))
