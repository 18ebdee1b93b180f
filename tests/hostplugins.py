"""Test plugins and fixtures for the host, CLI and bisect tests.

Importable as a plugin module (``BTFIDS_PLUGINS=hostplugins`` with ``tests/`` on the
path): it registers the ``t-*`` passes below. Also builds tiny ELF files with a .BTF
section, so host tests need no corpus.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from btfids.btf import Btf
from btfids.btf import kinds as K
from btfids.context import Context, Kfunc
from btfids.errors import BtfidsError
from btfids.hookspecs import PassSpec, hookimpl

#: every pass run and hook call, in order (tests clear it)
EVENTS: list[tuple[str, ...]] = []


# ------------------------------------------------------------------ fixtures
def make_btf() -> Btf:
    """INT 'int' [1], FUNC_PROTO int(int a) [2], FUNC 'foo' [3], FUNC 'bar' [4],
    FUNC 'baz' [5]."""
    b = Btf(hdr_len=24)
    b.add_type_words([b.add_str(b"int"), K.make_info(K.INT), 4, (1 << 24) | 32])
    proto = b.add_func_proto(1)
    b.add_func_param(b"a", 1)
    for name in (b"foo", b"bar", b"baz"):
        b.add_func(name, 1, proto)
    return b


def mini_elf(path: Path, sections: Mapping[str, bytes]) -> Path:
    """Write a little-endian ELF64 relocatable file holding ``sections`` (PROGBITS)."""
    names = b"\0.shstrtab\0" + b"".join(n.encode() + b"\0" for n in sections)
    body = bytearray(b"\0" * 64)
    headers = [struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    name_off = 11
    for name, data in sections.items():
        off = len(body)
        body += data
        headers.append(
            struct.pack("<IIQQQQIIQQ", name_off, 1, 2, 0, off, len(data), 0, 0, 4, 0)
        )
        name_off += len(name) + 1
    off = len(body)
    body += names
    headers.append(struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, off, len(names), 0, 0, 1, 0))
    while len(body) % 8:
        body += b"\0"
    shoff = len(body)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    hdr = ident + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers),
        len(headers) - 1,
    )
    body[:64] = hdr
    path.write_bytes(bytes(body) + b"".join(headers))
    return path


def elf_with_btf(directory: Path, name: str = "mod.ko") -> Path:
    return mini_elf(directory / name, {".BTF": make_btf().raw_data()})


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# ------------------------------------------------------------------ passes
def discover(ctx: Context, options: Mapping[str, Any]) -> None:
    """Pretend kfunc discovery: bar (4) and foo (3), deliberately not in ID order."""
    EVENTS.append(("run", "t-discover"))
    ctx.kfuncs = [Kfunc(b"bar", 4, 0), Kfunc(b"foo", 3, 0x1000)]


def tag(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    EVENTS.append(("run", "t-tag", kfunc.name.decode()))
    ctx.btf.add_decl_tag(options["tag"].encode(), kfunc.func_id, -1)


def note(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    EVENTS.append(("run", "t-note", kfunc.name.decode()))


def middle(ctx: Context, options: Mapping[str, Any]) -> None:
    EVENTS.append(("run", "t-mid"))


def warn(ctx: Context, options: Mapping[str, Any]) -> None:
    EVENTS.append(("run", "t-warn"))
    ctx.log.warn("WARN: resolve_btfids: test warning")


def boom(ctx: Context, options: Mapping[str, Any]) -> None:
    EVENTS.append(("run", "t-boom"))
    raise RuntimeError("deliberate failure")


def refuse(ctx: Context, options: Mapping[str, Any]) -> None:
    raise BtfidsError("ERROR: resolve_btfids: deliberate upstream-style error")


def corrupt(ctx: Context, options: Mapping[str, Any]) -> None:
    """A deliberately broken pass: appends a FUNC pointing at a non-proto (kind INT)."""
    EVENTS.append(("run", "t-corrupt"))
    ctx.btf.add_type_words([ctx.btf.add_str(b"broken"), K.make_info(K.FUNC, 1), 1])


def rename_int(ctx: Context, options: Mapping[str, Any]) -> None:
    """A harmless pass: appends a typedef."""
    EVENTS.append(("run", "t-typedef"))
    ctx.btf.add_ref(K.TYPEDEF, 1, b"myint")


def swap_first_funcs(ctx: Context, options: Mapping[str, Any]) -> None:
    """Swaps the names of the first two FUNCs (changes names, not the type count)."""
    EVENTS.append(("run", "t-swap"))
    swap_func_names(ctx.btf)


def swap_func_names(btf: Btf) -> None:
    a, b = [t for _, t in btf.iter_own() if (t[1] >> 24) & 0x7F == K.FUNC][:2]
    a[0], b[0] = b[0], a[0]


@hookimpl
def btfids_register_passes() -> list[PassSpec]:
    return [
        PassSpec("t-discover", "test: fake kfunc discovery", discover),
        PassSpec("t-tag", "test: tag each kfunc", tag, scope="kfunc",
                 needs=("t-discover",), options={"tag": "t1"}),
        PassSpec("t-note", "test: note each kfunc", note, scope="kfunc"),
        PassSpec("t-mid", "test: a btf pass", middle),
        PassSpec("t-warn", "test: emits a warning", warn),
        PassSpec("t-boom", "test: raises", boom),
        PassSpec("t-refuse", "test: raises a BtfidsError", refuse),
        PassSpec("t-corrupt", "test: writes invalid BTF", corrupt),
        PassSpec("t-typedef", "test: appends a typedef", rename_int),
        PassSpec("t-after", "test: needs t-corrupt", middle, needs=("t-corrupt",)),
        PassSpec("t-swap", "test: swaps the names of two FUNCs", swap_first_funcs),
    ]


class Recorder:
    """Records every notification hook."""

    @hookimpl
    def btfids_loaded(self, ctx: Context) -> None:
        EVENTS.append(("loaded",))

    @hookimpl
    def btfids_before_pass(self, ctx: Context, spec: PassSpec) -> None:
        EVENTS.append(("before", spec.name))

    @hookimpl
    def btfids_after_pass(self, ctx: Context, spec: PassSpec, seconds: float) -> None:
        assert seconds >= 0
        EVENTS.append(("after", spec.name))

    @hookimpl
    def btfids_finalized(self, ctx: Context) -> None:
        EVENTS.append(("finalized",))

    @hookimpl
    def btfids_outputs_written(self, ctx: Context, outputs: list[str]) -> None:
        EVENTS.append(("written", *(os.path.basename(o) for o in outputs)))


class BadFinalizer:
    """A plugin whose ``btfids_finalized`` raises."""

    @hookimpl
    def btfids_finalized(self, ctx: Context) -> None:
        raise ValueError("finalizer exploded")


class BadRegistrar:
    @hookimpl
    def btfids_register_passes(self) -> list[PassSpec]:
        raise KeyError("cannot register")


class Clash:
    @hookimpl
    def btfids_register_passes(self) -> list[PassSpec]:
        return [PassSpec("t-mid", "duplicate", middle)]
