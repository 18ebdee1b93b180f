"""Example btfids plugin: the ``tag-pattern`` pass.

Adds a DECL_TAG (default ``"btfids:example"``) to every own FUNC whose name matches a
regular expression (default ``^bpf_``), in ascending type ID. Options (``[passes.tag-pattern]``
in a btfids config): ``pattern`` (str), ``tag`` (str), ``limit`` (int, 0 = no limit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from btfids.btf import kinds
from btfids.context import Context
from btfids.errors import BtfidsError
from btfids.hookspecs import PassSpec, hookimpl

PASS_NAME = "tag-pattern"


def tag_matching_functions(ctx: Context, options: Mapping[str, Any]) -> None:
    """Append one decl tag per matching FUNC; record the count for the report."""
    try:
        pattern = re.compile(options["pattern"].encode())
    except re.error as exc:
        raise BtfidsError(
            f"FAILED: {PASS_NAME}: bad pattern {options['pattern']!r}: {exc}"
        ) from exc
    tag = options["tag"].encode()
    limit = options["limit"]
    btf = ctx.btf
    # Collect first: appending while iterating over btf.types would visit the new tags.
    targets = [
        tid
        for tid, t in btf.iter_own()
        if kinds.kind_of(t[1]) == kinds.FUNC and pattern.search(btf.str_at(t[0]))
    ]
    if limit:
        targets = targets[:limit]
    for tid in targets:
        btf.add_decl_tag(tag, tid, -1)
    ctx.log.debug(f"{PASS_NAME}: tagged {len(targets)} function(s) with {options['tag']!r}")
    ctx.stat(PASS_NAME, "tagged", len(targets))


@hookimpl
def btfids_register_passes() -> list[PassSpec]:
    return [
        PassSpec(
            PASS_NAME,
            "example: decl-tag functions whose name matches a pattern",
            tag_matching_functions,
            options={"pattern": "^bpf_", "tag": "btfids:example", "limit": 0},
        )
    ]
