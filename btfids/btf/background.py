"""libbpf's sanity checks of a large BTF in a second process, while the run goes on.

``Btf.parse`` of vmlinux's BTF spends half of its time on libbpf's sanity pass (every
string offset and type ID of 107k records in range, every FUNC typed by a FUNC_PROTO).
Its only product is "valid or not", and a valid BTF is the rule. So a run that has a
second CPU forks a child that loads the BTF in full and answers by its exit status,
while the parent loads it without that pass (``Btf.parse(checks=False)``) and goes on
with work that has no visible effect. Before anything is printed or written, and before
any plugin code sees the BTF, the parent calls :meth:`BackgroundChecks.wait`: if the
child did not answer "valid", the parent loads the BTF in full itself, which raises the
very error a serial run raises. The 6.12 flow resolves ``.BTF_ids`` meanwhile (holding
its log lines until the verdict); the newest flow waits right after its load.

The child is forked before the symbols are read, so it starts first; it never writes,
reads the ELF only with positional reads (``ElfImage`` shares its file offset with
it), and leaves with ``os._exit``. Forking pays only for a big BTF (vmlinux), on a
machine with a free CPU: the link step of a kernel build runs alone, as pahole's own
``-j`` assumes. ``BTFIDS_PARALLEL=0`` switches it off, ``=always`` forks for any BTF
(tests).
"""

from __future__ import annotations

import os
import sys

from .model import Btf

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

    from .model import NameQuery

#: smallest BTF (bytes) worth a second process: a fork and a wait cost ~1.5 ms
MIN_BYTES = 1 << 20


class BackgroundChecks:
    """One load of a BTF done twice: in full by a child process (:meth:`start`), and
    without the sanity checks here (through :meth:`parse`)."""

    __slots__ = ("_load", "_pid")

    def __init__(self) -> None:
        self._pid = 0
        self._load: Callable[[], object] | None = None

    def start(self, load: Callable[[], object], size: int) -> None:
        """Run ``load`` (the serial load, raising on a bad BTF; its parse should be
        :meth:`full_parse`) in a child process, if a BTF of ``size`` bytes is worth it
        and a second CPU is there."""
        if not _worth_a_child(size):
            return
        try:
            pid = os.fork()
        except OSError:   # no process to be had (EAGAIN, ENOMEM): check here instead
            return
        if pid == 0:  # the child: load in full, answer by exit status, never return
            code = 1
            try:
                import gc
                import io

                gc.disable()
                sys.stdout = sys.stderr = io.StringIO()  # the parent does the talking
                load()
                code = 0
            finally:
                os._exit(code)
        self._pid = pid
        self._load = load

    @staticmethod
    def full_parse(data: bytes | memoryview, base: Btf | None = None, *,
                   records: bool = True) -> Btf:
        """The child's parse: every check, and nothing built that they do not read
        (the checks and their errors do not depend on ``records``). The object it
        returns has no types: it serves the verdict only."""
        Btf.verify(data, base)
        return Btf(base=base)

    def parse(self, data: bytes | memoryview, base: Btf | None = None, *,
              records: bool = True, named: NameQuery | None = None) -> Btf:
        """``Btf.parse``, without the sanity checks when a child makes them."""
        return Btf.parse(data, base, records=records, checks=not self._pid, named=named)

    def wait(self) -> None:
        """The child's verdict. If it is not "valid" (a failed check, or a child that
        died), the load runs here in full: it raises the error a serial run raises (or
        returns, if the BTF is valid after all)."""
        pid, self._pid = self._pid, 0
        if pid and _exit_code(pid) != 0 and self._load is not None:
            self._load()

    def cancel(self) -> None:
        """Stop and reap the child (the run ends before its verdict matters); a no-op
        once :meth:`wait` has run."""
        pid, self._pid = self._pid, 0
        if pid:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            _exit_code(pid)


def _worth_a_child(size: int) -> bool:
    """``BTFIDS_PARALLEL``: ``0`` never, ``always`` for any BTF (tests), else (the
    default) for a BTF of at least :data:`MIN_BYTES` when a second CPU is there."""
    mode = os.environ.get("BTFIDS_PARALLEL", "")
    if mode == "0" or not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False   # a library caller's threads: forking them is not safe
    if mode == "always":
        return True
    if size < MIN_BYTES:
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return (os.cpu_count() or 1) > 1


def _exit_code(pid: int) -> int:
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return -1
