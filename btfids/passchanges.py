"""What each pass changed, as a semantic diff (``btfids run --explain``, ``--report``).

The host asks for it only when a report wants it: a snapshot of the BTF's forms
(:mod:`btfids.btf.semdiff`) before the first pass, one after every pass, and the diff of
each consecutive pair. A ``kfunc``-scope group runs its passes interleaved per kfunc, so
the group is diffed as a whole and each entry is given to the pass whose calls made it:
an added type to the pass that appended its ID, a changed one to the passes that
changed that type's record in place (the kfunc's FUNC; any other changed type goes to
every pass of the group that changed something).
"""

from __future__ import annotations

from .btf.canon import Canon
from .btf.semdiff import Diff, Snapshot, compare

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .btf import Btf


class PassChanges:
    """Snapshots between passes; :meth:`after` gives the last pass's :class:`Diff`."""

    def __init__(self) -> None:
        self.canon = Canon()
        self.last: Snapshot | None = None
        #: what ``last`` was taken of: (object, base, records copied, strings copied);
        #: a pass that leaves them as they were needs no new snapshot (vmlinux: ~50 ms
        #: to copy and compare against ~0.7 s for a snapshot)
        self._state: tuple[Any, ...] | None = None
        self._calls: list[tuple[set[int], set[int]]] = []   # per group pass: added, changed

    def before(self, btf: Btf) -> None:
        """Before a pass (or a kfunc group): the state to diff against (the previous
        pass's result when there is one)."""
        if self.last is None:
            self.last = Snapshot(btf, self.canon)
            self._state = _state(btf)

    def after(self, btf: Btf) -> Diff:
        """After a pass: what it changed."""
        assert self.last is not None and self._state is not None
        if _same(self._state, btf):
            return Diff()
        new = Snapshot(btf, self.canon)
        out = compare(self.last, new)
        self.last = new
        self._state = _state(btf)
        return out

    # -------------------------------------------------------------- kfunc groups
    def group_started(self, btf: Btf, passes: int) -> None:
        self.before(btf)
        self._calls = [(set(), set()) for _ in range(passes)]

    def call_started(self, btf: Btf, tid: int) -> tuple[Any, ...]:
        """Before one pass's call for one kfunc (FUNC ``tid``)."""
        return (btf, btf.type_cnt, tid, _record(btf, tid))

    def call_ended(self, index: int, token: tuple[Any, ...], btf: Btf) -> None:
        """After that call: note what pass ``index`` of the group appended or changed."""
        before, cnt, tid, rec = token
        added, changed = self._calls[index]
        if btf is before:
            added.update(range(cnt, btf.type_cnt))
            if _record(btf, tid) != rec:
                changed.add(tid)

    def group_ended(self, btf: Btf) -> list[Diff]:
        """The group's diff, split per pass (see the module's docstring)."""
        whole = self.after(btf)
        parts = [Diff() for _ in self._calls]
        busy = [i for i, (a, c) in enumerate(self._calls) if a or c] or [0]
        for label in ("added", "removed", "changed"):
            for e in getattr(whole, label):
                tid = e["new_id"]
                owners = [i for i, (a, c) in enumerate(self._calls)
                          if tid in (a if label == "added" else c)]
                for i in owners or busy:
                    getattr(parts[i], label).append(e)
        parts[busy[0]].renumbered = whole.renumbered
        return parts


def _state(btf: Btf) -> tuple[Any, ...]:
    return (btf, btf.base, [t[:] for t in btf.types], bytes(btf.strs))


def _same(state: tuple[Any, ...], btf: Btf) -> bool:
    obj, base, records, strs = state
    if btf is not obj or btf.base is not base or len(btf.types) != len(records):
        return False
    types = btf.types if isinstance(btf.types, list) else list(btf.types)
    return records == types and strs == btf.strs


def _record(btf: Btf, tid: int) -> tuple[int, ...] | None:
    return tuple(btf.type(tid)) if 0 < tid < btf.type_cnt else None
