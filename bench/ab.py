"""Before/after timing of two checkouts, interleaved run by run.

On a shared host the load drifts over minutes, so two whole ``bench/run.py`` sessions
taken one after the other can differ by more than a change does. This runs the rows
that matter for a regression check (module runs, batch, vmlinux) alternately with
interpreter A (before) and B (after), each on its own copy of the inputs, and prints
the median wall and CPU time (user + system, children included) of each side.

    python bench/ab.py ../base/.venv/bin/python .venv/bin/python [--runs N] [--only vmlinux]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import GOLDEN, corpus_path, preresolve_copy, write_preresolve
from timing import timed_ok

MODULES = ("net/netfilter/nf_conntrack.ko", "lib/crc7.ko", "fs/xfs/xfs.ko")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("before", help="interpreter of the checkout before the change")
    ap.add_argument("after", help="interpreter of the checkout after the change")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--batch-runs", type=int, default=3)
    ap.add_argument("--only", help="only the rows whose name contains this")
    args = ap.parse_args()
    corpus = corpus_path()
    base = str(corpus / "btf-vmlinux")
    sides = {"A": Path(args.before).parent, "B": Path(args.after).parent}
    pre = (GOLDEN / "classic" / "vmlinux.BTF_ids.pre").read_bytes()
    with tempfile.TemporaryDirectory(dir=Path.home() / ".cache") as tmp:
        work = Path(tmp)
        env = dict(os.environ, BTFIDS_CACHE_DIR=str(work / "cache"))
        cases: list[tuple[str, dict[str, list[str]], int, object]] = []
        for rel in MODULES:
            mods = {s: str(preresolve_copy(corpus / "modules" / rel, rel, work / s / "m"))
                    for s in sides}
            cases.append((f"module newest: {rel}", {
                s: [str(b / "resolve_btfids"), "-b", base, mods[s]] for s, b in sides.items()
            }, args.runs, None))
        rel = MODULES[0]
        cases.append((f"module classic: {rel}", {
            s: [str(b / "resolve_btfids"), "--config", "linux-6.12", "-b", base,
                str(preresolve_copy(corpus / "modules" / rel, rel, work / s / "c"))]
            for s, b in sides.items()}, args.runs, None))
        listing = work / "modules.txt"
        names = sorted({p.relative_to(corpus / "modules").as_posix()
                        for p in (corpus / "modules").rglob("*.ko")})
        paths = [preresolve_copy(corpus / "modules" / r, r, work / "batch" / str(n))
                 for n, r in enumerate(names)]
        listing.write_text("".join(f"{p}\n" for p in paths))
        cases.append((f"all {len(paths)} modules, batch -j 1", {
            s: [str(b / "btfids"), "run", "-j", "1", "-b", base, "-T", str(listing)]
            for s, b in sides.items()}, args.batch_runs, None))
        vml = {s: preresolve_copy(corpus / "vmlinux", "vmlinux", work / s / "v") for s in sides}
        for label, extra in (("classic", ["--config", "linux-6.12"]), ("newest", [])):
            for parallel in ("", "0"):
                cases.append((f"vmlinux {label}" + (", BTFIDS_PARALLEL=0" if parallel else ""), {
                    s: [str(b / "resolve_btfids"), *extra, str(vml[s])]
                    for s, b in sides.items()}, args.runs, (vml, parallel)))
        cases = [c for c in cases if not args.only or args.only in c[0]]
        for _, argvs, _, _ in cases:   # warm caches and byte code
            for argv in argvs.values():
                timed_ok(argv, env)
        print(f"A = {args.before}\nB = {args.after}\n"
              f"{'':44s} {'A wall':>9s} {'B wall':>9s} {'B/A':>6s}  {'A CPU':>9s} {'B CPU':>9s}")
        for name, argvs, runs, vm in cases:
            res: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
            run_env = env
            if vm is not None:
                run_env = dict(env, BTFIDS_PARALLEL=vm[1]) if vm[1] else env
            for i in range(runs):
                for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    if vm is not None:
                        write_preresolve(vm[0][side], pre)
                    res[side].append(timed_ok(argvs[side], run_env))
            wall = {s: statistics.median(w for w, _ in v) * 1000 for s, v in res.items()}
            cpu = {s: statistics.median(c for _, c in v) * 1000 for s, v in res.items()}
            print(f"{name:44s} {wall['A']:7.1f}ms {wall['B']:7.1f}ms "
                  f"{wall['B'] / wall['A']:6.3f}  {cpu['A']:7.1f}ms {cpu['B']:7.1f}ms",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
