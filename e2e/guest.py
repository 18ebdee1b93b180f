#!/usr/bin/env python3
"""End-to-end, in a guest: boot a kernel in QEMU and check that it accepted its BTF.

``run_guest()`` boots ``kernel`` (a bzImage) with an initramfs built here: busybox, the
modules of ``modules_root`` (a ``make modules_install INSTALL_MOD_PATH=`` tree), an
external kfunc module and its negative control, the ``.BTF`` the tool wrote, two BPF
programs and a static loader (e2e/guest/). The guest's /init (e2e/guest/init.sh):

- compares ``/sys/kernel/btf/vmlinux`` with the ``.BTF`` given (byte for byte);
- modprobes every module of the tree and checks ``/sys/kernel/btf/<module>``;
- insmods the external module (``btfids_e2e``) and checks its BTF;
- runs a ``BPF_PROG_TYPE_SYSCALL`` program calling vmlinux kfuncs
  (``bpf_rcu_read_lock``/``unlock``, ``bpf_task_from_pid(1)``/``bpf_task_release``;
  must return 1) and one calling the module's ``bpf_btfids_e2e_answer(5)`` (must
  return 22);
- swaps the module for the negative control (its kfunc set holds zero IDs): the
  program calling its kfunc must be refused by the verifier ("calling kernel function
  ... is not allowed") — so the check can fail.

Usage: ``e2e/guest.py run --kernel ... --modules-root ... --extmod ... --extmod-negative
... --vmlinux-btf ...``; ``e2e/guest.py debian`` runs the same check on Debian's 6.12
cloud kernel (C-tool build) with a module built against its headers;
``e2e/guest.py tools`` only builds the BPF objects and the loader. Stdlib only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST = HERE / "guest"
MARK = "BTFIDS-E2E"
INIT_STARTED = f"{MARK} phase=boot".encode()
# Under KVM a guest reaches /init in seconds; nested KVM may hang silently instead.
KVM_GRACE_S = 60.0
PROGS = ("kfunc_vmlinux", "kfunc_module")
LOADER_LIBS = ["-lbpf", "-lelf", "-lz"]
# The programs' expected return values: bpf_task_from_pid(1)->pid, and 5 * 3 + 7.
EXPECT_VMLINUX_RETVAL = 1
EXPECT_MODULE_RETVAL = 22
EXTMOD_KFUNC = "bpf_btfids_e2e_answer"
REFUSED = f"calling kernel function {EXTMOD_KFUNC} is not allowed"
# verifier/loader messages that name a kernel configuration problem, not a BTF one
HINTS = {
    "cannot find address for kernel function":
        "the kernel lacks CONFIG_KALLSYMS (the verifier looks kfunc addresses up by name)",
    "calling kernel functions are not allowed in non-JITed programs":
        "the BPF JIT is off (CONFIG_BPF_JIT, net.core.bpf_jit_enable)",
    "not found in kernel or module BTFs": "libbpf found no such kfunc in any loaded BTF",
}
DMESG_BAD = ("BPF:", "failed to validate module", "BTF: ", "btf_vmlinux is malformed")
CACHE = Path(os.environ.get("BTFIDS_E2E_CACHE", "~/.cache/btfids-e2e")).expanduser()


class GuestError(Exception):
    """A step failed; the message is one line."""


def log(msg: str) -> None:
    print(f"e2e-guest: {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["nice", "-n", "19", *cmd], capture_output=True, text=True)
    if res.returncode:
        tail = "\n".join((res.stdout + res.stderr).splitlines()[-15:])
        raise GuestError(f"command failed ({res.returncode}): {' '.join(cmd)}\n{tail}")
    return res


def _version(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        return (res.stdout or res.stderr).splitlines()[0] if res.returncode == 0 else ""
    except (OSError, IndexError):
        return ""


# ------------------------------------------------------------------ BTF (stdlib)
def raw_btf(path: Path) -> bytes:
    """The BTF blob of ``path``: the file itself, or its ``.BTF`` section if an ELF."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return data
    sys.path.insert(0, str(HERE))
    try:
        from kernel import elf_sections  # e2e/kernel.py: the stdlib section reader
    finally:
        sys.path.remove(str(HERE))
    sec = elf_sections(data).get(".BTF")
    if sec is None:
        raise GuestError(f"{path}: no .BTF section")
    return data[sec[1]:sec[1] + sec[2]]


# bytes after struct btf_type, by kind: fixed part, per-vlen part
_KIND_EXTRA = {1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0),
               8: (0, 0), 9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8),
               14: (4, 0), 15: (0, 12), 16: (0, 0), 17: (4, 0), 18: (0, 0), 19: (0, 12)}


def decl_tags(btf: bytes, tag: str = "bpf_kfunc") -> int:
    """How many BTF_KIND_DECL_TAG entries of ``btf`` are named ``tag``."""
    if len(btf) < 24:
        raise GuestError("BTF blob too short")
    e = "<" if btf[:2] == b"\x9f\xeb" else ">" if btf[:2] == b"\xeb\x9f" else ""
    if not e:
        raise GuestError("not a BTF blob (bad magic)")
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(e + "5I", btf, 4)
    types = btf[hdr_len + type_off:hdr_len + type_off + type_len]
    strs = btf[hdr_len + str_off:hdr_len + str_off + str_len]
    want = tag.encode() + b"\0"
    count = at = 0
    while at < len(types):
        name_off, info = struct.unpack_from(e + "2I", types, at)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind not in _KIND_EXTRA:
            raise GuestError(f"BTF: unknown kind {kind} at type offset {at}")
        if kind == 17 and strs[name_off:name_off + len(want)] == want:
            count += 1
        fixed, per = _KIND_EXTRA[kind]
        at += 12 + fixed + per * vlen
    return count


# ------------------------------------------------------------------ the guest tools
def build_tools(out: Path | None = None) -> dict[str, Path]:
    """Compile the BPF objects (clang -target bpf) and the static loader (cached)."""
    clang, cc = shutil.which("clang"), shutil.which("gcc") or shutil.which("cc")
    if clang is None or cc is None:
        raise GuestError("clang and gcc are needed (fix: apt-get install -y clang gcc)")
    if not Path("/usr/include/bpf/bpf_helpers.h").is_file():
        raise GuestError("libbpf headers missing (fix: apt-get install -y libbpf-dev)")
    h = hashlib.sha256()
    for p in sorted(GUEST.glob("*.c")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    for cmd in ([clang, "--version"], [cc, "--version"],
                ["dpkg-query", "-W", "-f=${Version}", "libbpf-dev"]):
        h.update(_version(cmd).encode())
    out = (out or CACHE / "guest-tools") / h.hexdigest()[:12]
    tools = {name: out / f"{name}.bpf.o" for name in PROGS}
    tools["load"] = out / "btfids-e2e-load"
    if all(p.is_file() for p in tools.values()):
        return tools
    out.mkdir(parents=True, exist_ok=True)
    multiarch = _version([cc, "-print-multiarch"]) or "x86_64-linux-gnu"
    for name in PROGS:
        tmp = out / f".{name}.bpf.o.tmp"
        _run([clang, "-target", "bpf", "-O2", "-g", "-Wall", "-Werror",
              f"-I/usr/include/{multiarch}", "-c", str(GUEST / f"{name}.bpf.c"), "-o", str(tmp)])
        tmp.rename(tools[name])
    tmp = out / ".load.tmp"
    _run([cc, "-O2", "-Wall", "-Werror", "-static", "-o", str(tmp), str(GUEST / "loader.c"),
          *LOADER_LIBS])
    tmp.rename(tools["load"])
    return tools


# ------------------------------------------------------------------ initramfs
def _cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of ``(path, mode, data)`` entries (directories: no data)."""
    parts = []
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        rec = hdr.encode() + nb
        rec += b"\0" * (-len(rec) % 4) + data
        parts.append(rec + b"\0" * (-len(rec) % 4))
    return b"".join(parts)


def _modules_dir(modules_root: Path) -> Path:
    """``lib/modules/<release>`` under an INSTALL_MOD_PATH (or that dir itself)."""
    if (modules_root / "modules.dep").is_file():
        return modules_root
    found = sorted(modules_root.glob("lib/modules/*/modules.dep"))
    if len(found) != 1:
        raise GuestError(f"{modules_root}: expected one lib/modules/<release>/modules.dep, "
                         f"found {len(found)}")
    return found[0].parent


def module_name(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def _staged_modules(moddir: Path) -> tuple[list[tuple[str, bytes]], list[str], bool]:
    """Files of a modules tree for the initramfs (``.ko`` decompressed), module names."""
    files: list[tuple[str, bytes]] = []
    names: list[str] = []
    decompressed = False
    found = [Path(d) / f for d, _, fs in os.walk(moddir) for f in fs]  # not into build/
    for p in sorted(found):
        if p.is_symlink() or not p.is_file():
            continue
        rel = str(p.relative_to(moddir))
        if ".ko" in p.name:
            data = p.read_bytes()
            if p.name.endswith(".ko.xz"):
                data, rel, decompressed = lzma.decompress(data), rel[:-3], True
            elif p.name.endswith(".ko.gz"):
                data, rel, decompressed = gzip.decompress(data), rel[:-3], True
            elif not p.name.endswith(".ko"):
                raise GuestError(f"{p}: compressed module format not supported here")
            files.append((rel, data))
            names.append(module_name(p))
        elif p.name.startswith("modules.") and not p.name.endswith(".bin"):
            files.append((rel, p.read_bytes()))
    return files, sorted(names), decompressed


@dataclass
class Staged:
    """What an initramfs holds: the modules tree's release and module names."""
    release: str
    modules: list[str]
    extmod: str


def build_initramfs(dest: Path, *, tools: dict[str, Path], modules_root: Path,
                    extmod: Path, extmod_negative: Path, btf: bytes) -> Staged:
    busybox = shutil.which("busybox")
    if busybox is None:
        raise GuestError("busybox not found (fix: apt-get install -y busybox-static)")
    moddir = _modules_dir(modules_root)
    release = moddir.name
    files, names, decompressed = _staged_modules(moddir)
    if decompressed:  # modules.dep names the compressed files: regenerate it
        depmod = shutil.which("depmod") or "/sbin/depmod"
        stage = dest.parent / "depmod-stage"
        shutil.rmtree(stage, ignore_errors=True)
        for rel, data in files:
            (stage / "lib/modules" / release / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / "lib/modules" / release / rel).write_bytes(data)
        for f in stage.glob(f"lib/modules/{release}/modules.*"):
            if f.name.startswith(("modules.dep", "modules.alias", "modules.symbols")):
                f.unlink()
        _run([depmod, "-b", str(stage), release])
        files = [(rel, data) for rel, data in files if not rel.startswith("modules.")]
        files += [(f.name, f.read_bytes()) for f in sorted(stage.glob(
            f"lib/modules/{release}/modules.*")) if not f.name.endswith(".bin")]
        shutil.rmtree(stage)
    extname = module_name(extmod)
    if module_name(extmod_negative) != extname:
        raise GuestError(f"{extmod_negative}: the negative control must be module {extname}")
    config = (f"MODULES='{' '.join(names)}'\nEXTMOD=/e2e/ext/{extmod.name}\n"
              f"EXTMOD_NEG=/e2e/neg/{extmod_negative.name}\nEXTMOD_NAME={extname}\n")
    dirs = ["bin", "dev", "proc", "sys", "tmp", "e2e", "e2e/ext", "e2e/neg", "lib",
            "lib/modules", f"lib/modules/{release}"]
    entries: list[tuple[str, int, bytes]] = [(d, 0o40755, b"") for d in dirs]
    seen = set(dirs)
    for rel, data in files:
        parent = f"lib/modules/{release}"
        for part in Path(rel).parent.parts:
            parent += "/" + part
            if parent not in seen:
                seen.add(parent)
                entries.append((parent, 0o40755, b""))
        entries.append((f"lib/modules/{release}/{rel}", 0o100644, data))
    entries += [
        ("bin/busybox", 0o100755, Path(busybox).read_bytes()),
        ("init", 0o100755, (GUEST / "init.sh").read_bytes()),
        ("e2e/config", 0o100644, config.encode()),
        ("e2e/vmlinux.btf", 0o100644, btf),
        ("e2e/load", 0o100755, tools["load"].read_bytes()),
        (f"e2e/ext/{extmod.name}", 0o100644, extmod.read_bytes()),
        (f"e2e/neg/{extmod_negative.name}", 0o100644, extmod_negative.read_bytes()),
    ]
    entries += [(f"e2e/{n}.bpf.o", 0o100644, tools[n].read_bytes()) for n in PROGS]
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(gzip.compress(_cpio_newc(entries), compresslevel=6, mtime=0))
    tmp.rename(dest)
    return Staged(release, names, extname)


# ------------------------------------------------------------------ QEMU and the verdict
def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def qemu_command(kernel: Path, initrd: Path, *, kvm: bool, memory: str = "512M") -> list[str]:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise GuestError("qemu-system-x86_64 not found (fix: apt-get install -y "
                         "qemu-system-x86)")
    return [qemu, *(["-enable-kvm", "-cpu", "host"] if kvm else ["-cpu", "max"]),
            "-m", memory, "-smp", "1", "-nographic", "-no-reboot", "-nic", "none",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0 panic=-1 rdinit=/init"]


def boot(cmd: list[str], timeout: int, *, kvm_grace: float | None = None) -> tuple[str, str]:
    """Run QEMU until it exits (the guest reboots), times out, or KVM gives up.

    Returns the console text and how it ended: ``exit``, ``timeout``, ``kvm-error``
    (QEMU pauses the guest on a KVM internal error, e.g. an instruction a nested KVM
    cannot emulate) or ``kvm-stalled`` (with ``kvm_grace``: the guest's /init did not
    start within that many seconds; nested KVM can also hang silently). The caller
    retries the last two without KVM.
    """
    log("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(
        lambda: proc.stdout.read1(65536), b"")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    start = time.monotonic()
    how = "exit"
    while proc.poll() is None:
        text = b"".join(chunks)  # small: a console log
        now = time.monotonic() - start
        if now > timeout:
            how = "timeout"
        elif b"KVM internal error" in text:
            how = "kvm-error"
        elif kvm_grace is not None and now > kvm_grace and INIT_STARTED not in text:
            how = "kvm-stalled"
        else:
            time.sleep(0.2)
            continue
        proc.kill()
        break
    proc.wait()
    reader.join(timeout=5)
    return b"".join(chunks).decode(errors="replace"), how


@dataclass
class Prog:
    """One ``prog=`` line of the loader and the log lines that followed it."""
    fields: dict[str, str]
    log: list[str] = field(default_factory=list)

    @property
    def retval(self) -> int | None:
        if self.fields.get("loaded") != "1" or "retval" not in self.fields:
            return None
        return int(self.fields["retval"])


@dataclass
class Console:
    """The guest's ``BTFIDS-E2E`` lines, grouped: facts per phase, modules, programs
    (keyed ``phase/name``), the dmesg dump."""
    facts: dict[str, dict[str, str]] = field(default_factory=dict)
    modules: dict[str, dict[str, str]] = field(default_factory=dict)
    progs: dict[str, Prog] = field(default_factory=dict)
    dmesg: list[str] = field(default_factory=list)

    def fact(self, key: str) -> str | None:
        return next((f[key] for f in self.facts.values() if key in f), None)


def parse_console(text: str) -> Console:
    con = Console()
    phase = "boot"
    last: Prog | None = None
    libbpf: list[str] = []  # libbpf speaks before the loader's prog= line, the verifier after

    def output(line: str) -> None:
        con.facts.setdefault(phase, {})["output"] = (
            con.facts.get(phase, {}).get("output", "") + line + "\n")

    for raw in text.splitlines():
        at = raw.find(MARK)  # a kernel message may precede it on the same line
        if at < 0:
            continue
        head, _, rest = raw[at:].rstrip("\r\n").partition(" ")
        if head == MARK + "-DMESG":
            con.dmesg.append(rest)
        elif head == MARK + "-LIBBPF":
            libbpf.append(rest)
        elif head == MARK + "-VLOG" and last is not None:
            last.log.append(rest)
        elif head in (MARK + "-VLOG", MARK + "-OUT"):
            output(rest)
        elif head == MARK:
            kv = dict(t.split("=", 1) for t in rest.split() if "=" in t)
            if "prog" in kv:
                last = con.progs[f"{phase}/{kv['prog']}"] = Prog(kv, libbpf)
                libbpf = []
                continue
            for line in libbpf:  # not followed by a program: e.g. the object did not open
                output(line)
            libbpf, last = [], None
            if "phase" in kv:
                phase = kv.pop("phase")
                con.facts.setdefault(phase, {}).update(kv)
            elif "module" in kv:
                con.modules[kv.pop("module")] = kv
            else:
                con.facts.setdefault(phase, {}).update(kv)
    return con


def verdict(con: Console, want_modules: list[str]) -> dict[str, object]:
    """The checks of issue 20 from a parsed console (missing lines count as failures)."""
    not_loaded = [m for m in want_modules if con.modules.get(m, {}).get("loaded") != "1"
                  or con.modules[m].get("btf") != "1"]
    none = Prog({})
    vml = con.progs.get(f"calls/{PROGS[0]}", none)
    mod = con.progs.get(f"calls/{PROGS[1]}", none)
    neg = con.progs.get(f"negative/{PROGS[1]}", none)
    res: dict[str, object] = {
        "vmlinux_btf_equal": con.fact("vmlinux_btf_equal") == "1",
        "modules_btf_loaded": bool(want_modules) and not not_loaded,
        "extmod_loaded": con.fact("extmod_loaded") == "1" and con.fact("extmod_btf") == "1",
        "kfunc_vmlinux_call": vml.retval == EXPECT_VMLINUX_RETVAL,
        "kfunc_module_call": mod.retval == EXPECT_MODULE_RETVAL,
        # refused by the verifier for the right reason, with the module (and its BTF) loaded
        "negative_control_rejected": (
            con.fact("negmod_loaded") == "1" and con.fact("negmod_btf") == "1"
            and neg.fields.get("loaded") == "0" and any(REFUSED in ln for ln in neg.log)),
    }
    res["ok"] = all(res.values()) and "done" in con.facts
    res["details"] = {
        "kernel": con.facts.get("boot", {}).get("kernel"),
        "finished": "done" in con.facts,
        "modules": con.modules, "modules_failed": not_loaded,
        "extmod_unloaded": con.fact("extmod_unloaded") == "1",
        "progs": {k: {**v.fields, **({"log": v.log} if v.fields.get("loaded") == "0" else {})}
                  for k, v in con.progs.items()},
        "dmesg_btf_errors": [ln for ln in con.dmesg if any(b in ln for b in DMESG_BAD)],
        "hints": sorted({hint for p in con.progs.values() for ln in p.log
                         for msg, hint in HINTS.items() if msg in ln}),
    }
    return res


def run_guest(kernel: Path, modules_root: Path, extmod: Path, extmod_negative: Path,
              vmlinux_btf: Path, work: Path, timeout: int = 300, *,
              accel: str = "auto") -> dict[str, object]:
    """Boot ``kernel`` in QEMU and run the guest checks; see the module docstring.

    ``vmlinux_btf``: the raw ``.BTF`` the tool wrote (or an ELF holding it).
    Returns the checks (``vmlinux_btf_equal``, ``modules_btf_loaded``, ``extmod_loaded``,
    ``kfunc_vmlinux_call``, ``kfunc_module_call``, ``negative_control_rejected``), ``ok``,
    ``console`` (path of the serial log), ``seconds`` (the boot), ``bpf_kfunc_tags``
    (decl tags in ``vmlinux_btf``), ``accel`` (``kvm`` or ``tcg``: ``auto`` tries KVM
    when /dev/kvm is usable and falls back to TCG on a KVM internal error or when /init
    has not started after KVM_GRACE_S), ``ended`` and ``details``. Raises GuestError
    when the guest cannot be set up (missing tools or inputs); a failing guest is a
    result, not an error.
    """
    for p in (kernel, extmod, extmod_negative, vmlinux_btf):
        if not p.is_file():
            raise GuestError(f"{p}: no such file")
    work.mkdir(parents=True, exist_ok=True)
    btf = raw_btf(vmlinux_btf)
    tags = decl_tags(btf)
    tools = build_tools()
    initrd = work / "initramfs.cpio.gz"
    staged = build_initramfs(initrd, tools=tools, modules_root=modules_root, extmod=extmod,
                             extmod_negative=extmod_negative, btf=btf)
    accels = {"auto": [True, False] if kvm_usable() else [False], "kvm": [True],
              "tcg": [False]}[accel]
    for kvm in accels:
        t = time.monotonic()
        grace = KVM_GRACE_S if kvm and accel == "auto" else None
        text, how = boot(qemu_command(kernel, initrd, kvm=kvm), timeout, kvm_grace=grace)
        if how not in ("kvm-error", "kvm-stalled"):
            break
        (work / "console-kvm.log").write_text(text)
        log(f"{how} (console: {work / 'console-kvm.log'}): retrying without KVM")
    seconds = round(time.monotonic() - t, 1)
    console = work / "console.log"
    console.write_text(text)
    res = verdict(parse_console(text), staged.modules)
    res.update(console=str(console), seconds=seconds, bpf_kfunc_tags=tags,
               accel="kvm" if kvm else "tcg", ended=how, staged=asdict(staged))
    (work / "guest.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


# ------------------------------------------------------------------ Debian's cloud kernel
DEB_RELEASE = "6.12.117+deb12-cloud-amd64"
DEB_IMAGE = "/root/.cache/btfids-corpus/debs/linux-image-{rel}-unsigned_*.deb"
DEB_HEADERS = "/usr/src/linux-headers-{rel}"
DEB_MODULES = ["net/ipv4/tcp_bbr", "net/ipv4/tcp_dctcp", "net/ipv4/fou",
               "net/netfilter/nf_conntrack"]


def _closure(moddir: Path, wanted: list[str]) -> list[Path]:
    """The ``.ko*`` files of ``wanted`` (paths under kernel/) and their dependencies."""
    by_name = {module_name(p): p for p in moddir.rglob("*.ko*")}
    todo = [module_name(Path(w + ".ko")) for w in wanted]
    done: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in done:
            continue
        if name not in by_name:
            raise GuestError(f"module {name} not in {moddir}")
        done[name] = by_name[name]
        deps = _run(["modinfo", "-F", "depends", str(by_name[name])]).stdout.strip()
        todo += [d.replace("-", "_") for d in deps.split(",") if d]
    return sorted(done.values())


def debian_check(work: Path, timeout: int, accel: str = "auto") -> dict[str, object]:
    """The guest check on Debian's cloud kernel (built with the C tool) and a module
    built against its headers: proves the harness, not btfids."""
    rel = DEB_RELEASE
    debs = sorted(Path("/").glob(DEB_IMAGE.format(rel=rel).lstrip("/")))
    headers = Path(DEB_HEADERS.format(rel=rel))
    corpus_btf = Path("/root/.cache/btfids-corpus/current/btf-vmlinux")
    if not debs:
        raise GuestError(f"no {DEB_IMAGE.format(rel=rel)} (fix: ../shared/corpus/fetch)")
    if not (headers / "Makefile").is_file():
        raise GuestError(f"no {headers} (fix: apt-get install -y linux-headers-{rel})")
    work.mkdir(parents=True, exist_ok=True)
    image = work / "image"
    if not (image / "boot" / f"vmlinuz-{rel}").is_file():
        shutil.rmtree(image, ignore_errors=True)
        _run(["dpkg-deb", "-x", str(debs[-1]), str(image)])
    moddir = image / "lib/modules" / rel
    modroot = work / "modules-root"
    shutil.rmtree(modroot, ignore_errors=True)
    for ko in _closure(moddir, ["kernel/" + m for m in DEB_MODULES]):
        dst = modroot / "lib/modules" / rel / ko.relative_to(moddir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ko, dst)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        shutil.copy2(moddir / f, modroot / "lib/modules" / rel / f)
    (modroot / "lib/modules" / rel / "modules.dep").write_text("")  # regenerated on staging
    kos = {}
    for variant, extra in (("positive", []), ("negative", ["RESOLVE_BTFIDS=/bin/true"])):
        mdir = work / f"extmod-{variant}"
        shutil.rmtree(mdir, ignore_errors=True)
        mdir.mkdir()
        for f in ("btfids_e2e.c", "Kbuild"):
            shutil.copy2(HERE / "extmod" / f, mdir / f)
        _run(["make", "-s", "-C", str(headers), f"M={mdir}", *extra, "modules"])
        kos[variant] = mdir / "btfids_e2e.ko"
    btf = corpus_btf if corpus_btf.is_file() else Path("/sys/kernel/btf/vmlinux")
    return run_guest(image / "boot" / f"vmlinuz-{rel}", modroot, kos["positive"],
                     kos["negative"], btf, work / "guest", timeout, accel=accel)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    run = sub.add_parser("run", help="boot a kernel and run the guest checks")
    run.add_argument("--kernel", type=Path, required=True, help="bzImage")
    run.add_argument("--modules-root", type=Path, required=True,
                     help="INSTALL_MOD_PATH of `make modules_install`")
    run.add_argument("--extmod", type=Path, required=True, help="btfids_e2e.ko")
    run.add_argument("--extmod-negative", type=Path, required=True,
                     help="btfids_e2e.ko whose kfunc set holds zero IDs")
    run.add_argument("--vmlinux-btf", type=Path, required=True,
                     help="the .BTF the tool wrote (raw, or an ELF holding it)")
    run.add_argument("--work", type=Path, default=CACHE / "guest-run")
    deb = sub.add_parser("debian", help="the same checks on Debian's 6.12 cloud kernel")
    deb.add_argument("--work", type=Path, default=CACHE / "guest-debian")
    sub.add_parser("tools", help="build the BPF objects and the loader; print their paths")
    for p in (run, deb):
        p.add_argument("--timeout", type=int, default=300, help="seconds per boot")
        p.add_argument("--accel", choices=["auto", "kvm", "tcg"],
                       default=os.environ.get("BTFIDS_E2E_ACCEL", "auto"))
    args = ap.parse_args(argv)
    try:
        if args.step == "tools":
            print(json.dumps({k: str(v) for k, v in build_tools().items()}, indent=1))
            return 0
        if args.step == "debian":
            res = debian_check(args.work, args.timeout, args.accel)
        else:
            res = run_guest(args.kernel, args.modules_root, args.extmod, args.extmod_negative,
                            args.vmlinux_btf, args.work, args.timeout, accel=args.accel)
    except GuestError as exc:
        log(f"error: {exc}")
        return 2
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
