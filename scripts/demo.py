"""Quick-start demo: run btfids on the real Debian kernel and compare with the C tool.

Fetches the corpus (cached), makes a pre-resolve copy of vmlinux, runs `resolve_btfids`
(preset bpf-next: kfunc tags, dedup, sort) and checks every output against the golden
digests of the reference C tool; then the same for one module, plain and distilled.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from corpus import CACHE, GOLDEN, corpus_path, preresolve_copy

RESOLVE = str(Path(sys.executable).parent / "resolve_btfids")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str]) -> float:
    print("$", " ".join(argv), flush=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def compare(out: Path, want: Path) -> bool:
    same = out.exists() and digest(out) == digest(want)
    print(f"  {out.name:28s} {'identical to the C tool' if same else 'DIFFERS'}")
    return same


def main() -> int:
    corpus = corpus_path()
    work = CACHE / "demo"
    ok = True
    vml = preresolve_copy(corpus / "vmlinux", "vmlinux", work)
    secs = run([RESOLVE, str(vml)])
    print(f"  vmlinux: {secs:.2f} s")
    for suffix in (".BTF_ids", ".BTF"):
        ok &= compare(Path(str(vml) + suffix), GOLDEN / "newest" / "vmlinux" / ("vmlinux" + suffix))
    rel = "net/netfilter/nf_conntrack.ko"
    for mode, extra in (("plain", []), ("distill", ["--distill_base"])):
        mod = preresolve_copy(corpus / "modules" / rel, rel, work / mode)
        secs = run([RESOLVE, "-b", str(corpus / "btf-vmlinux"), *extra, str(mod)])
        print(f"  {rel} ({mode}): {secs:.2f} s")
        for suffix in (".BTF_ids", ".BTF", ".BTF.base"):
            want = GOLDEN / "newest" / "modules" / mode / (rel + suffix)
            if want.exists():
                ok &= compare(Path(str(mod) + suffix), want)
    print("demo:", "all outputs byte-identical" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
