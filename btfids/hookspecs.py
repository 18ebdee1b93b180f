"""The plugin contract: every btfids hook, documented where it is declared.

A plugin is any module or object registered under the entry-point group ``btfids``
(built-in passes register the same way). It implements some of the hooks below with
``@btfids.hookimpl``. The central one is :func:`btfids_register_passes`: a plugin
*describes* its passes there, and the host runs them in the order the TOML config gives.

Lifecycle of one run, in order::

    btfids_register_passes   (once per process: collect PassSpecs)
    btfids_loaded            ELF, .BTF_ids symbols, address index and BTF are loaded
    for each pass in config order (kfunc-scope passes grouped per kfunc):
        btfids_before_pass
        PassSpec.run(...)
        btfids_after_pass
    btfids_finalized         all passes ran; next: resolve .BTF_ids against ctx.btf
    btfids_outputs_written   side files (or the ELF) written
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from ._dc import dataclass, field

if TYPE_CHECKING:
    from .context import Context, Kfunc

PROJECT = "btfids"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``run(ctx, options)`` for scope ``"btf"``.
BtfPassFn = Callable[["Context", Mapping[str, Any]], None]
#: ``run(ctx, options, kfunc)`` for scope ``"kfunc"``.
KfuncPassFn = Callable[["Context", Mapping[str, Any], "Kfunc"], None]


@dataclass(frozen=True)
class PassSpec:
    """Describes one pass. The host validates configs against these and runs them.

    ``scope``: ``"btf"`` passes run once. ``"kfunc"`` passes run once per discovered kfunc,
    in ascending FUNC ID; consecutive kfunc-scope passes in the configured order form one
    group, so for each kfunc every pass of the group runs before the next kfunc starts
    (this is the upstream append order and therefore decides output bytes).

    ``needs``: passes that must be enabled and ordered earlier.
    ``options``: option name → default value, or an :class:`OptionSpec` (default plus
    help text and allowed values). The config may override them (``[passes.<name>]``
    table); every value is checked (type of the default, allowed values) when the
    config is loaded, before any file is read. ``run`` receives plain values.
    """

    name: str
    summary: str
    run: BtfPassFn | KfuncPassFn
    scope: Literal["btf", "kfunc"] = "btf"
    needs: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> OptionSpec:
        """The declaration of option ``name`` (a bare default becomes an OptionSpec)."""
        value = self.options[name]
        return value if isinstance(value, OptionSpec) else OptionSpec(value)

    def defaults(self) -> dict[str, Any]:
        """Option name → default value (what ``run`` gets without a config)."""
        return {name: self.option(name).default for name in self.options}


@dataclass(frozen=True)
class OptionSpec:
    """One pass option: its default, a line of help and what values are allowed.

    The value must have the default's type (a list's items the type of the default's
    items; a float option takes integers too). On top of that: ``choices`` (the value
    must be one of them), ``min``/``max`` (numbers, inclusive), ``nonempty`` (strings and
    lists), and ``check`` (a function returning a problem text, or None when fine).
    """

    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: int | float | None = None
    max: int | float | None = None
    nonempty: bool = False
    check: Callable[[Any], str | None] | None = None

    def allowed(self) -> str:
        """What is allowed, in words (for messages and ``btfids passes --options``)."""
        kind = _TYPE_WORDS.get(type(self.default), type(self.default).__name__)
        if isinstance(self.default, list) and self.default:
            item = _TYPE_WORDS.get(type(self.default[0]), "value")
            kind = f"an array of {item.split(' ', 1)[1]}s"
        if self.choices is not None:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            return f"{kind} {_show(self.min)}..{_show(self.max)}"
        if self.min is not None:
            return f"{kind} >= {_show(self.min)}"
        if self.max is not None:
            return f"{kind} <= {_show(self.max)}"
        if self.nonempty:
            return f"a non-empty {kind.split(' ', 1)[1]}"
        return kind

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (the type is checked by the config loader)."""
        if self.choices is not None and value not in self.choices:
            return f"{_show(value)} is not allowed"
        if self.min is not None and value < self.min:
            return f"{_show(value)} is too small"
        if self.max is not None and value > self.max:
            return f"{_show(value)} is too large"
        if self.nonempty and not value:
            return f"{_show(value)} is empty"
        if self.check is not None:
            return self.check(value)
        return None


_TYPE_WORDS = {str: "a string", list: "an array", bool: "a boolean", int: "an integer",
               float: "a number", dict: "a table"}


def _show(value: Any) -> str:
    """A value as TOML spells it (small integers decimal, masks in hex)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int) and value > 0xFFFF:
        return hex(value)
    return repr(value)


@hookspec
def btfids_register_passes() -> list[PassSpec]:
    """Return the passes this plugin provides (may be empty).

    Called once per process; results of all plugins are concatenated. Pass names must
    be unique across plugins; a clash is a configuration error naming both plugins.
    """


@hookspec
def btfids_loaded(ctx: Context) -> None:
    """ELF, ``.BTF_ids`` symbols, the address index and the BTF are loaded.

    ``ctx.btf`` is the target BTF (split over ``ctx.base`` for modules). Passes have not
    run yet. Plugins may inspect or record; they should not modify the BTF here.
    """


@hookspec
def btfids_before_pass(ctx: Context, spec: PassSpec) -> None:
    """Called before pass ``spec`` runs (once per pass, not per kfunc)."""


@hookspec
def btfids_after_pass(ctx: Context, spec: PassSpec, seconds: float) -> None:
    """Called after pass ``spec`` completed; ``seconds`` is its wall time."""


@hookspec
def btfids_finalized(ctx: Context) -> None:
    """Every configured pass ran; ``ctx.btf`` is final.

    Next the host resolves ``.BTF_ids`` against ``ctx.btf`` (and ``ctx.base``) and writes
    the outputs. A plugin may run checks here; raising aborts the run before anything
    is written.
    """


@hookspec
def btfids_outputs_written(ctx: Context, outputs: list[str]) -> None:
    """All outputs were written; ``outputs`` lists the paths in write order."""
