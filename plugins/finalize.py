"""Built-in finalize passes: ``dedup``, ``base-btf`` (distilled base) and ``sort``.

Thin wrappers over :mod:`btfids.btf.dedup`, :mod:`btfids.btf.distill` and
:mod:`btfids.btf.sort` (finalize.md); the heavy modules are imported when a pass runs.
Registered through the entry point ``finalize`` like any third-party plugin.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from btfids.btf import BtfError
from btfids.context import Context
from btfids.errors import BtfidsError
from btfids.hookspecs import OptionSpec, PassSpec, hookimpl


def _strerror(exc: BaseException) -> str:
    """libbpf prints strerror(errno); our algorithms raise with the detail as text."""
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def run_dedup(ctx: Context, options: Mapping[str, Any]) -> None:
    """``btf__dedup`` on the target BTF."""
    from btfids.btf.dedup import dedup

    seconds: dict[str, float] = {}
    try:
        dedup(ctx.btf, seconds=seconds)  # in place
    except (BtfError, OSError, ValueError) as exc:
        raise BtfidsError(f"FAILED to dedup BTF: {_strerror(exc)}") from exc
    for phase, value in seconds.items():  # the profile in --report
        ctx.stat("dedup", f"seconds_{phase}", round(value, 6))


def run_base_btf(ctx: Context, options: Mapping[str, Any]) -> None:
    """``btf__distill_base``: only with ``--btf_base`` and ``--distill_base``."""
    if ctx.base is None or not ctx.options.get("distill_base"):
        return
    from btfids.btf.distill import distill_base

    if options["hdr_len"] not in (24, 32):
        raise BtfidsError(f"FAILED: base-btf: hdr_len must be 24 or 32, not {options['hdr_len']}")
    try:
        new_base, new_split = distill_base(ctx.btf, hdr_len=int(options["hdr_len"]))
    except (BtfError, OSError, ValueError) as exc:
        raise BtfidsError(f"FAILED to distill base BTF: {_strerror(exc)}") from exc
    ctx.distilled_base = new_base
    ctx.btf = new_split
    ctx.stat("base-btf", "base_types", new_base.type_cnt - 1)


def run_sort(ctx: Context, options: Mapping[str, Any]) -> None:
    """Sort own types by name (``btf__permute``)."""
    from btfids.btf.sort import sort_by_name

    try:
        ctx.type_names = sort_by_name(ctx.btf)  # in place (btf__permute)
    except (BtfError, OSError, ValueError) as exc:
        raise BtfidsError(f"FAILED to sort BTF: {_strerror(exc)}") from exc


@hookimpl
def btfids_register_passes() -> list[PassSpec]:
    return [
        PassSpec("dedup", "deduplicate types (btf__dedup)", run_dedup),
        PassSpec(
            "base-btf",
            "distill a minimal base (needs --btf_base and --distill_base)",
            run_base_btf,
            options={"hdr_len": OptionSpec(
                32, "BTF header size of the distilled base and split BTF: 32 (libbpf "
                "1.8, the reference) or 24 (libbpf <= 1.7)", choices=(24, 32))},
        ),
        PassSpec("sort", "sort types by name (btf__permute)", run_sort),
    ]
