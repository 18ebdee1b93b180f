"""Would one walk over vmlinux's records beat three? After dedup's string phase has
found every string's new offset and the sort has found every type's new ID, the
newest pipeline still walks the 107k records three times: the string phase rewrites
the name offsets, the sort rewrites the type IDs and puts each record at its new place,
and the writer serialises them in that order. This times those walks as the pipeline
runs them against one fused walk that does all the rewriting and the placing
(docs/performance-history.md, "Where the newest run stands").

    .venv/bin/python bench/shared_walk.py [--repeat N]

Both maps are computed before the clock starts, so the string phase's first
references (its other ~85 ms) are not in either figure. Each timing runs in a fresh
process (the maps come from a file), alternating the variants: in one long-lived
process each repetition is slower than the last. Every variant writes through
``Btf.raw_data``, and its bytes are checked against the real pipeline's output.
"""

from __future__ import annotations

import argparse
import gc
import marshal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from corpus import corpus_path

from btfids.btf import kinds as K
from btfids.btf.dedup import dedup
from btfids.btf.model import Btf
from btfids.btf.sort import _remap_ids, sort_by_name, sort_order

NAMES_EVERY_3RD = (K.STRUCT, K.UNION, K.ENUM64)   # members: name, then two words
NAMES_EVERY_2ND = (K.ENUM, K.FUNC_PROTO)          # members: name, then one word


def maps(raw: bytes) -> tuple[dict[int, int], list[int], bytes, bytes]:
    """(old → new string offset, old → new type ID with VOID, the new string section,
    the pipeline's output)."""
    before = Btf.parse(raw)
    after = Btf.parse(raw)
    dedup(after)
    if len(before.types) != len(after.types):
        raise SystemExit("dedup merged types here: the walks below assume it keeps all")
    offsets: dict[int, int] = {}
    for old, new in zip(before.types, after.types, strict=True):
        offsets[old[0]] = new[0]
        kind = K.kind_of(old[1])
        if kind in NAMES_EVERY_3RD:
            offsets.update(zip(old[3::3], new[3::3], strict=True))
        elif kind in NAMES_EVERY_2ND:
            offsets.update(zip(old[3::2], new[3::2], strict=True))
    ids = sort_order(after)
    sort_by_name(after)
    return offsets, ids, bytes(after.strs), after.raw_data()


def write(btf: Btf, placed: list[list[int]]) -> bytes:
    """The writer, on the records in their new order."""
    btf.types = placed
    return btf.raw_data()


def three_walks(btf: Btf, offsets: dict[int, int], ids: list[int]
                ) -> tuple[dict[str, float], bytes]:
    """As the pipeline does it: the string phase's rewrite, the sort's remap and
    placement, the writer."""
    types = btf.types
    new_off = offsets.__getitem__
    t0 = time.perf_counter()
    for t in types:
        kind = (t[1] >> 24) & 0x7F
        if kind == 0:
            continue
        t[0] = offsets[t[0]]
        if len(t) > 3:
            if kind in NAMES_EVERY_3RD:
                t[3::3] = map(new_off, t[3::3])
            elif kind in NAMES_EVERY_2ND:
                t[3::2] = map(new_off, t[3::2])
    t1 = time.perf_counter()
    _remap_ids(types, ids)
    t2 = time.perf_counter()
    placed: list[list[int]] = [None] * len(types)  # type: ignore[list-item]
    for t, new in zip(types, ids[1:], strict=True):
        placed[new - 1] = t
    t3 = time.perf_counter()
    out = write(btf, placed)
    t4 = time.perf_counter()
    return {"strings": t1 - t0, "remap": t2 - t1, "place": t3 - t2, "serialise": t4 - t3,
            "total": t4 - t0}, out


def one_walk(btf: Btf, offsets: dict[int, int], ids: list[int]
             ) -> tuple[dict[str, float], bytes]:
    """Names, IDs and placement in one loop per record, then the writer."""
    types = btf.types
    new_off = offsets.__getitem__
    new_id = ids.__getitem__
    single = K._TYPE_REF_KINDS
    composite = (K.STRUCT, K.UNION)
    FUNC, FUNC_PROTO, ARRAY, DATASEC = K.FUNC, K.FUNC_PROTO, K.ARRAY, K.DATASEC
    t0 = time.perf_counter()
    placed: list[list[int]] = [None] * len(types)  # type: ignore[list-item]
    for t, new in zip(types, ids[1:], strict=True):
        kind = (t[1] >> 24) & 0x7F
        if kind:
            t[0] = offsets[t[0]]
        if kind == FUNC or kind in single:
            t[2] = ids[t[2]]
        elif kind == FUNC_PROTO:
            t[2] = ids[t[2]]
            if len(t) > 3:
                t[3::2] = map(new_off, t[3::2])
                t[4::2] = map(new_id, t[4::2])
        elif kind in composite:
            if len(t) > 3:
                t[3::3] = map(new_off, t[3::3])
                t[4::3] = map(new_id, t[4::3])
        elif kind == ARRAY:
            t[3], t[4] = ids[t[3]], ids[t[4]]
        elif kind == DATASEC:
            if len(t) > 3:
                t[3::3] = map(new_id, t[3::3])
        elif len(t) > 3:
            if kind == K.ENUM64:
                t[3::3] = map(new_off, t[3::3])
            elif kind == K.ENUM:
                t[3::2] = map(new_off, t[3::2])
        placed[new - 1] = t
    t1 = time.perf_counter()
    out = write(btf, placed)
    t2 = time.perf_counter()
    return {"walk": t1 - t0, "serialise": t2 - t1, "total": t2 - t0}, out


VARIANTS: dict[str, Callable[..., tuple[dict[str, float], bytes]]] = {
    "three walks (today)": three_walks, "one fused walk": one_walk}


def time_one(label: str, maps_file: str) -> None:
    """One variant, once, in this process."""
    gc.disable()   # as in a run (btfids/gcpause.py)
    raw = (corpus_path() / "btf-vmlinux").read_bytes()
    with open(maps_file, "rb") as f:
        offsets, ids, strs, expected = marshal.load(f)
    btf = Btf.parse(raw)
    btf.make_modifiable()
    btf.strs = bytearray(strs)   # the string phase's other half, not timed here
    secs, out = VARIANTS[label](btf, offsets, ids)
    if out != expected:
        raise SystemExit(f"{label}: output differs from the pipeline's")
    parts = "  ".join(f"{k} {v * 1000:5.1f}" for k, v in secs.items())
    print(f"{label:20} {parts} ms", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--maps", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        time_one(args.variant, args.maps)
        return 0
    offsets, ids, strs, expected = maps((corpus_path() / "btf-vmlinux").read_bytes())
    with tempfile.NamedTemporaryFile(suffix=".maps") as f:
        marshal.dump((offsets, ids, strs, expected), f)
        f.flush()
        for _ in range(args.repeat):
            for label in VARIANTS:
                subprocess.run([sys.executable, __file__, "--variant", label,
                                "--maps", f.name], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
