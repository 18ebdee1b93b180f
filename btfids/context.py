"""The run context the host builds and hands to every pass.

Data flows one way: the host fills ``elf``/``ids``/``btf``/``base`` from the inputs,
passes read and transform ``btf`` (and share products such as ``kfuncs``), then the host
resolves ``.BTF_ids`` against the final BTF and writes the outputs.
"""

from __future__ import annotations

from ._dc import dataclass, field
from .log import Log

__all__ = ["Context", "Kfunc", "Log"]

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .btf import Btf
    from .symbols import BtfIdSymbols


@dataclass
class Kfunc:
    """A kfunc found in a ``BTF_KFUNCS`` set8: its name, own FUNC ID and flags word."""

    name: bytes
    func_id: int
    flags: int


@dataclass
class Context:
    """Everything a pass may read or change during one run."""

    elf_path: str
    log: Log
    btf: Btf
    base: Btf | None = None
    #: ``.BTF_ids`` symbols + address index + unpatched section words; None if the ELF
    #: has no ``.BTF_ids`` section or no symbol table.
    ids: BtfIdSymbols | None = None
    #: set by the distill pass: the new base that ``btf`` is now split on.
    distilled_base: Btf | None = None
    #: run options from the command line (``distill_base``, ``fatal_warnings``...).
    options: dict[str, Any] = field(default_factory=dict)
    #: products shared between passes (the design's "share through the context").
    kfuncs: list[Kfunc] = field(default_factory=list)
    decl_tags: list[int] = field(default_factory=list)
    #: the names of ``btf``'s own types in ID order, from the pass that last changed
    #: ``btf`` when it knows them (the sort does): ``.BTF_ids`` resolution reuses them.
    #: The host drops them before any other pass or hook implementation runs.
    type_names: list[bytes] | None = None
    #: free-form per-pass figures for the JSON report (pass name → key → value).
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stat(self, pass_name: str, key: str, value: Any) -> None:
        """Set figure ``key`` of ``pass_name`` in the report (the last value wins)."""
        self.stats.setdefault(pass_name, {})[key] = value

    def add_stat(self, pass_name: str, key: str, n: int | float = 1) -> None:
        """Add ``n`` to figure ``key`` of ``pass_name`` (a counter; starts at 0)."""
        table = self.stats.setdefault(pass_name, {})
        table[key] = table.get(key, 0) + n
