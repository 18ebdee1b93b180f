"""What ``btfids/_dc.py`` saves a module run, against the standard :mod:`dataclasses`.

Runs ``resolve_btfids`` on corpus modules twice over, interleaved: as installed, and
with ``btfids._dc`` replaced by :mod:`dataclasses` before anything imports it (the
shim's API is that module's subset, so the run is otherwise the same). Prints the
median wall and CPU (user + system) time of each.

    python bench/dc_cost.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import corpus_path
from timing import timed_ok

LAUNCH = """import sys
if sys.argv.pop(1) == "std":
    import dataclasses
    sys.modules["btfids._dc"] = dataclasses
from btfids.cli.resolve_btfids import main
main()
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    corpus = corpus_path()
    base = str(corpus / "btf-vmlinux")
    with tempfile.TemporaryDirectory() as tmp:
        launch = Path(tmp) / "launch.py"
        launch.write_text(LAUNCH)
        for rel in ("lib/crc7.ko", "net/netfilter/nf_conntrack.ko"):
            mod = Path(tmp) / Path(rel).name
            shutil.copyfile(corpus / "modules" / rel, mod)
            for mode, extra in (("newest", []), ("classic", ["--config", "linux-6.12"])):
                argv = [*extra, "-b", base, str(mod)]
                times: dict[str, list[tuple[float, float]]] = {"dc": [], "std": []}
                for which in ("dc", "std"):   # warm the caches
                    timed_ok([sys.executable, str(launch), which, *argv])
                for i in range(args.runs):
                    for which in ("dc", "std") if i % 2 else ("std", "dc"):
                        times[which].append(timed_ok([sys.executable, str(launch), which, *argv]))
                med = {k: (statistics.median(w for w, _ in v) * 1000,
                           statistics.median(c for _, c in v) * 1000)
                       for k, v in times.items()}
                print(f"{rel} {mode:8s} wall: _dc {med['dc'][0]:.1f}, dataclasses "
                      f"{med['std'][0]:.1f} ms ({med['std'][0] - med['dc'][0]:+.1f});  CPU: "
                      f"_dc {med['dc'][1]:.1f}, dataclasses {med['std'][1]:.1f} ms "
                      f"({med['std'][1] - med['dc'][1]:+.1f})  [median of {args.runs}]",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
