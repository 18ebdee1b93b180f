"""Time the semantic diff on the corpus: Debian's vmlinux ``.BTF`` against btfids' newest
output (parse, one snapshot each, compare), and what ``--explain`` adds to a run
(the same run with and without per-pass changes, side by side in this process).

    python bench/semdiff.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import corpus_path, preresolve_copy

from btfids import host
from btfids.btf.canon import Canon
from btfids.btf.semdiff import Snapshot, compare
from btfids.btfio import load_btf
from btfids.context import Log
from btfids.report import Report


def cpu() -> float:
    return time.process_time()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    corpus = corpus_path()
    with tempfile.TemporaryDirectory(prefix="btfids-bench-") as tmp:
        elf = preresolve_copy(corpus / "vmlinux", "vmlinux", Path(tmp))
        pipe = host.prepare("bpf-next")
        runs: dict[str, list[float]] = {"run": [], "run --explain": []}
        for _ in range(args.repeat):
            for label, changes in (("run", False), ("run --explain", True)):
                t = cpu()
                host.run(pipe, host.RunOptions(str(elf)), log=Log(0, io.StringIO()),
                         report=Report(changes=changes))
                runs[label].append(cpu() - t)
        steps: dict[str, list[float]] = {"parse both": [], "snapshot old": [],
                                         "snapshot new": [], "compare": []}
        for _ in range(args.repeat):
            t0 = cpu()
            a, b = load_btf(str(corpus / "vmlinux")), load_btf(f"{elf}.BTF")
            t1 = cpu()
            canon = Canon()
            sa = Snapshot(a, canon)
            t2 = cpu()
            sb = Snapshot(b, canon)
            t3 = cpu()
            d = compare(sa, sb)
            t4 = cpu()
            for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                steps[k].append(v)
        print(f"vmlinux diff: {d.summary()}")
    for k, v in {**steps, **runs}.items():
        print(f"  {k:16s} {statistics.median(v):6.2f} s CPU (median of {len(v)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
