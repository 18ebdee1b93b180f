"""The default preset with every BTF pass disabled is classic resolution: through the real
``resolve_btfids`` command line, ``<ELF>.BTF_ids`` equals the section Debian's build (the C
tool) left in the ELF, for vmlinux and for every module that has one, and ``<ELF>.BTF`` is
the input BTF unchanged."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

PASSES = ("kfunc-discovery", "bpf-kfunc-tag", "fastcall-tag", "implicit-args", "arena",
          "dedup", "base-btf", "sort")
MODULES = ("net/ipv4/fou.ko", "net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko",
           "net/netfilter/nf_conntrack.ko", "net/netfilter/nf_flow_table.ko",
           "net/netfilter/nf_nat.ko", "net/xfrm/xfrm_interface.ko")
RESOLVE = str(Path(sys.executable).parent / "resolve_btfids")

pytestmark = pytest.mark.corpus


def _section(path: Path, name: str) -> tuple[int, bytes]:
    with path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(name)
        assert sec is not None, f"{path}: no {name}"
        return sec["sh_offset"], sec.data()


def _preresolve_copy(src: Path, blob: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    off, data = _section(dst, ".BTF_ids")
    pre = blob.read_bytes()
    assert len(pre) == len(data)
    with dst.open("r+b") as f:
        f.seek(off)
        f.write(pre)
    return dst


def _run_without_passes(elf: Path, *extra: str) -> None:
    argv = [RESOLVE, *extra]
    for name in PASSES:
        argv += ["--disable", name]
    res = subprocess.run([*argv, str(elf)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""


def test_vmlinux(corpus: Path, golden: Path, tmp_path: Path) -> None:
    elf = _preresolve_copy(corpus / "vmlinux", golden / "classic" / "vmlinux.BTF_ids.pre",
                           tmp_path / "vmlinux")
    _run_without_passes(elf)
    _, debian = _section(corpus / "vmlinux", ".BTF_ids")
    assert (tmp_path / "vmlinux.BTF_ids").read_bytes() == debian
    assert (tmp_path / "vmlinux.BTF").read_bytes() == (corpus / "btf-vmlinux").read_bytes()


@pytest.mark.parametrize("rel", MODULES)
def test_module(corpus: Path, golden: Path, tmp_path: Path, rel: str) -> None:
    src = corpus / "modules" / rel
    blob = golden / "classic" / "modules" / (rel + ".BTF_ids.pre")
    elf = _preresolve_copy(src, blob, tmp_path / Path(rel).name)
    _run_without_passes(elf, "-b", str(corpus / "btf-vmlinux"))
    _, debian = _section(src, ".BTF_ids")
    _, module_btf = _section(src, ".BTF")
    assert Path(f"{elf}.BTF_ids").read_bytes() == debian
    assert Path(f"{elf}.BTF").read_bytes() == module_btf
    assert not Path(f"{elf}.BTF.base").exists()
