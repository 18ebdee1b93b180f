"""Mutation fuzzing of whole runs: damaged ELF files must end in an upstream-style one-line
error (or a normal result), never in ``FAILED: internal error`` (an exception the code
did not expect) or a traceback.

The mutations hit where parsers live: the ELF header, the section header table, and the
bytes of ``.BTF``, ``.BTF_ids``, ``.symtab`` and ``.strtab`` (random bytes, boundary
words, a cut). The default run mutates small objects the test builds (both presets,
with and without a base); the ``sweep`` run does 10,000 seeded cases on real corpus
modules against the real vmlinux base (damaged ELFs, module BTF in the ELF and as
``--btf``, damaged bases as ``-b``), with counts by outcome printed at the end. Each
failure found this way became a regression test next to the code it fixed
(``test_legacy``, ``test_patchmode``, ``test_elf``).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
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


# ------------------------------------------------------------------ the corpus sweep
SWEEP_CASES = 10_000
SWEEP_MODULES = ("lib/crc7.ko", "net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko",
                 "net/ipv4/fou.ko", "net/netfilter/nf_conntrack.ko")
_MODES = ([], ["--distill_base"], ["--config", "linux-6.12"])
_BTF_HDR = ("magic", "hdr_len", "type_off", "type_len", "str_off", "str_len")


def _btf_damage(btf: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Raw BTF with one edit in its header, type records or strings."""
    out = bytearray(btf)
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", btf, 4)
    types = (hdr_len + type_off, hdr_len + type_off + type_len)
    strs = (hdr_len + str_off, hdr_len + str_off + str_len)
    where = rng.choice(("header", "types", "types", "strings"))
    if where == "header":
        field = rng.randrange(len(_BTF_HDR))
        pos = 0 if field == 0 else 4 * field
        value = rng.choice((0, 1, 3, 4, 24, 32, 0xFFFF, 0xFFFFFFFF, len(btf),
                            int.from_bytes(out[pos:pos + 4], "little") + rng.choice((-4, 4))))
        out[pos:pos + 4] = (value % (1 << 32)).to_bytes(4, "little")
        return bytes(out), f"BTF {_BTF_HDR[field]}={value:#x}"
    lo, hi = types if where == "types" else strs
    pos = rng.randrange(lo, max(hi, lo + 1))
    if where == "types":
        pos &= ~3
        out[pos:pos + 4] = rng.choice((*_WORDS, rng.randbytes(4)))
    else:
        out[pos] = rng.choice((0, rng.randrange(1, 256)))
    return bytes(out), f"BTF {where}@{pos - lo}"


def _sweep_case(n: int, seed: int, originals: dict[str, bytes], base: bytes, work: Path
                ) -> tuple[str, list[str], bool]:
    """Write case ``n``'s inputs into ``work``; (outcome key of the inputs, argv, the
    run may rewrite the ELF). Cases: 70% the module's ELF (differential.mutate: ELF
    header, section table, .symtab/.strtab/.BTF/.BTF_ids bytes, cuts), 20% its .BTF
    (header, types, strings), given inside the ELF or as ``--btf``, 10% the base BTF
    (``-b``; --no-cache: most of them a full parse of vmlinux's BTF)."""
    from differential import mutate, sections

    rng = random.Random(seed * 1_000_003 + n)
    rel = rng.choice(SWEEP_MODULES)
    mode = list(rng.choice(_MODES))
    elf = originals[rel]
    elf_path, base_path = work / Path(rel).name, work / "btf-vmlinux"
    args = ["-b", str(base_path)]
    roll = rng.random()
    if roll < 0.7:
        elf, _ = mutate(elf, rng)
        what = "ELF"
    elif roll < 0.9:
        (_, _, off, size), = [s for s in sections(elf) if s[0] == b".BTF"]
        btf, _ = _btf_damage(elf[off:off + size], rng)
        if rng.random() < 0.5 and "linux-6.12" not in mode:
            (work / "mod.btf").write_bytes(btf)
            args += ["--btf", str(work / "mod.btf")]
            what = "--btf"
        else:
            elf = elf[:off] + btf + elf[off + size:]
            what = "module BTF"
    else:
        damaged, _ = _btf_damage(base, rng)
        base_path.write_bytes(damaged)
        if "linux-6.12" not in mode:
            args.append("--no-cache")
        what = "-b base"
    if not base_path.exists():
        os.symlink(_BASE_PATH[0], base_path)
    elf_path.write_bytes(elf)
    return what, [*mode, *args, str(elf_path)], "linux-6.12" in mode


_BASE_PATH: list[str] = []


def _sweep_chunk(job: tuple[str, int, int, int]) -> list[tuple[str, str, str]]:
    """(inputs damaged, outcome, detail) of cases lo..hi (one worker process)."""
    import tempfile

    corpus, seed, lo, hi = job
    _BASE_PATH[:] = [f"{corpus}/btf-vmlinux"]
    originals = {rel: Path(corpus, "modules", rel).read_bytes() for rel in SWEEP_MODULES}
    base = Path(_BASE_PATH[0]).read_bytes()
    out = []
    with tempfile.TemporaryDirectory(prefix="btfids-fuzz-") as tmp:
        for n in range(lo, hi):
            work = Path(tmp, str(n))
            work.mkdir()
            what, argv, in_place = _sweep_case(n, seed, originals, base, work)
            code, err = _run_quietly(argv)
            first = err.strip().splitlines()[0] if err.strip() else ""
            if "internal error" in err or "Traceback" in err:
                outcome, detail = "internal error", f"case {n}: {first}"
            elif code not in (0, 255) or (code == 255 and not first):
                outcome, detail = f"exit {code}", f"case {n}: {first!r}"
            elif code == 0:
                outcome, detail = "ok", ""
            else:
                outcome, detail = "failed: " + _message_kind(first), ""
            names = {p.name for p in work.iterdir()} - {Path(argv[-1]).name, "mod.btf",
                                                         "btf-vmlinux"}
            if any(x.endswith(".tmp") for x in names):
                outcome, detail = "temporary file left", f"case {n}: {sorted(names)}"
            elif code == 255 and names and not in_place and "--fatal_warnings" not in argv:
                outcome, detail = "partial output", f"case {n}: {sorted(names)}"
            out.append((what, outcome, detail))
            shutil.rmtree(work)
    return out


def _message_kind(line: str) -> str:
    """A failure line without its variable parts (paths, numbers, names)."""
    import re

    line = re.sub(r"/\S+", "PATH", line)
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "NAME", line)
    line = re.sub(r"\b(0x)?[0-9a-f]+\b", "N", line)
    return line.split(": ", 3)[-1][:60] if line.startswith("FAILED: load") else line[:60]


@pytest.mark.sweep
@pytest.mark.corpus
def test_damaged_corpus_inputs_fail_cleanly(corpus: Path) -> None:
    """10,000 seeded cases (``BTFIDS_FUZZ_SEED``) over two processes: damaged module
    ELFs, module BTF (in the ELF and as --btf) and base BTF (-b), in the newest,
    --distill_base and linux-6.12 modes. Every run ends in exit 0 or an upstream-style
    one-line failure, no internal error, no traceback, no temporary or partial file."""
    import collections
    import multiprocessing

    seed = int(os.environ.get("BTFIDS_FUZZ_SEED", "23"))
    step = 250
    jobs = [(str(corpus), seed, lo, min(lo + step, SWEEP_CASES))
            for lo in range(0, SWEEP_CASES, step)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = [x for part in pool.imap(_sweep_chunk, jobs) for x in part]
    by_outcome = collections.Counter(o if o in ("ok", "internal error") or not o.startswith(
        "failed") else "failed" for _, o, _ in results)
    by_input = collections.Counter((w, "ok" if o == "ok" else "failed" if o.startswith(
        "failed") else o) for w, o, _ in results)
    kinds = collections.Counter(o for _, o, _ in results if o.startswith("failed: "))
    print(f"\nfuzz sweep (seed {seed}): {len(results)} cases: {dict(by_outcome)}")
    for (what, o), k in sorted(by_input.items()):
        print(f"  {k:6d}  {what}: {o}")
    print("  most frequent failure lines:")
    for kind, k in kinds.most_common(12):
        print(f"  {k:6d}  {kind[8:]}")
    bad = [d for _, o, d in results if o not in ("ok",) and not o.startswith("failed")]
    assert not bad, bad[:10]


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
