"""Adopt btfids in a kernel tree: detect how the tree calls ``resolve_btfids``, which
pahole feature flags it passes, and print the make line and ``btfids.toml`` to use.

Detection reads only ``$srctree`` files (never runs make):

- version: ``VERSION``/``PATCHLEVEL``/``SUBLEVEL``/``EXTRAVERSION`` of the top Makefile;
- call form: ``scripts/gen-btf.sh`` running ``$RESOLVE_BTFIDS ... --btf`` is the newest
  form (side files, ``--patch_btfids``: preset ``bpf-next``); ``scripts/link-vmlinux.sh``
  running ``${RESOLVE_BTFIDS} vmlinux`` is the in-place form (preset ``linux-6.12``);
- pahole flags: every ``--btf_features=`` word of ``scripts/Makefile.btf``.

Findings are ``error`` (the build would be wrong), ``warning`` (works, but not what you
want) or ``note``. See docs/kbuild.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import BtfidsError

FORM_NEWEST = "newest"      # gen-btf.sh + side files + --patch_btfids (bpf-next)
FORM_IN_PLACE = "in-place"  # the tool patches vmlinux / each .ko itself (<= 6.18-ish)
PRESET_FOR_FORM = {FORM_NEWEST: "bpf-next", FORM_IN_PLACE: "linux-6.12"}
MODE_FOR_FORM = {FORM_NEWEST: "newest", FORM_IN_PLACE: "in-place-6.12"}
#: pahole features whose output a btfids pass also produces → the passes
PAHOLE_OVERLAP = {
    "decl_tag_kfuncs": ("bpf-kfunc-tag", "fastcall-tag"),
    "attributes": ("arena",),
}
#: what upstream kbuild puts in RESOLVE_BTFIDS_FLAGS (spec kbuild.md §1.2)
KNOWN_TOOL_FLAGS = ("--fatal_warnings", "--distill_base", "--verbose", "-v")
#: the only in-place tree checked byte for byte (e2e/kernel.py, golden corpus)
VERIFIED_IN_PLACE = (6, 12)

_MK_VAR = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(.*?)\s*$", re.M)
_FEATURES = re.compile(r"--btf_features=([A-Za-z0-9_,+]+)")


@dataclass
class Finding:
    level: str  # "error" | "warning" | "note"
    message: str


@dataclass
class Tree:
    """What the tree's own files say."""

    srctree: str
    version: str
    version_tuple: tuple[int, int, int]
    form: str
    pahole_features: list[str]
    #: lines of gen-btf.sh / link-vmlinux.sh / Makefile.modfinal that run the tool
    kbuild_calls: list[str] = field(default_factory=list)
    #: options ``scripts/Makefile.btf`` may put in ``RESOLVE_BTFIDS_FLAGS``
    tool_flags: list[str] = field(default_factory=list)


@dataclass
class Advice:
    """What to do: preset, make line, ``btfids.toml`` text, and the findings."""

    tree: Tree
    preset: str
    tool: str
    make_line: str
    toml: str
    config: str | None
    config_found_by: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)


class KbuildError(BtfidsError):
    """The directory is not a kernel tree btfids can serve."""


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def detect(srctree: str | os.PathLike[str]) -> Tree:
    """Read the tree's version, ``resolve_btfids`` call form and pahole features."""
    top = Path(srctree)
    mk = _read(top / "Makefile")
    vars_ = dict(_MK_VAR.findall(mk))
    if "VERSION" not in vars_ or "PATCHLEVEL" not in vars_:
        raise KbuildError(f"{top}: not a kernel source tree (no VERSION/PATCHLEVEL in Makefile)")
    try:
        vt = (int(vars_["VERSION"]), int(vars_["PATCHLEVEL"]), int(vars_.get("SUBLEVEL") or 0))
    except ValueError as exc:
        raise KbuildError(f"{top}/Makefile: cannot parse the kernel version: {exc}") from exc
    version = "%d.%d.%d%s" % (*vt, vars_.get("EXTRAVERSION", ""))
    gen = _read(top / "scripts/gen-btf.sh")
    link = _read(top / "scripts/link-vmlinux.sh")
    modfinal = _read(top / "scripts/Makefile.modfinal")
    calls = [
        ln.strip() for text in (gen, link, modfinal) for ln in text.splitlines()
        if "RESOLVE_BTFIDS" in ln and not ln.lstrip().startswith("#")
        and not re.match(r"\s*(export|[A-Za-z_]+\s*[:?]?=)", ln)
    ]
    if "RESOLVE_BTFIDS" in gen and "--btf " in gen.replace("--btf_base", ""):
        form = FORM_NEWEST
    elif re.search(r"\$\{?RESOLVE_BTFIDS\}?\s+vmlinux\b", link) or "RESOLVE_BTFIDS" in modfinal:
        form = FORM_IN_PLACE
    else:
        raise KbuildError(f"{top}: the build never calls $(RESOLVE_BTFIDS) (a kernel before 5.7?)")
    features: list[str] = []
    btf_mk = _read(top / "scripts/Makefile.btf")
    for text in (btf_mk,):
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            for group in _FEATURES.findall(line):
                for feat in group.split(","):
                    feat = feat.lstrip("+")
                    if feat and feat not in features:
                        features.append(feat)
    tool_flags = re.findall(r"^resolve-btfids-flags-[^\n]*?\+?=\s*(--?[\w-]+)", btf_mk, re.M)
    return Tree(str(top), version, vt, form, features, calls, tool_flags)


def _default_tool() -> str:
    here = Path(sys.executable).parent / "resolve_btfids"
    if here.is_file():
        return str(here)
    return shutil.which("resolve_btfids") or "resolve_btfids"


def tree_toml(tree: Tree) -> str:
    """The ``btfids.toml`` for ``tree`` (extends its preset; switches off the passes whose
    output pahole is still asked to produce)."""
    preset = PRESET_FOR_FORM[tree.form]
    lines = [
        f"# btfids.toml for Linux {tree.version} (generated by `btfids kbuild`).",
        "# Build: make RESOLVE_BTFIDS=/path/to/resolve_btfids",
        f'extends = "{preset}"',
    ]
    if tree.form == FORM_NEWEST:
        for feat, passes in PAHOLE_OVERLAP.items():
            if feat in tree.pahole_features:
                for p in passes:
                    lines += ["", f"# scripts/Makefile.btf asks pahole for {feat}",
                              f"[passes.{p}]", "enabled = false"]
    return "\n".join(lines) + "\n"


def advise(
    srctree: str | os.PathLike[str],
    *,
    objtree: str | os.PathLike[str] | None = None,
    tool: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Advice:
    """Detect the tree, find its btfids config as a build would, and check both."""
    from . import config as cfgmod

    env = dict(os.environ if env is None else env)
    tree = detect(srctree)
    preset = PRESET_FOR_FORM[tree.form]
    tool = tool or _default_tool()
    findings: list[Finding] = []
    add = findings.append

    for flag in tree.tool_flags:
        if flag not in KNOWN_TOOL_FLAGS:
            add(Finding("error",
                        f"scripts/Makefile.btf can pass {flag} to resolve_btfids, which is "
                        "not an upstream option and not supported by btfids (exit 129 "
                        "when kbuild passes it)"))

    if tree.form == FORM_IN_PLACE and tree.version_tuple[:2] != VERIFIED_IN_PLACE:
        add(Finding("warning",
                    f"Linux {tree.version} calls resolve_btfids in place; btfids reproduces "
                    "the 6.12 tool, verified byte for byte on 6.12 only — compare a build "
                    "with the C tool first (see docs/kbuild.md)"))
    if tree.form == FORM_NEWEST:
        for feat, passes in PAHOLE_OVERLAP.items():
            if feat not in tree.pahole_features:
                continue
            if feat == "attributes":
                add(Finding("error",
                            "scripts/Makefile.btf asks pahole for --btf_features=attributes "
                            "and the btfids pass 'arena' adds the same address_space(1) "
                            "tags again (not folded by dedup: arena pointers get two "
                            "TYPE_TAGs); drop 'attributes' from Makefile.btf or disable "
                            "the pass in btfids.toml"))
            else:
                add(Finding("warning",
                            f"scripts/Makefile.btf asks pahole for --btf_features={feat}, "
                            f"which btfids also emits (passes {', '.join(passes)}); dedup "
                            "folds the duplicates, but drop it from Makefile.btf (upstream "
                            "did) or disable the passes in btfids.toml"))
    elif "decl_tag_kfuncs" in tree.pahole_features:
        add(Finding("note", "pahole emits the kfunc decl tags in this tree "
                            "(decl_tag_kfuncs); the in-place tool never touches BTF — keep it"))

    # The config a build would pick up: kbuild runs the tool in the object tree with
    # $srctree exported.
    build_env = {k: v for k, v in env.items() if k == cfgmod.ENV_CONFIG}
    build_env["srctree"] = str(Path(srctree).resolve())
    cwd = Path(objtree) if objtree is not None else Path(srctree)
    cfg_name: str | None = None
    found_by: str | None = None
    try:
        cfg = cfgmod.load_config(env=build_env, cwd=cwd)
        cfg_name, found_by = cfg.name, cfg.found_by
        from . import host

        host.prepare(cfg)
        want = MODE_FOR_FORM[tree.form]
        if cfg.mode != want:
            how = ("the default preset bpf-next (no btfids.toml found)"
                   if found_by == "default" else f"{cfg_name} (found by {found_by})")
            add(Finding("error",
                        f"{how} has mode {cfg.mode!r}, but this tree needs {want!r} "
                        f"(preset {preset}); the kernel's .BTF_ids would not be resolved"))
        elif found_by == "default":
            add(Finding("note", "no btfids.toml in the tree: the default preset bpf-next "
                                "applies"))
        if cfg.mode == "newest" and cfg_name and not cfg_name.startswith("preset "):
            off = {s.name for s in host.prepare(cfg).steps if not s.enabled}
            for feat, passes in PAHOLE_OVERLAP.items():
                if feat in tree.pahole_features and set(passes) <= off:
                    findings[:] = [f for f in findings if feat not in f.message]
        if cfg.compat.get("fatal_warnings_noop") is not True and objtree is not None:
            dotconfig = _read(Path(objtree) / ".config")
            if tree.form == FORM_NEWEST and "\nCONFIG_WERROR=y" in "\n" + dotconfig:
                add(Finding("note", "CONFIG_WERROR=y: kbuild passes --fatal_warnings, which "
                                    "btfids honours (upstream ignores it): a kfunc-set warning "
                                    "fails the build; [compat] fatal_warnings_noop = true "
                                    "restores upstream"))
    except BtfidsError as exc:
        add(Finding("error", str(exc)))
    if env.get(cfgmod.ENV_CONFIG):
        add(Finding("note", f"${cfgmod.ENV_CONFIG}={env[cfgmod.ENV_CONFIG]} overrides the "
                            "tree's btfids.toml"))
    if not Path(tool).is_file():
        add(Finding("warning", f"{tool}: not found; install btfids (pip install btfids) and "
                               "give the path of its resolve_btfids script"))

    make = ["make", f"RESOLVE_BTFIDS={tool}"]
    if found_by in ("default", None) and preset != cfgmod.DEFAULT_PRESET:
        make.append(f"BTFIDS_CONFIG={preset}")
    return Advice(tree, preset, tool, shlex.join(make), tree_toml(tree), cfg_name, found_by,
                  findings)


def format_text(adv: Advice) -> str:
    t = adv.tree
    form = ("gen-btf.sh + side files + --patch_btfids" if t.form == FORM_NEWEST
            else "resolve_btfids patches vmlinux and each .ko in place")
    out = [
        f"tree:      {t.srctree}",
        f"kernel:    {t.version} ({form})",
        f"pahole:    --btf_features {','.join(t.pahole_features) or '(none: pahole < 1.26)'}",
        f"preset:    {adv.preset}",
        f"config:    {adv.config or '-'}" + (f" (found by {adv.config_found_by})"
                                              if adv.config_found_by else ""),
        "",
        "make line (quiet; V=1 for verbose):",
        f"    {adv.make_line}",
        "",
        f"{Path(t.srctree) / 'btfids.toml'} (or BTFIDS_CONFIG={adv.preset} instead):",
        *("    " + ln if ln else "" for ln in adv.toml.splitlines()),
    ]
    if adv.findings:
        out.append("")
        out += [f"{f.level}: {f.message}" for f in adv.findings]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m btfids.kbuild [SRCTREE] [--objtree DIR] [--tool PATH] [--json]
    [--write]`` (``btfids kbuild`` has the same options, in the front end's style)."""
    ap = argparse.ArgumentParser(prog="btfids kbuild", description=__doc__.split("\n\n")[0])
    ap.add_argument("srctree", nargs="?", default=os.environ.get("srctree", "."))  # noqa: SIM112
    ap.add_argument("--objtree", help="object tree (O=), to read its .config")
    ap.add_argument("--tool", help="path of resolve_btfids to put on the make line")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--write", action="store_true",
                    help="write btfids.toml into the tree if it has none")
    args = ap.parse_args(argv)
    return run(args.srctree, objtree=args.objtree, tool=args.tool, as_json=args.json,
               write=args.write)


def run(srctree: str, *, objtree: str | None = None, tool: str | None = None,
        as_json: bool = False, write: bool = False) -> int:
    """Advise on ``srctree`` and print it; the exit status (0 ok, 1 findings with an
    error, the error's status when the tree cannot be read)."""
    try:
        adv = advise(srctree, objtree=objtree, tool=tool)
    except BtfidsError as exc:
        print(f"btfids: {exc}", file=sys.stderr)
        return exc.exit_code
    if write:
        dest = Path(srctree) / "btfids.toml"
        if dest.exists():
            adv.findings.append(Finding("note", f"{dest} exists; not overwritten"))
        else:
            dest.write_text(adv.toml)
            adv = advise(srctree, objtree=objtree, tool=tool)
            adv.findings.append(Finding("note", f"wrote {dest}"))
    if as_json:
        print(json.dumps({**asdict(adv), "ok": adv.ok}, indent=2))
    else:
        sys.stdout.write(format_text(adv))
    return 0 if adv.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
