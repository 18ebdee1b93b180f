"""SIGINT and SIGTERM end a run cleanly: no traceback, no temporary file left, exit
status 130 / 143 (128 + the signal number, what a shell reports for them).

:func:`install` (called by the command-line entry points, never on import) makes both
signals raise :class:`Interrupted`, a ``BaseException``: no ``except Exception`` stops
it, every ``finally`` on the way out runs (temporary outputs are unlinked, a helper
process is stopped and reaped) and the entry point turns it into the exit status. A
second signal while that unwinding runs is ignored, so the cleanup is never cut short.
:class:`held` defers both signals over a few steps that must not be split (renaming a
set of outputs into place). SIGKILL cannot be caught: docs/user-guide.md says what it
leaves behind.

The C module ``_signal`` is used, not ``signal``: it is loaded at interpreter start,
where ``signal`` imports ``enum`` (several ms of every module run's start-up).
"""

from __future__ import annotations

import _signal

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from types import FrameType

SIGNALS = (_signal.SIGINT, _signal.SIGTERM)


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT or SIGTERM once :func:`install` ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


def install() -> None:
    """SIGINT and SIGTERM raise :class:`Interrupted` from now on (main thread only)."""
    for signum in SIGNALS:
        _signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    for other in SIGNALS:   # the first signal wins; its unwinding runs to the end
        _signal.signal(other, _signal.SIG_IGN)
    raise Interrupted(signum)


def restore_defaults() -> None:
    """Both signals back to their default action (terminate), e.g. in a forked helper
    that must die with its parent's process group rather than unwind."""
    for signum in SIGNALS:
        _signal.signal(signum, _signal.SIG_DFL)


class held:  # a class, not contextlib.contextmanager: contextlib costs start-up
    """Defer SIGINT and SIGTERM for the ``with`` body; one that came meanwhile is
    delivered (and raises) right after it."""

    __slots__ = ("old",)

    def __enter__(self) -> None:
        self.old = _signal.pthread_sigmask(_signal.SIG_BLOCK, SIGNALS)

    def __exit__(self, *exc: object) -> None:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, self.old)
