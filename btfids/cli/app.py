"""``btfids``: the friendly front end (rich-click).

Subcommands: ``run`` (the main pipeline), ``passes`` (effective pipeline), ``bisect``
(find the pass that breaks a check), ``check`` (validate config and BTF files),
``inspect btf`` / ``inspect ids`` (dump BTF types / collected ``__BTF_ID__`` symbols),
``patch`` (``--patch_btfids``) and ``presets``; ``diff`` (cli/diff.py) and ``explain``
(cli/explain.py) live in modules of their own. Errors: one stderr line, upstream status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import rich_click as click

from ..errors import ENV_DEBUG, EXIT_FAILURE, BtfidsError, internal_error
from .diff import diff as diff_command
from .explain import explain as explain_command

F = TypeVar("F", bound=Callable[..., Any])


def _fail(exc: BtfidsError) -> NoReturn:
    click.echo(f"btfids: {exc}", err=True)
    sys.exit(exc.exit_code)


def pipeline_options(f: F) -> F:
    f = click.option("--disable", "disable", multiple=True, metavar="PASS",
                     help="Disable a pass (repeatable).")(f)
    f = click.option("--enable", "enable", multiple=True, metavar="PASS",
                     help="Enable a pass (repeatable).")(f)
    f = click.option("--config", "config", metavar="PATH|PRESET",
                     help="TOML config or preset (default: discovery, then bpf-next).")(f)
    return f


def input_options(f: F) -> F:
    f = click.option("--fatal-warnings", "--fatal_warnings", "fatal_warnings", is_flag=True,
                     help="Exit 255 (after writing) when there were warnings.")(f)
    f = click.option("--distill-base", "--distill_base", "distill_base", is_flag=True,
                     help="Distill the base and write <ELF>.BTF.base (needs -b).")(f)
    f = click.option("-b", "--btf-base", "--btf_base", "btf_base", metavar="FILE",
                     help="Base BTF (vmlinux or raw); the target is split BTF.")(f)
    f = click.option("--btf", "btf", metavar="FILE",
                     help="Input BTF (raw or ELF) instead of the ELF's .BTF.")(f)
    f = click.option("-v", "--verbose", count=True, help="More messages (-vv: more).")(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="btfids")
def cli() -> None:
    """btfids: a pluggable, byte-exact resolve_btfids."""


@cli.command()
@input_options
@pipeline_options
@click.option("--report", "report", metavar="FILE",
              help="Write a JSON report of the run (several ELFs: one document, an entry "
                   "per ELF; schema in docs/report.schema.json).")
@click.option("--explain", "explain", is_flag=True,
              help="Print what each pass changed (a semantic BTF diff per pass).")
@click.option("-T", "--files-from", "files_from", metavar="FILE",
              help="Also read ELF paths from FILE, one per line ('-': stdin).")
@click.option("-j", "--jobs", "jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes when running several ELFs.")
@click.option("-o", "--output-dir", "output_dir", metavar="DIR",
              type=click.Path(file_okay=False, exists=True),
              help="Write <ELF name>.BTF_ids, .BTF, .BTF.base into DIR, not next to the "
                   "ELF (read-only inputs).")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Do not use the base-BTF index cache (docs/performance.md).")
@click.option("--progress/--no-progress", "progress", default=None,
              help="Progress bar for several ELFs (default: when stderr is a terminal).")
@click.argument("elfs", nargs=-1, metavar="ELF...")
def run(elfs: tuple[str, ...], verbose: int, btf: str | None, btf_base: str | None,
        distill_base: bool, fatal_warnings: bool, config: str | None,
        enable: tuple[str, ...], disable: tuple[str, ...], report: str | None,
        files_from: str | None, jobs: int, output_dir: str | None, no_cache: bool,
        progress: bool | None, explain: bool) -> None:
    """Run the configured pipeline on each ELF and write <ELF>.BTF_ids, <ELF>.BTF (and
    .BTF.base). Several ELFs (batch mode: modules on one --btf_base) run in one process
    with the base loaded once, or in -j worker processes; same bytes as single runs."""
    from .. import host

    paths = list(elfs)
    if files_from:
        try:
            if files_from == "-":
                text = sys.stdin.read()
            else:
                with open(files_from, encoding="utf-8") as f:
                    text = f.read()
        except OSError as exc:
            _fail(BtfidsError(f"cannot read {files_from}: {exc.strerror or exc}"))
        paths.extend(line.strip() for line in text.splitlines() if line.strip())
    if not paths:
        raise click.UsageError("no ELF given")
    if len(paths) > 1:
        if explain:
            raise click.UsageError("--explain takes a single ELF")
        if btf:
            raise click.UsageError("--btf takes a single ELF")
        try:
            pipe = host.prepare(config, enable=enable, disable=disable)
        except BtfidsError as exc:
            _fail(exc)
        if output_dir:
            names = [os.path.basename(p) for p in paths]
            dup = next((n for n in names if names.count(n) > 1), None)
            if dup is not None:
                raise click.UsageError(f"--output-dir: two ELFs are named {dup!r}")
        opts = host.RunOptions(paths[0], btf, btf_base, distill_base, fatal_warnings,
                               verbose, cache=not no_cache, output_dir=output_dir)
        sys.exit(_run_batch(host, pipe, opts, paths, jobs, progress, report))
    elf = paths[0]
    from ..report import Report

    rep = Report(changes=True) if report or explain else None
    code = 255
    err: str | None = None
    try:
        pipe = host.prepare(config, enable=enable, disable=disable)
        opts = host.RunOptions(elf, btf, btf_base, distill_base, fatal_warnings, verbose,
                               cache=not no_cache, output_dir=output_dir)
        code = host.run(pipe, opts, report=rep).exit_code
    except BtfidsError as exc:
        code, err = exc.exit_code, str(exc)
        click.echo(f"btfids: {exc}", err=True)
    finally:
        if rep is not None and report is not None:
            rep.finish(code, err)
            rep.write(report)
        if rep is not None and explain:
            from .changes import explain_report

            click.echo(explain_report(rep.data), nl=False)
    sys.exit(code)


def _run_batch(host: Any, pipe: Any, opts: Any, paths: list[str], jobs: int,
               progress: bool | None, report: str | None = None) -> int:
    """Batch mode; exit status: the first failing ELF's (input order), else 0. Ends
    with a summary line; ``report``: one JSON document with an entry per ELF."""
    import time

    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    items: list[Any] = []
    if not progress:
        items = host.run_batch(pipe, opts, paths, jobs=jobs, report=bool(report))
    else:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task("btfids", total=len(paths))

            def step(item: Any) -> None:
                bar.update(task, advance=1, description=item.elf.rsplit("/", 1)[-1][:40])

            items = host.run_batch(pipe, opts, paths, jobs=jobs, done=step,
                                   report=bool(report))
    failed = [i for i in items if i.exit_code]
    first_bad = failed[0].exit_code if failed else 0
    summary = {
        "files": len(items),
        "with_btf_ids": sum(1 for i in items if i.has_ids),
        "kfuncs": sum(i.kfuncs for i in items),
        "warnings": sum(i.warnings for i in items),
        "failed": len(failed),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    click.echo(f"btfids: {summary['files']} ELF files, {summary['with_btf_ids']} with "
               f".BTF_ids, {summary['kfuncs']} kfuncs, {summary['warnings']} warnings, "
               f"{summary['failed']} failed, {summary['seconds']:.2f} s", err=True)
    if report:
        from ..report import batch_document, write_json

        write_json(report, batch_document([i.report for i in items], summary, first_bad))
    return first_bad


@cli.command()
@pipeline_options
@click.option("--options", "show_options", is_flag=True,
              help="Also list every pass's options: value, default, allowed values, help.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON instead of a table (options always included).")
def passes(config: str | None, enable: tuple[str, ...], disable: tuple[str, ...],
           show_options: bool, as_json: bool) -> None:
    """List the effective pipeline in order: name, enabled, origin, description."""
    import json

    from .. import host

    try:
        pipe = host.prepare(config, enable=enable, disable=disable)
        reg = host.registry()
    except BtfidsError as exc:
        _fail(exc)
        return
    cfg = pipe.config
    rows = [(s.name, s.enabled, s.info.origin, s.info.spec.summary, s.info.spec.scope)
            for s in pipe.steps]
    placed = {s.name for s in pipe.steps}
    spare = [i for n, i in sorted(reg.items()) if n not in placed]
    values = {s.name: s.options for s in pipe.steps}
    if as_json:
        def entry(info: Any, **extra: Any) -> dict[str, Any]:
            return {"name": info.name, **extra, "origin": info.origin,
                    "plugin": info.plugin, "summary": info.spec.summary,
                    "scope": info.spec.scope, "needs": list(info.spec.needs),
                    "options": _option_table(info.spec, values.get(info.name))}

        click.echo(json.dumps({
            "config": cfg.name, "found_by": cfg.found_by, "chain": cfg.chain,
            "implicit_extends": cfg.implicit_extends, "mode": pipe.mode,
            "pipeline": [entry(s.info, enabled=s.enabled) for s in pipe.steps],
            "not_in_pipeline": [i.name for i in spare],
            "not_in_pipeline_passes": [entry(i) for i in spare],
        }, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    how = (f"; extends {cfg.implicit_extends} implicitly" if cfg.implicit_extends else "")
    title = f"{cfg.name} (mode {pipe.mode}; found by {cfg.found_by}{how})"
    table = Table(title=title, title_justify="left")
    for col in ("#", "pass", "enabled", "from", "description"):
        table.add_column(col)
    for n, (name, enabled, origin, summary, scope) in enumerate(rows, 1):
        desc = summary + (" [per kfunc]" if scope == "kfunc" else "")
        table.add_row(str(n), name, "yes" if enabled else "no", origin, desc)
    for info in spare:
        table.add_row("-", info.name, "not placed", info.origin, info.spec.summary)
    console = Console()
    console.print(table)
    if show_options:
        click.echo("\noptions ([passes.<pass>] <option> = <value> in btfids.toml):")
        for info in [s.info for s in pipe.steps] + spare:
            declared = _option_table(info.spec, values.get(info.name))
            click.echo(f"{info.name}:" + ("" if declared else " (none)"))
            for oname, o in declared.items():
                now = "" if o["value"] == o["default"] else f" (set: {json.dumps(o['value'])})"
                click.echo(f"  {oname} = {json.dumps(o['default'])}{now}; allowed: "
                           f"{o['allowed']}")
                if o["help"]:
                    click.echo(f"      {o['help']}")


def _option_table(spec: Any, current: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Option name → value (effective), default, allowed (words), help."""
    out = {}
    for name in spec.options:
        o = spec.option(name)
        out[name] = {"value": (current or {}).get(name, o.default), "default": o.default,
                     "allowed": o.allowed(), "help": o.help}
    return out


@cli.command()
@input_options
@pipeline_options
@click.option("--no-confirm", is_flag=True, help="Skip the run with the culprit disabled.")
@click.argument("elf")
@click.argument("check", nargs=-1, required=True, metavar="-- CHECK...")
def bisect(elf: str, check: tuple[str, ...], verbose: int, btf: str | None,
           btf_base: str | None, distill_base: bool, fatal_warnings: bool,
           config: str | None, enable: tuple[str, ...], disable: tuple[str, ...],
           no_confirm: bool) -> None:
    """Find the first pass whose enabling makes CHECK fail.

    Each trial runs the first k enabled passes into a scratch directory, then CHECK in
    the current directory (exit 0 = good). Put `--` before CHECK. Substituted in CHECK
    and set in its environment (BTFIDS_ELF, BTFIDS_BTF, ...): {elf} {btf} {btf_ids}
    {distilled_base} = the trial's ELF link and outputs, {btf_base} = the -b base,
    {dir} = the scratch directory. Example:

        btfids bisect -b vmlinux.btf mod.ko -- btfids check --sorted -b {btf_base} {btf}

    Exit status: 0 culprit found; 2 no culprit (bad with no pass, or good with all);
    255 error (bad config or input, CHECK cannot be started); 129 usage.
    """
    from .. import host

    try:
        pipe = host.prepare(config, enable=enable, disable=disable)
        opts = host.RunOptions(elf, btf, btf_base, distill_base, fatal_warnings, verbose)
        res = host.bisect(pipe, opts, list(check), echo=click.echo, confirm=not no_confirm)
    except BtfidsError as exc:
        _fail(exc)
        return
    if res.culprit is None:
        click.echo(f"bisect: {res.message}")
        sys.exit(2)
    if res.confirmed is not None:
        verdict = "good" if res.confirmed else "still bad"
        click.echo(f"bisect: with {', '.join(res.disabled_for_confirm)} disabled: {verdict}")
    click.echo(f"bisect: {res.message}")
    if res.culprit_entry is not None:
        from .changes import pass_lines

        click.echo("bisect: what the culprit changed:")
        for line in pass_lines(res.culprit_entry):
            click.echo(f"  {line}")
    else:
        click.echo("bisect: what the culprit changed: not recorded (the run up to it "
                   "failed before the pass finished)")


@cli.command()
@pipeline_options
@click.option("-b", "--btf-base", "--btf_base", "btf_base", metavar="FILE",
              help="Base for the BTF files (split BTF).")
@click.option("--sorted/--any-order", "require_sorted", default=False,
              help="Also require types sorted by name (as the newest pipeline writes).")
@click.argument("files", nargs=-1)
def check(config: str | None, enable: tuple[str, ...], disable: tuple[str, ...],
          btf_base: str | None, require_sorted: bool, files: tuple[str, ...]) -> None:
    """Validate the config and pipeline, and check BTF FILES (raw or ELF) against the
    kernel's load rules."""
    from .. import host
    from ..btf.check import check_btf

    try:
        pipe = host.prepare(config, enable=enable, disable=disable)
        cfg = pipe.config
        how = (f"extends preset {cfg.implicit_extends} implicitly; "
               if cfg.implicit_extends else "")
        empty = (f"; empty pipeline, set in {cfg.source_of('pipeline')}"
                 if not pipe.steps and pipe.mode == "newest" else "")
        click.echo(f"config ok: {cfg.name} ({how}mode {pipe.mode}, "
                   f"{len(pipe.enabled())}/{len(pipe.steps)} passes enabled{empty})")
        bad = 0
        for path in files:
            btf = host.load_inputs(host.RunOptions(path, btf_base=btf_base), _quiet_log())[1]
            problems = check_btf(btf, require_sorted=require_sorted)
            for p in problems:
                click.echo(f"{path}: {p}")
            if problems:
                bad += 1
            else:
                click.echo(f"{path}: ok ({btf.type_cnt - btf.start_id} types)")
        if bad:
            raise BtfidsError(f"{bad} of {len(files)} BTF file(s) have problems")
    except BtfidsError as exc:
        _fail(exc)


def _quiet_log() -> Any:
    import io

    from ..context import Log

    return Log(0, io.StringIO())


@cli.group()
def inspect() -> None:
    """Dump BTF types or the collected .BTF_ids symbols."""


@inspect.command("btf")
@click.option("-b", "--btf-base", "--btf_base", "btf_base", metavar="FILE", help="Base BTF.")
@click.option("--id", "ids", type=int, multiple=True, help="Only this type ID (repeatable).")
@click.option("--name", help="Only types with this exact name.")
@click.option("--kind", help="Only this kind (e.g. FUNC, STRUCT).")
@click.option("--all", "show_all", is_flag=True, help="Include base types (split BTF).")
@click.option("--limit", type=int, default=0, help="Stop after N types.")
@click.argument("file")
def inspect_btf(file: str, btf_base: str | None, ids: tuple[int, ...], name: str | None,
                kind: str | None, show_all: bool, limit: int) -> None:
    """Dump the types of FILE (raw BTF or an ELF's .BTF) as `bpftool btf dump file`
    does: one line per type, then one indented line per member, parameter, enumerator
    or section entry. Streams its output."""
    from ..btf.dump import dump_lines

    btf = _load_for_inspect(file, btf_base)
    kind_no = None
    if kind:
        from ..btf.view import kind_number

        try:
            kind_no = kind_number(kind)
        except ValueError as exc:
            _fail(BtfidsError(str(exc)))
    for tid in ids:
        if not 0 < tid < btf.type_cnt:
            _fail(BtfidsError(f"{file}: no type ID {tid} (1..{btf.type_cnt - 1})"))
    with_base = show_all or any(tid < btf.start_id for tid in ids)
    out = getattr(sys.stdout, "buffer", None)
    try:
        for text in dump_lines(btf, ids=ids or None, kind=kind_no, limit=limit,
                               name=name.encode() if name is not None else None,
                               with_base=with_base):
            if out is not None:
                out.write(text.encode("latin-1"))
            else:  # a text-only stream
                sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: stop quietly, as bpftool does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


def _load_for_inspect(file: str, btf_base: str | None) -> Any:
    """The BTF of FILE; a standalone one through the base index cache (a repeated
    inspect of vmlinux skips the full parse)."""
    if btf_base is not None:
        from .. import host

        try:
            return host.load_inputs(host.RunOptions(file, btf_base=btf_base), _quiet_log())[1]
        except BtfidsError as exc:
            _fail(exc)
    from ..btfio import BtfLoadError, load_base_btf

    try:
        return load_base_btf(file)
    except (BtfLoadError, OSError, ValueError) as exc:
        reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else exc
        _fail(BtfidsError(f"FAILED: load BTF from {file}: {reason}"))


@inspect.command("ids")
@click.option("-v", "--verbose", count=True, help="Show the collection messages too.")
@click.option("-b", "--btf-base", "--btf_base", "btf_base", metavar="FILE",
              help="Base BTF (vmlinux) for a module's split BTF.")
@click.option("--btf", "btf", metavar="FILE",
              help="Resolve against this BTF (e.g. the run's <ELF>.BTF: output IDs) "
                   "instead of the ELF's own .BTF (input IDs).")
@click.argument("elf")
def inspect_ids(elf: str, verbose: int, btf_base: str | None, btf: str | None) -> None:
    """Dump the __BTF_ID__ symbols collected from ELF (tables, addresses, sets), each
    name with the BTF ID it resolves to (as resolve_btfids would) or 'unresolved'."""
    from .. import host
    from ..context import Log

    try:
        syms = host.load_symbols(elf, Log(verbose))
    except BtfidsError as exc:
        _fail(exc)
        return
    if syms is None:
        click.echo(f"{elf}: no .BTF_ids section or no symbol table")
        return
    sec = syms.section
    click.echo(f".BTF_ids: section {sec.index}, addr {sec.addr:#x}, size {sec.size}, "
               f"{'little' if sec.order == '<' else 'big'}-endian")
    click.echo(_resolve_for_inspect(syms, elf, btf, btf_base))
    for label, table in (("struct", syms.structs), ("union", syms.unions),
                         ("typedef", syms.typedefs), ("func", syms.funcs)):
        if not table:
            continue
        click.echo(f"{label} ({len(table)} names, {syms.nr.get(label, 0)} symbols):")
        for key in sorted(table):
            node = table[key]
            offs = ", ".join(str(a - sec.addr) for a in node.addrs)
            ident = f"id {node.id}" if node.id else "unresolved"
            click.echo(f"  {key.decode('latin-1')}  @ {offs}  -> {ident}")
    if syms.sets:
        click.echo(f"sets ({len(syms.sets)}):")
        for key in sorted(syms.sets):
            node = syms.sets[key]
            off = node.addrs[0] - sec.addr if node.addrs else -1
            line = f"  {node.kind} {key.decode('latin-1')} @ {off} cnt {node.cnt}"
            if node.kind == "set8" and len(node.addrs) == 1:
                flags = sec.word_at(node.addrs[0] + 4)
                line += f" flags {flags:#x}"
                members = []
                for i in range(node.cnt):
                    addr = node.addrs[0] + 8 + 8 * i
                    nm = syms.name_at(addr)
                    members.append(f"{(nm or b'?').decode('latin-1')}"
                                   f"[{sec.word_at(addr + 4):#x}]")
                if members:
                    line += ": " + " ".join(members)
            click.echo(line)


def _resolve_for_inspect(syms: Any, elf: str, btf: str | None, btf_base: str | None) -> str:
    """Resolve ``syms`` against the BTF (as the run would, before patching): the header
    line saying against what, or why nothing resolved."""
    from .. import host
    from ..symbols import resolve_ids

    source = btf or f"{elf} .BTF"
    try:
        target = host.load_inputs(host.RunOptions(elf, btf=btf, btf_base=btf_base),
                                  _quiet_log())[1]
    except BtfidsError as exc:
        return f"IDs: not resolved ({exc})"
    resolve_ids(syms, target, _quiet_log(), count_warnings=False)
    unresolved = sum(1 for table in (syms.structs, syms.unions, syms.typedefs, syms.funcs)
                     for node in table.values() if not node.id)
    return (f"IDs: resolved against {source}" + (f" on base {btf_base}" if btf_base else "")
            + f"; {unresolved} name(s) unresolved")


@cli.command()
@click.option("-v", "--verbose", count=True, help="More messages (-vv: more).")
@click.argument("blob")
@click.argument("elf")
def patch(blob: str, elf: str, verbose: int) -> None:
    """Copy BLOB over ELF's .BTF_ids section in place (resolve_btfids --patch_btfids)."""
    from ..context import Log
    from ..patchmode import patch_btfids  # type: ignore[import-not-found, unused-ignore]

    try:
        patch_btfids(blob, elf, Log(verbose))
    except BtfidsError as exc:
        _fail(exc)
    except Exception as exc:  # patch mode raises its own error type with the full line
        _fail(BtfidsError(str(exc)))


@cli.command()
def presets() -> None:
    """List the bundled presets."""
    from .. import config as cfgmod

    for name in cfgmod.preset_names():
        cfg = cfgmod.load(name)
        mark = " (default)" if name == cfgmod.DEFAULT_PRESET else ""
        click.echo(f"{name}{mark}: {cfg.description}")


@cli.command()
@click.option("--objtree", metavar="DIR", help="Object tree (O=), to read its .config.")
@click.option("--tool", metavar="PATH", help="Path of resolve_btfids to put on the make line.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--write", is_flag=True, help="Write btfids.toml into the tree if it has none.")
@click.argument("srctree", required=False, metavar="[SRCTREE]")
def kbuild(srctree: str | None, objtree: str | None, tool: str | None, as_json: bool,
           write: bool) -> None:
    """Detect how a kernel tree (SRCTREE, default $srctree or .) calls resolve_btfids and
    which pahole features it asks for; print the make line and the btfids.toml to use,
    and check the config a build would find. Exit 1 when a finding is an error."""
    from .. import kbuild as kb

    tree = srctree or os.environ.get("srctree", ".")  # noqa: SIM112
    sys.exit(kb.run(tree, objtree=objtree, tool=tool, as_json=as_json, write=write))


cli.add_command(diff_command)
cli.add_command(explain_command)


def main() -> None:
    """The console script. An exception no code path expected (a bug) ends in one line
    and exit 255, as in ``resolve_btfids``; ``BTFIDS_DEBUG=1`` shows its traceback.
    SIGINT/SIGTERM: exit 130/143 after the cleanup, no traceback (btfids.interrupts)."""
    from ..interrupts import Interrupted, install

    install()
    try:
        cli(prog_name="btfids")
    except Interrupted as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if os.environ.get(ENV_DEBUG):
            raise
        click.echo(f"btfids: {internal_error(exc)}", err=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":
    main()
