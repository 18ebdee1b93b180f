"""The ``--report FILE`` JSON: what ran, how long, what changed, what was written.

Shape (``version`` 2; the JSON schema is docs/report.schema.json)::

    {"version": 2, "tool": "btfids 0.1.0", "exit_code": 0, "error": null,
     "input": {"elf": ..., "btf": ..., "btf_base": ..., "distill_base": ..., ...},
     "config": {"name": ..., "found_by": ..., "chain": [...], "mode": ...,
                "pipeline": [{"name", "enabled", "plugin", "origin"}, ...]},
     "phases": {"load_elf": s, "load_btf": s, "resolve": s, "write": s, "total": s},
     "passes": [{"name", "plugin", "scope", "group", "seconds", "types_before",
                 "types_after", "types_added", "decl_tags_added": {tag name: count},
                 "stats": {...}, "changes": {...}}, ...],
     "kfuncs": {"count": n, "list": [{"name", "input_id", "output_id", "flags"}, ...]},
     "decl_tags_added": {tag name: count},
     "warnings": ["WARN: ...", ...],
     "outputs": [{"path", "size", "sha256"}, ...]}

Every pass entry has the same keys. A kfunc-scope pass runs interleaved with the other
passes of its ``group`` (per kfunc), so its ``types_before``/``types_after`` are the
sequential equivalent: the group's start plus what the group's earlier passes added,
then plus its own ``types_added``; ``stats`` and ``decl_tags_added`` are its own.
``input_id`` is the kfunc's FUNC ID in the input BTF (what the passes saw),
``output_id`` its ID in the written BTF (after dedup and sort; null if no FUNC of
that name is left). ``flags`` is the kfunc's flags word in hex (``"0x400"``), as the
messages print it. With several ELFs, ``--report`` writes one document
``{"version", "tool", "exit_code", "summary": {...}, "files": [one entry as above per
ELF]}``.

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

VERSION = 2

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
            "version": VERSION,
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
        entry.setdefault("stats", {})
        for tag, n in entry.get("decl_tags_added", {}).items():
            total = self.data["decl_tags_added"]
            total[tag] = total.get(tag, 0) + n
        self.data["passes"].append(entry)

    def set_context(self, ctx: Context) -> None:
        out_ids = _func_ids(ctx.btf, {k.name for k in ctx.kfuncs})
        self.data["kfuncs"] = {
            "count": len(ctx.kfuncs),
            "list": [
                {"name": k.name.decode("latin-1"), "input_id": k.func_id,
                 "output_id": out_ids.get(k.name), "flags": f"{k.flags:#x}"}
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
        write_json(path, self.data)


def _func_ids(btf: Any, names: set[bytes]) -> dict[bytes, int]:
    """Lowest own FUNC ID of each of ``names`` in ``btf`` (one scan of the FUNCs)."""
    if not names:
        return {}
    from itertools import compress

    from .btf import kinds as K

    start = btf.start_id
    mask = btf.own_info_bytes().translate(K.kind_table(K.FUNC))
    tids = list(compress(range(start, btf.type_cnt), mask))
    found: dict[bytes, int] = {}
    for tid, name in zip(tids, btf.names_of(tids), strict=True):
        if name in names and name not in found:
            found[name] = tid
    return found


def batch_document(files: list[dict[str, Any]], summary: dict[str, Any],
                   exit_code: int) -> dict[str, Any]:
    """The ``--report`` of a batch: the summary and one entry per ELF, input order."""
    return {"version": VERSION, "tool": f"btfids {__version__}", "exit_code": exit_code,
            "summary": summary, "files": files}


def write_json(path: str, data: Any) -> None:
    """``data`` as indented JSON, written atomically (temp file + rename)."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
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
