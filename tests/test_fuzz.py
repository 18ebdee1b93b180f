"""Mutation fuzzing of whole runs: damaged ELF files must end in an upstream-style one-line
error (or a normal result), never in ``FAILED: internal error`` (an exception the code
did not expect) or a traceback.

The mutations hit where parsers live: the ELF header, the section header table, and the
bytes of ``.BTF``, ``.BTF_ids``, ``.symtab`` and ``.strtab`` (random bytes, boundary
words, a cut). The default run mutates small objects the test builds (both presets,
with and without a base); the ``sweep`` run mutates real corpus modules against the
real vmlinux base. Each failure found this way became a regression test next to the
code it fixed (``test_legacy``, ``test_patchmode``, ``test_elf``).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
from pathlib import Path

import pytest
from elfbuilder import BtfIdsBuilder, btfids_elf, simple_btf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btfids.cli.resolve_btfids import run
from btfids.elf import SHT_NOBITS, open_elf

_TARGETS = (b".BTF", b".BTF_ids", b".symtab", b".strtab", b".BTF.base")
_WORDS = (b"\xff\xff\xff\xff", b"\0\0\0\0", b"\0\0\0\x80", b"\x01\0\0\0", b"\xff\xff\xff\x7f")


def _object() -> bytes:
    """An ELF64 object with sets, a set8 of kfuncs and BTF that names them."""
    ids = BtfIdsBuilder()
    ids.btf_id("struct", "S")
    ids.btf_id("typedef", "T")
    with ids.set("s"):
        ids.btf_id("func", "g")
        ids.btf_id("func", "f")
    with ids.kfuncs("k"):
        ids.btf_id("func", "f", flags=1 << 12)
        ids.btf_id("func", "g", flags=0)
    btf = simple_btf([("struct", "S"), ("typedef", "T"), ("func", "f"), ("func", "g")])
    return btfids_elf(ids, btf)[0]


def _regions(data: bytes, path: str) -> list[tuple[int, int]]:
    """(start, end) of the ELF header, the section header table and the target
    sections' bytes."""
    with open_elf(path) as elf:
        out = [(0, 64), (elf.shoff, len(data))]
        out += [(s.offset, s.offset + s.size) for s in elf.sections
                if s.name in _TARGETS and s.type != SHT_NOBITS and s.size]
    return out


@st.composite
def _mutation(draw: st.DrawFn, regions: list[tuple[int, int]]) -> list[tuple[str, int, bytes]]:
    """A few edits inside one region: ("set", pos, bytes) or ("cut", pos, b"")."""
    lo, hi = draw(st.sampled_from(regions))
    hi = max(hi, lo + 1)
    edits = []
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(lo, hi - 1))
        kind = draw(st.sampled_from(["byte", "byte", "word", "cut"]))
        if kind == "byte":
            edits.append(("set", pos, bytes([draw(st.integers(0, 255))])))
        elif kind == "word":
            edits.append(("set", pos & ~3, draw(st.sampled_from(_WORDS))))
        else:
            edits.append(("cut", pos, b""))
    return edits


def _apply(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, pos, value in edits:
        if op == "cut":
            del out[pos:]
        elif pos + len(value) <= len(out):
            out[pos : pos + len(value)] = value
    return bytes(out)


def _run_quietly(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(argv)
    return code, err.getvalue()


def _check(code: int, err: str) -> None:
    assert "internal error" not in err and "Traceback" not in err, err
    assert code in (0, 255), (code, err)
    if code == 255:
        assert err.strip(), "a failure must say why"


_PRESETS = ([], ["--config", "linux-6.12"])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[tuple[int, int]]]:
    path = tmp_path_factory.mktemp("fuzz") / "obj.o"
    data = _object()
    path.write_bytes(data)
    return data, _regions(data, str(path))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), preset=st.sampled_from(_PRESETS))
def test_damaged_objects_fail_cleanly(
    pristine: tuple[bytes, list[tuple[int, int]]], tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject, preset: list[str],
) -> None:
    original, regions = pristine
    damaged = _apply(original, data.draw(_mutation(regions)))
    path = tmp_path_factory.mktemp("case") / "obj.o"
    path.write_bytes(damaged)
    _check(*_run_quietly([*preset, str(path)]))


@pytest.mark.sweep
@pytest.mark.corpus
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_corpus_modules_fail_cleanly(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
) -> None:
    rel = data.draw(st.sampled_from(["lib/crc7.ko", "net/ipv4/tcp_bbr.ko",
                                      "net/ipv4/tcp_dctcp.ko",
                                      "net/netfilter/nf_conntrack.ko"]))
    src = corpus / "modules" / rel
    original = src.read_bytes()
    damaged = _apply(original, data.draw(_mutation(_regions(original, str(src)))))
    path = tmp_path_factory.mktemp("case") / os.path.basename(rel)
    path.write_bytes(damaged)
    extra = data.draw(st.sampled_from([[], ["--distill_base"], ["--config", "linux-6.12"]]))
    _check(*_run_quietly([*extra, "--btf_base", str(corpus / "vmlinux"), str(path)]))


def test_the_fuzzer_reaches_the_parsers(tmp_path: Path) -> None:
    """The mutations are not all rejected at the door: a damaged .BTF fails in the BTF
    loader, a damaged .BTF_ids set in the symbol checks."""
    data = _object()
    path = tmp_path / "obj.o"
    path.write_bytes(data)
    with open_elf(str(path)) as elf:
        btf = next(s for s in elf.sections if s.name == b".BTF")
    bad = bytearray(data)
    struct.pack_into("<I", bad, btf.offset + 8, 0xFFFF)      # hdr_len
    path.write_bytes(bad)
    code, err = _run_quietly([str(path)])
    assert code == 255 and err.startswith(f"FAILED: load BTF from {path}: ")
