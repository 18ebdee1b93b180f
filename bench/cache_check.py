"""What the cache's integrity check costs a module run (docs/performance.md).

Every cached module run checks the base index file it maps (~5.3 MB for Debian's
vmlinux) and the stat stamp against their sealed trailers (``btfids/cache.py``). This
prints, side by side on this machine: the check with several checksums over the same
bytes (zlib.crc32 is what btfids uses), the load of the index with and without the
check, and the wall time of a cached module run (whole process) for scale.

    .venv/bin/python bench/cache_check.py [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from corpus import corpus_path
from timing import timed_ok

from btfids import cache
from btfids.btf import baseindex
from btfids.btfio import load_base_btf

BIN = Path(sys.executable).parent


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    corpus = corpus_path()
    base = corpus / "btf-vmlinux"
    tmp = tempfile.mkdtemp(prefix="btfids-bench-cache-")
    os.environ[cache.ENV_CACHE_DIR] = tmp
    load_base_btf(str(base))   # build and store the index
    (idx_name,) = [n for n in os.listdir(tmp) if n.startswith("base-")]
    blob = Path(tmp, idx_name).read_bytes()
    digest = idx_name[5:-4]
    print(f"index file: {len(blob) / 1e6:.2f} MB")
    sums: dict[str, Callable[[], object]] = {
        "zlib.crc32 (used)": lambda: zlib.crc32(blob),
        "zlib.adler32": lambda: zlib.adler32(blob),
        "hashlib.blake2b": lambda: hashlib.blake2b(blob, digest_size=16).digest(),
        "hashlib.sha1": lambda: hashlib.sha1(blob).digest(),
        "hashlib.sha256": lambda: hashlib.sha256(blob).digest(),
    }
    for label, fn in sums.items():
        print(f"  {label:<20} {best(fn, args.repeat) * 1e3:6.2f} ms")
    checked = best(lambda: baseindex._cached_index(digest), args.repeat)
    real = cache.unseal
    baseindex.unseal = _unchecked  # type: ignore[assignment]
    try:
        unchecked = best(lambda: baseindex._cached_index(digest), args.repeat)
    finally:
        baseindex.unseal = real  # type: ignore[assignment]
    print(f"index load (map + check + header): {checked * 1e3:.2f} ms; "
          f"without the crc32: {unchecked * 1e3:.2f} ms; "
          f"the check: {(checked - unchecked) * 1e3:.2f} ms")
    mod = corpus / "modules" / "net/netfilter/nf_conntrack.ko"
    work = Path(tmp, "run")
    work.mkdir()
    elf = work / mod.name
    os.symlink(mod, elf)
    argv = [str(BIN / "resolve_btfids"), "-b", str(base), str(elf)]
    timed_ok(argv)   # warm: stamp recorded when the base is settled
    wall = statistics.median(timed_ok(argv)[0] for _ in range(args.repeat))
    print(f"cached module run (nf_conntrack, whole process): {wall * 1e3:.1f} ms median; "
          f"the check is {(checked - unchecked) / wall * 100:.1f}% of it")
    return 0


def _unchecked(blob: bytes | memoryview) -> memoryview | None:
    view = memoryview(blob)
    return view[: len(view) - 16]


if __name__ == "__main__":
    sys.exit(main())
