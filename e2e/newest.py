#!/usr/bin/env python3
"""End-to-end, newest form: a 6.12 kernel built with bpf-next's BTF flow and btfids.

Steps (``make e2e-newest`` runs them all; each is cached):

1. **tree**: a copy of Debian's ``linux-source-6.12`` (hard links, under the e2e cache)
   with ``e2e/newest/bpf-next-btf-flow.patch`` applied: ``scripts/gen-btf.sh``, side
   files, ``--patch_btfids`` (the shared unpacked tree is never modified).
2. **build**: the tinyconfig recipe of ``e2e/kernel.py`` (same ``.config``), built with
   ``RESOLVE_BTFIDS=e2e/capture.py`` running btfids' ``resolve_btfids`` (default preset
   ``bpf-next``, no config file); every call is recorded under ``e2e/out/calls/NNN/``.
   Then ``e2e/extmod`` with ``make M=`` (``--distill_base``, ``--patch_btfids``), the
   same module without its ``--patch_btfids`` step (negative control), and
   ``modules_install`` into a staging directory for the guest.
3. **nosort**: a third link of vmlinux (incremental) with a tree ``btfids.toml`` that
   disables the ``sort`` pass; calls recorded under ``e2e/out/calls-nosort/``.
4. **checks**: ``btfids check`` on every BTF the tool wrote; with ``REF_RESOLVE_BTFIDS``
   every recorded call replayed with that C tool and its outputs compared byte for byte
   (skipped, and reported as ``null``, without it); the guest boots (``e2e/guest.py``)
   of both kernels.
5. ``e2e/out/newest-summary.json``; exit 0 only when every check holds.

Usage: ``e2e/newest.py [all|tree|build|replay|info]``. Stdlib only, like e2e/kernel.py,
whose helpers it imports.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import kernel as K  # noqa: E402  (e2e/kernel.py: config recipe, make, ELF reader)

REPO = K.REPO
PATCH = HERE / "newest/bpf-next-btf-flow.patch"
EXTMOD = HERE / "extmod"
CAPTURE = HERE / "capture.py"
OUT = HERE / "out"
EXTMOD_NAME = "btfids_e2e"
#: the tree config of step 3 (read by btfids through $srctree/btfids.toml)
NOSORT_TOML = """\
# make e2e-newest, step 3: the default pipeline without its last pass.
extends = "bpf-next"

[passes.sort]
enabled = false
"""
SIDE_SUFFIXES = (".BTF_ids", ".BTF", ".BTF.base")
#: on top of e2e/kernel.py's config: the verifier finds a kfunc's address by name
#: (kallsyms_lookup_name), so a kernel without kallsyms refuses every kfunc call
CONFIG_Y_EXTRA = ["KALLSYMS"]
log = K.log
E2EError = K.E2EError


def file_sha(path: Path) -> str:
    return K.sha256(path)


def new_file_from_patch(patch: str, path: str) -> str:
    """The text of a file the patch creates (``--- /dev/null`` / ``+++ b/<path>``)."""
    lines = patch.splitlines()
    try:
        at = lines.index(f"+++ b/{path}")
    except ValueError:
        raise E2EError(f"{PATCH.name} does not create {path}") from None
    if lines[at - 1] != "--- /dev/null":
        raise E2EError(f"{PATCH.name} changes {path} rather than creating it")
    body = []
    for ln in lines[at + 2:]:  # skip the @@ line
        if not ln.startswith("+"):
            break
        body.append(ln[1:])
    return "\n".join(body) + "\n"


def patched_files(patch: str) -> list[str]:
    return [ln[6:] for ln in patch.splitlines() if ln.startswith("+++ b/")]


def guest_module() -> Any:
    """e2e/guest.py (the guest half: QEMU, initramfs, BPF programs; also a stdlib BTF
    reader), loaded once."""
    mod = sys.modules.get("e2e_guest")
    if mod is None:
        spec = importlib.util.spec_from_file_location("e2e_guest", HERE / "guest.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["e2e_guest"] = mod
        spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ the harness
class Newest:
    def __init__(self, args: argparse.Namespace) -> None:
        self.k = K.E2E(args)
        self.jobs = args.jobs
        self.force = args.force
        self.tool = Path(args.resolve_btfids).expanduser()
        self.ref = os.environ.get("REF_RESOLVE_BTFIDS") or None
        self.timeout = args.boot_timeout
        self.accel = getattr(args, "accel", "tcg")
        self.out = Path(args.out)

    # -- keys and places
    @property
    def top(self) -> Path:
        return self.k.cache / f"newest-{self.k.key()}"

    @property
    def src(self) -> Path:
        return self.top / "src" / K.PKG

    @property
    def obj(self) -> Path:
        return self.top / "build"

    def build_key(self) -> str:
        """What the recorded build depends on beyond the kernel recipe."""
        h = hashlib.sha256((self.k.key() + " ".join(CONFIG_Y_EXTRA)).encode())
        for p in [PATCH, CAPTURE, *sorted(EXTMOD.iterdir())]:
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        h.update(self.k.btfids_hash().encode())
        return h.hexdigest()[:12]

    # -- step 1
    def tree(self) -> Path:
        """The patched copy of the source (re-made when the patch changes)."""
        shared = self.k.unpack()
        patch = PATCH.read_text()
        stamp = self.src.parent / ".patched"
        want = hashlib.sha256(patch.encode()).hexdigest()
        if stamp.is_file() and stamp.read_text().strip() == want and not self.force:
            return self.src
        shutil.rmtree(self.src.parent, ignore_errors=True)
        self.src.parent.mkdir(parents=True)
        # hard links: cheap, and unchanged files keep their mtimes (make stays incremental)
        K.run(["cp", "-al", str(shared), str(self.src)])
        (self.src / "btfids.toml").unlink(missing_ok=True)  # kernel.py's linux-6.12 config
        for rel in patched_files(patch):  # patched files get their own inodes first
            p = self.src / rel
            if p.exists():  # a copy keeps the mode (link-vmlinux.sh is run directly)
                tmp = p.with_name(p.name + ".e2e-tmp")
                shutil.copy2(p, tmp)
                os.replace(tmp, p)
        K.run(["patch", "-p1", "-s", "-d", str(self.src), "-i", str(PATCH)])
        stamp.write_text(want + "\n")
        return self.src

    def prepare(self) -> Path:
        """kernel.py's ``.config`` plus CONFIG_Y_EXTRA (cached)."""
        base = self.k.prepare()
        cfgdir = self.top / "config"
        final = cfgdir / ".config"
        stamp = cfgdir / "recipe"
        recipe = base.read_text() + "\n# extra: " + " ".join(CONFIG_Y_EXTRA) + "\n"
        if final.exists() and stamp.is_file() and stamp.read_text() == recipe:
            return final
        shutil.rmtree(cfgdir, ignore_errors=True)
        cfgdir.mkdir(parents=True)
        shutil.copyfile(base, final)
        opts = [x for n in CONFIG_Y_EXTRA for x in ("-e", n)]
        K.run([str(self.k.srctree / "scripts/config"), "--file", str(final), *opts])
        self.k.make(cfgdir, ["olddefconfig"], [], cfgdir / "config.log")
        have = final.read_text()
        missing = [n for n in CONFIG_Y_EXTRA if f"CONFIG_{n}=y\n" not in have]
        if missing:
            raise E2EError(f"Kconfig dropped {', '.join(missing)} (see {cfgdir})")
        stamp.write_text(recipe)
        return final

    # -- step 2
    def env(self, calls: Path, phase: str, **extra: str) -> dict[str, str]:
        env = self.k.make_env()
        env.update({"BTFIDS_E2E_TOOL": str(self.tool), "BTFIDS_E2E_CALLS": str(calls),
                    "BTFIDS_E2E_PHASE": phase, **extra})
        return env

    def make(self, targets: list[str], extra: list[str], env: dict[str, str],
             logfile: Path) -> None:
        cmd = ["make", "-C", str(self.src), f"O={self.obj}", f"-j{self.jobs}",
               f"RESOLVE_BTFIDS={CAPTURE}"]
        if self.k.use_ccache:
            cmd.append("CC=ccache gcc")
        K.run(cmd + extra + targets, env=env, logfile=logfile, nice=True)

    def forget_links(self) -> None:
        """Make the next make redo every BTF step (link vmlinux, every .ko)."""
        for p in [self.obj / "vmlinux", *self.obj.glob(".tmp_vmlinux*"),
                  *self.obj.rglob("*.ko")]:
            p.unlink(missing_ok=True)

    def keep(self, dest: Path) -> list[str]:
        kos = sorted(str(p.relative_to(self.obj)) for p in self.obj.rglob("*.ko"))
        files = ["vmlinux", "System.map", K.BZIMAGE, *kos]
        for rel in files:
            d = dest / rel
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.obj / rel, d)
        return files

    def install_modules(self, dest: Path, env: dict[str, str], logfile: Path) -> Path:
        staging = dest / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        self.make(["modules_install"], [f"INSTALL_MOD_PATH={staging}"], env, logfile)
        return staging

    def extmod(self, name: str, env: dict[str, str], logfile: Path) -> Path:
        d = self.top / name
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(EXTMOD, d)
        # V=1: kbuild adds --verbose to RESOLVE_BTFIDS_FLAGS (and M= adds --distill_base)
        self.make(["modules"], [f"M={d}", "V=1"], env, logfile)
        ko = d / f"{EXTMOD_NAME}.ko"
        if not ko.is_file():
            raise E2EError(f"{ko} was not built (see {logfile})")
        return ko

    def build(self) -> dict[str, Any]:
        """Steps 2 and 3; cached by build_key() (the calls stay in e2e/out)."""
        self.tree()
        key = self.build_key()
        done = self.top / "build.json"
        if done.is_file() and not self.force:
            res = json.loads(done.read_text())
            if res.get("key") == key and (self.out / "calls").is_dir() \
                    and res.get("out") == str(self.out):
                log(f"build: cached ({done})")
                return dict(res)
        done.unlink(missing_ok=True)
        config = self.prepare()
        for d in ("calls", "calls-nosort"):
            shutil.rmtree(self.out / d, ignore_errors=True)
        (self.out / "calls").mkdir(parents=True)
        self.obj.mkdir(parents=True, exist_ok=True)
        fresh = not (self.obj / "vmlinux.o").exists()
        shutil.copyfile(config, self.obj / ".config")
        self.forget_links()
        (self.src / "btfids.toml").unlink(missing_ok=True)
        logs = self.top / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        calls = self.out / "calls"

        t = time.monotonic()
        env = self.env(calls, "kernel")
        self.make(["olddefconfig"], [], env, logs / "kernel.log")
        self.make(["vmlinux", "bzImage", "modules"], [], env, logs / "kernel.log")
        build_s = time.monotonic() - t
        default = self.top / "default"
        shutil.rmtree(default, ignore_errors=True)
        files = self.keep(default)
        self.install_modules(default, env, logs / "install.log")
        t = time.monotonic()
        ko = self.extmod("extmod", self.env(calls, "extmod"), logs / "extmod.log")
        neg = self.extmod("extmod-negative",
                          self.env(calls, "negative", BTFIDS_E2E_SKIP_PATCH="1"),
                          logs / "extmod-negative.log")
        extmod_s = time.monotonic() - t

        # step 3: a tree config that switches sort off; relink vmlinux, redo module BTF
        calls_ns = self.out / "calls-nosort"
        calls_ns.mkdir()
        (self.src / "btfids.toml").write_text(NOSORT_TOML)
        try:
            # relink vmlinux and every .ko: the tool's main mode needs a module whose
            # .BTF_ids was never patched (set sorting moves the flags words)
            self.forget_links()
            env = self.env(calls_ns, "nosort")
            t = time.monotonic()
            self.make(["vmlinux", "bzImage", "modules"], [], env, logs / "nosort.log")
            nosort_s = time.monotonic() - t
            nosort = self.top / "nosort"
            shutil.rmtree(nosort, ignore_errors=True)
            self.keep(nosort)
            self.install_modules(nosort, env, logs / "install-nosort.log")
        finally:
            (self.src / "btfids.toml").unlink(missing_ok=True)
        res = {"key": key, "out": str(self.out), "fresh_objtree": fresh,
               "ccache": self.k.use_ccache, "files": files,
               "build_s": round(build_s, 1), "extmod_s": round(extmod_s, 1),
               "nosort_s": round(nosort_s, 1),
               "extmod": str(ko), "extmod_negative": str(neg)}
        done.write_text(json.dumps(res, indent=1) + "\n")
        return res

    # -- step 4
    @staticmethod
    def load_calls(calls: Path) -> list[tuple[Path, dict[str, Any]]]:
        return [(d, json.loads((d / "argv.json").read_text()))
                for d in sorted(calls.iterdir()) if d.name.isdigit()
                and (d / "argv.json").is_file()]

    def replay(self, calls: Path) -> dict[str, Any]:
        """Run every recorded call with the reference C tool; compare outputs."""
        if self.ref is None:
            return {"skipped": "REF_RESOLVE_BTFIDS is not set", "identical": None,
                    "seconds": None, "differ": []}
        ref = Path(self.ref).expanduser()
        if not os.access(ref, os.X_OK):
            raise E2EError(f"REF_RESOLVE_BTFIDS={ref} is not an executable")
        work = self.top / "replay"
        same, differ, secs = 0, [], 0.0
        for d, rec in self.load_calls(calls):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            argv = list(rec["argv"])
            for i, f in rec["files"].items():
                dst = work / Path(f["path"]).name
                shutil.copyfile(d / f["path"], dst)
                argv[int(i)] = str(dst)
            t = time.perf_counter()
            res = subprocess.run([str(ref), *argv], capture_output=True, cwd=work)
            secs += time.perf_counter() - t
            problems = []
            if res.returncode != rec["rc"]:
                problems.append(f"exit {res.returncode} (btfids: {rec['rc']})")
            for name in rec["outputs"]:
                got = work / name
                if not got.is_file():
                    problems.append(f"{name} not written")
                elif file_sha(got) != file_sha(d / "out" / name):
                    problems.append(f"{name} differs")
            if rec["mode"] == "main":
                elf = next(Path(f["path"]).name for f in rec["files"].values()
                           if f["role"] == "elf")
                for s in SIDE_SUFFIXES:
                    if (work / f"{elf}{s}").is_file() and f"{elf}{s}" not in rec["outputs"]:
                        problems.append(f"{elf}{s} written by the C tool only")
            if problems:
                differ.append({"call": d.name, "argv": rec["argv"], "problems": problems})
            else:
                same += 1
        shutil.rmtree(work, ignore_errors=True)
        return {"identical": same, "seconds": round(secs, 3), "differ": differ,
                "tool": str(ref)}

    def btfids_cli(self) -> Path:
        return self.tool.parent / "btfids"

    def check_btf(self, calls: Path) -> dict[str, Any]:
        """``btfids check`` on every .BTF a main-mode call wrote, against its base."""
        checked, bad = 0, []
        for d, rec in self.load_calls(calls):
            if rec["mode"] != "main" or rec["rc"]:
                continue
            btf = [n for n in rec["outputs"] if n.endswith(".BTF")]
            distilled = [n for n in rec["outputs"] if n.endswith(".BTF.base")]
            base = [f["path"] for f in rec["files"].values() if f["role"] == "base"]
            cmd = [str(self.btfids_cli()), "check"]
            if distilled:
                cmd += ["-b", str(d / "out" / distilled[0])]
            elif base:
                cmd += ["-b", str(d / base[0])]
            else:
                cmd.append("--sorted" if rec["phase"] != "nosort" else "--any-order")
            for n in btf:
                res = subprocess.run([*cmd, str(d / "out" / n)], capture_output=True,
                                     text=True)
                checked += 1
                if res.returncode:
                    bad.append({"call": d.name, "file": n,
                                "output": (res.stdout + res.stderr).strip()[-2000:]})
        return {"checked": checked, "bad": bad}

    def vmlinux_btf(self, calls: Path) -> Path | None:
        """The raw .BTF the tool wrote for vmlinux (main call on .tmp_vmlinux1)."""
        for d, rec in self.load_calls(calls):
            if rec["mode"] == "main" and ".tmp_vmlinux1.BTF" in rec["outputs"]:
                return d / "out" / ".tmp_vmlinux1.BTF"
        return None

    def host_checks(self, build: dict[str, Any]) -> dict[str, Any]:
        """What can be seen without booting: flags kbuild passed, the ext module's
        sections, the negative control's empty set, the nosort BTF differs."""
        calls = self.load_calls(self.out / "calls")
        main = [r for _, r in calls if r["mode"] == "main"]
        patch = [r for _, r in calls if r["mode"] == "patch"]
        ext = [r for r in main if r["phase"] == "extmod"]
        intree = [r for r in main if r["phase"] == "kernel"]
        kos = [f for f in build["files"] if f.endswith(".ko")]
        ko_main = [Path(r["argv"][-1]).name for r in intree if r["argv"][-1].endswith(".ko")]
        ko = Path(build["extmod"])
        neg = Path(build["extmod_negative"])
        ids_ok = K.section_bytes(ko, ".BTF_ids")
        ids_neg = K.section_bytes(neg, ".BTF_ids")
        vml, vml_ns = self.vmlinux_btf(self.out / "calls"), \
            self.vmlinux_btf(self.out / "calls-nosort")
        res = {
            "all_calls_exit_0": all(r["rc"] == 0 for _, r in calls),
            "vmlinux_main_and_patch": any(r["argv"][-1] == ".tmp_vmlinux1" for r in main)
            and any(r["argv"][-1] == "vmlinux" for r in patch),
            "every_module_through_tool": sorted(Path(k).name for k in kos) == sorted(ko_main),
            "intree_no_distill": all("--distill_base" not in r["argv"] for r in intree),
            "extmod_flags": bool(ext) and all("--distill_base" in r["argv"]
                                               and "--verbose" in r["argv"] for r in ext),
            "extmod_btf_base_section": K.section_bytes(ko, ".BTF.base") is not None,
            # set8: u32 cnt, u32 flags, then IDs; resolved: cnt > 0, negative: cnt == 0
            "extmod_set_filled": ids_ok is not None and struct.unpack_from("<I", ids_ok)[0] > 0,
            "negative_set_empty": ids_neg is not None
            and struct.unpack_from("<I", ids_neg)[0] == 0,
            "nosort_btf_differs": vml is not None and vml_ns is not None
            and vml.read_bytes() != vml_ns.read_bytes(),
        }
        return res

    def guest(self, kernel_dir: Path, build: dict[str, Any], calls: Path,
              name: str) -> dict[str, Any]:
        """Boot ``kernel_dir``'s kernel with its staged modules and both ext modules."""
        btf = self.vmlinux_btf(calls)
        if btf is None:
            return {"ok": False, "error": f"no vmlinux .BTF among the calls in {calls}"}
        work = self.top / f"guest-{name}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            res = guest_module().run_guest(
                kernel=kernel_dir / K.BZIMAGE, modules_root=kernel_dir / "staging",
                extmod=Path(build["extmod"]), extmod_negative=Path(build["extmod_negative"]),
                vmlinux_btf=btf, work=work, timeout=self.timeout, accel=self.accel)
        except Exception as exc:  # report it; the summary must still be written
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        res = dict(res)
        res["boot"] = bool((res.get("details") or {}).get("kernel"))
        return res

    def times(self, build: dict[str, Any], replay: dict[str, Any]) -> dict[str, Any]:
        calls = self.load_calls(self.out / "calls")
        kernel = [r for _, r in calls if r["phase"] == "kernel"]
        return {"build_s": build["build_s"],
                "tool_btfids_s": round(sum(r["seconds"] for r in kernel), 3),
                "tool_btfids_all_calls_s": round(sum(r["seconds"] for _, r in calls), 3),
                "tool_ref_s": replay["seconds"],
                "extmod_builds_s": build["extmod_s"], "nosort_relink_s": build["nosort_s"],
                "fresh_objtree": build["fresh_objtree"], "ccache": build["ccache"]}

    def all(self) -> dict[str, Any]:
        t = time.monotonic()
        build = self.build()
        calls = self.out / "calls"
        replay = self.replay(calls)
        check = self.check_btf(calls)
        check_ns = self.check_btf(self.out / "calls-nosort")
        host = self.host_checks(build)
        vml = self.vmlinux_btf(calls)
        g_mod = guest_module()
        tags = g_mod.decl_tags(g_mod.raw_btf(vml)) if vml else 0
        g = self.guest(self.top / "default", build, calls, "default")
        gn = self.guest(self.top / "nosort", build, self.out / "calls-nosort", "nosort")
        guest_keys = ("vmlinux_btf_equal", "modules_btf_loaded", "extmod_loaded",
                      "kfunc_vmlinux_call", "kfunc_module_call", "negative_control_rejected")
        guest = {k: g.get(k) for k in guest_keys}
        guest["nosort_boot_and_calls"] = bool(
            gn.get("boot") and gn.get("vmlinux_btf_equal") and gn.get("modules_btf_loaded")
            and gn.get("kfunc_vmlinux_call") and gn.get("kfunc_module_call"))
        n_calls = len(self.load_calls(calls))
        summary: dict[str, Any] = {
            "calls": n_calls,
            "calls_nosort": len(self.load_calls(self.out / "calls-nosort")),
            "replay_identical": replay["identical"],
            "replay": replay,
            "btfids_check": {"checked": check["checked"] + check_ns["checked"],
                             "bad": check["bad"] + check_ns["bad"]},
            "host": host,
            "boot": bool(g.get("boot")),
            "guest": guest,
            "guest_error": {k: v.get("error") for k, v in (("default", g), ("nosort", gn))
                            if v.get("error")},
            "guest_nosort": {k: gn.get(k) for k in (*guest_keys, "boot")},
            "console": {"default": g.get("console"), "nosort": gn.get("console")},
            "guest_seconds": {"default": g.get("seconds"), "nosort": gn.get("seconds")},
            "bpf_kfunc_tags": tags,
            "times": self.times(build, replay),
            "build_key": build["key"],
            "wall_s": round(time.monotonic() - t, 1),
        }
        failed = [f"host.{k}" for k, v in host.items() if not v]
        failed += [f"guest.{k}" for k, v in guest.items() if v is not True]
        if not summary["boot"]:
            failed.append("boot")
        if check["bad"] or check_ns["bad"] or not check["checked"]:
            failed.append("btfids_check")
        if replay["identical"] is not None and replay["identical"] != n_calls:
            failed.append("replay_identical")
        if tags <= 0:
            failed.append("bpf_kfunc_tags")
        summary["failed"] = failed
        summary["ok"] = not failed
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "newest-summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", nargs="?", default="all",
                    choices=["all", "tree", "build", "replay", "info"])
    K.common_args(ap)
    ap.add_argument("--out", default=str(OUT), help="summary and recorded calls")
    ap.add_argument("--accel", default="tcg", choices=["tcg", "kvm", "auto"],
                    help="QEMU acceleration for the guest (default tcg: under nested KVM "
                         "this tinyconfig kernel printed nothing in 300 s)")
    args = ap.parse_args(argv)
    n = Newest(args)
    try:
        if args.step == "info":
            print(json.dumps({"top": str(n.top), "src": str(n.src), "obj": str(n.obj),
                              "build_key": n.build_key()}, indent=1))
            return 0
        if args.step == "tree":
            print(n.tree())
            return 0
        if args.step == "build":
            print(json.dumps(n.build(), indent=1))
            return 0
        if args.step == "replay":
            print(json.dumps(n.replay(n.out / "calls"), indent=1))
            return 0
        res = n.all()
        print(json.dumps(res, indent=1))
        if not res["ok"]:
            log("FAILED: " + ", ".join(res["failed"]))
            return 1
        log(f"ok: {res['calls']} calls, replay_identical={res['replay_identical']}")
        return 0
    except E2EError as exc:
        log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
