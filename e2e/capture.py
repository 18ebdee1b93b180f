#!/usr/bin/env python3
"""A ``RESOLVE_BTFIDS`` wrapper that records every call kbuild makes, for replay.

kbuild runs ``$(RESOLVE_BTFIDS) ARGS``; with ``RESOLVE_BTFIDS=e2e/capture.py`` each call
runs the real tool (``$BTFIDS_E2E_TOOL``) unchanged and leaves, under
``$BTFIDS_E2E_CALLS/NNN/``:

- ``argv.json``: the argv, cwd, exit code, the tool's wall time, which argv entries
  are files (and their copies in ``in/``), and the files the call wrote (``out/``);
- ``in/``: the call's input files as they were before it ran (the ELF, ``--btf``,
  ``--btf_base``, ``--patch_btfids`` blob);
- ``out/``: what it wrote: ``<ELF>.BTF_ids``, ``<ELF>.BTF``, ``<ELF>.BTF.base``, or, for
  ``--patch_btfids``, the patched ELF.

Copies are hard links into ``$BTFIDS_E2E_CALLS/blobs/<sha256>`` so the many calls on one
vmlinux store it once. ``$BTFIDS_E2E_SKIP_PATCH=1`` makes ``--patch_btfids`` calls do
nothing (the negative control: a module whose kfunc set is never filled in).
Stdlib only: it must not depend on the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: options whose value is an input file, and the role the replay gives it
FILE_OPTIONS = {"--btf": "btf", "-b": "base", "--btf_base": "base", "--patch_btfids": "blob"}
#: side files a main-mode call writes next to the ELF
SIDE_SUFFIXES = (".BTF_ids", ".BTF", ".BTF.base")


def file_args(argv: list[str]) -> dict[int, str]:
    """argv index -> role of every argument that names a file (ELF: the last positional)."""
    roles: dict[int, str] = {}
    elf = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in FILE_OPTIONS and i + 1 < len(argv):
            roles[i + 1] = FILE_OPTIONS[a]
            i += 2
            continue
        if not a.startswith("-"):
            elf = i
        i += 1
    if elf is not None:
        roles[elf] = "elf"
    return roles


def store(blobs: Path, src: Path, dst: Path) -> None:
    """Hard-link ``dst`` to a content-addressed copy of ``src``."""
    h = hashlib.sha256()
    with src.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    blob = blobs / h.hexdigest()
    if not blob.exists():
        tmp = blobs / f".{blob.name}.{os.getpid()}"
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, blob)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    os.link(blob, dst)


def new_call_dir(root: Path) -> Path:
    """The next free ``NNN`` (parallel make jobs may race: mkdir decides)."""
    n = len([p for p in root.iterdir() if p.name.isdigit()]) + 1
    while True:
        d = root / f"{n:03d}"
        try:
            d.mkdir()
            return d
        except FileExistsError:
            n += 1


def stat_key(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def main(argv: list[str]) -> int:
    tool = os.environ.get("BTFIDS_E2E_TOOL")
    calls = os.environ.get("BTFIDS_E2E_CALLS")
    if not tool or not calls:
        print("capture.py: set BTFIDS_E2E_TOOL and BTFIDS_E2E_CALLS", file=sys.stderr)
        return 2
    patch_mode = "--patch_btfids" in argv
    if patch_mode and os.environ.get("BTFIDS_E2E_SKIP_PATCH") == "1":
        print(f"capture.py: negative control: skipped resolve_btfids {' '.join(argv)}",
              file=sys.stderr)
        return 0
    root = Path(calls)
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    d = new_call_dir(root)
    roles = file_args(argv)
    files: dict[str, dict[str, str]] = {}
    for i, role in sorted(roles.items()):
        p = Path(argv[i])
        if p.is_file():
            rel = f"in/{p.name}"
            store(blobs, p, d / rel)
            files[str(i)] = {"role": role, "path": rel}
    elf_at = [i for i, r in roles.items() if r == "elf"]
    candidates: list[Path] = []
    if elf_at:
        elf = Path(argv[elf_at[0]])
        candidates = [elf] if patch_mode else [Path(f"{elf}{s}") for s in SIDE_SUFFIXES]
    before = {c: stat_key(c) for c in candidates}

    t = time.perf_counter()
    res = subprocess.run([tool, *argv], capture_output=True)
    secs = time.perf_counter() - t
    sys.stdout.buffer.write(res.stdout)
    sys.stderr.buffer.write(res.stderr)

    outputs: list[str] = []
    for c, key in before.items():
        now = stat_key(c)
        if now is not None and now != key:
            store(blobs, c, d / "out" / c.name)
            outputs.append(c.name)
    if res.stdout or res.stderr:
        (d / "output.txt").write_bytes(res.stdout + res.stderr)
    record = {
        "argv": argv, "cwd": os.getcwd(), "rc": res.returncode, "seconds": round(secs, 6),
        "mode": "patch" if patch_mode else "main", "files": files, "outputs": sorted(outputs),
        "phase": os.environ.get("BTFIDS_E2E_PHASE", ""),
        "config_env": os.environ.get("BTFIDS_CONFIG"),
    }
    tmp = d / ".argv.json"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, d / "argv.json")
    return res.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
