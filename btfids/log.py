"""Diagnostics of a run: the upstream-style lines on stderr, and the warning count.

A leaf room: everything that reports (symbols, the 6.12 flow, the host, passes through
their context) writes through a :class:`Log`, and this module imports nothing of the
project.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import TextIO


class Log:
    """Upstream-style diagnostics on stderr: info/warn always, debug at -v, debug2 at -vv.

    ``warn`` counts warnings (the ``--fatal_warnings`` rule uses the count).
    """

    def __init__(self, verbose: int = 0, stream: TextIO | None = None, prefix: str = "") -> None:
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stderr
        #: put before every line (batch mode: ``btfids: <ELF>: ``); not in warning_lines
        self.prefix = prefix
        self.warnings = 0
        self.warning_lines: list[str] = []

    def info(self, msg: str) -> None:
        self.stream.write(self.prefix + msg + "\n")

    def warn(self, msg: str) -> None:
        self.warnings += 1
        self.warning_lines.append(msg)
        self.stream.write(self.prefix + msg + "\n")

    def debug(self, msg: str) -> None:
        if self.verbose >= 1:
            self.stream.write(self.prefix + msg + "\n")

    def debug2(self, msg: str) -> None:
        if self.verbose >= 2:
            self.stream.write(self.prefix + msg + "\n")
