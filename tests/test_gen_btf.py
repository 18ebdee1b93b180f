"""The patched kbuild's ``scripts/gen-btf.sh`` (e2e/newest/bpf-next-btf-flow.patch) run
with btfids on corpus files: what the script leaves in a module / a vmlinux object equals
what btfids writes when run by hand on the same input. pahole is replaced by a stand-in
that hands over the BTF the corpus file already carries (Debian strips the DWARF pahole
would need). The full kernel build with this script is ``make e2e-newest`` (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import e2e_scripts
import pytest

TOOL = Path(sys.executable).parent / "resolve_btfids"
FAKE_PAHOLE = """#!/bin/sh
# pahole stand-in: -J ... --btf_encode_detached=OUT [--btf_base B] ELF -> the .BTF of
# ELF as it was before any run (as pahole encodes the same DWARF each time). objcopy is
# given an output file of its own: with none it rewrites its input in place, which drops
# a module's signature (and would change the shared corpus file behind FAKE_PAHOLE_ELF).
for a; do case "$a" in --btf_encode_detached=*) out=${a#*=};; esac; elf=$a; done
[ -z "$FAKE_PAHOLE_RAW" ] || exec cp "$FAKE_PAHOLE_RAW" "$out"
objcopy --dump-section .BTF="$out" "${FAKE_PAHOLE_ELF:-$elf}" "$out.scratch"
rm -f "$out.scratch"
"""


@pytest.fixture(scope="module")
def e2e() -> types.ModuleType:
    if shutil.which("objcopy") is None:
        pytest.skip("objcopy (binutils) is not installed")
    return e2e_scripts.load("newest")


def _script(e2e: types.ModuleType, tmp: Path) -> tuple[Path, dict[str, str]]:
    gen = tmp / "gen-btf.sh"
    gen.write_text(e2e.new_file_from_patch(e2e.PATCH.read_text(), "scripts/gen-btf.sh"))
    fake = tmp / "fake-pahole"
    fake.write_text(FAKE_PAHOLE)
    fake.chmod(0o755)
    env = dict(os.environ, PAHOLE=str(fake), PAHOLE_FLAGS="", RESOLVE_BTFIDS=str(TOOL),
               RESOLVE_BTFIDS_FLAGS="", OBJCOPY="objcopy", CC="gcc")
    return gen, env


def _by_hand(tmp: Path, src: Path, base: Path | None, flags: list[str]) -> dict[str, bytes]:
    """btfids run directly on the same inputs: its side files."""
    d = tmp / "hand"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    elf = d / src.name
    elf.symlink_to(src)  # main mode never writes the ELF
    raw = d / "raw.BTF"
    # an output of its own: without one objcopy rewrites the (linked, shared) input
    subprocess.run(["objcopy", f"--dump-section=.BTF={raw}", str(elf), str(d / "scratch")],
                   check=True)
    (d / "scratch").unlink()
    cmd = [str(TOOL), *flags, *(["--btf_base", str(base)] if base else []),
           "--btf", str(raw), str(elf)]
    subprocess.run(cmd, check=True)
    return {s: Path(f"{elf}{s}").read_bytes() for s in (".BTF", ".BTF_ids", ".BTF.base")
            if Path(f"{elf}{s}").is_file()}


def _dctcp(corpus: Path, tmp: Path) -> Path:
    """A writable copy of the corpus module tcp_dctcp.ko (one kfunc set)."""
    ko = tmp / "tcp_dctcp.ko"
    shutil.copyfile(corpus / "modules/net/ipv4/tcp_dctcp.ko", ko)
    return ko


def _sections(e2e: types.ModuleType, path: Path) -> dict[str, bytes | None]:
    return {n: e2e.K.section_bytes(path, n) for n in (".BTF", ".BTF_ids", ".BTF.base")}


def _elf_sections(path: Path) -> list[tuple[str, int]]:
    """(name, sh_flags) of every section, duplicates kept."""
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as f:
        return [(s.name, s["sh_flags"]) for s in ELFFile(f).iter_sections()]


@pytest.mark.corpus
@pytest.mark.parametrize("distill", [False, True], ids=["in-tree", "distill"])
def test_module_mode_equals_tool(e2e: types.ModuleType, corpus: Path, tmp_path: Path,
                                 distill: bool) -> None:
    gen, env = _script(e2e, tmp_path)
    src = corpus / "modules/net/ipv4/tcp_dctcp.ko"
    ko = tmp_path / src.name
    shutil.copyfile(src, ko)
    flags = ["--distill_base"] if distill else []
    env["RESOLVE_BTFIDS_FLAGS"] = " ".join(flags)
    subprocess.run(["sh", str(gen), "--btf_base", str(corpus / "vmlinux"), str(ko)],
                   env=env, check=True, cwd=tmp_path)
    want = _by_hand(tmp_path, src, corpus / "vmlinux", flags)
    got = _sections(e2e, ko)
    assert got[".BTF"] == want[".BTF"]
    assert got[".BTF.base"] == want.get(".BTF.base")
    assert (got[".BTF.base"] is not None) == distill
    assert got[".BTF_ids"] == want[".BTF_ids"]
    assert got[".BTF_ids"] != e2e.K.section_bytes(src, ".BTF_ids")  # the IDs were patched
    # every side file is gone, only the module remains
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(ko.name)) \
        == [ko.name]


@pytest.mark.corpus
def test_module_mode_twice_replaces_btf(e2e: types.ModuleType, corpus: Path,
                                         tmp_path: Path) -> None:
    """kbuild redoes a module's BTF when vmlinux changes: one .BTF section, not two."""
    gen, env = _script(e2e, tmp_path)
    ko = _dctcp(corpus, tmp_path)
    cmd = ["sh", str(gen), "--btf_base", str(corpus / "vmlinux"), str(ko)]
    env["FAKE_PAHOLE_ELF"] = str(corpus / "modules/net/ipv4/tcp_dctcp.ko")
    subprocess.run(cmd, env=env, check=True, cwd=tmp_path)
    first = _sections(e2e, ko)
    subprocess.run(cmd, env=env, check=True, cwd=tmp_path)
    assert _sections(e2e, ko) == first
    assert [n for n, _ in _elf_sections(ko)].count(".BTF") == 1


@pytest.mark.corpus
def test_tool_failure_fails_and_cleans_up(e2e: types.ModuleType, corpus: Path,
                                          tmp_path: Path) -> None:
    gen, env = _script(e2e, tmp_path)
    ko = _dctcp(corpus, tmp_path)
    before = ko.read_bytes()
    # a base that is not the module's: btfids refuses the split BTF
    bad_base = tmp_path / "base.ko"
    shutil.copyfile(corpus / "modules/net/ipv4/tcp_bbr.ko", bad_base)
    res = subprocess.run(["sh", str(gen), "--btf_base", str(bad_base), str(ko)], env=env,
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode != 0
    assert ko.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(ko.name)) \
        == [ko.name]


@pytest.mark.corpus
def test_vmlinux_mode_object(e2e: types.ModuleType, corpus: Path, golden: Path,
                             tmp_path: Path) -> None:
    """vmlinux mode on the Debian vmlinux (its .BTF_ids reset to the pre-resolve bytes):
    a relocatable object whose only section is .BTF (allocated, read-only), holding the
    C tool's BTF bytes (golden), and the C tool's .BTF_ids blob left for link-vmlinux.sh."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    gen, env = _script(e2e, tmp_path)
    (tmp_path / "include/config").mkdir(parents=True)
    (tmp_path / "include/config/auto.conf").write_text("CONFIG_64BIT=y\n")
    elf = tmp_path / "vmlinux"
    shutil.copyfile(corpus / "vmlinux", elf)
    subprocess.run([str(TOOL), "--patch_btfids", str(golden / "classic/vmlinux.BTF_ids.pre"),
                    str(elf)], check=True)
    env["FAKE_PAHOLE_RAW"] = str(corpus / "btf-vmlinux")
    subprocess.run(["sh", str(gen), "vmlinux"], env=env, check=True, cwd=tmp_path)
    obj = tmp_path / "vmlinux.btf.o"
    assert obj.read_bytes()[16:18] == b"\x01\x00"  # ET_REL, little-endian
    secs = [(n, fl) for n, fl in _elf_sections(obj)
            if n and n not in (".shstrtab", ".symtab", ".strtab")]
    assert secs == [(".BTF", 0x2)]  # SHF_ALLOC only: not writable, not executable
    assert e2e.K.section_bytes(obj, ".BTF") == (golden / "newest/vmlinux/vmlinux.BTF").read_bytes()
    assert (tmp_path / "vmlinux.BTF_ids").read_bytes() \
        == (golden / "newest/vmlinux/vmlinux.BTF_ids").read_bytes()
    assert not (tmp_path / "vmlinux.BTF").exists()
    assert not (tmp_path / "vmlinux.BTF.1").exists()


@pytest.mark.corpus
def test_capture_and_replay(e2e: types.ModuleType, corpus: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """e2e/capture.py records both calls gen-btf.sh makes for a module; replaying them
    (here with btfids itself as the 'reference') finds every output identical, and a
    reference that writes other bytes is caught."""
    gen, env = _script(e2e, tmp_path)
    ko = _dctcp(corpus, tmp_path)
    calls = tmp_path / "calls"
    env.update(RESOLVE_BTFIDS=str(e2e.CAPTURE), RESOLVE_BTFIDS_FLAGS="--distill_base",
               BTFIDS_E2E_TOOL=str(TOOL), BTFIDS_E2E_CALLS=str(calls))
    subprocess.run(["sh", str(gen), "--btf_base", str(corpus / "vmlinux"), str(ko)],
                   env=env, check=True, cwd=tmp_path)
    recs = e2e.Newest.load_calls(calls)
    assert [r["mode"] for _, r in recs] == ["main", "patch"]
    main, patch = recs[0][1], recs[1][1]
    assert main["outputs"] == ["tcp_dctcp.ko.BTF", "tcp_dctcp.ko.BTF.base",
                               "tcp_dctcp.ko.BTF_ids"]
    assert sorted(f["role"] for f in main["files"].values()) == ["base", "btf", "elf"]
    assert patch["outputs"] == ["tcp_dctcp.ko"]
    assert (recs[1][0] / "out/tcp_dctcp.ko").read_bytes() == ko.read_bytes()
    assert all(r["rc"] == 0 and r["seconds"] > 0 for _, r in recs)

    args = types.SimpleNamespace(cache=str(tmp_path / "cache"), jobs=1, force=False,
                                 no_ccache=True, resolve_btfids=str(TOOL), boot_timeout=1,
                                 out=str(tmp_path / "out"))
    monkeypatch.delenv("REF_RESOLVE_BTFIDS", raising=False)
    assert e2e.Newest(args).replay(calls)["identical"] is None  # unset: skipped, null
    monkeypatch.setenv("REF_RESOLVE_BTFIDS", str(TOOL))
    n = e2e.Newest(args)
    res = n.replay(calls)
    assert res["identical"] == 2 and res["differ"] == []
    # a "reference" that ignores --distill_base writes other bytes and no .BTF.base
    bad = tmp_path / "bad-ref"
    bad.write_text(f"#!/bin/sh\n[ \"$1\" = --distill_base ] && shift\nexec {TOOL} \"$@\"\n")
    bad.chmod(0o755)
    n.ref = str(bad)
    res = n.replay(calls)
    assert res["identical"] == 1
    problems = res["differ"][0]["problems"]
    assert {"tcp_dctcp.ko.BTF differs", "tcp_dctcp.ko.BTF.base not written"} <= set(problems)
