"""Tests' switches for btfids' second process (btfids/btf/background.py): the
``BTFIDS_PARALLEL`` mode for a block, and the children forked in a block."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from unittest import mock

ENV = "BTFIDS_PARALLEL"


@contextlib.contextmanager
def parallel(mode: str) -> Iterator[None]:
    """``BTFIDS_PARALLEL=mode`` inside the block (``0``: one process, ``always``: a
    child for any size), the old value after it."""
    old = os.environ.get(ENV)
    os.environ[ENV] = mode
    try:
        yield
    finally:
        if old is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = old


@contextlib.contextmanager
def counting_forks() -> Iterator[list[int]]:
    """The pids of the children ``os.fork`` makes inside the block."""
    forks: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    with mock.patch.object(os, "fork", fork):
        yield forks
