"""The ``--report FILE`` JSON: what ran, how long, what changed, what was written.

Shape (``version`` 1)::

    {"version": 1, "tool": "btfids 0.1.0", "exit_code": 0, "error": null,
     "input": {"elf": ..., "btf": ..., "btf_base": ..., "distill_base": ..., ...},
     "config": {"name": ..., "found_by": ..., "chain": [...], "mode": ...,
                "pipeline": [{"name", "enabled", "plugin", "origin"}, ...]},
     "phases": {"load_elf": s, "load_btf": s, "resolve": s, "write": s, "total": s},
     "passes": [{"name", "plugin", "scope", "seconds", "types_before", "types_after",
                 "types_added", "decl_tags_added": {tag name: count}, "stats": {...},
                 "changes": {...}}, ...],
     "kfuncs": {"count": n, "list": [{"name", "id", "flags"}, ...]},
     "decl_tags_added": {tag name: count},
     "warnings": ["WARN: ...", ...],
     "outputs": [{"path", "size", "sha256"}, ...]}

A pass's ``changes`` (``Report(changes=True)``: ``btfids run --report``/``--explain``) is
its semantic diff (btfids/btf/semdiff.py) in brief: for each of ``added``, ``removed``,
``changed`` an object ``{"count": n, "by_kind": {KIND: n}, "first": ["KIND name", ...]}``
(five names at most; a decl tag as ``DECL_TAG name -> target``), and ``renumbered``.
"""

from __future__ import annotations

import hashlib
import json
import os

from . import __version__

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .config import Pipeline
    from .context import Context


class Report:
    """Collects run figures; :meth:`write` saves them as JSON (atomically)."""

    def __init__(self, *, changes: bool = False) -> None:
        #: also record each pass's semantic changes (``changes`` in its entry)
        self.changes = changes
        self.data: dict[str, Any] = {
            "version": 1,
            "tool": f"btfids {__version__}",
            "exit_code": None,
            "error": None,
            "input": {},
            "config": {},
            "phases": {},
            "passes": [],
            "kfuncs": {"count": 0, "list": []},
            "decl_tags_added": {},
            "warnings": [],
            "outputs": [],
        }

    def set_input(self, **values: Any) -> None:
        self.data["input"].update(values)

    def set_pipeline(self, pipe: Pipeline) -> None:
        cfg = pipe.config
        self.data["config"] = {
            "name": cfg.name,
            "found_by": cfg.found_by,
            "chain": list(cfg.chain),
            "mode": pipe.mode,
            "pipeline": [
                {
                    "name": s.name,
                    "enabled": s.enabled,
                    "plugin": s.info.plugin,
                    "origin": s.info.origin,
                }
                for s in pipe.steps
            ],
        }

    def phase(self, name: str, seconds: float) -> None:
        self.data["phases"][name] = round(seconds, 6)

    def add_pass(self, entry: dict[str, Any]) -> None:
        entry["seconds"] = round(entry["seconds"], 6)
        for tag, n in entry.get("decl_tags_added", {}).items():
            total = self.data["decl_tags_added"]
            total[tag] = total.get(tag, 0) + n
        self.data["passes"].append(entry)

    def set_context(self, ctx: Context) -> None:
        self.data["kfuncs"] = {
            "count": len(ctx.kfuncs),
            "list": [
                {"name": k.name.decode("latin-1"), "id": k.func_id, "flags": k.flags}
                for k in ctx.kfuncs
            ],
        }
        self.data["warnings"] = list(ctx.log.warning_lines)
        for entry in self.data["passes"]:
            stats = ctx.stats.get(entry["name"])
            if stats:
                entry["stats"] = _jsonable(stats)

    def add_output(self, path: str, data: bytes) -> None:
        self.data["outputs"].append(
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        )

    def finish(self, exit_code: int, error: str | None = None) -> None:
        self.data["exit_code"] = exit_code
        self.data["error"] = error

    def write(self, path: str) -> None:
        text = json.dumps(self.data, indent=2, sort_keys=False) + "\n"
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
