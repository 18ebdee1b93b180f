"""Printing each pass's semantic changes (``btfids run --explain``, ``btfids bisect``)."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any


def pass_lines(entry: dict[str, Any]) -> list[str]:
    """One pass entry of the report (with ``changes``): a headline and the first names."""
    ch = entry.get("changes")
    name = entry["name"]
    if ch is None:
        return [f"{name}: (changes not recorded)"]
    parts = []
    for label, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
        by_kind = ch[label]["by_kind"]
        if by_kind:
            kinds = " ".join(f"{n} {k}" for k, n in by_kind.items())
            parts.append(f"{sign}{ch[label]['count']} ({kinds})")
    if ch["renumbered"]:
        parts.append(f"renumbered {ch['renumbered']}")
    lines = [f"{name}: {', '.join(parts) if parts else 'no change'}"]
    for label, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
        shown = ch[label]["first"]
        more = ch[label]["count"] - len(shown)
        lines.extend(f"    {sign} {text}" for text in shown)
        if more > 0:
            lines.append(f"    {sign} ... and {more} more")
    return lines


def explain_report(data: dict[str, Any]) -> str:
    """Every pass of a report, in the order they ran."""
    out = []
    for entry in data.get("passes", []):
        out.extend(pass_lines(entry))
    return "\n".join(out) + ("\n" if out else "")
