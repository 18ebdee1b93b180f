#!/usr/bin/env python3
"""End-to-end: build a real Linux 6.12 kernel twice and compare the results.

Variant ``c``: kbuild's own C ``resolve_btfids`` (built by ``make prepare`` from the same
tree). Variant ``btfids``: the same build with ``RESOLVE_BTFIDS=<venv>/bin/resolve_btfids``
and the tree's ``btfids.toml`` selecting preset ``linux-6.12``. Both builds run from
scratch in the same object directory (debug info records paths, so the path must not
differ), with a fixed ``KBUILD_BUILD_*`` identity, so every byte of ``vmlinux`` and of each
``.ko`` must come out identical — the ``.BTF_ids`` sections the tools wrote included.

Everything is cached under ``~/.cache/btfids-e2e`` (``$BTFIDS_E2E_CACHE``): the unpacked
source (keyed by the Debian package version), the ``.config`` and the C build (keyed by
source version, config recipe and toolchain), the btfids build (additionally keyed by a
hash of btfids' own sources). ``ccache`` makes a rebuild after a btfids change cheap.

Usage: ``e2e/kernel.py [all|prepare|reftool|build-c|build-btfids|compare|boot|info]``; ``make e2e``
runs ``all``. Exit 0 only if every file is identical. Stdlib only: the checker must not
depend on the code under test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PKG = "linux-source-6.12"
TARBALL = Path("/usr/src") / f"{PKG}.tar.xz"
APT_PACKAGES = [
    PKG, "build-essential", "bc", "bison", "flex", "libelf-dev", "zlib1g-dev",
    "libssl-dev", "dwarves", "cpio", "kmod", "ccache", "python3",
]
# Identity baked into the image (init/version.c, pahole -j choice: see Makefile.btf).
BUILD_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 2026",
    "KBUILD_BUILD_USER": "btfids",
    "KBUILD_BUILD_HOST": "e2e",
    "KBUILD_BUILD_VERSION": "1",
    "LC_ALL": "C",
    "TZ": "UTC",
}
# `make tinyconfig` + these. =m entries are the modules with BTF_KFUNCS sets in 6.12
# (tcp_bbr, tcp_dctcp, fou: kfunc set8; nf_conntrack: kfunc set8 + ID lists).
CONFIG_Y = [
    "64BIT", "PRINTK", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE", "BINFMT_ELF",
    "BINFMT_SCRIPT", "PROC_FS", "SYSFS", "DEVTMPFS", "BLK_DEV_INITRD", "RD_GZIP",
    "MODULES", "MODULE_UNLOAD", "BPF", "BPF_SYSCALL", "BPF_JIT", "DEBUG_KERNEL",
    "DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT", "DEBUG_INFO_BTF", "DEBUG_INFO_BTF_MODULES",
    "NET", "INET", "TCP_CONG_ADVANCED", "NETFILTER", "NETFILTER_ADVANCED",
]
CONFIG_M = ["TCP_CONG_BBR", "TCP_CONG_DCTCP", "NET_FOU", "NF_CONNTRACK"]
CONFIG_N = [
    "MODULE_SIG", "DEBUG_INFO_REDUCED", "DEBUG_INFO_SPLIT", "DEBUG_INFO_COMPRESSED_ZLIB",
    "DEBUG_INFO_COMPRESSED_ZSTD", "IKCONFIG", "IKHEADERS", "LOCALVERSION_AUTO", "WERROR",
    "RANDSTRUCT_FULL", "RANDSTRUCT_PERFORMANCE",
]
# Modules that must end up with a .BTF_ids section (checked after the build).
EXPECT_BTF_IDS = ["net/ipv4/tcp_bbr.ko", "net/ipv4/tcp_dctcp.ko", "net/ipv4/fou.ko",
                  "net/netfilter/nf_conntrack.ko"]
BZIMAGE = "arch/x86/boot/bzImage"
KEEP_BTFIDS = 3
TOOL_MESSAGES = ("WARN:", "FAILED", "libbpf:", "btfids:", "resolve_btfids:", " Usage:")
SRC_HASH_GLOBS = ("btfids/**/*.py", "plugins/**/*.py", "config/*.toml", "pyproject.toml")


def log(msg: str) -> None:
    print(f"e2e: {msg}", file=sys.stderr, flush=True)


class E2EError(Exception):
    """A step failed; the message is one line."""


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        logfile: Path | None = None, nice: bool = False) -> None:
    full = (["nice", "-n", "19"] if nice else []) + cmd
    log("$ " + shlex.join(cmd) + (f"  (log: {logfile})" if logfile else ""))
    if logfile is None:
        res = subprocess.run(full, cwd=cwd, env=env)
    else:
        with logfile.open("ab") as f:
            res = subprocess.run(full, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode:
        tail = ""
        if logfile is not None:
            tail = "; last lines:\n" + "\n".join(
                logfile.read_text(errors="replace").splitlines()[-25:])
        raise E2EError(f"command failed ({res.returncode}): {shlex.join(cmd)}{tail}")


def out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# ------------------------------------------------------------------ ELF (stdlib)
def elf_sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """``name -> (sh_type, offset, size)`` of an ELF32/ELF64 file, either byte order."""
    if data[:4] != b"\x7fELF":
        raise E2EError("not an ELF file")
    is64 = data[4] == 2
    e = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(e + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(e + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
    hdrs = []
    for i in range(shnum):
        at = shoff + i * shentsize
        if is64:
            name, typ, _fl, _addr, off, size = struct.unpack_from(e + "IIQQQQ", data, at)
        else:
            name, typ, _fl, _addr, off, size = struct.unpack_from(e + "IIIIII", data, at)
        hdrs.append((name, typ, off, size))
    stroff = hdrs[shstrndx][2]
    res = {}
    for name, typ, off, size in hdrs:
        end = data.index(b"\0", stroff + name)
        res[data[stroff + name:end].decode()] = (typ, off, size)
    return res


def section_bytes(path: Path, name: str) -> bytes | None:
    data = path.read_bytes()
    sec = elf_sections(data).get(name)
    if sec is None or sec[0] == 8:  # SHT_NOBITS
        return None
    return data[sec[1]:sec[1] + sec[2]]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ the harness
class E2E:
    def __init__(self, args: argparse.Namespace) -> None:
        self.cache = Path(args.cache).expanduser()
        self.jobs = args.jobs
        self.tool = Path(args.resolve_btfids).expanduser()
        self.force = args.force
        self._checked = False
        self.use_ccache = not args.no_ccache and shutil.which("ccache") is not None

    # -- keys
    def ensure_packages(self) -> None:
        """apt-get install whatever of APT_PACKAGES is missing (needs root)."""
        missing = [p for p in APT_PACKAGES
                   if out(["dpkg-query", "-W", "-f=${Status}", p]) != "install ok installed"]
        if not missing:
            return
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise E2EError(f"missing packages (fix: apt-get install -y {' '.join(missing)})")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "install", "-y", "-q", *missing], env=env, nice=True)

    def src_version(self) -> str:
        if not self._checked:
            self._checked = True
            self.ensure_packages()
        ver = out(["dpkg-query", "-W", "-f=${Version}", PKG])
        if not ver or not TARBALL.is_file():
            raise E2EError(f"{PKG} is not installed (fix: apt-get install -y "
                           f"{' '.join(APT_PACKAGES)})")
        return ver

    def recipe(self) -> str:
        return json.dumps({"y": CONFIG_Y, "m": CONFIG_M, "n": CONFIG_N,
                           "env": BUILD_ENV, "gcc": out(["gcc", "--version"]).splitlines()[:1],
                           "pahole": out(["pahole", "--version"]),
                           "ld": out(["ld", "--version"]).splitlines()[:1]}, sort_keys=True)

    def key(self) -> str:
        h = hashlib.sha256((self.src_version() + "\n" + self.recipe()).encode())
        return h.hexdigest()[:12]

    def btfids_hash(self) -> str:
        h = hashlib.sha256()
        for pat in SRC_HASH_GLOBS:
            for p in sorted(REPO.glob(pat)):
                h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes())
        return h.hexdigest()[:12]

    @property
    def top(self) -> Path:
        return self.cache / f"6.12-{self.key()}"

    @property
    def srctree(self) -> Path:
        safe = "".join(c if c.isalnum() or c in ".-+" else "_" for c in self.src_version())
        return self.cache / "src" / safe / PKG

    # -- steps
    def unpack(self) -> Path:
        src = self.srctree
        stamp = src.parent / ".unpacked"
        if not stamp.exists():
            shutil.rmtree(src.parent, ignore_errors=True)
            src.parent.mkdir(parents=True)
            t = time.monotonic()
            run(["tar", "-xf", str(TARBALL), "-C", str(src.parent)], nice=True)
            if not (src / "Makefile").is_file():
                raise E2EError(f"{TARBALL} did not unpack into {src}")
            stamp.write_text(f"{time.monotonic() - t:.1f}\n")
        # The tree's btfids config (read by btfids through $srctree; ignored by the C tool).
        shutil.copyfile(REPO / "config/examples/btfids.toml.linux-6.12", src / "btfids.toml")
        return src

    def make_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KBUILD_", "BTFIDS_")) and k not in ("ARCH", "O", "V")}
        env.update(BUILD_ENV)
        if self.use_ccache:
            env["CCACHE_DIR"] = str(self.cache / "ccache")
            env.setdefault("CCACHE_MAXSIZE", "5G")
        return env

    def make(self, objtree: Path, targets: list[str], extra: list[str], logfile: Path) -> None:
        cmd = ["make", "-C", str(self.srctree), f"O={objtree}", f"-j{self.jobs}"]
        if self.use_ccache:
            cmd.append("CC=ccache gcc")
        run(cmd + extra + targets, env=self.make_env(), logfile=logfile, nice=True)

    def reftool(self) -> Path:
        """Build the 6.12 C ``resolve_btfids`` alone from the unpacked source (cached).

        The side-by-side reference for ``bench/`` and the differential fuzz: a C tool
        built on this machine, from the same Debian source as ``make e2e`` uses.
        """
        src = self.unpack()
        outdir = self.cache / f"reftool-{self.srctree.parent.name}"
        tool = outdir / "resolve_btfids"
        if tool.is_file() and not self.force:
            return tool
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        run(["make", "-s", "-C", str(src / "tools/bpf/resolve_btfids"), f"OUTPUT={outdir}/",
             f"-j{self.jobs}"], env=self.make_env(), logfile=outdir / "build.log", nice=True)
        if not tool.is_file():
            raise E2EError(f"the C tool was not built (see {outdir / 'build.log'})")
        return tool

    def prepare(self) -> Path:
        """Unpack the source and produce the cached ``.config``."""
        self.unpack()
        cfgdir = self.top / "config"
        final = cfgdir / ".config"
        if final.exists() and not self.force:
            return final
        shutil.rmtree(cfgdir, ignore_errors=True)
        cfgdir.mkdir(parents=True)
        logf = cfgdir / "config.log"
        self.make(cfgdir, ["tinyconfig"], [], logf)
        opts: list[str] = []
        for n in CONFIG_Y:
            opts += ["-e", n]
        for n in CONFIG_M:
            opts += ["-m", n]
        for n in CONFIG_N:
            opts += ["-d", n]
        run([str(self.srctree / "scripts/config"), "--file", str(final), *opts])
        self.make(cfgdir, ["olddefconfig"], [], logf)
        have = final.read_text()
        missing = [f"CONFIG_{n}=y" for n in CONFIG_Y if f"CONFIG_{n}=y\n" not in have]
        missing += [f"CONFIG_{n}=m" for n in CONFIG_M if f"CONFIG_{n}=m\n" not in have]
        if missing:
            final.rename(cfgdir / ".config.rejected")
            raise E2EError(f"Kconfig dropped {', '.join(missing)} (see {cfgdir})")
        return final

    def build(self, variant: str) -> Path:
        """Build one variant from scratch; keep vmlinux, modules and logs in its dir."""
        config = self.prepare()
        if variant == "c":
            vdir = self.top / "c"
            extra: list[str] = []
        elif variant == "control":  # negative control: a tool that does nothing
            vdir = self.top / "control"
            extra = [f"RESOLVE_BTFIDS={shutil.which('true') or '/bin/true'}"]
        else:
            if not os.access(self.tool, os.X_OK):
                raise E2EError(f"{self.tool} is not executable (fix: make setup)")
            vdir = self.top / f"btfids-{self.btfids_hash()}"
            extra = [f"RESOLVE_BTFIDS={self.tool}"]
        if (vdir / "result.json").exists() and not self.force:
            log(f"{variant}: cached in {vdir}")
            return vdir
        shutil.rmtree(vdir, ignore_errors=True)
        vdir.mkdir(parents=True)
        objtree = self.top / "build"  # same path for both variants
        shutil.rmtree(objtree, ignore_errors=True)
        objtree.mkdir()
        shutil.copyfile(config, objtree / ".config")
        logf = vdir / "build.log"
        t = time.monotonic()
        self.make(objtree, ["olddefconfig"], [], logf)
        self.make(objtree, ["vmlinux", "bzImage", "modules"], ["V=1", *extra], logf)
        secs = time.monotonic() - t
        kos = sorted(str(p.relative_to(objtree)) for p in objtree.rglob("*.ko"))
        files = ["vmlinux", "System.map", BZIMAGE, *kos]
        for rel in files:
            dst = vdir / "out" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(objtree / rel, dst)
        text = logf.read_text(errors="replace")
        calls = [ln for ln in text.splitlines()
                 if str(self.tool) in ln and "RESOLVE_BTFIDS=" not in ln
                 and "make -C" not in ln] if variant == "btfids" else []
        result = {"variant": variant, "seconds": round(secs, 1), "key": self.key(),
                  "ccache": self.use_ccache, "files": files, "tool_calls": len(calls),
                  "tool": str(self.tool) if extra else "tools/bpf/resolve_btfids"}
        (vdir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
        if variant == "btfids":  # keep the newest KEEP_BTFIDS builds of older btfids sources
            olds = sorted(self.top.glob("btfids-*/result.json"), key=lambda p: p.stat().st_mtime)
            for old in olds[:-KEEP_BTFIDS]:
                shutil.rmtree(old.parent, ignore_errors=True)
        log(f"{variant}: built in {secs:.0f} s, {len(kos)} modules -> {vdir}")
        return vdir

    def compare(self, cdir: Path, bdir: Path) -> dict[str, object]:
        cres = json.loads((cdir / "result.json").read_text())
        bres = json.loads((bdir / "result.json").read_text())
        rows = []
        for rel in sorted(set(cres["files"]) | set(bres["files"])):
            a, b = cdir / "out" / rel, bdir / "out" / rel
            row: dict[str, object] = {"file": rel}
            if not a.exists() or not b.exists():
                row["problem"] = "missing in " + ("c" if not a.exists() else "btfids")
                rows.append(row)
                continue
            row["same_file"] = sha256(a) == sha256(b)
            if rel == "vmlinux" or rel.endswith(".ko"):
                ia, ib = section_bytes(a, ".BTF_ids"), section_bytes(b, ".BTF_ids")
                row["btf_ids"] = None if ia is None else len(ia)
                row["same_btf_ids"] = ia == ib
                # some non-zero word (weak: set8 flags are non-zero before resolution;
                # the no-op control build in all() is the real check)
                row["resolved"] = ia is not None and any(ia)
                if not row["same_file"]:
                    da, db = a.read_bytes(), b.read_bytes()
                    sa, sb = elf_sections(da), elf_sections(db)
                    row["differing_sections"] = [
                        n for n in sorted(set(sa) | set(sb))
                        if n and (sa.get(n) is None or sb.get(n) is None
                                  or da[sa[n][1]:sa[n][1] + sa[n][2]]
                                  != db[sb[n][1]:sb[n][1] + sb[n][2]])]
            rows.append(row)
        with_ids = [r["file"] for r in rows if r.get("btf_ids")]
        problems = [r for r in rows if r.get("problem") or not r.get("same_file")
                    or r.get("same_btf_ids") is False]
        missing_ids = [m for m in ["vmlinux", *EXPECT_BTF_IDS] if m not in with_ids]
        unresolved = [r["file"] for r in rows if r.get("btf_ids") and not r.get("resolved")]
        # the tools' own messages in the build logs (both are quiet on success)
        msgs = {v: [ln for ln in (d / "build.log").read_text(errors="replace").splitlines()
                    if ln.startswith(TOOL_MESSAGES)] for v, d in (("c", cdir), ("btfids", bdir))}
        ok = not problems and not missing_ids and not unresolved and (
            bres["tool_calls"] >= 1 + len(EXPECT_BTF_IDS)) and msgs["c"] == msgs["btfids"]
        return {
            "ok": ok, "files": len(rows), "identical": len(rows) - len(problems),
            "with_btf_ids": with_ids, "missing_btf_ids": missing_ids,
            "unresolved": unresolved, "problems": problems,
            "btfids_tool_calls": bres["tool_calls"],
            "tool_messages": msgs,
            "seconds": {"c": cres["seconds"], "btfids": bres["seconds"]},
            "ccache": {"c": cres["ccache"], "btfids": bres["ccache"]},
            "dirs": {"c": str(cdir), "btfids": str(bdir)},
        }

    def control(self, cdir: Path, ndir: Path) -> dict[str, object]:
        """The comparison must see the tool's work: with a no-op tool the .BTF_ids of
        vmlinux and of every expected module differ from the C build's."""
        seen = []
        for rel in ["vmlinux", *EXPECT_BTF_IDS]:
            a, b = cdir / "out" / rel, ndir / "out" / rel
            if a.exists() and b.exists() and (
                    section_bytes(a, ".BTF_ids") != section_bytes(b, ".BTF_ids")):
                seen.append(rel)
        return {"ok": len(seen) == 1 + len(EXPECT_BTF_IDS), "btf_ids_differ": seen}

    def compare_cached(self) -> dict[str, object]:
        cdir, bdir = self.top / "c", self.top / f"btfids-{self.btfids_hash()}"
        for d in (cdir, bdir):
            if not (d / "result.json").is_file():
                raise E2EError(f"no cached build in {d} (run: e2e/kernel.py all)")
        return self.compare(cdir, bdir)

    def all(self) -> dict[str, object]:
        t = time.monotonic()
        cdir = self.build("c")
        bdir = self.build("btfids")
        ndir = self.build("control")
        res = self.compare(cdir, bdir)
        res["control"] = self.control(cdir, ndir)
        res["ok"] = bool(res["ok"]) and bool(res["control"]["ok"])  # type: ignore[index]
        res["wall_seconds"] = round(time.monotonic() - t, 1)
        (bdir / "compare.json").write_text(json.dumps(res, indent=1) + "\n")
        return res

    def boot(self, vdir: Path, timeout: int) -> dict[str, object]:
        """Boot ``vdir``'s kernel under QEMU (TCG) with a tiny init that reports BTF.

        Shows that vmlinux BTF and module BTF load (the kernel parses and validates
        both) and that a module with a kfunc set initialises. It is not a check of the
        ``.BTF_ids`` contents: with unresolved IDs the set count is 0 and registration
        checks nothing (the ``control`` build boots the same way)."""
        qemu = shutil.which("qemu-system-x86_64")
        if qemu is None:
            raise E2EError("qemu-system-x86_64 not found (fix: apt-get install -y "
                           "qemu-system-x86 busybox-static)")
        busybox = shutil.which("busybox")
        if busybox is None:
            raise E2EError("busybox not found (fix: apt-get install -y busybox-static)")
        bz = vdir / "out" / BZIMAGE
        work = vdir / "boot"
        shutil.rmtree(work, ignore_errors=True)
        root = work / "initramfs"
        (root / "bin").mkdir(parents=True)
        shutil.copy2(busybox, root / "bin/busybox")
        (root / "lib/modules").mkdir(parents=True)
        for ko in ("net/ipv4/tcp_dctcp.ko",):
            shutil.copy2(vdir / "out" / ko, root / "lib/modules" / Path(ko).name)
        init = root / "init"
        init.write_text(
            "#!/bin/busybox sh\n/bin/busybox --install -s /bin\n"
            "mount -t proc proc /proc; mount -t sysfs sysfs /sys\n"
            "echo BTFIDS-E2E vmlinux-btf-bytes=$(wc -c < /sys/kernel/btf/vmlinux)\n"
            "insmod /lib/modules/tcp_dctcp.ko && "
            "echo BTFIDS-E2E module-btf-bytes=$(wc -c < /sys/kernel/btf/tcp_dctcp)\n"
            "ls /sys/kernel/btf | tr '\\n' ' ' | sed 's/^/BTFIDS-E2E btf-files: /'; echo\n"
            "echo BTFIDS-E2E done\n")  # init exits -> panic -> reboot -> qemu exits
        init.chmod(0o755)
        for d in ("proc", "sys", "dev"):
            (root / d).mkdir()
        cpio = work / "initramfs.cpio"
        run(["sh", "-c", f"cd {shlex.quote(str(root))} && find . | cpio -o -H newc "
             f"--quiet > {shlex.quote(str(cpio))}"])
        cmd = [qemu, "-m", "256", "-nographic", "-no-reboot", "-kernel", str(bz),
               "-initrd", str(cpio), "-append", "console=ttyS0 panic=-1 rdinit=/init"]
        log("$ " + shlex.join(cmd))
        t = time.monotonic()
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout)
            text = res.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as exc:
            text = (exc.stdout or b"").decode(errors="replace")
        (work / "console.log").write_text(text)
        lines = [ln.strip() for ln in text.splitlines() if "BTFIDS-E2E" in ln
                 or "BPF:" in ln or "btf" in ln.lower()]
        bad = [ln for ln in lines if "BPF:" in ln or "failed to validate" in ln]
        return {"ok": any("module-btf-bytes=" in ln for ln in lines) and not bad,
                "seconds": round(time.monotonic() - t, 1), "lines": lines,
                "console": str(work / "console.log")}


def common_args(ap: argparse.ArgumentParser) -> None:
    """The options of every e2e script that builds a kernel (kernel.py, newest.py)."""
    ap.add_argument("--cache", default=os.environ.get("BTFIDS_E2E_CACHE",
                                                      "~/.cache/btfids-e2e"))
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--resolve-btfids", default=str(REPO / ".venv/bin/resolve_btfids"),
                    help="the btfids console script to build with")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("--no-ccache", action="store_true")
    ap.add_argument("--boot-timeout", type=int, default=300)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", nargs="?", default="all",
                    choices=["all", "prepare", "reftool", "build-c", "build-btfids", "build-control",
                             "compare", "boot", "info"])
    common_args(ap)
    ap.add_argument("--variant", default="btfids", choices=["btfids", "c", "control"],
                    help="which build `boot` starts")
    args = ap.parse_args(argv)
    e = E2E(args)
    try:
        if args.step == "info":
            print(json.dumps({"key": e.key(), "top": str(e.top), "srctree": str(e.srctree),
                              "btfids_hash": e.btfids_hash()}, indent=1))
            return 0
        if args.step == "prepare":
            print(e.prepare())
            return 0
        if args.step == "reftool":
            print(e.reftool())
            return 0
        if args.step in ("build-c", "build-btfids", "build-control"):
            print(e.build(args.step.removeprefix("build-")))
            return 0
        if args.step == "boot":
            res = e.boot(e.build(args.variant), args.boot_timeout)
        elif args.step == "compare":
            res = e.compare_cached()
        else:
            res = e.all()
        print(json.dumps(res, indent=1))
        return 0 if res["ok"] else 1
    except E2EError as exc:
        log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
