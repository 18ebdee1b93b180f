"""A libsubcmd-compatible argv parser (``tools/lib/subcmd/parse-options.c``) with the option
tables and usage texts of both ``resolve_btfids`` forms (spec resolve.md §1.1,
legacy-6.12.md §1).

Behaviour reproduced: parsing stops at the first non-option (``PARSE_OPT_STOP_AT_NON_OPTION``)
or after ``--``; ``--name value`` / ``--name=value``; unambiguous long prefixes, an exact name
winning over longer ones; ``--no-NAME`` negation; bundled shorts (``-vv``, ``-bFILE``);
internal ``-h``/``--help``/``--help-all`` (with libsubcmd's filter of the option list by the
remaining arguments); ``--list-opts``/``--list-cmds`` (stdout, exit 130); every error text.

Project options (``--config``, ``--enable``, ``--disable``) are added with
:meth:`Parser.extended`. They are *hidden* and *exact-only*: never printed in a usage
text, never candidates for prefix matching. So every upstream command line, abbreviations
included, parses exactly as upstream and prints exactly upstream's text; the extra options
are documented in the ``btfids`` front end and docs/ instead.

Outcome: :meth:`Parser.parse` returns values + positionals, or raises :class:`SubcmdExit`
(a :class:`~btfids.errors.UsageError`) holding the exact ``stderr``/``stdout`` text and the
exit status (129, or 130 for the list requests). Write ``exc.stderr`` as is (it carries its
own newlines).
"""

from __future__ import annotations

from .._dc import dataclass, field, replace
from ..errors import UsageError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

INCR, BOOL, STRING, LIST = "incr", "bool", "string", "list"
USAGE_OPTS_WIDTH = 24
USAGE_GAP = 2


@dataclass(frozen=True)
class Option:
    """One table entry (``OPT_INCR``/``OPT_BOOLEAN``/``OPT_STRING``; ``list`` is a
    repeatable string, a project extension)."""

    long: str | None
    short: str | None
    kind: str
    dest: str
    argh: str | None = None
    help: str = ""
    hidden: bool = False
    exact_only: bool = False


class SubcmdExit(UsageError):
    """Parsing ended the program: print ``stderr``/``stdout`` verbatim, exit ``exit_code``."""

    def __init__(self, stderr: str, exit_code: int = 129, stdout: str = "") -> None:
        super().__init__(stderr, exit_code)
        self.stderr = stderr
        self.stdout = stdout


class _Fail(Exception):
    """Internal: an ``opterror`` (text printed without newline) → parse_options_usage."""

    def __init__(self, text: str, optstr: str, short: bool) -> None:
        self.text, self.optstr, self.short = text, optstr, short


@dataclass
class _Ctx:
    args: list[str]
    i: int = 0
    opt: str | None = None  # rest of a short bundle, or the value after '='
    values: dict[str, Any] = field(default_factory=dict)


class Parser:
    """An option table plus usage lines, parsing like ``parse_options(...,
    PARSE_OPT_STOP_AT_NON_OPTION)``."""

    def __init__(self, usage: list[str], options: list[Option]) -> None:
        self.usage_lines = list(usage)
        self.options = list(options)

    def extended(self, extra: list[Option]) -> Parser:
        """A copy with project options appended (forced hidden and exact-only)."""
        more = [replace(o, hidden=True, exact_only=True) for o in extra]
        return Parser(self.usage_lines, self.options + more)

    def defaults(self) -> dict[str, Any]:
        init = {INCR: 0, BOOL: False, STRING: None}
        return {o.dest: ([] if o.kind == LIST else init[o.kind]) for o in self.options}

    # ------------------------------------------------------------- texts
    def _head(self) -> str:
        out = f"\n Usage: {self.usage_lines[0]}\n"
        for line in self.usage_lines[1:]:
            out += f"    or: {line}\n"
        return out

    def usage(self, *, full: bool = False, filter_args: list[str] | None = None) -> str:
        """``usage_with_options_internal``: the whole usage text (567 / 231 bytes for
        the two upstream tables)."""
        out = self._head() + "\n"
        for o in sorted(self.options, key=_order_key):
            if filter_args is not None and len(filter_args) > 0 and not _in_argv(o, filter_args):
                continue
            out += _help_line(o, full)
        return out + "\n"

    def _partial_usage(self, optstr: str, short: bool) -> str:
        """``parse_options_usage``: the usage lines, then only the options matching."""
        out = self._head() + "\n"
        for o in self.options:
            if short:
                if o.short is not None and o.short == optstr[:1]:
                    out += _help_line(o, False)
                    break
                continue
            if o.long is None:
                continue
            if o.long.startswith(optstr):
                out += _help_line(o, False)
            if optstr.startswith("no-") and o.long.startswith(optstr[3:]):
                out += _help_line(o, False)
        return out

    # ------------------------------------------------------------- parsing
    def parse(self, argv: list[str]) -> tuple[dict[str, Any], list[str]]:
        """Parse ``argv`` (without the program name): (values by ``dest``, positionals)."""
        ctx = _Ctx(list(argv), values=self.defaults())
        try:
            rest = self._step(ctx)
        except _Fail as f:
            raise SubcmdExit(f.text + self._partial_usage(f.optstr, f.short)) from None
        return ctx.values, rest

    def _step(self, ctx: _Ctx) -> list[str]:
        args = ctx.args
        while ctx.i < len(args):
            arg = args[ctx.i]
            if not arg.startswith("-") or arg == "-":
                break  # STOP_AT_NON_OPTION
            if not arg.startswith("--"):
                self._short_group(ctx, arg[1:])
                ctx.i += 1
                continue
            if arg == "--":
                ctx.i += 1
                break
            name = arg[2:]
            if name == "help-all":
                raise SubcmdExit(self.usage(full=True, filter_args=args[ctx.i + 1 :]))
            if name == "help":
                raise SubcmdExit(self.usage(filter_args=args[ctx.i + 1 :]))
            if name == "list-opts":
                text = "".join(
                    f"--{o.long} " for o in self.options if o.long and not o.exact_only
                ) + "\n"
                raise SubcmdExit("", 130, text)
            if name == "list-cmds":
                raise SubcmdExit("", 130, "\n")
            if not self._long(ctx, name):
                raise SubcmdExit(f"  Error: unknown option `{name}'\n" + self.usage())
            ctx.i += 1
        return args[ctx.i :]

    def _short_group(self, ctx: _Ctx, group: str) -> None:
        ctx.opt = group
        first = True
        while ctx.opt:
            ch = ctx.opt[0]
            if ch == "h":
                raise SubcmdExit(self.usage(filter_args=ctx.args[ctx.i + 1 :]))
            optstr = ctx.opt
            o = next((o for o in self.options if o.short == ch), None)
            if o is None:
                raise SubcmdExit(f"  Error: unknown switch `{ch}'\n" + self.usage())
            ctx.opt = ctx.opt[1:] or None
            self._value(ctx, o, short=True, unset=False, optstr=optstr)
            if first and ctx.opt:
                self._check_typos(group)
            first = False

    def _check_typos(self, arg: str) -> None:
        if len(arg) < 3:
            return
        hit = arg.startswith("no-") or any(
            o.long is not None and not o.exact_only and o.long.startswith(arg)
            for o in self.options
        )
        if hit:
            raise SubcmdExit(f" Error: did you mean `--{arg}` (with two dashes ?)")

    def _long(self, ctx: _Ctx, arg: str) -> bool:
        """``parse_long_opt``; False when no option matches (unknown)."""
        eq = arg.find("=")
        key = arg if eq < 0 else arg[:eq]
        abbrev: tuple[Option, bool] | None = None
        ambiguous: tuple[Option, bool] | None = None
        pending: str | None = None  # libsubcmd sets p->opt while collecting abbreviations
        for o in self.options:
            if o.long is None:
                continue
            if o.exact_only:
                if key == o.long:
                    ctx.opt = None if eq < 0 else arg[eq + 1 :]
                    self._value(ctx, o, short=False, unset=False, optstr=arg)
                    return True
                continue
            unset = False
            rest: str | None = arg[len(o.long) :] if arg.startswith(o.long) else None
            is_abbrev = False
            if rest is None:
                if o.long.startswith("no-"):
                    if arg.startswith(o.long[3:]):
                        rest, unset = arg[len(o.long) - 3 :], True
                    elif o.long[3:].startswith(arg):
                        unset, is_abbrev = True, True
                if rest is None and not is_abbrev:
                    if o.long[: len(key)] == key and len(key) <= len(o.long):
                        is_abbrev = True
                    elif "no-".startswith(arg):
                        unset, is_abbrev = True, True
                    elif not arg.startswith("no-"):
                        continue
                    else:
                        unset = True
                        tail = arg[3:]
                        if tail.startswith(o.long):
                            rest = tail[len(o.long) :]
                        elif o.long.startswith(tail):
                            is_abbrev = True
                        else:
                            continue
                if is_abbrev:
                    if abbrev is not None:
                        ambiguous = abbrev
                    if not unset and eq >= 0:
                        pending = arg[eq + 1 :]
                    abbrev = (o, unset)
                    continue
            assert rest is not None
            if rest:
                if not rest.startswith("="):
                    continue
                pending = rest[1:]
            ctx.opt = pending
            self._value(ctx, o, short=False, unset=unset, optstr=arg)
            return True
        if ambiguous is not None and abbrev is not None:
            a_o, a_unset = ambiguous
            text = (
                f" Error: Ambiguous option: {arg} (could be --{'no-' if a_unset else ''}"
                f"{a_o.long} or --{'no-' if abbrev[1] else ''}{abbrev[0].long})"
            )
            raise _Fail(text, arg, False)
        if abbrev is not None:
            ctx.opt = pending
            self._value(ctx, abbrev[0], short=False, unset=abbrev[1], optstr=arg)
            return True
        return False

    def _value(self, ctx: _Ctx, o: Option, *, short: bool, unset: bool, optstr: str) -> None:
        """``get_value``/``get_arg``."""

        def err(reason: str) -> _Fail:
            if short:
                text = f" Error: switch `{o.short}' {reason}"
            elif unset:
                text = f" Error: option `no-{o.long}' {reason}"
            else:
                text = f" Error: option `{o.long}' {reason}"
            return _Fail(text, optstr, short)

        if unset and ctx.opt is not None:
            raise err("takes no value")
        if not short and ctx.opt is not None and o.kind in (INCR, BOOL):
            raise err("takes no value")
        v = ctx.values
        if o.kind == INCR:
            v[o.dest] = 0 if unset else v[o.dest] + 1
        elif o.kind == BOOL:
            v[o.dest] = not unset
        elif unset:
            v[o.dest] = [] if o.kind == LIST else None
        else:
            if ctx.opt is not None:
                val, ctx.opt = ctx.opt, None
            elif ctx.i + 1 < len(ctx.args):
                ctx.i += 1
                val = ctx.args[ctx.i]
            else:
                raise err("requires a value")
            if o.kind == LIST:
                v[o.dest] = [*v[o.dest], val]
            else:
                v[o.dest] = val


def _order_key(o: Option) -> tuple[int, str]:
    s = ord(o.short.lower()) if o.short else ord("z") + 1
    return (s, o.long or "")


def _in_argv(o: Option, args: list[str]) -> bool:
    """libsubcmd ``option__in_argv`` (used by ``-h ARGS``)."""
    for a in args:
        if not a.startswith("-"):
            if len(a) == 1:
                if a == o.short:
                    return True
                continue
            if o.long is not None and o.long == a:
                return True
            if a.lower() in o.help.lower():
                return True
            continue
        second = a[1:2]
        if (o.short is not None and second == o.short) or (not o.short and second == ""):
            return True
        if second == "-" and o.long is not None and o.long == a[2:]:
            return True
    return False


def _help_line(o: Option, full: bool) -> str:
    if o.hidden:  # (libsubcmd shows hidden options under --help-all; project options
        return ""  # never appear in an upstream text, so they are skipped there too)
    s = "    "
    s += f"-{o.short}" if o.short else "    "
    if o.long and o.short:
        s += ", "
    if o.long:
        s += f"--{o.long}"
    if o.kind in (STRING, LIST):
        s += f" <{o.argh}>" if o.argh else " ..."
    pos = len(s)
    if pos <= USAGE_OPTS_WIDTH:
        pad = USAGE_OPTS_WIDTH - pos
    else:
        s += "\n"
        pad = USAGE_OPTS_WIDTH
    return s + " " * (pad + USAGE_GAP) + o.help + "\n"


NEWEST_USAGE = [
    "resolve_btfids [<options>] <ELF object>",
    "resolve_btfids --patch_btfids <.BTF_ids file> <ELF object>",
]
NEWEST_OPTIONS = [
    Option("verbose", "v", INCR, "verbose", help="be more verbose (show errors, etc)"),
    Option("btf", None, STRING, "btf", "file", "path to a file with input BTF data"),
    Option("btf_base", "b", STRING, "btf_base", "file", "path of file providing base BTF"),
    Option("fatal_warnings", None, BOOL, "fatal_warnings", help="turn warnings into errors"),
    Option("distill_base", None, BOOL, "distill_base",
           help="distill --btf_base and emit .BTF.base section data"),
    Option("patch_btfids", None, STRING, "patch_btfids", "file",
           "path to .BTF_ids section data blob to patch into ELF file"),
]
LEGACY_USAGE = ["resolve_btfids [<options>] <ELF object>"]
LEGACY_OPTIONS = [
    Option("verbose", "v", INCR, "verbose", help="be more verbose (show errors, etc)"),
    Option("btf", None, STRING, "btf", "BTF data", "BTF data"),
    Option("btf_base", "b", STRING, "btf_base", "file", "path of file providing base BTF"),
]
#: the project's options (hidden, exact-only, repeatable where it makes sense)
PROJECT_OPTIONS = [
    Option("config", None, STRING, "config", "PATH|PRESET", "configuration file or preset"),
    Option("enable", None, LIST, "enable", "PASS", "enable a pass (repeatable)"),
    Option("disable", None, LIST, "disable", "PASS", "disable a pass (repeatable)"),
]


def newest_parser(extra: list[Option] | None = None) -> Parser:
    """The newest tool's table; ``extra`` (default :data:`PROJECT_OPTIONS`) appended."""
    return Parser(NEWEST_USAGE, NEWEST_OPTIONS).extended(
        PROJECT_OPTIONS if extra is None else extra)


def legacy_parser(extra: list[Option] | None = None) -> Parser:
    """The Linux 6.12 tool's table; ``extra`` (default :data:`PROJECT_OPTIONS`) appended."""
    return Parser(LEGACY_USAGE, LEGACY_OPTIONS).extended(
        PROJECT_OPTIONS if extra is None else extra)


def parse_command_line(parser: Parser, argv: list[str]) -> tuple[dict[str, Any], str]:
    """``parse_options`` + upstream's ``argc != 1`` check: (values, ELF path)."""
    values, rest = parser.parse(argv)
    if len(rest) != 1:
        raise SubcmdExit(parser.usage())
    return values, rest[0]
