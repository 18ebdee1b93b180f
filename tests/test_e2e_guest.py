"""The guest check of issue 20 (e2e/guest.py) without QEMU: the BPF programs compile
with Debian's clang and declare the kfuncs they call as ksym externs, the loader links
statically, the initramfs archive unpacks, the stdlib BTF walk counts decl tags like the
codec does, and the console verdict fails whenever one guest line is missing or wrong.
The boot itself (``e2e/guest.py debian``: Debian's cloud kernel, ~1 min) is marked slow.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
from pathlib import Path

import e2e_scripts
import pytest

from btfids.btf import Btf
from btfids.btf import kinds as K

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "e2e/guest.py"


guest = e2e_scripts.load("guest")


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = [t for t in ("clang", "gcc") if shutil.which(t) is None]
    if missing or not Path("/usr/lib/x86_64-linux-gnu/libbpf.a").is_file():
        pytest.skip(f"needs clang, gcc and libbpf-dev (missing: {missing or ['libbpf.a']})")
    return dict(guest.build_tools(tmp_path_factory.mktemp("guest-tools")))


def _btf_funcs(obj: Path) -> tuple[Btf, dict[bytes, int]]:
    btf = Btf.parse(guest.raw_btf(obj))
    funcs = {btf.name(tid): tid for tid in range(1, btf.type_cnt)
             if btf.kind(tid) == K.FUNC}
    return btf, funcs


EXTERN = 2  # BTF_FUNC_EXTERN, the linkage in the FUNC record's vlen bits


@pytest.mark.parametrize("prog, kfuncs", [
    ("kfunc_vmlinux", [b"bpf_task_from_pid", b"bpf_task_release", b"bpf_rcu_read_lock",
                       b"bpf_rcu_read_unlock"]),
    ("kfunc_module", [b"bpf_btfids_e2e_answer"]),
])
def test_bpf_object_declares_its_kfuncs(tools: dict[str, Path], prog: str,
                                        kfuncs: list[bytes]) -> None:
    obj = tools[prog]
    sections = guest_sections(obj)
    assert "syscall" in sections, "a BPF_PROG_TYPE_SYSCALL program (SEC(\"syscall\"))"
    btf, funcs = _btf_funcs(obj)
    for name in kfuncs:
        assert name in funcs, f"{obj.name} does not call {name!r}"
        assert btf.type(funcs[name])[1] & 0xFFFF == EXTERN
    ksyms = [tid for tid in range(1, btf.type_cnt)
             if btf.kind(tid) == K.DATASEC and btf.name(tid) == b".ksyms"]
    assert len(ksyms) == 1
    vlen = btf.type(ksyms[0])[1] & 0xFFFF
    in_ksyms = {btf.name(btf.type(ksyms[0])[3 + 3 * i]) for i in range(vlen)}
    assert in_ksyms == set(kfuncs)
    # no vmlinux.h: the object carries a handful of types, not a kernel's worth
    assert btf.type_cnt < 40


def guest_sections(obj: Path) -> dict[str, tuple[int, int, int]]:
    sys.path.insert(0, str(REPO / "e2e"))
    try:
        from kernel import elf_sections
    finally:
        sys.path.remove(str(REPO / "e2e"))
    return dict(elf_sections(obj.read_bytes()))


def test_loader_is_static_and_checks_usage(tools: dict[str, Path]) -> None:
    assert ".interp" not in guest_sections(tools["load"]), "must run without a libc in /lib"
    res = subprocess.run([str(tools["load"])], capture_output=True, text=True)
    assert res.returncode == 2 and "usage:" in res.stderr


def test_initramfs_unpacks(tmp_path: Path, tools: dict[str, Path]) -> None:
    if shutil.which("cpio") is None or shutil.which("busybox") is None:
        pytest.skip("needs cpio and busybox-static")
    rel = "6.12.0-test"
    moddir = tmp_path / "mods/lib/modules" / rel
    (moddir / "kernel/net").mkdir(parents=True)
    (moddir / "kernel/net/a-b.ko").write_bytes(b"\x7fELF module a")
    (moddir / "modules.dep").write_text("kernel/net/a-b.ko:\n")
    (tmp_path / "objtree").mkdir()
    (tmp_path / "objtree/other.ko").write_bytes(b"not installed")
    (moddir / "build").symlink_to(tmp_path / "objtree")  # as modules_install makes it
    ext, neg = tmp_path / "ext/btfids_e2e.ko", tmp_path / "neg/btfids_e2e.ko"
    for p, data in ((ext, b"positive"), (neg, b"negative")):
        p.parent.mkdir()
        p.write_bytes(data)
    initrd = tmp_path / "initrd.gz"
    staged = guest.build_initramfs(initrd, tools=tools, modules_root=tmp_path / "mods",
                                   extmod=ext, extmod_negative=neg, btf=b"BTF bytes")
    assert (staged.release, staged.modules, staged.extmod) == (rel, ["a_b"], "btfids_e2e")
    out = tmp_path / "root"
    out.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], cwd=out, check=True,
                   input=gzip.decompress(initrd.read_bytes()))
    assert (out / "init").read_bytes() == (REPO / "e2e/guest/init.sh").read_bytes()
    assert (out / "init").stat().st_mode & 0o111
    assert (out / "e2e/vmlinux.btf").read_bytes() == b"BTF bytes"
    assert (out / "e2e/ext/btfids_e2e.ko").read_bytes() == b"positive"
    assert (out / "e2e/neg/btfids_e2e.ko").read_bytes() == b"negative"
    assert (out / f"lib/modules/{rel}/kernel/net/a-b.ko").read_bytes() == b"\x7fELF module a"
    assert (out / "e2e/load").read_bytes() == tools["load"].read_bytes()
    assert "MODULES='a_b'" in (out / "e2e/config").read_text()


def test_negative_control_must_be_the_same_module(tmp_path: Path,
                                                  tools: dict[str, Path]) -> None:
    (tmp_path / "lib/modules/r").mkdir(parents=True)
    (tmp_path / "lib/modules/r/modules.dep").write_text("")
    ext, neg = tmp_path / "btfids_e2e.ko", tmp_path / "other.ko"
    ext.write_bytes(b"")
    neg.write_bytes(b"")
    with pytest.raises(guest.GuestError, match="must be module btfids_e2e"):
        guest.build_initramfs(tmp_path / "i.gz", tools=tools, modules_root=tmp_path,
                              extmod=ext, extmod_negative=neg, btf=b"")


# ------------------------------------------------------------------ BTF decl tags
def _tagged_btf(order: str, ntags: int) -> bytes:
    b = Btf(order=order)
    i = b.add_type_words([b.add_str(b"int"), K.make_info(K.INT), 4, 32])
    proto = b.add_type_words([0, K.make_info(K.FUNC_PROTO, 1), i, b.add_str(b"x"), i])
    fn = b.add_type_words([b.add_str(b"f"), K.make_info(K.FUNC, 1), proto])
    b.add_type_words([b.add_str(b"s"), K.make_info(K.STRUCT, 2), 8,
                      b.add_str(b"a"), i, 0, b.add_str(b"b"), i, 32])
    b.add_type_words([b.add_str(b"e"), K.make_info(K.ENUM64, 1), 8, b.add_str(b"v"), 1, 0])
    b.add_type_words([b.add_str(b"other"), K.make_info(K.DECL_TAG), fn, 0xFFFFFFFF])
    for _ in range(ntags):
        b.add_type_words([b.add_str(b"bpf_kfunc"), K.make_info(K.DECL_TAG), fn, 0xFFFFFFFF])
    return bytes(b.raw_data())


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("ntags", [0, 3])
def test_decl_tags_counts_bpf_kfunc_tags(order: str, ntags: int) -> None:
    assert guest.decl_tags(_tagged_btf(order, ntags)) == ntags


def test_decl_tags_rejects_non_btf() -> None:
    with pytest.raises(guest.GuestError, match="bad magic"):
        guest.decl_tags(b"\0" * 32)


@pytest.mark.corpus
def test_decl_tags_walks_a_kernel_btf(corpus: Path) -> None:
    raw = (corpus / "btf-vmlinux").read_bytes()
    btf = Btf.parse(raw)
    want = sum(1 for tid in range(1, btf.type_cnt)
               if btf.kind(tid) == K.DECL_TAG and btf.name(tid) == b"bpf_kfunc")
    assert guest.decl_tags(raw) == want


# ------------------------------------------------------------------ the console verdict
GOOD = """\
[    1.0] Run /init as init process
BTFIDS-E2E phase=boot kernel=6.12.0
BTFIDS-E2E phase=vmlinux_btf
BTFIDS-E2E vmlinux_btf_present=1 vmlinux_btf_equal=1
BTFIDS-E2E phase=modules
BTFIDS-E2E module=tcp_bbr loaded=1 btf=1
[    2.5] some kernel line BTFIDS-E2E module=fou loaded=1 btf=1
BTFIDS-E2E phase=extmod
BTFIDS-E2E extmod_loaded=1 extmod_btf=1
BTFIDS-E2E phase=calls
BTFIDS-E2E prog=kfunc_vmlinux loaded=1 retval=1
BTFIDS-E2E prog=kfunc_module loaded=1 retval=22
BTFIDS-E2E phase=unload
BTFIDS-E2E extmod_unloaded=1
BTFIDS-E2E phase=negative
BTFIDS-E2E negmod_loaded=1 negmod_btf=1
BTFIDS-E2E-LIBBPF libbpf: prog 'kfunc_module': BPF program load failed: Permission denied
BTFIDS-E2E prog=kfunc_module loaded=0 err=-13
BTFIDS-E2E-VLOG 1: (85) call bpf_btfids_e2e_answer#107337
BTFIDS-E2E-VLOG calling kernel function bpf_btfids_e2e_answer is not allowed
BTFIDS-E2E phase=dmesg
BTFIDS-E2E-DMESG [    7.2] btfids_e2e: loading out-of-tree module taints kernel.
BTFIDS-E2E phase=done
"""
CHECKS = ["vmlinux_btf_equal", "modules_btf_loaded", "extmod_loaded", "kfunc_vmlinux_call",
          "kfunc_module_call", "negative_control_rejected"]


def test_verdict_all_true_on_a_good_console() -> None:
    res = guest.verdict(guest.parse_console(GOOD.replace("\n", "\r\n")), ["fou", "tcp_bbr"])
    assert [res[c] for c in CHECKS] == [True] * len(CHECKS) and res["ok"]
    assert res["details"]["kernel"] == "6.12.0"
    log = res["details"]["progs"]["negative/kfunc_module"]["log"]
    assert log[0].startswith("libbpf: prog 'kfunc_module'") and log[-1].startswith("calling")


def test_each_refused_program_gets_its_own_messages() -> None:
    """libbpf speaks before the loader's prog= line, the verifier after it."""
    calls = ("BTFIDS-E2E-LIBBPF libbpf: prog 'kfunc_vmlinux': failed to load: -22\n"
             "BTFIDS-E2E prog=kfunc_vmlinux loaded=0 err=-22\n"
             "BTFIDS-E2E-VLOG cannot find address for kernel function bpf_rcu_read_lock\n"
             "BTFIDS-E2E-LIBBPF libbpf: prog 'kfunc_module': failed to load: -22\n"
             "BTFIDS-E2E prog=kfunc_module loaded=0 err=-22\n"
             "BTFIDS-E2E-VLOG cannot find address for kernel function bpf_btfids_e2e_answer\n")
    start, end = GOOD.index("BTFIDS-E2E prog=kfunc_vmlinux"), GOOD.index("BTFIDS-E2E phase=unload")
    con = guest.parse_console(GOOD[:start] + calls + GOOD[end:])
    for name, kfunc in (("kfunc_vmlinux", "bpf_rcu_read_lock"),
                        ("kfunc_module", "bpf_btfids_e2e_answer")):
        log = con.progs[f"calls/{name}"].log
        assert len(log) == 2 and f"'{name}'" in log[0] and log[1].endswith(kfunc)


@pytest.mark.parametrize("old, new, failed", [
    ("vmlinux_btf_equal=1", "vmlinux_btf_equal=0", "vmlinux_btf_equal"),
    ("module=tcp_bbr loaded=1 btf=1", "module=tcp_bbr loaded=1 btf=0", "modules_btf_loaded"),
    ("module=fou loaded=1 btf=1", "module=fou loaded=0 btf=0", "modules_btf_loaded"),
    ("extmod_btf=1", "extmod_btf=0", "extmod_loaded"),
    ("retval=1\n", "retval=-1\n", "kfunc_vmlinux_call"),
    ("retval=22", "retval=21", "kfunc_module_call"),
    ("kfunc_module loaded=1 retval=22", "kfunc_module loaded=0 err=-13",
     "kfunc_module_call"),
    # refused, but not by the verifier's kfunc check (e.g. libbpf found no such kfunc)
    ("BTFIDS-E2E-VLOG calling kernel function bpf_btfids_e2e_answer is not allowed\n", "",
     "negative_control_rejected"),
    ("negmod_btf=1", "negmod_btf=0", "negative_control_rejected"),
    ("prog=kfunc_module loaded=0 err=-13", "prog=kfunc_module loaded=1 retval=22",
     "negative_control_rejected"),
])
def test_verdict_fails_on_each_wrong_line(old: str, new: str, failed: str) -> None:
    assert old in GOOD
    res = guest.verdict(guest.parse_console(GOOD.replace(old, new, 1)), ["fou", "tcp_bbr"])
    assert [c for c in CHECKS if not res[c]] == [failed] and not res["ok"]


def test_verdict_names_a_missing_kallsyms() -> None:
    text = GOOD.replace("BTFIDS-E2E prog=kfunc_vmlinux loaded=1 retval=1\n",
                        "BTFIDS-E2E prog=kfunc_vmlinux loaded=0 err=-22\nBTFIDS-E2E-VLOG "
                        "cannot find address for kernel function bpf_task_from_pid\n")
    res = guest.verdict(guest.parse_console(text), ["fou", "tcp_bbr"])
    assert not res["kfunc_vmlinux_call"]
    assert [h for h in res["details"]["hints"] if "CONFIG_KALLSYMS" in h]
    assert guest.verdict(guest.parse_console(GOOD), ["fou"])["details"]["hints"] == []


def test_verdict_cut_short_console_fails() -> None:
    text = GOOD[:GOOD.index("BTFIDS-E2E phase=unload")]
    res = guest.verdict(guest.parse_console(text), ["fou", "tcp_bbr"])
    assert not res["negative_control_rejected"] and not res["ok"]
    assert not res["details"]["finished"]


def test_verdict_needs_modules_and_every_one() -> None:
    con = guest.parse_console(GOOD)
    assert not guest.verdict(con, [])["modules_btf_loaded"]
    assert not guest.verdict(con, ["fou", "tcp_bbr", "nf_conntrack"])["modules_btf_loaded"]


# ------------------------------------------------------------------ the QEMU supervisor
@pytest.mark.parametrize("script, grace, how", [
    ("echo BTFIDS-E2E phase=boot; echo more", None, "exit"),
    ("echo 'KVM internal error. Suberror: 1'; sleep 30", None, "kvm-error"),
    ("echo SeaBIOS; sleep 30", 1.0, "kvm-stalled"),
    ("echo BTFIDS-E2E phase=boot; sleep 30", 1.0, "timeout"),
])
def test_boot_ends_each_way(script: str, grace: float | None, how: str) -> None:
    t = time.monotonic()
    text, ended = guest.boot(["sh", "-c", script], timeout=3, kvm_grace=grace)
    assert ended == how
    assert text.splitlines()[0] in script  # the console is kept whichever way it ended
    assert time.monotonic() - t < 10  # a hanging guest is killed, not waited for


@pytest.mark.slow
def test_debian_cloud_kernel_guest(tmp_path: Path) -> None:
    """The whole guest check on Debian's 6.12 cloud kernel (its C-tool build) and a
    module built against its headers: the harness itself works end to end."""
    if not Path(guest.DEB_HEADERS.format(rel=guest.DEB_RELEASE)).is_dir():
        pytest.skip(f"apt-get install -y linux-headers-{guest.DEB_RELEASE}")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("apt-get install -y qemu-system-x86")
    res = subprocess.run([sys.executable, str(SCRIPT), "debian", "--work", str(tmp_path)],
                         capture_output=True, text=True, timeout=1800)
    if res.returncode == 2 and "fix:" in res.stderr:
        pytest.skip(res.stderr.strip().splitlines()[-1])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
