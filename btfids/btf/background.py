"""Work on a large BTF that a second process can do while the run goes on.

Two jobs go to a forked :class:`Child` when the BTF is vmlinux-sized and a second CPU
is there (the link step of a kernel build runs alone, as pahole's own ``-j`` assumes):

- :class:`BackgroundChecks`: libbpf's sanity pass of the parse (every string offset and
  type ID of 107k records in range, every FUNC typed by a FUNC_PROTO), half of a
  vmlinux parse, whose only product is "valid or not". The child loads the BTF in full
  and answers by its exit status; the parent loads it without that pass
  (``Btf.parse(checks=False)``) and goes on with work that has no visible effect. Before
  anything is printed or written, and before any plugin code sees the BTF, the parent
  calls :meth:`BackgroundChecks.wait`: if the child did not answer "valid", the parent
  loads the BTF in full itself, which raises the very error a serial run raises. The
  6.12 flow resolves ``.BTF_ids`` meanwhile (holding its log lines until the verdict);
  the newest flow waits right after its load.
- dedup's type phases (:mod:`btfids.btf.dedup`), run by a child on the records as they
  are while the parent runs the string phase; the child sends its ID map back.

A child never writes a file, prints nothing, reads the ELF only with positional reads
(``ElfImage`` shares its file offset with it) and leaves with ``os._exit``; it dies
with its parent (:mod:`btfids.btf.lifeline`) and on SIGINT/SIGTERM. A child
that fails or dies proves nothing: the parent then does the work itself.
``BTFIDS_PARALLEL=0`` switches all of it off, ``=always`` forks for any size (tests).
"""

from __future__ import annotations

import os
import sys

from . import lifeline
from .model import Btf

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

    from .model import NameQuery

#: smallest BTF (bytes) worth a second process: a fork and a wait cost ~1.5 ms
MIN_BYTES = 1 << 20
#: pipe capacity asked for (Linux ``F_SETPIPE_SZ``; unprivileged limit 1 MiB by default)
PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """Make a pipe hold :data:`PIPE_BYTES`, where the system allows it: a child's
    answer (dedup's ID map of vmlinux, 860 KB) then goes in without waiting for the
    parent to read it 64 KB at a time (~6 ms of wakeups when the parent comes to it)."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass   # not Linux, or over the limit: a smaller pipe only costs time


class Child:
    """A forked child computing ``bytes`` for this process (:meth:`start`), read back
    by :meth:`result`. The child writes nothing else, prints nothing (its standard
    streams are dropped) and leaves with ``os._exit``."""

    __slots__ = ("_line", "_pid", "_read")

    def __init__(self, pid: int, read: int, line: int) -> None:
        self._pid = pid
        self._read = read
        self._line = line   # the lifeline's end: the child dies when it closes

    @classmethod
    def start(cls, work: Callable[[], bytes]) -> Child | None:
        """Fork a child that runs ``work`` and sends its bytes back; None if no
        process could be had (EAGAIN, ENOMEM: the caller does the work itself)."""
        read, write = os.pipe()
        _widen(write)
        line = lifeline.open_lifeline()
        try:
            pid = os.fork()
        except OSError:
            for fd in (read, write, *line):
                os.close(fd)
            return None
        if pid == 0:  # the child: answer through the pipe and exit status, never return
            code = 1
            try:
                import gc
                import io

                lifeline.child_side(line)   # dies with the parent, and on SIGINT/SIGTERM
                os.close(read)
                gc.disable()
                sys.stdout = sys.stderr = io.StringIO()  # the parent does the talking
                payload = memoryview(work())
                while payload:
                    payload = payload[os.write(write, payload):]
                code = 0
                os.close(write)   # the parent's read ends now, not after this exit
            finally:
                os._exit(code)
        os.close(write)
        return cls(pid, read, lifeline.parent_side(line))

    def result(self) -> bytes | None:
        """The child's bytes, or None if it failed or died (its work proves nothing
        then). Blocks until the child is done."""
        pid = self._pid
        if not pid:
            return None
        with open(self._read, "rb", closefd=False) as pipe:
            payload = pipe.read()   # interrupted here: cancel() still stops the child
        self._pid = 0
        os.close(self._read)
        code = _exit_code(pid)
        lifeline.close(self._line)
        return payload if code == 0 else None

    def cancel(self) -> None:
        """Stop and reap the child (its result is no longer wanted); a no-op once
        :meth:`result` has run."""
        pid, self._pid = self._pid, 0
        if pid:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            _exit_code(pid)
            os.close(self._read)
            lifeline.close(self._line)


class BackgroundChecks:
    """One load of a BTF done twice: in full by a child process (:meth:`start`), and
    without the sanity checks here (through :meth:`parse`)."""

    __slots__ = ("_child", "_load")

    def __init__(self) -> None:
        self._child: Child | None = None
        self._load: Callable[[], object] | None = None

    def start(self, load: Callable[[], object], size: int) -> None:
        """Run ``load`` (the serial load, raising on a bad BTF; its parse should be
        :meth:`full_parse`) in a child process, if a BTF of ``size`` bytes is worth it
        and a second CPU is there."""
        if worth_a_child(size):
            self._load = load
            self._child = Child.start(lambda: (load(), b"")[1])

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
        return Btf.parse(data, base, records=records, checks=self._child is None,
                         named=named)

    def wait(self) -> None:
        """The child's verdict. If it is not "valid" (a failed check, or a child that
        died), the load runs here in full: it raises the error a serial run raises (or
        returns, if the BTF is valid after all)."""
        child = self._child
        if child is None:
            return
        verdict = child.result()
        self._child = None   # (not before: an interrupted wait still cancels the child)
        if verdict is None and self._load is not None:
            self._load()

    def cancel(self) -> None:
        """Stop and reap the child (the run ends before its verdict matters); a no-op
        once :meth:`wait` has run."""
        child, self._child = self._child, None
        if child is not None:
            child.cancel()


def worth_a_child(size: int) -> bool:
    """Whether work on ``size`` bytes goes to a second process. ``BTFIDS_PARALLEL``:
    ``0`` never, ``always`` for any size (tests), else (the default) from
    :data:`MIN_BYTES` on, when a second CPU is there: two in the affinity mask and a
    cgroup quota of two or more (:func:`cgroup_cpu_limit`)."""
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
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1 and cgroup_cpu_limit() >= 2


def cgroup_cpu_limit(proc_cgroup: str = "/proc/self/cgroup",
                     root: str = "/sys/fs/cgroup") -> float:
    """CPUs this process's cgroup may use (its own CPU quota: ``cpu.max`` of cgroup
    v2, ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` of v1); infinity without a quota
    or where none can be read. A container held to one CPU (``docker --cpus=1``) sees
    every CPU of the host, and a second process would only share the one it has."""
    limit = float("inf")
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.rstrip("/")
        if line.startswith("0::"):
            quota, _, period = (_read(f"{root}{path}/cpu.max") or "max").partition(" ")
        elif "cpu" in controllers.split(","):
            base = f"{root}/{controllers}{path}"
            quota = _read(f"{base}/cpu.cfs_quota_us") or "-1"
            period = _read(f"{base}/cpu.cfs_period_us") or "0"
        else:
            continue
        try:
            if int(quota) > 0 and int(period) > 0:
                limit = min(limit, int(quota) / int(period))
        except ValueError:   # "max": no quota
            pass
    return limit


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _exit_code(pid: int) -> int:
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return -1
