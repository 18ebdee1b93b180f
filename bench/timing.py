"""One timed process, the unit of every figure in bench/."""

from __future__ import annotations

import os
import subprocess
import time


def timed_run(argv: list[str], env: dict[str, str] | None = None
              ) -> tuple[float, float, float, int]:
    """Run ``argv`` (output dropped) and return its wall seconds, CPU seconds (user +
    system, its children's included), peak RSS in MiB (the highest of the process and
    any child it waited for, ``wait4``; not their sum) and exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return (wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            os.waitstatus_to_exitcode(status))


def timed_ok(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of ``argv``, which must succeed (else the bench stops)."""
    wall, cpu, _, code = timed_run(argv, env)
    if code:
        raise SystemExit(f"bench: {' '.join(argv)} exited {code}")
    return wall, cpu
