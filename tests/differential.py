"""Differential fuzzing against the C Linux 6.12 ``resolve_btfids`` (issue 23).

Case ``n`` of seed ``s`` is fully determined by ``(s, n)``: a corpus module, one to four
edits (random bytes, boundary words, ELF header and section header fields set to edge
values, a cut, appended bytes) and whether ``-b vmlinux-btf`` is given. Both tools run
in place on identical copies (the C tool as a process, btfids in this process with
``--config linux-6.12``), each in its own directory under the same file name, so their
messages name the same path. Compared: exit status, the file's bytes afterwards (every
case: a failing in-place run may have changed the file too), and the ``FAILED``/``WARN``
lines. ``python -m differential SEED N`` (from tests/) replays cases and prints them.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

MODULES = ("net/ipv4/tcp_dctcp.ko", "net/ipv4/tcp_bbr.ko", "net/netfilter/nf_conntrack.ko",
           "lib/crc7.ko", "net/ipv4/fou.ko")
_WORDS = (b"\xff\xff\xff\xff", b"\0\0\0\0", b"\0\0\0\x80", b"\x01\0\0\0", b"\xff\xff\xff\x7f")
_EDGES = (0, 1, 2, 3, 4, 7, 8, 16, 24, 0x7F, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
          0xFFFFFFFF, 1 << 32, 1 << 40, (1 << 63) - 1, (1 << 64) - 1)
#: ELF64 header fields: (offset, size)
_EHDR = {"e_type": (16, 2), "e_phoff": (32, 8), "e_shoff": (40, 8), "e_flags": (48, 4),
         "e_ehsize": (52, 2), "e_phentsize": (54, 2), "e_phnum": (56, 2),
         "e_shentsize": (58, 2), "e_shnum": (60, 2), "e_shstrndx": (62, 2)}
#: ELF64 section header fields: (offset in the entry, size)
_SHDR = {"sh_name": (0, 4), "sh_type": (4, 4), "sh_flags": (8, 8), "sh_addr": (16, 8),
         "sh_offset": (24, 8), "sh_size": (32, 8), "sh_link": (40, 4), "sh_info": (44, 4),
         "sh_addralign": (48, 8), "sh_entsize": (56, 8)}
_TARGETS = (b".BTF", b".BTF_ids", b".symtab", b".strtab", b".shstrtab", b".rela.BTF_ids")


def sections(data: bytes) -> list[tuple[bytes, int, int, int]]:
    """(name, header offset, sh_offset, sh_size) of an intact little-endian ELF64."""
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
             for i in range(shnum)]
    names = heads[shstrndx]
    out = []
    for i, h in enumerate(heads):
        start = names[4] + h[0]
        name = data[start:data.index(b"\0", start)]
        out.append((name, shoff + i * shentsize, h[4], h[5]))
    return out


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to four edits of ``data``; (damaged bytes, a description of each edit)."""
    out = bytearray(data)
    secs = sections(data)
    targets = [s for s in secs if s[0] in _TARGETS and s[3]]
    notes = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        kind = rng.choice(("ehdr", "shdr", "shdr", "bytes", "bytes", "word", "cut", "grow"))
        if kind == "ehdr":
            field = rng.choice(list(_EHDR))
            off, size = _EHDR[field]
            value = rng.choice(_EDGES) & ((1 << (8 * size)) - 1)
            if rng.random() < 0.3:   # near the real value
                value = (int.from_bytes(out[off:off + size], "little")
                         + rng.choice((-1, 1, 8, -8, 64))) % (1 << (8 * size))
            out[off:off + size] = value.to_bytes(size, "little")
            notes.append(f"{field}={value:#x}")
        elif kind == "shdr":
            name, hoff, _, _ = rng.choice(secs[1:])
            field = rng.choice(list(_SHDR))
            off, size = _SHDR[field]
            value = rng.choice(_EDGES) & ((1 << (8 * size)) - 1)
            if rng.random() < 0.3:
                value = (int.from_bytes(out[hoff + off:hoff + off + size], "little")
                         + rng.choice((-1, 1, 4, -4, 24, -24))) % (1 << (8 * size))
            if hoff + off + size <= len(out):
                out[hoff + off:hoff + off + size] = value.to_bytes(size, "little")
            notes.append(f"{name.decode()}.{field}={value:#x}")
        elif kind in ("bytes", "word"):
            name, _, soff, size = rng.choice(targets)
            pos = rng.randrange(soff, soff + size)
            if kind == "bytes":
                val = bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 2, 4))))
            else:
                pos &= ~3
                val = rng.choice(_WORDS)
            out[pos:pos + len(val)] = val
            del out[len(data):]
            notes.append(f"{name.decode()}@{pos - soff}={val.hex()}")
        elif kind == "cut":
            pos = rng.randrange(len(out))
            del out[pos:]
            notes.append(f"cut@{pos}")
        else:
            extra = rng.choice((1, 7, 4096, 100000))
            out += bytes(rng.randrange(256) for _ in range(min(extra, 64))) * (
                extra // min(extra, 64))
            notes.append(f"grow+{extra}")
    return bytes(out), notes


def case(seed: int, n: int, originals: dict[str, bytes]) -> tuple[str, bytes, bool, list[str]]:
    """(module, damaged bytes, with -b, notes) of case ``n``."""
    rng = random.Random(seed * 1_000_003 + n)
    rel = rng.choice(MODULES)
    damaged, notes = mutate(originals[rel], rng)
    return rel, damaged, rng.random() < 0.85, notes


def _significant(err: str) -> list[str]:
    """Message lines both tools word alike (libbpf's own lines are not compared)."""
    return [line for line in err.splitlines() if line.startswith(("FAILED", "WARN", "ERROR"))]


def run_case(ref: str, base: str, rel: str, damaged: bytes, with_base: bool,
             work: Path) -> dict[str, object]:
    """Run both tools on ``damaged``; the comparison as a dict."""
    from btfids.cli.resolve_btfids import run

    name = Path(rel).name
    dirs = [work / "c", work / "py"]
    for d in dirs:
        d.mkdir(exist_ok=True)
        (d / name).write_bytes(damaged)
    args = ["-b", base] if with_base else []
    try:
        proc = subprocess.run([ref, *args, name], cwd=dirs[0], capture_output=True,
                              timeout=60, check=False)
        c_code, c_err = proc.returncode, proc.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        c_code, c_err = -999, "timeout"
    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(dirs[1])
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            py_code = run(["--config", "linux-6.12", *args, name])
    finally:
        os.chdir(cwd)
    py_err = err.getvalue()
    sizes = [(d / name).stat().st_size if (d / name).exists() else 0 for d in dirs]
    # a file grown far past its sections (sparse) is compared by size and head only
    c_bytes, py_bytes = (_read_head(d / name) for d in dirs)
    leftovers = sorted({p.name for d in dirs for p in d.iterdir()} - {name})
    for d in dirs:
        for p in d.iterdir():
            p.unlink()
    return {
        "c_code": c_code, "py_code": py_code,
        "same_bytes": c_bytes == py_bytes and sizes[0] == sizes[1],
        "c_size": sizes[0], "py_size": sizes[1],
        "first_diff": next((i for i, (a, b) in enumerate(zip(c_bytes, py_bytes, strict=False))
                            if a != b), min(len(c_bytes), len(py_bytes))),
        "changed": py_bytes != damaged,
        "same_messages": _significant(c_err) == _significant(py_err),
        "c_err": c_err.strip().splitlines()[-1:] if c_err.strip() else [],
        "py_err": py_err.strip().splitlines()[-1:] if py_err.strip() else [],
        "internal": "internal error" in py_err or "Traceback" in py_err,
        "ids_over_ehdr": _ids_over_ehdr(damaged),
        "leftovers": leftovers,
    }


_BIG = 1 << 26


def _ids_over_ehdr(data: bytes) -> bool:
    """Whether ``.BTF_ids`` starts inside the ELF header (where libelf, writing the
    patched words, writes over the header it is updating)."""
    try:
        return any(name == b".BTF_ids" and off < 64 for name, _, off, _ in sections(data))
    except (struct.error, ValueError, IndexError, OverflowError):   # a damaged table
        return False


def _read_head(path: Path) -> bytes:
    """The file's bytes (its first 64 MiB if it is bigger)."""
    if not path.exists():
        return b""
    with path.open("rb") as f:
        return f.read(_BIG)


def classify(r: dict[str, object]) -> str:
    """One outcome label per case (docs/differences.md explains the non-``same`` ones)."""
    if r["internal"]:
        return "btfids internal error"
    c = r["c_code"]
    if c == -999:
        return "C tool hangs"
    if isinstance(c, int) and c < 0:
        return f"C tool crashes (signal {-c})"
    if c != r["py_code"]:
        return "exit status differs"
    if not r["same_bytes"]:
        return "bytes differ"
    if max(r["c_size"], r["py_size"]) > _BIG:  # type: ignore[call-overload]
        return "file grown past its sections"
    ok = "ok" if c == 0 else "failed"
    return f"same ({ok}{', file changed' if r['changed'] else ''})"


def reftool() -> str | None:
    """The C 6.12 tool's path (built on first use by ``e2e/kernel.py reftool``, as
    ``make reftool``); None when it cannot be built here."""
    root = Path(__file__).resolve().parent.parent
    try:
        proc = subprocess.run([sys.executable, str(root / "e2e" / "kernel.py"), "reftool"],
                              capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return path if proc.returncode == 0 and os.access(path, os.X_OK) else None


def sweep(ref: str, corpus: Path, seed: int, cases: range) -> list[tuple[int, str, dict]]:
    """Run ``cases`` of ``seed``; (n, label, comparison) per case."""
    originals = {rel: (corpus / "modules" / rel).read_bytes() for rel in MODULES}
    base = str(corpus / "btf-vmlinux")
    out = []
    with tempfile.TemporaryDirectory(prefix="btfids-diff-") as tmp:
        for n in cases:
            rel, damaged, with_base, notes = case(seed, n, originals)
            r = run_case(ref, base, rel, damaged, with_base, Path(tmp))
            r["module"], r["notes"], r["with_base"] = rel, notes, with_base
            out.append((n, classify(r), r))
    return out


if __name__ == "__main__":   # replay: python tests/differential.py SEED FIRST [LAST]
    ref = reftool()
    assert ref, "no C tool"
    corpus = Path(subprocess.run([str(Path(__file__).resolve().parent.parent.parent / "shared"
                                      / "corpus" / "fetch")], capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1])
    first = int(sys.argv[2])
    last = int(sys.argv[3]) if len(sys.argv) > 3 else first
    for n, label, r in sweep(ref, corpus, int(sys.argv[1]), range(first, last + 1)):
        print(n, label, r)
