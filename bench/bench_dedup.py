"""Time parse / dedup / sort / raw_data on the corpus vmlinux (with the 132 kfunc tags the
golden output holds) and on a few big modules; check bytes against the golden data.

    .venv/bin/python bench/bench_dedup.py [--reference] [--repeat N] [module.ko ...]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from elftools.elf.elffile import ELFFile

from btfids.btf import kinds as K
from btfids.btf.dedup import dedup
from btfids.btf.model import Btf
from btfids.btf.sort import sort_by_name

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
GOLDEN = SHARED / "golden" / "newest"
BIG = ["fs/xfs/xfs.ko", "fs/btrfs/btrfs.ko", "fs/bcachefs/bcachefs.ko", "fs/nfs/nfsv4.ko"]


def corpus() -> Path:
    out = subprocess.run([str(SHARED / "corpus" / "fetch")], check=True,
                         capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", action="store_true", help="literal hashmap emulation")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("modules", nargs="*", default=BIG)
    args = ap.parse_args()
    c = corpus()
    gold = (GOLDEN / "vmlinux" / "vmlinux.BTF").read_bytes()
    g = Btf.parse(gold)
    names = {g.name(t[2]) for _, t in g.iter_own()
             if K.kind_of(t[1]) == K.DECL_TAG and g.str_at(t[0]) == b"bpf_kfunc"}
    raw = (c / "btf-vmlinux").read_bytes()
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        b = Btf.parse(raw)
        t1 = time.perf_counter()
        first: dict[bytes, int] = {}
        for tid, t in b.iter_own():
            if K.kind_of(t[1]) == K.FUNC:
                first.setdefault(b.str_at(t[0]), tid)
        for fid in sorted(first[n] for n in names):
            b.add_decl_tag(b"bpf_kfunc", fid, -1)
        t2 = time.perf_counter()
        dedup(b, reference=args.reference)
        t3 = time.perf_counter()
        sort_by_name(b)
        t4 = time.perf_counter()
        out = b.raw_data()
        t5 = time.perf_counter()
        print(f"vmlinux: parse {t1 - t0:.3f} dedup {t3 - t2:.3f} sort {t4 - t3:.3f} "
              f"raw {t5 - t4:.3f} s  {'identical' if out == gold else 'DIFFERENT'}")
    with (GOLDEN / "SHA256SUMS.tsv").open() as f:
        digests = {(r["module"], r["mode"], r["output"]): r
                   for r in csv.DictReader(f, delimiter="\t")}
    vm = Btf.parse(raw)
    for mod in args.modules:
        with (c / "modules" / mod).open("rb") as f:
            sec = ELFFile(f).get_section_by_name(".BTF")
            data = bytes(sec.data())
        for i in range(args.repeat):
            b = Btf.parse(data, base=vm)
            t0 = time.perf_counter()
            dedup(b, reference=args.reference)
            t1 = time.perf_counter()
            sort_by_name(b)
            t2 = time.perf_counter()
            row = digests.get((mod, "plain", "BTF"))
            ok = row is not None and hashlib.sha256(b.raw_data()).hexdigest() == row["sha256"]
            cold = " (first: builds the shared base table)" if i == 0 else ""
            print(f"{mod}: dedup {t1 - t0:.3f} sort {t2 - t1:.3f} s  "
                  f"{'identical' if ok else 'no golden / different'}{cold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
