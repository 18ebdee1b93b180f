"""What a fork costs the parent's later work: dedup's string phase on the corpus
vmlinux BTF, timed with no child, with a child alive (sleeping) and with a child
already reaped, with the page faults and system time of the phase
(docs/performance-history.md, "What a fork costs the parent afterwards").

    .venv/bin/python bench/fork_cost.py [--repeat N] [--populate]

``--populate`` also times the variants that first prefault the heap writable with
``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+, through ctypes; a measurement only,
nothing in btfids does this).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from collections.abc import Callable

from corpus import corpus_path

from btfids.btf.dedup import _Dedup
from btfids.btf.model import Btf

MADV_POPULATE_WRITE = 23


def populate_heap() -> float:
    """Prefault every private writable anonymous mapping; returns the seconds taken."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    t0 = time.perf_counter()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw") or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            libc.madvise(lo, hi - lo, MADV_POPULATE_WRITE)
    return time.perf_counter() - t0


def one(raw: bytes, child: str, populate: bool) -> tuple[float, int, float, float]:
    """(phase seconds, minor faults, system seconds, madvise seconds) of one run."""
    btf = Btf.parse(raw)
    btf.make_modifiable()
    work = _Dedup(btf, False)
    pid = 0
    if child != "none":
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        if child == "reaped":
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pid = 0
    before = resource.getrusage(resource.RUSAGE_SELF)
    prefault = populate_heap() if populate else 0.0
    t0 = time.perf_counter()
    work.strings(check_apart=True)
    secs = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    if pid:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return (secs, after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime,
            prefault)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--populate", action="store_true")
    args = ap.parse_args()
    gc.disable()   # as in a run (btfids/gcpause.py)
    raw = (corpus_path() / "btf-vmlinux").read_bytes()
    cases: list[tuple[str, bool]] = [("none", False), ("alive", False), ("reaped", False)]
    if args.populate:
        cases += [("alive", True), ("reaped", True)]
    ms: Callable[[float], str] = lambda s: f"{s * 1000:6.1f}"  # noqa: E731
    for child, populate in cases:
        for _ in range(args.repeat):
            secs, faults, sys_secs, prefault = one(raw, child, populate)
            label = f"child {child}" + (" + MADV_POPULATE_WRITE" if populate else "")
            extra = f"  madvise {ms(prefault)} ms" if populate else ""
            print(f"{label:36} string phase {ms(secs)} ms  minor faults {faults:6}"
                  f"  system {ms(sys_secs)} ms{extra}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
