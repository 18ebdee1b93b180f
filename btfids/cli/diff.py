"""``btfids diff OLD NEW``: what differs between two BTFs, types matched by what they
are (:mod:`btfids.btf.semdiff`). Exit status as diff(1): 0 same, 1 different, 2 trouble."""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import rich_click as click

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from ..btf import Btf
    from ..btf.semdiff import Diff

EXIT_SAME, EXIT_DIFFERENT, EXIT_TROUBLE = 0, 1, 2
_MARK = {"added": "+", "removed": "-", "changed": "~"}


@click.command("diff")
@click.option("-b", "--btf-base", "--btf_base", "bases", multiple=True, metavar="BASE",
              help="Base BTF of split BTFs: once for both, twice for OLD's then NEW's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
def diff(old: str, new: str, bases: tuple[str, ...], as_json: bool) -> None:
    """Semantic diff of two BTFs (raw, or an ELF's .BTF): added, removed and changed
    types by kind; a pure renumbering (the sort pass) is only counted."""
    if len(bases) > 2:
        raise click.UsageError("-b is given once (both) or twice (OLD's, NEW's base)")
    try:
        old_base = _load(bases[0], None) if bases else None
        new_base = (_load(bases[1], None) if len(bases) == 2 else old_base)
        a = _load(old, old_base)
        b = _load(new, new_base)
        from ..btf.semdiff import diff as semdiff

        result = semdiff(a, b)
    except (_Trouble, ValueError) as exc:
        click.echo(f"btfids: diff: {exc}", err=True)
        sys.exit(EXIT_TROUBLE)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo(render_text(result, old, new), nl=False)
    sys.exit(EXIT_DIFFERENT if result else EXIT_SAME)


class _Trouble(Exception):
    """A file that cannot be read as BTF."""


def _load(path: str, base: Btf | None) -> Btf:
    from ..btfio import BtfLoadError, load_btf

    try:
        return load_btf(path, base)
    except (BtfLoadError, OSError) as exc:
        raise _Trouble(f"{path}: {exc}") from exc


def render_text(result: Diff, old: str = "", new: str = "") -> str:
    """Grouped by kind: a header per kind with its counts, then one line per type
    (``+`` added, ``-`` removed, ``~`` changed, with what changed under it); the
    summary line last."""
    by_kind: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: {"added": [], "removed": [], "changed": []})
    for label in ("added", "removed", "changed"):
        for e in getattr(result, label):
            by_kind[e["kind"]][label].append(e)
    from ..btf.semdiff import label_of

    lines = [f"--- {old}", f"+++ {new}"] if old or new else []
    for kind in sorted(by_kind):
        groups = by_kind[kind]
        counts = ", ".join(f"{len(v)} {k}" for k, v in groups.items() if v)
        lines.append(f"{kind}: {counts}")
        for label, entries in groups.items():
            for e in entries:
                text = label_of(e).split(" ", 1)[1]
                lines.append(f"  {_MARK[label]} {text}")
                lines.extend(f"      {c}" for c in e.get("changes", ()))
    lines.append(result.summary())
    return "\n".join(lines) + "\n"
