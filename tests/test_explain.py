"""``btfids explain``: one fixture case per cause (gcc + pahole build them), upstream's
warning lines unchanged on stderr (against the 6.12 C tool when it is built here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from selftest import build as B

from btfids.cli import app

pytestmark = pytest.mark.skipif(
    bool(B.missing_tools()), reason=f"needs {', '.join(B.missing_tools())}")

#: the 6.12 C tool, when `make reftool` built it on this machine
REFTOOLS = sorted(Path.home().glob(".cache/btfids-e2e/reftool-*/resolve_btfids"))


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return B.build_explain(tmp_path_factory.mktemp("explain"))


def explain(*argv: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app.cli, ["explain", *argv])
    return r.exit_code, r.stdout, r.stderr


def findings(*argv: str) -> dict[tuple[str, str], dict[str, Any]]:
    code, out, _ = explain("--json", *argv)
    assert code == 1, out
    return {(f["kind"], f["name"]): f for f in json.loads(out)["symbols"]}


def test_one_case_per_cause(objects: tuple[Path, Path]) -> None:
    vmlinux, _ = objects
    got = findings(str(vmlinux))
    causes = {k: f["cause"] for k, f in got.items()}
    assert causes == {
        ("func", "compiled_out"): "not-in-symtab",
        ("func", "asm_only"): "not-in-btf",
        ("typedef", "no_such_type"): "not-in-btf",
        ("struct", "no_such_struct"): "not-in-btf",
        ("func", "not_a_func"): "wrong-kind",
        ("struct", "dup"): "ambiguous",
    }
    assert got[("func", "compiled_out")]["sets"] == ["list explain_list", "set explain_set"]
    assert got[("typedef", "no_such_type")]["sets"] == ["list explain_list"]
    wrong = got[("func", "not_a_func")]
    assert [k for _, k in wrong["candidates"]] == ["STRUCT"]
    assert "the BTF has STRUCT [" in wrong["detail"]
    dup = got[("struct", "dup")]
    ids = [tid for tid, k in dup["candidates"]]
    assert len(ids) == 2 and dup["id"] == min(ids)
    assert f"ID {dup['id']} was taken" in dup["detail"]
    assert all(f["base"] is None for f in got.values())


def test_module_in_base_and_not_in_base(objects: tuple[Path, Path]) -> None:
    vmlinux, mod = objects
    got = findings("-b", str(vmlinux), str(mod))
    assert {k: (f["cause"], f["base"]) for k, f in got.items()} == {
        ("func", "mod_missing"): ("not-in-symtab", "not-in-base"),
        ("func", "mod_asm"): ("not-in-btf", "not-in-base"),
        ("func", "not_a_func"): ("wrong-kind", "in-base"),
    }


def test_stderr_is_upstreams_lines_and_v_adds_a_cause(objects: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    vmlinux, _ = objects
    code, out, err = explain(str(vmlinux))
    assert code == 1 and out.splitlines()[-1] == "5 unresolved, 1 ambiguous"
    assert err.splitlines() == [
        "WARN: multiple IDs found for 'dup': 9, 10 - using 9",
        "WARN: resolve_btfids: unresolved symbol no_such_struct",
        "WARN: resolve_btfids: unresolved symbol no_such_type",
        "WARN: resolve_btfids: unresolved symbol not_a_func",
        "WARN: resolve_btfids: unresolved symbol compiled_out",
        "WARN: resolve_btfids: unresolved symbol asm_only",
    ]
    _, _, verbose = explain("-v", str(vmlinux))
    lines = verbose.splitlines()
    assert lines[0::2] == err.splitlines()
    assert lines[1] == ("    struct dup: ambiguous: 2 STRUCT types named dup (9, 10); "
                        "ID 9 was taken")
    assert lines[9].startswith("    func compiled_out: not-in-symtab: ")
    # --no-passes: the input BTF (pahole's order) as the 6.12 tool resolves it
    _, _, raw = explain("--no-passes", str(vmlinux))
    if not REFTOOLS:
        pytest.skip("the 6.12 C tool is not built here (make reftool): no differential check")
    copy = tmp_path / "vmlinux.o"
    shutil.copyfile(vmlinux, copy)
    ref = subprocess.run([str(REFTOOLS[-1]), str(copy)], capture_output=True, text=True,
                         check=False)
    assert [x for x in ref.stderr.splitlines() if x.startswith("WARN")] == raw.splitlines()


def test_clean_elf_exits_0(tmp_path: Path) -> None:
    objs = B.build(tmp_path)
    code, out, err = explain("--btf", str(objs.data), str(objs.ids))
    assert (code, out, err) == (0, "0 unresolved, 0 ambiguous\n", "")


def test_bad_input_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"not an ELF")
    code, _, err = explain(str(bad))
    assert code == 255 and len(err.splitlines()) == 1 and "Traceback" not in err
