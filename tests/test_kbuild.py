"""btfids.kbuild (tree detection, advice, checks), the example btfids.toml files, and the
generated man page. Trees are minimal copies of the kbuild lines that matter, built here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btfids import config as cfgmod
from btfids import host, kbuild

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "config/examples"

LINK_612 = """\
# fill in BTF IDs
if is_enabled CONFIG_DEBUG_INFO_BTF; then
\tinfo BTFIDS vmlinux
\t${RESOLVE_BTFIDS} vmlinux
fi
"""
MODFINAL_612 = """\
      cmd_btf_ko = \\
\t\tLLVM_OBJCOPY="$(OBJCOPY)" $(PAHOLE) -J $(PAHOLE_FLAGS) --btf_base vmlinux $@; \\
\t\t$(RESOLVE_BTFIDS) -b vmlinux $@; \\
"""
BTF_612 = """\
pahole-flags-$(call test-ge, $(pahole-ver), 126)  = -j --btf_features=encode_force,var,\
float,enum64,decl_tag,type_tag,optimized_func,consistent_func,decl_tag_kfuncs
# a comment naming --btf_features=ignored_in_comments
module-pahole-flags-$(call test-ge, $(pahole-ver), 126) += --btf_features=distilled_base
"""
GEN_NEWEST = """\
gen_btf_data()
{
\t${PAHOLE} -J ${PAHOLE_FLAGS} ${BTF_BASE:+--btf_base ${BTF_BASE}} \\
\t\t--btf_encode_detached=${btf1} "${ELF_FILE}"
\t${RESOLVE_BTFIDS} ${RESOLVE_BTFIDS_FLAGS} ${BTF_BASE:+--btf_base ${BTF_BASE}} \\
\t\t--btf ${btf1} "${ELF_FILE}"
}
embed_btf_data()
{
\t\t${RESOLVE_BTFIDS} --patch_btfids ${btf_ids} ${ELF_FILE}
}
"""
LINK_NEWEST = """\
\tinfo BTFIDS "${VMLINUX}"
\t${RESOLVE_BTFIDS} --patch_btfids ${btfids_vmlinux} ${VMLINUX}
"""
BTF_NEWEST = """\
pahole-flags-$(call test-ge, $(pahole-ver), 126)  = -j$(JOBS) --btf_features=encode_force,\
var,float,enum64,decl_tag,type_tag,optimized_func,consistent_func
pahole-flags-$(call test-ge, $(pahole-ver), 131) += --btf_features=layout
resolve-btfids-flags-$(CONFIG_WERROR) += --fatal_warnings
resolve-btfids-flags-$(if $(KBUILD_EXTMOD),y) += --distill_base
resolve-btfids-flags-$(if $(KBUILD_VERBOSE),y) += --verbose
"""


def make_tree(root: Path, form: str, version: tuple[int, int, int] = (6, 12, 117),
              btf_mk: str | None = None) -> Path:
    """A source tree with just the files kbuild.detect reads."""
    (root / "scripts").mkdir(parents=True)
    v, p, s = version
    (root / "Makefile").write_text(
        f"# SPDX-License-Identifier: GPL-2.0\nVERSION = {v}\nPATCHLEVEL = {p}\n"
        f"SUBLEVEL = {s}\nEXTRAVERSION =\nNAME = test\n"
        "RESOLVE_BTFIDS\t= $(objtree)/tools/bpf/resolve_btfids/resolve_btfids\n")
    if form == "in-place":
        (root / "scripts/link-vmlinux.sh").write_text(LINK_612)
        (root / "scripts/Makefile.modfinal").write_text(MODFINAL_612)
        (root / "scripts/Makefile.btf").write_text(BTF_612 if btf_mk is None else btf_mk)
    else:
        (root / "scripts/gen-btf.sh").write_text(GEN_NEWEST)
        (root / "scripts/link-vmlinux.sh").write_text(LINK_NEWEST)
        (root / "scripts/Makefile.btf").write_text(BTF_NEWEST if btf_mk is None else btf_mk)
    return root


def levels(adv: kbuild.Advice) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in adv.findings:
        out.setdefault(f.level, []).append(f.message)
    return out


NOENV: dict[str, str] = {}


# ------------------------------------------------------------------ detection
def test_detect_612(tmp_path: Path) -> None:
    tree = kbuild.detect(make_tree(tmp_path, "in-place"))
    assert tree.version == "6.12.117"
    assert tree.version_tuple == (6, 12, 117)
    assert tree.form == kbuild.FORM_IN_PLACE
    assert "decl_tag_kfuncs" in tree.pahole_features
    assert "distilled_base" in tree.pahole_features
    assert "ignored_in_comments" not in tree.pahole_features
    assert "${RESOLVE_BTFIDS} vmlinux" in tree.kbuild_calls
    assert "$(RESOLVE_BTFIDS) -b vmlinux $@; \\" in tree.kbuild_calls
    # the variable definition in the top Makefile is not a call
    assert not any(c.startswith("RESOLVE_BTFIDS") for c in tree.kbuild_calls)


def test_detect_newest(tmp_path: Path) -> None:
    tree = kbuild.detect(make_tree(tmp_path, "newest", (7, 2, 0)))
    assert tree.form == kbuild.FORM_NEWEST
    assert tree.version == "7.2.0"
    assert "decl_tag_kfuncs" not in tree.pahole_features
    assert "layout" in tree.pahole_features
    assert tree.tool_flags == ["--fatal_warnings", "--distill_base", "--verbose"]


def test_detect_errors(tmp_path: Path) -> None:
    with pytest.raises(kbuild.KbuildError, match="not a kernel source tree"):
        kbuild.detect(tmp_path)
    (tmp_path / "Makefile").write_text("VERSION = 5\nPATCHLEVEL = 4\n")
    with pytest.raises(kbuild.KbuildError, match="never calls"):
        kbuild.detect(tmp_path)


# ------------------------------------------------------------------ advice
def test_612_without_config_needs_preset(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "in-place")
    adv = kbuild.advise(src, tool="/x/resolve_btfids", env=NOENV)
    assert adv.preset == "linux-6.12"
    assert adv.config_found_by == "default"
    assert not adv.ok
    assert any("needs 'in-place-6.12'" in m for m in levels(adv)["error"])
    assert adv.make_line == "make RESOLVE_BTFIDS=/x/resolve_btfids BTFIDS_CONFIG=linux-6.12"
    assert 'extends = "linux-6.12"' in adv.toml
    # the note about pahole keeping decl_tag_kfuncs (right for 6.12)
    assert any("decl_tag_kfuncs" in m for m in levels(adv)["note"])


def test_612_with_example_config(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "in-place")
    (src / "btfids.toml").write_text((EXAMPLES / "btfids.toml.linux-6.12").read_text())
    adv = kbuild.advise(src, tool=sys.executable, env=NOENV)
    assert adv.ok, adv.findings
    assert adv.config_found_by == "$srctree"
    assert adv.config == str((src / "btfids.toml").resolve())
    assert adv.make_line == f"make RESOLVE_BTFIDS={sys.executable}"
    assert "warning" not in levels(adv)


def test_env_config_wins_and_is_noted(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "in-place")
    adv = kbuild.advise(src, tool=sys.executable, env={"BTFIDS_CONFIG": "linux-6.12"})
    assert adv.ok
    assert adv.config_found_by == "$BTFIDS_CONFIG"
    assert any("overrides" in m for m in levels(adv)["note"])
    adv = kbuild.advise(src, tool=sys.executable, env={"BTFIDS_CONFIG": "bpf-next"})
    assert not adv.ok


def test_other_in_place_version_warns(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "in-place", (6, 6, 50))
    adv = kbuild.advise(src, tool=sys.executable, env={"BTFIDS_CONFIG": "linux-6.12"})
    assert adv.ok
    assert any("6.12 only" in m for m in levels(adv)["warning"])


def test_newest_clean_tree(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "newest", (7, 2, 0))
    adv = kbuild.advise(src, tool=sys.executable, env=NOENV)
    assert adv.ok and adv.preset == "bpf-next"
    assert adv.make_line == f"make RESOLVE_BTFIDS={sys.executable}"
    assert "warning" not in levels(adv) and "error" not in levels(adv)


def test_newest_pahole_overlap(tmp_path: Path) -> None:
    mk = BTF_NEWEST.replace("consistent_func", "consistent_func,decl_tag_kfuncs")
    mk += "pahole-flags-$(call test-ge, $(pahole-ver), 130) += --btf_features=attributes\n"
    src = make_tree(tmp_path / "linux", "newest", (7, 0, 0), btf_mk=mk)
    adv = kbuild.advise(src, tool=sys.executable, env=NOENV)
    lv = levels(adv)
    assert any("decl_tag_kfuncs" in m for m in lv["warning"])
    assert any("attributes" in m and "arena" in m for m in lv["error"])
    # the generated config switches the overlapping passes off, and then the tree is clean
    assert "[passes.arena]" in adv.toml and "[passes.bpf-kfunc-tag]" in adv.toml
    (src / "btfids.toml").write_text(adv.toml)
    adv2 = kbuild.advise(src, tool=sys.executable, env=NOENV)
    assert adv2.ok, adv2.findings
    assert "warning" not in levels(adv2)
    pipe = host.prepare(cfgmod.load(str(src / "btfids.toml")))
    off = {s.name for s in pipe.steps if not s.enabled}
    assert off == {"bpf-kfunc-tag", "fastcall-tag", "arena"}


def test_unknown_tool_flag_is_an_error(tmp_path: Path) -> None:
    mk = BTF_NEWEST + (
        "resolve-btfids-flags-$(CONFIG_FUNCTION_ERROR_INJECTION) += --fmodret_error_injection\n")
    src = make_tree(tmp_path / "linux", "newest", btf_mk=mk)
    adv = kbuild.advise(src, tool=sys.executable, env=NOENV)
    assert any("--fmodret_error_injection" in m for m in levels(adv)["error"])
    assert sum("--fmodret_error_injection" in m for m in levels(adv)["error"]) == 1


def test_invalid_tree_config_is_reported(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "newest")
    (src / "btfids.toml").write_text('extends = "bpf-next"\n[passes.sort]\nenabeld = false\n')
    adv = kbuild.advise(src, tool=sys.executable, env=NOENV)
    assert not adv.ok
    assert any("passes.sort.enabeld" in m for m in levels(adv)["error"])


def test_werror_note_with_objtree(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "newest")
    obj = tmp_path / "obj"
    obj.mkdir()
    (obj / ".config").write_text("CONFIG_BPF=y\nCONFIG_WERROR=y\n")
    adv = kbuild.advise(src, objtree=obj, tool=sys.executable, env=NOENV)
    assert any("--fatal_warnings" in m for m in levels(adv)["note"])
    (obj / ".config").write_text("CONFIG_BPF=y\n# CONFIG_WERROR is not set\n")
    adv = kbuild.advise(src, objtree=obj, tool=sys.executable, env=NOENV)
    assert not any("--fatal_warnings" in m for m in levels(adv).get("note", []))


def test_missing_tool_warns(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "newest")
    adv = kbuild.advise(src, tool=str(tmp_path / "nope"), env=NOENV)
    assert any("not found" in m for m in levels(adv)["warning"])


# ------------------------------------------------------------------ command line
def run_main(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "btfids.kbuild", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


def test_main_json_and_write(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "linux", "in-place")
    res = run_main(str(src), "--json")
    assert res.returncode == 1
    data = json.loads(res.stdout)
    assert data["ok"] is False and data["preset"] == "linux-6.12"
    res = run_main(str(src), "--write")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "wrote" in res.stdout
    assert (src / "btfids.toml").read_text().endswith('extends = "linux-6.12"\n')
    # text mode prints the make line and the toml
    res = run_main(str(src))
    assert res.returncode == 0
    assert "make RESOLVE_BTFIDS=" in res.stdout and "found by $srctree" in res.stdout


def test_main_not_a_tree(tmp_path: Path) -> None:
    res = run_main(str(tmp_path))
    assert res.returncode == 255
    assert res.stderr.startswith("btfids: ") and res.stderr.count("\n") == 1


# ------------------------------------------------------------------ example configs
@pytest.mark.parametrize("name,preset,mode", [
    ("btfids.toml.bpf-next", "bpf-next", "newest"),
    ("btfids.toml.linux-6.12", "linux-6.12", "in-place-6.12"),
])
def test_example_configs_are_valid_and_equal_the_preset(name: str, preset: str,
                                                        mode: str) -> None:
    path = EXAMPLES / name
    cfg = cfgmod.load(str(path))
    assert cfg.mode == mode
    assert cfg.chain == [f"preset {preset}", str(path)]
    pipe = host.prepare(cfg)
    ref = host.prepare(cfgmod.load(preset))
    # unchanged examples must keep the byte-exact preset pipeline
    assert [(s.name, s.enabled, s.options) for s in pipe.steps] == [
        (s.name, s.enabled, s.options) for s in ref.steps]
    assert not cfg.compat.get("fatal_warnings_noop")


# ------------------------------------------------------------------ man page
def test_man_page_is_up_to_date() -> None:
    res = subprocess.run([sys.executable, str(REPO / "scripts/gen-man.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_man_page_lists_every_option() -> None:
    from btfids.cli import subcmd

    page = (REPO / "docs/man/resolve_btfids.1").read_text()
    for opt in [*subcmd.NEWEST_OPTIONS, *subcmd.LEGACY_OPTIONS, *subcmd.PROJECT_OPTIONS]:
        assert f"\\-\\-{opt.long}" in page, opt.long
    assert page.count(".SH ") >= 8


# ------------------------------------------------------------------ a real tree
# What kbuild.detect reads from a 6.12 tree (gen-btf.sh only exists in newer trees).
_TREE_FILES = ("Makefile", "scripts/link-vmlinux.sh", "scripts/Makefile.modfinal",
               "scripts/Makefile.btf")


def _real_612_tree(tmp_path: Path) -> Path | None:
    """An unpacked 6.12 tree (the e2e cache), else the files kbuild.detect reads, pulled
    out of Debian's linux-source-6.12 tarball (installed with apt if missing)."""
    base = Path.home() / ".cache/btfids-e2e/src"
    for cand in sorted(base.glob("*/linux-source-6.12")):
        if (cand / "Makefile").is_file():
            return cand
    tarball = Path("/usr/src/linux-source-6.12.tar.xz")
    if not tarball.is_file() and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "linux-source-6.12"],
                       capture_output=True, check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not tarball.is_file():
        return None
    members = [f"linux-source-6.12/{f}" for f in _TREE_FILES]
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(tmp_path), *members], check=True)
    return tmp_path / "linux-source-6.12"


def test_real_612_tree(tmp_path: Path) -> None:
    src = _real_612_tree(tmp_path)
    assert src is not None, "linux-source-6.12 is not installable here (apt-get)"
    tree = kbuild.detect(src)
    assert tree.form == kbuild.FORM_IN_PLACE
    assert tree.version_tuple[:2] == (6, 12)
    assert {"decl_tag_kfuncs", "distilled_base"} <= set(tree.pahole_features)
    assert tree.tool_flags == []
    adv = kbuild.advise(src, tool=sys.executable, env={"BTFIDS_CONFIG": "linux-6.12"})
    assert adv.ok and adv.preset == "linux-6.12"
