"""End-to-end, newest form (marker ``slow``): ``make e2e-newest`` — a 6.12 kernel with
bpf-next's BTF flow (e2e/newest/bpf-next-btf-flow.patch) built with btfids, every tool
call recorded, both kernels (default, and a tree btfids.toml without ``sort``) booted in
QEMU with kfunc programs run. Cached under ~/.cache/btfids-e2e (a cold first run
compiles a kernel). The fast tests of the pieces are in test_gen_btf.py and
test_e2e_guest.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_newest_kernel_boots_and_calls_kfuncs() -> None:
    if not Path("/usr/src/linux-source-6.12.tar.xz").is_file():
        pytest.skip("apt-get install linux-source-6.12 (see docs/kbuild.md)")
    for tool in ("pahole", "qemu-system-x86_64", "clang", "busybox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (see docs/kbuild.md, docs/e2e-guest.md)")
    res = subprocess.run([sys.executable, str(REPO / "e2e/newest.py"), "all",
                          "--resolve-btfids", str(Path(sys.executable).parent / "resolve_btfids")],
                         capture_output=True, text=True, timeout=4 * 3600)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["failed"] == [], res.stderr[-3000:]
    assert out["guest"] == dict.fromkeys(out["guest"], True)
    assert set(out["guest"]) >= {"vmlinux_btf_equal", "modules_btf_loaded", "extmod_loaded",
                                 "kfunc_vmlinux_call", "kfunc_module_call",
                                 "negative_control_rejected", "nosort_boot_and_calls"}
    assert out["calls"] >= 2 + 4 + 2 and out["bpf_kfunc_tags"] > 0
    assert out["btfids_check"]["bad"] == [] and out["btfids_check"]["checked"] > 0
    assert out["replay_identical"] in (None, out["calls"])
    assert out["ok"] is True
