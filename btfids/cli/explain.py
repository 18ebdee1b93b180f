"""``btfids explain ELF``: every ``BTF_ID`` symbol that does not resolve, and why
(:mod:`btfids.unresolved`). The symbols are resolved as a run resolves them: against the
BTF the configured pipeline makes (run in a scratch directory; the input BTF as it is
with ``--no-passes``, in the 6.12 mode, or when the pipeline fails). Upstream's warning
lines go to stderr as the tool prints them (``-v``: a cause line under each); the
explanation goes to stdout. Exit status 0 when every symbol resolves once, 1 when
something is explained, 255 on bad input."""

from __future__ import annotations

import io
import json
import sys

import rich_click as click

from ..errors import BtfidsError


@click.command("explain")
@click.option("-b", "--btf-base", "--btf_base", "btf_base", metavar="FILE",
              help="Base BTF (vmlinux) of a module's split BTF.")
@click.option("--btf", "btf", metavar="FILE",
              help="Resolve against this BTF (raw or ELF) instead of the ELF's .BTF.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--config", "config", metavar="PATH|PRESET",
              help="The pipeline whose output BTF is resolved (default: discovery).")
@click.option("--no-passes", "no_passes", is_flag=True,
              help="Resolve against the input BTF as it is (no pipeline run).")
@click.option("-v", "--verbose", count=True,
              help="A cause line under each of upstream's warnings on stderr.")
@click.argument("elf")
def explain(elf: str, btf_base: str | None, btf: str | None, as_json: bool,
            config: str | None, no_passes: bool, verbose: int) -> None:
    """Explain the BTF_ID symbols of ELF that do not resolve (or resolve to one of
    several types): not-in-symtab, not-in-btf, wrong-kind, ambiguous; for a module also
    in-base / not-in-base."""
    import tempfile

    from .. import host
    from ..context import Log
    from ..elf import open_elf
    from ..unresolved import annotate
    from ..unresolved import explain as explain_symbols

    quiet = Log(0, io.StringIO())
    record = Log(0, io.StringIO())
    try:
        with open_elf(elf) as image, tempfile.TemporaryDirectory(prefix="btfids-") as tmp:
            syms = host.load_symbols(elf, quiet, image)
            if syms is None:
                click.echo(f"{elf}: no .BTF_ids section or no symbol table: nothing to resolve")
                return
            against = None if no_passes else _pipeline_output(elf, btf, btf_base, config, tmp)
            _, target = host.load_inputs(
                host.RunOptions(elf, btf=against or btf, btf_base=btf_base), quiet,
                None if against or btf else image)
            findings = explain_symbols(image, syms, target, record)
    except BtfidsError as exc:
        click.echo(f"btfids: {exc}", err=True)
        sys.exit(exc.exit_code)
    lines = record.warning_lines
    for line in annotate(lines, findings) if verbose else lines:
        click.echo(line, err=True)
    if as_json:
        click.echo(json.dumps({"elf": elf, "btf": btf or elf, "btf_base": btf_base,
                               "resolved_against": "pipeline output" if against else "input",
                               "symbols": [f.as_json() for f in findings]}, indent=2))
    else:
        for f in findings:
            where = f" ({', '.join(f.sets)})" if f.sets else ""
            click.echo(f"{f.kind} {f.name}{where}")
            click.echo(f"    {f.line()}")
        unresolved = sum(1 for f in findings if f.cause != "ambiguous")
        click.echo(f"{unresolved} unresolved, {len(findings) - unresolved} ambiguous")
    sys.exit(1 if findings else 0)


def _pipeline_output(elf: str, btf: str | None, btf_base: str | None, config: str | None,
                     tmp: str) -> str | None:
    """The ``.BTF`` the configured pipeline writes for ``elf`` (into ``tmp``, the ELF
    linked there), or None: the 6.12 mode (no passes), or a failed run (said on stderr)."""
    import os

    from .. import host
    from ..context import Log

    pipe = host.prepare(config)
    if pipe.mode != "newest":
        return None
    link = os.path.join(tmp, os.path.basename(elf))
    os.symlink(os.path.abspath(elf), link)
    opts = host.RunOptions(link, btf=os.path.abspath(btf) if btf else None,
                           btf_base=os.path.abspath(btf_base) if btf_base else None)
    try:
        host.run(pipe, opts, log=Log(0, io.StringIO()))
    except BtfidsError as exc:
        click.echo(f"btfids: explain: the pipeline failed ({exc}); resolving against "
                   "the input BTF", err=True)
        return None
    return link + host.SUFFIX_BTF
