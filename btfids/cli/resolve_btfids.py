"""``resolve_btfids``: exactly the upstream command line, plus hidden project options.

Upstream options and texts come from :mod:`btfids.cli.subcmd` (the newest tool's table,
or the Linux 6.12 tool's when the config's mode is ``in-place-6.12``). Project options,
exact spelling only: ``--config PATH|PRESET``, ``--enable PASS``, ``--disable PASS``,
``--report FILE``, ``--no-cache`` (docs/performance.md). Exit status: 0, 129 usage,
255 failure, 249 output path too long, 130/143 on SIGINT/SIGTERM.
Every failure is one stderr line (upstream wording), no traceback, no partial output.

Start-up is kept lean: no rich/click ever, and pluggy/pyelftools only on the paths that
use them (imports happen inside the functions).
"""

from __future__ import annotations

import os
import sys

from ..errors import ENV_DEBUG, BtfidsError, internal_error

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from ..config import Config
    from .subcmd import Option, Parser


def _extra_options() -> list[Option]:
    from .subcmd import BOOL, PROJECT_OPTIONS, STRING, Option

    return [*PROJECT_OPTIONS,
            Option("report", None, STRING, "report", "FILE", "write a JSON report"),
            Option("no-cache", None, BOOL, "no_cache", None,
                   "do not use the base-BTF index cache")]


def _scan_config(argv: list[str]) -> str | None:
    """``--config`` from an argv the parser rejected (to pick that config's texts)."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--config="):
            found = arg[len("--config="):]
    return found


def _parse(argv: list[str]) -> tuple[dict[str, Any], str, Config | None]:
    """(option values, ELF path, loaded config); raises SubcmdExit or BtfidsError."""
    from .. import config as cfgmod
    from .subcmd import SubcmdExit, legacy_parser, newest_parser, parse_command_line

    extra = _extra_options()
    newest: Parser = newest_parser(extra)
    try:
        values, elf = parse_command_line(newest, argv)
    except SubcmdExit:
        try:
            cfg = cfgmod.load_config(_scan_config(argv))
        except BtfidsError:
            raise  # the newest parser's text: the config could not tell otherwise
        if cfg.mode == "in-place-6.12":
            parse_command_line(legacy_parser(extra), argv)  # raises with the 6.12 text
        raise
    cfg = cfgmod.load_config(values.get("config"))
    if cfg.mode == "in-place-6.12":
        values, elf = parse_command_line(legacy_parser(extra), argv)
    return values, elf, cfg


def run(argv: list[str], keep: list[object] | None = None) -> int:
    """The whole program; returns the exit status. ``keep`` receives the run's result
    (its context: the whole BTF) for a caller that would rather not free it."""
    from .subcmd import SubcmdExit

    try:
        values, elf, cfg = _parse(argv)
    except SubcmdExit as exc:
        if exc.stdout:
            sys.stdout.write(exc.stdout)
            sys.stdout.flush()
        sys.stderr.write(exc.stderr)
        return exc.exit_code
    except BtfidsError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    return _main(values, elf, cfg, keep)


def _main(values: dict[str, Any], elf: str, cfg: Config | None,
          keep: list[object] | None = None) -> int:
    from ..context import Log

    log = Log(values.get("verbose", 0))
    report = None
    code = 255
    error: str | None = None
    try:
        if values.get("patch_btfids"):
            from ..patchmode import patch_btfids

            patch_btfids(values["patch_btfids"], elf, log)
            return 0
        from .. import host

        pipe = host.prepare(cfg, enable=values.get("enable", ()),
                            disable=values.get("disable", ()))
        if values.get("report"):
            from ..report import Report

            report = Report()
        opts = host.RunOptions(
            elf=elf,
            btf=values.get("btf"),
            btf_base=values.get("btf_base"),
            distill_base=bool(values.get("distill_base")),
            fatal_warnings=bool(values.get("fatal_warnings")),
            verbose=values.get("verbose", 0),
            cache=not values.get("no_cache"),
        )
        result = host.run(pipe, opts, log=log, report=report)
        if keep is not None:
            keep.append(result)
        code = result.exit_code
        return code
    except BtfidsError as exc:
        code, error = exc.exit_code, str(exc)
        sys.stderr.write(f"{exc}\n")
        return code
    except Exception as exc:  # a bug: still one line, unless debugging
        if os.environ.get(ENV_DEBUG):
            raise
        code, error = 255, internal_error(exc)
        sys.stderr.write(error + "\n")
        return code
    finally:
        if report is not None:
            report.finish(code, error)
            try:
                report.write(values["report"])
            except OSError as exc:
                sys.stderr.write(f"Couldn't write report {values['report']}: {exc.strerror}\n")


def main() -> None:
    """The console script: one run, then exit. The cyclic collector stays off for the
    whole process, imports included (btfids.gcpause explains why that is safe).
    SIGINT/SIGTERM: exit 130/143 after the cleanup, no traceback (btfids.interrupts)."""
    from ..interrupts import Interrupted, install

    install()
    import gc

    gc.disable()
    # the run's data stays alive to the end: os._exit hands its memory back at once,
    # where freeing it object by object would cost vmlinux 24 ms
    keep: list[object] = []
    try:
        code = run(sys.argv[1:], keep)
    except Interrupted as exc:
        code = exc.exit_code
    _exit(code)


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown (freeing every object one by one: about
    5 ms of a module run). Everything the run writes is closed or flushed by then, and
    no atexit handler is needed; only the standard streams are flushed here. A stream
    that cannot be flushed exits 120, as the interpreter's own shutdown does."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = 120
    os._exit(code)


if __name__ == "__main__":
    main()
