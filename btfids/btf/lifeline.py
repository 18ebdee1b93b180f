"""A forked helper dies with its parent, however the parent ends (SIGKILL included).

:func:`open_lifeline` makes a pipe before the fork. The parent keeps its write end and
never writes to it (:func:`parent_side`); the child keeps the read end (:func:`child_side`),
where a thread waits for end-of-file: the kernel closes the parent's end when the
parent exits or is killed, and the thread then ends the child at once (``os._exit``),
whatever it was computing. So a helper never outlives its parent and never writes after
it is gone (its only output is a pipe to the parent, whose reader is gone too). The
parent closes its end when it has reaped the child (:func:`close`).

A pipe and a thread rather than ``prctl(PR_SET_PDEATHSIG)``: no ``ctypes`` import
(~10 ms in the child before its work starts) and not Linux-only. The pipe's ends are
close-on-exec, so programs the parent runs later do not hold it open.
"""

from __future__ import annotations

import os


def open_lifeline() -> tuple[int, int]:
    """(read end, write end), made before the fork."""
    return os.pipe()


def parent_side(line: tuple[int, int]) -> int:
    """In the parent after the fork: keep the write end (returned), drop the other."""
    os.close(line[0])
    return line[1]


def child_side(line: tuple[int, int]) -> None:
    """In the child after the fork: end this process as soon as the parent is gone,
    and at once on SIGINT/SIGTERM (the default action: the parent, which may have
    turned them into an exception (:mod:`btfids.interrupts`), does the cleanup)."""
    import _signal
    import _thread

    for signum in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(signum, _signal.SIG_DFL)
    os.close(line[1])
    _thread.start_new_thread(_wait_for_parent, (line[0],))


def _wait_for_parent(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    os._exit(1)


def close(fd: int) -> None:
    """In the parent, once the child is reaped (or was never started)."""
    try:
        os.close(fd)
    except OSError:
        pass
