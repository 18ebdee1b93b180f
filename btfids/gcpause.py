"""Pause CPython's cyclic garbage collector while a run builds its data.

A run allocates a few hundred thousand containers (one list per BTF record, dedup's
keys and tables) and frees them all at the end; none of them form cycles that need the
collector. With the collector on, every 700 allocations it traverses the young objects
again: about 10% of a vmlinux run (docs/performance.md). Reference counting still frees
everything that is not a cycle, so memory is unchanged; the collector is switched back
on (if it was on) when the run ends, and a long batch process collects any cycles then.
"""

from __future__ import annotations

import gc


class gc_paused:  # used like the context-manager function it replaced
    """Disable the cyclic collector for the ``with`` body; restore its state after.
    (A class, not ``contextlib.contextmanager``: contextlib costs start-up.)"""

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()
