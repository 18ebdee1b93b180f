"""Corpus helpers shared by the benchmark and the demo: locate the corpus and golden data,
and make pre-resolve copies of ELF files (golden/classic/*.BTF_ids.pre written over the
section bytes, as the linker left them before the C tool ran)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
GOLDEN = SHARED / "golden"
CACHE = Path.home() / ".cache" / "btfids-work"


def corpus_path() -> Path:
    """Fetch (cached) and return the Debian kernel corpus directory."""
    out = subprocess.run(
        [str(SHARED / "corpus" / "fetch")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def btf_ids_extent(elf_path: Path) -> tuple[int, int]:
    """(file offset, size) of the ``.BTF_ids`` section."""
    from elftools.elf.elffile import ELFFile

    with elf_path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF_ids")
        if sec is None:
            raise ValueError(f"{elf_path}: no .BTF_ids section")
        return sec["sh_offset"], sec["sh_size"]


def write_preresolve(elf_path: Path, blob: bytes) -> None:
    """Overwrite the ``.BTF_ids`` section bytes of ``elf_path`` in place with ``blob``."""
    off, size = btf_ids_extent(elf_path)
    if size != len(blob):
        raise ValueError(f"{elf_path}: .BTF_ids is {size} bytes, blob is {len(blob)}")
    with elf_path.open("r+b") as f:
        f.seek(off)
        f.write(blob)


def preresolve_copy(src: Path, rel: str, dst_dir: Path) -> Path:
    """Copy ``src`` into ``dst_dir`` with its pre-resolve ``.BTF_ids`` (``rel`` names the
    golden blob: ``vmlinux`` or a module path such as ``net/ipv4/fou.ko``)."""
    blob_path = (
        GOLDEN / "classic" / "vmlinux.BTF_ids.pre"
        if rel == "vmlinux"
        else GOLDEN / "classic" / "modules" / (rel + ".BTF_ids.pre")
    )
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / Path(rel).name
    shutil.copyfile(src, dst)
    if blob_path.exists():
        write_preresolve(dst, blob_path.read_bytes())
    return dst
