"""A run's inputs: the ELF's ``.BTF_ids`` symbols, the base and target BTF, with
upstream's messages on failure.

The loads come in the C tool's order (symbols, then BTF). This is also the one place
the run path meets the second process (:mod:`btfids.btf.background`): for a
vmlinux-sized BTF, :func:`load_newest` and :func:`resolve_6_12` have a forked child load
the BTF in full while this process loads it without libbpf's sanity pass, and take the
child's verdict before they return (an invalid BTF then fails exactly as a serial run
does). With ``BTFIDS_PARALLEL=0``, or a small BTF, no child is forked and every step
below is the plain serial load.
"""

from __future__ import annotations

import io
import os

from .btf.background import BackgroundChecks
from .btfio import BtfLoadError, btf_size, load_base_btf, load_btf, load_btf_from_elf
from .elf import ElfError, ElfImage, open_elf
from .errors import BtfidsError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from .btf import Btf
    from .btfio import Parse
    from .elf import Section
    from .log import Log
    from .symbols import BtfIdsSection, BtfIdSymbols

    class Options(Protocol):   # the fields of host.RunOptions read here
        elf: str
        btf: str | None
        btf_base: str | None
        cache: bool
        share_base: bool


def open_input(elf_path: str) -> ElfImage:
    """The ELF, opened for reading; a failure is a :class:`BtfidsError`."""
    try:
        return open_elf(elf_path)
    except ElfError as exc:
        raise BtfidsError(str(exc)) from exc


def load_symbols(elf_path: str, log: Log, elf: ElfImage | None = None) -> Any:
    """ELF sections and ``.BTF_ids`` symbols (None when either section is missing), from
    ``elf`` when the caller has the file open already."""
    from .symbols import SymbolError, collect_symbols

    if elf is None:
        with open_input(elf_path) as image:
            return load_symbols(elf_path, log, image)
    try:
        return collect_symbols(elf, log)
    except (ElfError, SymbolError) as exc:
        raise BtfidsError(str(exc)) from exc


def load_inputs(opts: Options, log: Log, elf: ElfImage | None = None,
                parse: Parse | None = None) -> tuple[Btf | None, Btf]:
    """(base, target) BTF, with upstream's messages on failure. ``elf``: the open image
    of ``opts.elf``, when the target BTF is its ``.BTF`` (no ``opts.btf``). ``parse``:
    how the target's BTF is parsed (``Btf.parse`` by default; see :mod:`btfids.btfio`)."""
    from .btf import Btf

    if parse is None:
        parse = Btf.parse

    base = None
    if opts.btf_base:
        try:
            base = shared_base(opts) if opts.share_base else load_base_btf(
                opts.btf_base, opts.cache)
        except (BtfLoadError, OSError, ValueError) as exc:
            raise BtfidsError(
                f"FAILED: load base BTF from {opts.btf_base}: {_reason(exc)}"
            ) from exc
    path = opts.btf or opts.elf
    try:
        btf = (load_btf(path, base, parse=parse) if elf is None
               else load_btf_from_elf(elf, base, parse=parse))
    except (BtfLoadError, OSError, ValueError) as exc:
        raise BtfidsError(f"FAILED: load BTF from {path}: {_reason(exc)}") from exc
    return base, btf


def load_newest(opts: Options, log: Log, elf: ElfImage, lap: Callable[[str], None]
                ) -> tuple[BtfIdSymbols | None, Btf | None, Btf]:
    """The newest flow's inputs from the open ``elf``: (symbols, base, target BTF).
    ``lap(step)`` marks the end of ``load_elf`` (the symbols) and ``load_btf``."""
    btf_elf = None if opts.btf else elf   # the ELF's own .BTF is read from the open image
    checks = BackgroundChecks()
    checks.start(lambda: load_inputs(opts, log, btf_elf, checks.full_parse),
                 btf_size(opts.btf, btf_elf))
    try:
        ids = load_symbols(opts.elf, log, elf)
        lap("load_elf")
        base, btf = load_inputs(opts, log, btf_elf, checks.parse)
        checks.wait()   # before any plugin code sees the BTF
    finally:
        checks.cancel()   # after a failure; a no-op once the verdict is in
    lap("load_btf")
    return ids, base, btf


def resolve_6_12(elf: ElfImage, section: BtfIdsSection, symtab: Section,
                 btf_path: str | None, base_path: str | None, log: Log,
                 lap: Callable[[str], None]) -> BtfIdSymbols:
    """The 6.12 flow's symbols of ``section``, resolved against the BTF (of
    ``btf_path``, else the ELF's ``.BTF``; split on ``base_path``). ``lap(step)`` marks
    the end of ``load_elf``, ``load_btf`` and ``resolve``.

    With a child checking the BTF, the resolution runs before its verdict with its log
    lines held, so an invalid BTF fails as in a serial run (the load error, and no line
    of a resolution upstream never starts)."""
    from .symbols import collect_from, name_query, resolve_ids

    checks = BackgroundChecks()
    checks.start(lambda: _load_6_12(elf, btf_path, base_path, checks.full_parse),
                 btf_size(btf_path, elf))
    try:
        syms = collect_from(elf, section, symtab, log, ksym_name_len=None)
        lap("load_elf")
        query = name_query(syms)   # the resolution's name scan, done by the parse

        def parse(data: bytes | memoryview, base: Btf | None = None, *,
                  records: bool = True) -> Btf:
            return checks.parse(data, base, records=records, named=query)

        btf = _load_6_12(elf, btf_path, base_path, parse)
        lap("load_btf")
        stream = log.stream
        log.stream = held = io.StringIO()
        try:
            resolve_ids(syms, btf, log, count_warnings=False)
        finally:
            log.stream = stream
            checks.wait()
            stream.write(held.getvalue())
    finally:
        checks.cancel()  # after a failure; a no-op once the verdict is in
    del btf
    lap("resolve")
    return syms


def _load_6_12(elf: ElfImage, btf_path: str | None, base_path: str | None,
               parse: Parse) -> Btf:
    base = None
    if base_path:
        try:
            base = load_base_btf(base_path)  # base index cache, as the newest flow
        except BtfLoadError as exc:
            raise BtfidsError(f"FAILED: load base BTF from {base_path}: {exc}") from exc
    try:
        # only names and kinds are read: the records stay undecoded
        if btf_path:
            return load_btf(btf_path, base, records=False, parse=parse)
        return load_btf_from_elf(elf, base, records=False, parse=parse,
                                 section_types=False)   # 6.12's libbpf: unchecked
    except BtfLoadError as exc:
        raise BtfidsError(f"FAILED: load BTF from {btf_path or elf.path}: {exc}") from exc


_BASES: dict[tuple[Any, ...], Btf] = {}


def shared_base(opts: Options) -> Btf:
    """The base of a batch: loaded once per (path, inode, size, mtime) and cache mode."""
    assert opts.btf_base is not None
    st = os.stat(opts.btf_base)
    key = (opts.btf_base, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, opts.cache)
    base = _BASES.get(key)
    if base is None:
        _BASES.clear()
        base = _BASES[key] = load_base_btf(opts.btf_base, opts.cache)
    return base


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc)
