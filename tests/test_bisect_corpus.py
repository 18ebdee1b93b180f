"""``btfids bisect`` on a real module: a check command that rejects an output property
finds the pass that introduces it, in O(log n) trials, through the real CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BTFIDS = str(Path(sys.executable).parent / "btfids")
MODULE = "net/netfilter/nf_conntrack.ko"

pytestmark = pytest.mark.corpus

# Bad (exit 1) when the split BTF's own types are sorted by name.
SORTED_CHECK = """
import sys
from btfids.btf import Btf
base = Btf.parse(open(sys.argv[1], "rb").read())
btf = Btf.parse(open(sys.argv[2], "rb").read(), base)
names = [btf.name(i) for i in range(btf.start_id, btf.type_cnt)]
sys.exit(1 if names == sorted(names) else 0)
"""


def _bisect(corpus: Path, tmp_path: Path, *check: str) -> subprocess.CompletedProcess[str]:
    elf = tmp_path / "nf_conntrack.ko"
    shutil.copyfile(corpus / "modules" / MODULE, elf)
    return subprocess.run(
        [BTFIDS, "bisect", "-b", str(corpus / "btf-vmlinux"), str(elf), "--", *check],
        capture_output=True, text=True,
    )


def _culprit(res: subprocess.CompletedProcess[str]) -> str:
    out = res.stdout + res.stderr
    found = re.findall(r"first bad pass[^\n]*?([a-z][a-z0-9-]+)", out)
    assert found, out
    return found[-1]


def test_finds_the_tag_pass(corpus: Path, tmp_path: Path) -> None:
    res = _bisect(corpus, tmp_path, "sh", "-c", '! grep -q bpf_kfunc "$1"', "_", "{btf}")
    assert _culprit(res) == "bpf-kfunc-tag", res.stdout + res.stderr
    # 8 passes: the two ends, then at most ceil(log2 8) = 3 trials
    assert len(re.findall(r"passes enabled", res.stdout + res.stderr)) <= 2 + 3


def test_finds_the_last_pass(corpus: Path, tmp_path: Path) -> None:
    res = _bisect(corpus, tmp_path, sys.executable, "-c", SORTED_CHECK,
                  str(corpus / "btf-vmlinux"), "{btf}")
    assert _culprit(res) == "sort", res.stdout + res.stderr
