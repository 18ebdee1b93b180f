"""`btfids inspect btf` against `bpftool btf dump file` on the corpus vmlinux BTF, side by
side in one run, each writing into a pipe (issue 22: within 2x of bpftool). Prints the
wall and CPU (user+sys) seconds of every run, then min and median per tool, and checks
that both printed the same bytes.

    .venv/bin/python bench/inspect_dump.py [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from corpus import corpus_path


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(wall, child CPU, sha256 of stdout) of one run, stdout read through a pipe."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    digest = hashlib.sha256()
    while chunk := proc.stdout.read(1 << 16):
        digest.update(chunk)
    proc.wait()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode:
        sys.exit(f"{argv[0]} exited {proc.returncode}")
    return wall, cpu, digest.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if shutil.which("bpftool") is None:
        sys.exit("bpftool is not installed")
    btf = str(Path(corpus_path()) / "btf-vmlinux")
    btfids = str(Path(sys.executable).parent / "btfids")
    tools = {"bpftool": ["bpftool", "btf", "dump", "file", btf],
             "btfids": [btfids, "inspect", "btf", btf]}
    timed(tools["btfids"])  # warm the base index cache, as any second run finds it
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in tools}
    for _ in range(args.repeat):
        for name, argv in tools.items():  # interleaved: the same machine load for both
            runs[name].append(timed(argv))
    for name, rs in runs.items():
        for wall, cpu, _ in rs:
            print(f"{name:8} wall {wall:6.3f} s  cpu {cpu:6.3f} s")
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, rs in runs.items():
        walls, cpus = [r[0] for r in rs], [r[1] for r in rs]
        print(f"{name:8} wall min {min(walls):.3f} median {statistics.median(walls):.3f}  "
              f"cpu min {min(cpus):.3f} median {statistics.median(cpus):.3f}")
    ratio = (statistics.median(r[1] for r in runs["btfids"])
             / statistics.median(r[1] for r in runs["bpftool"]))
    same = {r[2] for rs in runs.values() for r in rs}
    print(f"btfids/bpftool median cpu ratio {ratio:.2f}; "
          f"{'same output' if len(same) == 1 else 'OUTPUTS DIFFER'}")


if __name__ == "__main__":
    main()
