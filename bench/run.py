"""Benchmark btfids side by side with C ``resolve_btfids`` tools run on this machine.

Every figure is a whole-process wall time (start-up included), and every C figure is
measured in the same run, on the same files, right after the btfids figure it sits
next to:

- the 6.12 C tool, built here from Debian's linux-source-6.12 (``make reftool``, or
  ``--reftool PATH``), beside the classic (``--config linux-6.12``) rows;
- the newest-form C tool from ``$REF_RESOLVE_BTFIDS``, beside the newest-pipeline
  rows; it is in no package, so without that variable those C columns are skipped
  (and the bench says so).

The figures recorded in ../shared/golden on another machine are shown only as an
extra, informational column ("golden"); no ratio is taken against them.

    python bench/run.py            # quick set (start-up, vmlinux x2, modules, batch)
    python bench/run.py --all      # plus every module, one process each (slow)
    python bench/run.py --json F   # also write the figures as JSON
    python bench/run.py --profile  # also the stage profile of the vmlinux runs

The vmlinux peak RSS is also measured under several environment layouts: the same run
peaks up to ~7 MiB apart depending on the size and number of its environment variables
(glibc's allocator takes other paths), so one layout can hide the worst case.

The package is byte-compiled first (as ``pip install`` does; this environment sets
PYTHONDONTWRITEBYTECODE). Module runs use the base-BTF index cache, warmed once; the
``--no-cache`` rows show the cold-cache cost. vmlinux runs never hit the cache (it is
only used for ``--btf_base`` files). Run it with another checkout's interpreter
(``../other/.venv/bin/python bench/run.py``) to time that checkout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import GOLDEN, corpus_path, preresolve_copy
from timing import timed_run

BIN = Path(sys.executable).parent
RESOLVE = str(BIN / "resolve_btfids")
BTFIDS = str(BIN / "btfids")
ROOT = Path(__file__).resolve().parent.parent

#: Figures of the C tools recorded on another machine (shared/golden/README.md), seconds
#: and MiB: an informational column only.
GOLDEN_FIGURES = {
    "vmlinux classic (linux-6.12)": (0.033, 21.4),
    "vmlinux newest pipeline": (0.174, 27.6),
    "module with .BTF_ids, classic (nf_conntrack)": (0.0145, 11.6),
    "module without .BTF_ids, classic (early exit)": (0.0017, None),
}


#: CPU seconds (user + system) of the last :func:`run_once`, its own and its children's
#: (a vmlinux run checks its BTF in a second process: btfids/btf/background.py)
LAST_CPU = [0.0]


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, max RSS (MiB) and exit status of one process (:func:`timed_run`);
    its CPU seconds go to LAST_CPU."""
    wall, LAST_CPU[0], rss, code = timed_run(argv, env)
    return wall, rss, code


def measure(argv: list[str], repeat: int, setup=None,
            env: dict[str, str] | None = None) -> tuple[float, float]:
    """Mean wall seconds and highest peak RSS; the mean CPU seconds go to LAST_CPU."""
    walls, cpus, rss = [], [], 0.0
    for _ in range(repeat):
        if setup:
            setup()
        wall, peak, code = run_once(argv, env)
        if code != 0:
            raise SystemExit(f"bench: {' '.join(argv)} exited {code}")
        walls.append(wall)
        cpus.append(LAST_CPU[0])
        rss = max(rss, peak)
    LAST_CPU[0] = statistics.mean(cpus)
    return statistics.mean(walls), rss


LAYOUTS = 12


def rss_layouts(argv: list[str], setup) -> tuple[float, float]:
    """(lowest, highest) peak RSS of ``argv`` over LAYOUTS environments that differ only
    in some padding variables (their number and length)."""
    peaks = []
    for k in range(LAYOUTS):
        env = dict(os.environ)
        for i in range(k % 6):
            env[f"BTFIDS_BENCH_PAD{i}"] = "x" * (7 * k + i)
        if k >= 6:
            env.pop("HOME", None)
        setup()
        _, peak, code = run_once(argv, env)
        if code != 0:
            raise SystemExit(f"bench: {' '.join(argv)} exited {code}")
        peaks.append(peak)
    return min(peaks), max(peaks)


def package_dirs(py: str) -> list[str]:
    """Where ``py`` imports btfids' packages from. A strict editable install links
    the sources into build/, so that is where the byte code has to be."""
    code = ("import os, btfids, btfids_passes, btfids_presets\n"
            "for m in (btfids, btfids_passes, btfids_presets):"
            " print(os.path.dirname(m.__file__))")
    out = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True,
                         cwd="/")
    return [str(ROOT / "btfids"), str(ROOT / "plugins"), *out.stdout.split()]


def golden_module_times() -> dict[str, float]:
    """The newest C tool's wall time per module (plain mode) recorded on another machine
    (golden/newest/SHA256SUMS.tsv): the module list, and an informational column."""
    times: dict[str, float] = {}
    with (GOLDEN / "newest" / "SHA256SUMS.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["mode"] == "plain" and row["output"] == "BTF":
                times[row["module"]] = int(row["c_wall_us"]) / 1e6
    return times


def reftool_612(given: str | None) -> str | None:
    """The 6.12 C tool built on this machine (``e2e/kernel.py reftool``, cached), or
    None (said on stdout) when it cannot be had."""
    if given:
        return given
    proc = subprocess.run([sys.executable, str(ROOT / "e2e" / "kernel.py"), "reftool"],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines or not Path(lines[-1]).is_file():
        print(f"bench: no 6.12 C tool (make reftool failed: {proc.stderr.strip()[-200:]});"
              " its columns are skipped")
        return None
    return lines[-1]


#: one row: (name, wall s, RSS MiB, C wall s, C RSS MiB, golden wall s)
Row = tuple[str, float, float, float | None, float | None, float | None]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--all", action="store_true", help="every module, one process each")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--profile", action="store_true",
                    help="also print the stage profile of the vmlinux runs (from --report)")
    ap.add_argument("--reftool", help="the 6.12 C tool (default: make reftool's)")
    args = ap.parse_args()
    corpus = corpus_path()
    base = str(corpus / "btf-vmlinux")
    rows: list[Row] = []
    c612 = reftool_612(args.reftool)
    cnew = os.environ.get("REF_RESOLVE_BTFIDS") or None
    print(f"C tools, run side by side: 6.12 {c612 or '(none)'}; newest form "
          + (cnew or "skipped (REF_RESOLVE_BTFIDS is unset: its columns stay empty)"))
    print(f"{'':48s} {'btfids':>12s} {'RSS':>11s}  {'C, same run':>21s}  "
          f"{'ratio':>6s}  golden (elsewhere)", flush=True)

    def add(name: str, wall: float, rss: float, c: tuple[float, float] | None = None,
            golden: float | None = None, cpu: float | None = None) -> None:
        c_wall, c_rss = c if c is not None else (None, None)
        rows.append((name, wall, rss, c_wall, c_rss, golden))
        line = f"{name:48s} {wall * 1000:9.1f} ms {rss:7.1f} MiB"
        if c_wall is not None and c_rss is not None:
            line += f"  C {c_wall * 1000:8.1f} ms {c_rss:5.1f} MiB {wall / c_wall:6.2f}x"
        else:
            line += " " * 34
        if golden is not None:
            line += f"  {golden * 1000:7.1f} ms"
        if cpu is not None:
            line += f"  (CPU {cpu * 1000:.1f} ms)"
        print(line, flush=True)

    def side_by_side(argv: list[str], c_argv: list[str] | None, repeat: int,
                     setup=None, env: dict[str, str] | None = None
                     ) -> tuple[float, float, tuple[float, float] | None, float]:
        """btfids' figures, its mean CPU seconds, then the C tool's on the same input."""
        wall, rss = measure(argv, repeat, setup=setup, env=env)
        cpu = LAST_CPU[0]
        c = None
        if c_argv:
            c = (measure(c_argv, repeat, setup=setup)[0], c_peak_rss(c_argv, setup))
        return wall, rss, c, cpu

    py = sys.executable
    # -f: compileall skips a file whose mtime (in seconds) matches its .pyc even when its
    # contents changed (a git checkout in the same second), and the import then compiles
    # it on every run, unseen (host.py: +6 ms per process)
    subprocess.run([py, "-m", "compileall", "-q", "-f", *package_dirs(py)],
                   check=True, stdout=subprocess.DEVNULL)
    add("interpreter start (python -c pass)", *measure([py, "-c", "pass"], args.repeat))
    imports = ("import btfids.cli.resolve_btfids, btfids.host, btfids.symbols, btfids.btfio,"
               " btfids.btf.dedup, btfids.btf.sort, btfids.btf.baseindex, btfids.config,"
               " btfids.plugins, btfids_passes.kfunc, btfids_passes.finalize")
    add("interpreter start + imports of a module run", *measure([py, "-c", imports],
                                                                args.repeat))
    add("start-up: resolve_btfids --help", *measure_help())

    with tempfile.TemporaryDirectory(dir=Path.home() / ".cache") as tmp:
        work = Path(tmp)
        vml = preresolve_copy(corpus / "vmlinux", "vmlinux", work / "v")
        pre = (GOLDEN / "classic" / "vmlinux.BTF_ids.pre").read_bytes()
        from corpus import write_preresolve

        serial = dict(os.environ, BTFIDS_PARALLEL="0")
        modes = (("classic (linux-6.12)", ["--config", "linux-6.12"], c612),
                 ("newest pipeline", [], cnew))
        for label, extra, tool in modes:
            golden = GOLDEN_FIGURES[f"vmlinux {label}"]
            wall, rss, c, cpu = side_by_side(
                [RESOLVE, *extra, str(vml)], [tool, str(vml)] if tool else None,
                args.repeat, setup=lambda: write_preresolve(vml, pre))
            add(f"vmlinux {label}", wall, rss, c, golden[0], cpu)
            wall, rss = measure([RESOLVE, *extra, str(vml)], args.repeat,
                                setup=lambda: write_preresolve(vml, pre), env=serial)
            add("  same, one CPU (BTFIDS_PARALLEL=0)", wall, rss, c, golden[0], LAST_CPU[0])
        for label, extra, tool in modes:
            low, high = rss_layouts([RESOLVE, *extra, str(vml)],
                                    lambda: write_preresolve(vml, pre))
            line = (f"  peak RSS of vmlinux {label} over {LAYOUTS} environment layouts: "
                    f"{low:.1f}-{high:.1f} MiB")
            if tool:
                c_rss = c_peak_rss([tool, str(vml)], lambda: write_preresolve(vml, pre))
                line += f", C {c_rss:.1f} MiB: {high / c_rss:.2f}x at most"
            print(line, flush=True)
        if args.profile:
            for label, extra in (("classic", ["--config", "linux-6.12"]), ("newest", [])):
                write_preresolve(vml, pre)
                print_profile(label, [RESOLVE, *extra, str(vml)], work / "report.json")

        golden_times = golden_module_times()
        env_cache = dict(os.environ, BTFIDS_CACHE_DIR=str(work / "cache"))
        run_once([RESOLVE, "-b", base, str(preresolve_copy(corpus / "modules" / "lib/crc7.ko",
                                                             "lib/crc7.ko", work / "w"))],
                 env=env_cache)  # build the base index once
        for rel, golden_key in (("net/netfilter/nf_conntrack.ko",
                                 "module with .BTF_ids, classic (nf_conntrack)"),
                                ("lib/crc7.ko",
                                 "module without .BTF_ids, classic (early exit)")):
            mod = preresolve_copy(corpus / "modules" / rel, rel, work / "c")
            wall, rss, c, _ = side_by_side(
                [RESOLVE, "--config", "linux-6.12", "-b", base, str(mod)],
                [c612, "-b", base, str(mod)] if c612 else None, args.repeat, env=env_cache)
            add(f"module classic: {rel}", wall, rss, c, GOLDEN_FIGURES[golden_key][0])
        for rel in ("net/netfilter/nf_conntrack.ko", "lib/crc7.ko", "fs/xfs/xfs.ko"):
            mod = preresolve_copy(corpus / "modules" / rel, rel, work / "m")
            wall, rss, c, _ = side_by_side(
                [RESOLVE, "-b", base, str(mod)], [cnew, "-b", base, str(mod)] if cnew else None,
                args.repeat, env=env_cache)
            add(f"module newest: {rel}", wall, rss, c, golden_times.get(rel))
            add(f"  same, --no-cache: {rel}",
                *measure([RESOLVE, "--no-cache", "-b", base, str(mod)], 1, env=env_cache),
                c, golden_times.get(rel))
        mods = sorted(golden_times)
        listing = work / "modules.txt"
        paths = [preresolve_copy(corpus / "modules" / rel, rel, work / "batch" / str(n))
                 for n, rel in enumerate(mods)]
        listing.write_text("".join(f"{p}\n" for p in paths))
        total_golden = sum(golden_times.values())
        batches = (("newest", [], cnew), ("classic", ["--config", "linux-6.12"], c612))
        for label, extra, tool in batches:
            c = one_process_each(tool, base, paths) if tool else None
            for jobs in (1, 2):
                add(f"all {len(mods)} modules {label}, batch -j {jobs}",
                    *measure([BTFIDS, "run", *extra, "-j", str(jobs), "-b", base,
                              "-T", str(listing)], 1, env=env_cache),
                    c, total_golden if label == "newest" else None)
        if args.all:
            every_module(corpus, base, mods, work, env_cache, cnew, add)
    if args.json:
        keys = ("name", "wall_s", "rss_mib", "c_wall_s", "c_rss_mib", "golden_wall_s")
        records = [dict(zip(keys, r, strict=True)) for r in rows]
        args.json.write_text(json.dumps(records, indent=2))
    return 0


def c_peak_rss(argv: list[str], setup=None) -> float:
    """Peak RSS (MiB) of one run of a C tool, through ``/usr/bin/time``: ``wait4``
    straight from this process would report this interpreter's own pages (a child's
    peak includes the image it had before ``exec``), ~20 MiB; ``time`` is small."""
    if setup:
        setup()
    with tempfile.NamedTemporaryFile("r") as out:
        code = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if code:
            raise SystemExit(f"bench: {' '.join(argv)} exited {code}")
        return int(out.read().split()[-1]) / 1024


def one_process_each(tool: str, base: str, paths: list[Path]) -> tuple[float, float]:
    """Total wall seconds of ``tool -b base M``, one process per module (the C tools
    have no batch mode), and the peak RSS of the largest module's run. A failing
    module stops the bench."""
    total = 0.0
    for path in paths:
        wall, _, code = run_once([tool, "-b", base, str(path)])
        if code:
            raise SystemExit(f"bench: {tool} {path} exited {code}")
        total += wall
    largest = max(paths, key=lambda p: p.stat().st_size)
    return total, c_peak_rss([tool, "-b", base, str(largest)])


def every_module(corpus: Path, base: str, mods: list[str], work: Path,
                 env: dict[str, str], cnew: str | None, add) -> None:
    """``--all``: each module in its own process, newest pipeline, against the newest
    C tool run on the same copy (when there is one)."""
    total_py = total_c = 0.0
    ratios: list[tuple[float, str]] = []
    for rel in mods:
        mod = preresolve_copy(corpus / "modules" / rel, rel, work / "all")
        wall, _, code = run_once([RESOLVE, "-b", base, str(mod)], env=env)
        if code:
            print(f"  {rel}: exit {code}")
        total_py += wall
        if cnew:
            c_wall = run_once([cnew, "-b", base, str(mod)])[0]
            total_c += c_wall
            ratios.append((wall / c_wall, rel))
        for p in mod.parent.glob(mod.name + "*"):
            p.unlink()
    add(f"all {len(mods)} modules, one process each", total_py, 0.0,
        (total_c, 0.0) if cnew else None)
    if ratios:
        ratios.sort()
        slower = [r for r in ratios if r[0] > 1.0]
        print(f"  per module: median {ratios[len(ratios) // 2][0]:.2f}x, "
              f"{len(slower)} of {len(ratios)} slower than C; slowest: "
              + ", ".join(f"{rel} {x:.2f}x" for x, rel in ratios[:-6:-1]))


def print_profile(label: str, argv: list[str], report: Path) -> None:
    """One run with ``--report``: its phases, each pass's time, dedup's phases (ms)."""
    subprocess.run([argv[0], "--report", str(report), *argv[1:]], check=True,
                   stdout=subprocess.DEVNULL)
    data = json.loads(report.read_text())
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    print(f"  profile, vmlinux {label}: "
          + ", ".join(f"{k} {ms(v)}" for k, v in data["phases"].items()))
    for p in data["passes"]:
        if p["seconds"] >= 0.001:
            sub = {k[8:]: v for k, v in p.get("stats", {}).items() if k.startswith("seconds_")}
            inner = ", ".join(f"{k} {ms(v)}" for k, v in sub.items() if v >= 0.001)
            print(f"    {p['name']} {ms(p['seconds'])}" + (f" ({inner})" if inner else ""))


def measure_help() -> tuple[float, float]:
    walls, rss = [], 0.0
    for _ in range(5):
        wall, peak, _ = run_once([RESOLVE, "--help"])
        walls.append(wall)
        rss = max(rss, peak)
    return statistics.mean(walls), rss


if __name__ == "__main__":
    raise SystemExit(main())
