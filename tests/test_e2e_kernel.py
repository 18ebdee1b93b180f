"""End-to-end (marker ``slow``): a real Linux 6.12 kernel built with the C resolve_btfids
and with btfids (preset linux-6.12) must be byte-identical — vmlinux, System.map and
every module, whole file and ``.BTF_ids`` section; a no-op tool must make the sections
differ. Runs e2e/kernel.py (cached under ~/.cache/btfids-e2e; a cold first run ~6 min of
compiling on 2 cores, later ~30 s per rebuilt variant via ccache). ``make e2e`` runs the
same script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import e2e_scripts
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "e2e/kernel.py"


def _load_script() -> types.ModuleType:
    return e2e_scripts.load("kernel")


@pytest.mark.corpus
def test_stdlib_section_reader_matches_pyelftools(corpus: Path) -> None:
    """The comparison's own ELF reader (stdlib, independent of btfids) is right."""
    from elftools.elf.elffile import ELFFile

    e2e = _load_script()
    ko = corpus / "modules/net/ipv4/tcp_dctcp.ko"
    if not ko.is_file():
        ko = next(corpus.glob("modules/**/tcp_dctcp.ko"))
    with ko.open("rb") as f:
        elf = ELFFile(f)
        want = {s.name: s.data() for s in elf.iter_sections()
                if s.name in (".BTF_ids", ".BTF", ".text")}
    assert set(want) == {".BTF_ids", ".BTF", ".text"}
    for name, data in want.items():
        assert e2e.section_bytes(ko, name) == data
    assert e2e.section_bytes(ko, ".no_such_section") is None


@pytest.mark.slow
def test_kernel_build_identical() -> None:
    if not Path("/usr/src/linux-source-6.12.tar.xz").is_file():
        pytest.skip("apt-get install linux-source-6.12 (see docs/kbuild.md)")
    if shutil.which("pahole") is None:
        pytest.skip("pahole (dwarves) is not installed")
    tool = Path(sys.executable).parent / "resolve_btfids"
    res = subprocess.run([sys.executable, str(SCRIPT), "all", "--resolve-btfids", str(tool)],
                         capture_output=True, text=True, timeout=4 * 3600)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["problems"] == [], json.dumps(out["problems"], indent=1)[:3000]
    assert out["identical"] == out["files"]
    # vmlinux and the four modules with kfunc sets were really resolved, by btfids
    assert out["missing_btf_ids"] == [] and out["unresolved"] == []
    assert {"vmlinux", "net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko", "net/ipv4/fou.ko",
            "net/netfilter/nf_conntrack.ko"} <= set(out["with_btf_ids"])
    assert out["btfids_tool_calls"] >= 5
    # both tools are quiet in a successful build (same messages, here none)
    assert out["tool_messages"]["btfids"] == out["tool_messages"]["c"]
    # negative control: with a tool that does nothing, the comparison sees a difference
    assert out["control"]["ok"] is True
    assert len(out["control"]["btf_ids_differ"]) == 5
    assert out["ok"] is True
