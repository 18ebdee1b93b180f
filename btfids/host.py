"""The host: build the context, run the configured passes, resolve ``.BTF_ids``, write.

The host never names a specific pass: it runs whatever the checked
:class:`~btfids.config.Pipeline` lists, in order. Consecutive ``kfunc``-scope passes form
one group that runs per kfunc in ascending FUNC ID (every pass of the group for one
kfunc before the next kfunc). Outputs are written atomically and all together: every
file goes to a temporary name first, and only when all are complete are they renamed
to ``<ELF>.BTF_ids``, ``<ELF>.BTF``, ``<ELF>.BTF.base`` in that order, so a failed run
leaves no new or partial files (stale ones from earlier runs stay, as upstream).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from . import loader
from ._dc import dataclass, field
from .btf.model import HOST_ORDER
from .context import Context, Log
from .errors import (
    ENV_DEBUG,
    EXIT_FAILURE,
    BtfidsError,
    PathTooLongError,
    PluginError,
    internal_error,
)
from .gcpause import gc_paused

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    import pluggy

    from .btf import Btf
    from .config import Config, Pipeline, Step
    from .plugins import PassInfo
    from .report import Report

PATH_MAX = 4096
SUFFIX_IDS = ".BTF_ids"
SUFFIX_BTF = ".BTF"
SUFFIX_BASE = ".BTF.base"
_DECL_TAG = 17


@dataclass
class RunOptions:
    """The command-line inputs of one main-mode run."""

    elf: str
    btf: str | None = None
    btf_base: str | None = None
    distill_base: bool = False
    fatal_warnings: bool = False
    verbose: int = 0
    #: use the base-BTF index cache (docs/performance.md); never changes output bytes
    cache: bool = True
    #: keep the loaded base for later runs of this process (batch mode; the base is
    #: never modified, and a changed file is noticed by its stat)
    share_base: bool = False
    #: write the side files here (``DIR/<ELF name>.BTF`` ...) instead of next to the ELF
    output_dir: str | None = None

    def output_prefix(self) -> str:
        """The side files' common name: ``<ELF>`` or ``<output_dir>/<ELF name>``."""
        if self.output_dir is None:
            return self.elf
        return os.path.join(self.output_dir, os.path.basename(self.elf))

    def as_context_options(self) -> dict[str, Any]:
        return {
            "btf": self.btf,
            "btf_base": self.btf_base,
            "distill_base": self.distill_base,
            "fatal_warnings": self.fatal_warnings,
            "verbose": self.verbose,
        }


@dataclass
class RunResult:
    """What a successful (possibly warning) run did."""

    exit_code: int
    outputs: list[str] = field(default_factory=list)
    ctx: Context | None = None


# ------------------------------------------------------------------ pipeline set-up
def registry(pm: pluggy.PluginManager | None = None) -> dict[str, PassInfo]:
    """All registered passes (entry points + ``$BTFIDS_PLUGINS``)."""
    from . import plugins

    return plugins.collect_passes(pm or plugins.get_manager())


def prepare(
    config: str | Config | None = None,
    *,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
    pm: pluggy.PluginManager | None = None,
) -> Pipeline:
    """Load the config (discovery rules of :mod:`btfids.config`) and check it against
    the registered passes and ``--enable``/``--disable``. Touches no output file."""
    from . import config as cfgmod

    cfg = config if isinstance(config, cfgmod.Config) else cfgmod.load_config(config)
    if cfg.mode == "in-place-6.12" and not cfg.pipeline and not cfg.passes and not enable:
        # The 6.12 flow runs no passes: skip loading plugins (lean start-up).
        if disable:
            cfgmod.build_pipeline(cfg, registry(pm), disable=disable)
        return cfgmod.Pipeline(cfg, [], cfg.mode, dict(cfg.compat))
    return cfgmod.build_pipeline(cfg, registry(pm), enable=enable, disable=disable)


# ------------------------------------------------------------------ main entry
def run(
    pipe: Pipeline,
    opts: RunOptions,
    *,
    pm: pluggy.PluginManager | None = None,
    log: Log | None = None,
    report: Report | None = None,
) -> RunResult:
    """Run one ELF through ``pipe``. Raises :class:`BtfidsError` on failure (nothing
    written); returns the exit status otherwise (255 for ``--fatal_warnings``)."""
    with gc_paused():
        return _run(pipe, opts, pm, log or Log(opts.verbose), report)


def _run(
    pipe: Pipeline,
    opts: RunOptions,
    pm: pluggy.PluginManager | None,
    log: Log,
    report: Report | None,
) -> RunResult:
    if report is not None:
        report.set_input(
            elf=opts.elf, btf=opts.btf, btf_base=opts.btf_base,
            distill_base=opts.distill_base, fatal_warnings=opts.fatal_warnings,
        )
        report.set_pipeline(pipe)
    if pipe.mode == "in-place-6.12":
        if opts.output_dir is not None:
            raise BtfidsError("--output-dir: mode 'in-place-6.12' patches the ELF itself "
                              "and writes no side files")
        return _run_legacy(opts, log, report)
    if pm is None:
        from . import plugins

        pm = plugins.get_manager()
    return _Runner(pipe, opts, pm, log, report).run()


def _run_legacy(opts: RunOptions, log: Log, report: Report | None) -> RunResult:
    from . import legacy

    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    legacy.run_in_place(opts.elf, btf_path=opts.btf, base_path=opts.btf_base, log=log,
                        seconds=seconds)
    if report is not None:
        for name, value in seconds.items():
            report.phase(name, value)
        report.phase("total", time.perf_counter() - t0)
        report.data["warnings"] = list(log.warning_lines)
    return RunResult(0, [opts.elf])


class _Runner:
    def __init__(
        self,
        pipe: Pipeline,
        opts: RunOptions,
        pm: pluggy.PluginManager,
        log: Log,
        report: Report | None,
    ) -> None:
        self.pipe = pipe
        self.opts = opts
        self.pm = pm
        self.log = log
        self.report = report
        #: the semantic changes of each pass, when the report asks for them
        self.changes: Any = None
        if report is not None and report.changes:
            from .passchanges import PassChanges

            self.changes = PassChanges()

    def phase(self, name: str, t0: float) -> float:
        now = time.perf_counter()
        if self.report is not None:
            self.report.phase(name, now - t0)
        return now

    def hook(self, name: str, **kwargs: Any) -> None:
        from .plugins import call_hook

        ctx = kwargs.get("ctx")
        if ctx is not None and getattr(self.pm.hook, name).get_hookimpls():
            ctx.type_names = None   # an implementation may change ctx.btf
        call_hook(self.pm, name, **kwargs)

    def run(self) -> RunResult:
        from . import symbols

        opts, log = self.opts, self.log
        start = t0 = time.perf_counter()

        def lap(step: str) -> None:
            nonlocal t0
            t0 = self.phase(step, t0)

        with loader.open_input(opts.elf) as elf:
            ids, base, btf = loader.load_newest(opts, log, elf, lap)
        ctx = Context(
            elf_path=opts.elf, log=log, btf=btf, base=base, ids=ids,
            options=opts.as_context_options(),
        )
        ctx.options["compat"] = dict(self.pipe.compat)
        self.hook("btfids_loaded", ctx=ctx)
        self.run_passes(ctx)
        self.hook("btfids_finalized", ctx=ctx)
        t0 = self.phase("passes", t0)

        files: list[tuple[str, bytes]] = []
        out = opts.output_prefix()
        if ctx.ids is not None:
            try:
                symbols.resolve_ids(ctx.ids, ctx.btf, log, own_names=ctx.type_names)
                blob = symbols.patch_section(ctx.ids, log)
            except symbols.SymbolError as exc:
                raise BtfidsError(str(exc)) from exc
            if blob:
                if ctx.ids.section.order != HOST_ORDER:
                    log.debug("bswap_32 .BTF_ids data from host to target endianness")
                files.append((out + SUFFIX_IDS, blob))
            else:
                # upstream still builds (and length-checks) the name first
                check_output_paths([out + SUFFIX_IDS])
                log.debug(f"{opts.elf} has no BTF_ids data to dump")
        t0 = self.phase("resolve", t0)
        files.append((out + SUFFIX_BTF, _raw(ctx.btf)))
        if ctx.base is not None and opts.distill_base and ctx.distilled_base is not None:
            files.append((out + SUFFIX_BASE, _raw(ctx.distilled_base)))
        written = write_outputs(files, log)
        t0 = self.phase("write", t0)
        if self.report is not None:
            for path, data in files:
                self.report.add_output(path, data)
            self.report.set_context(ctx)
            self.report.phase("total", t0 - start)
        self.hook("btfids_outputs_written", ctx=ctx, outputs=written)
        code = 0
        if opts.fatal_warnings and log.warnings and not self.pipe.compat.get(
            "fatal_warnings_noop"
        ):
            log.debug(f"--fatal_warnings: {log.warnings} warning(s), exit status 255")
            code = 255
        return RunResult(code, written, ctx)

    # -------------------------------------------------------------- passes
    def run_passes(self, ctx: Context) -> None:
        steps = self.pipe.enabled()
        i = 0
        while i < len(steps):
            if steps[i].info.spec.scope != "kfunc":
                self.run_btf_pass(ctx, steps[i])
                i += 1
                continue
            j = i
            while j < len(steps) and steps[j].info.spec.scope == "kfunc":
                j += 1
            self.run_kfunc_group(ctx, steps[i:j])
            i = j

    def run_btf_pass(self, ctx: Context, step: Step) -> None:
        self.hook("btfids_before_pass", ctx=ctx, spec=step.info.spec)
        acc = _Acc(ctx)
        if self.changes is not None:
            self.changes.before(ctx.btf)
        t = time.perf_counter()
        self.call(step, ctx, None, acc)
        secs = time.perf_counter() - t
        self.hook("btfids_after_pass", ctx=ctx, spec=step.info.spec, seconds=secs)
        if self.changes is not None:
            acc.changes = self.changes.after(ctx.btf)
        self.record(step, secs, acc)

    def run_kfunc_group(self, ctx: Context, group: list[Step]) -> None:
        for step in group:
            self.hook("btfids_before_pass", ctx=ctx, spec=step.info.spec)
        accs = [_Acc(ctx) for _ in group]
        secs = [0.0] * len(group)
        changes = self.changes
        if changes is not None:
            changes.group_started(ctx.btf, len(group))
        for kfunc in sorted(ctx.kfuncs, key=lambda k: k.func_id):
            for n, step in enumerate(group):
                token = changes.call_started(ctx.btf, kfunc.func_id) if changes else None
                t = time.perf_counter()
                self.call(step, ctx, kfunc, accs[n])
                secs[n] += time.perf_counter() - t
                if changes is not None:
                    changes.call_ended(n, token, ctx.btf)
        if changes is not None:
            for acc, part in zip(accs, changes.group_ended(ctx.btf), strict=True):
                acc.changes = part
        names = [s.name for s in group]
        at = accs[0].first if accs else 0
        for n, step in enumerate(group):
            self.hook("btfids_after_pass", ctx=ctx, spec=step.info.spec, seconds=secs[n])
            # interleaved per kfunc: report the sequential equivalent (report.py)
            accs[n].first, accs[n].last = at, at + accs[n].added
            at = accs[n].last
            self.record(step, secs[n], accs[n], names)

    def call(self, step: Step, ctx: Context, kfunc: Any, acc: _Acc) -> None:
        spec = step.info.spec
        before_btf, before_cnt = ctx.btf, ctx.btf.type_cnt
        ctx.type_names = None   # only the pass that changes ctx.btf last may set them
        self.log.debug2(f"btfids: pass {spec.name}" + (f" kfunc {kfunc.name!r}" if kfunc else ""))
        try:
            if kfunc is None:
                spec.run(ctx, step.options)  # type: ignore[call-arg]
            else:
                spec.run(ctx, step.options, kfunc)  # type: ignore[call-arg]
        except BtfidsError:
            raise
        except Exception as exc:
            raise PluginError(step.info.plugin, f"pass {spec.name!r}", exc) from exc
        acc.note(ctx, before_btf, before_cnt)

    def record(self, step: Step, secs: float, acc: _Acc, group: list[str] | None = None) -> None:
        if self.report is None:
            return
        self.report.add_pass(
            {
                "name": step.name,
                "plugin": step.info.plugin,
                "scope": step.info.spec.scope,
                "group": group,
                "seconds": secs,
                "types_before": acc.first,
                "types_after": acc.last,
                "types_added": acc.added,
                "decl_tags_added": acc.tags,
                **({"changes": acc.changes.brief()} if acc.changes is not None else {}),
            }
        )


class _Acc:
    """Per-pass figures: type counts (without VOID) when the pass (or its kfunc group)
    started and ended, types added by this pass itself, DECL_TAGs it appended by name."""

    def __init__(self, ctx: Context) -> None:
        self.first = ctx.btf.type_cnt - 1
        self.last = self.first
        self.added = 0
        self.tags: dict[str, int] = {}
        self.changes: Any = None    # a semdiff.Diff when the report asks for changes

    def note(self, ctx: Context, before: Btf, before_cnt: int) -> None:
        btf = ctx.btf
        self.last = btf.type_cnt - 1
        self.added += btf.type_cnt - before_cnt
        if btf is not before:
            return
        for tid in range(max(before_cnt, btf.start_id), btf.type_cnt):
            t = btf.types[tid - btf.start_id]
            if (t[1] >> 24) & 0x7F == _DECL_TAG:
                name = btf.str_at(t[0]).decode("latin-1")
                self.tags[name] = self.tags.get(name, 0) + 1


# ------------------------------------------------------------------ inputs
#: the loads of a run, for callers that want one of them alone (the CLI's inspectors)
load_symbols = loader.load_symbols
load_inputs = loader.load_inputs


# ------------------------------------------------------------------ batch mode
@dataclass
class BatchItem:
    """The outcome of one ELF of a batch."""

    elf: str
    exit_code: int
    error: str | None = None
    #: the ELF has a ``.BTF_ids`` section (with symbols)
    has_ids: bool = False
    kfuncs: int = 0
    warnings: int = 0
    #: the ``--report`` entry of this ELF (when asked for)
    report: dict[str, Any] | None = None


def _batch_one(pipe: Pipeline, opts: RunOptions, elf: str, report: bool = False) -> BatchItem:
    from ._dc import replace

    # every line of this ELF names it, as its error line does
    log = Log(opts.verbose, prefix=f"btfids: {elf}: ")
    rep = None
    if report:
        from .report import Report

        rep = Report()
    item = BatchItem(elf, 0)
    try:
        res = run(pipe, replace(opts, elf=elf, share_base=True), log=log, report=rep)
        item.exit_code = res.exit_code
        if res.ctx is not None:
            item.has_ids = res.ctx.ids is not None
            item.kfuncs = len(res.ctx.kfuncs)
    except BtfidsError as exc:
        item.exit_code, item.error = exc.exit_code, str(exc)
    except Exception as exc:  # a bug: one line for this ELF, and the batch goes on
        if os.environ.get(ENV_DEBUG):
            raise
        item.exit_code, item.error = EXIT_FAILURE, internal_error(exc)
    item.warnings = log.warnings
    if item.error is not None:
        sys.stderr.write(f"btfids: {elf}: {item.error}\n")
        sys.stderr.flush()
    if rep is not None:
        rep.finish(item.exit_code, item.error)
        item.report = rep.data
    return item


_WORKER: tuple[Pipeline, RunOptions, bool] | None = None


def _worker_run(elf: str) -> BatchItem:
    assert _WORKER is not None
    return _batch_one(_WORKER[0], _WORKER[1], elf, _WORKER[2])


def run_batch(
    pipe: Pipeline,
    opts: RunOptions,
    elfs: Sequence[str],
    *,
    jobs: int = 1,
    done: Any = None,
    report: bool = False,
) -> list[BatchItem]:
    """Run every ELF of ``elfs`` as :func:`run` would, one after the other in this
    process (``jobs`` > 1: that many forked workers), with the base BTF loaded once.
    Output bytes are those of single runs. A failing ELF is reported on stderr
    (``btfids: <elf>: <message>``) and does not stop the batch. ``done(item)`` is
    called after each ELF, in input order. Every message line of an ELF starts with
    ``btfids: <elf>: ``. ``report``: each item carries its ``--report`` entry. Returns
    the items in input order."""
    global _WORKER
    items: list[BatchItem] = []
    if opts.btf_base:
        try:  # load it before forking: the workers share its pages
            loader.shared_base(opts)
        except Exception:  # reported per ELF by the runs
            pass
    if jobs <= 1 or len(elfs) <= 1:
        for elf in elfs:
            item = _batch_one(pipe, opts, elf, report)
            items.append(item)
            if done is not None:
                done(item)
        return items
    import multiprocessing

    _WORKER = (pipe, opts, report)
    try:
        from .interrupts import restore_defaults

        ctx = multiprocessing.get_context("fork")
        # SIGINT/SIGTERM stop a worker outright; this process unwinds and ends the pool
        with ctx.Pool(jobs, initializer=restore_defaults) as pool:
            for item in pool.imap(_worker_run, elfs, chunksize=1):
                items.append(item)
                if done is not None:
                    done(item)
    finally:
        _WORKER = None
    return items


def _raw(btf: Btf) -> bytes:
    try:
        return btf.raw_data()
    except Exception as exc:
        raise BtfidsError("btf__raw_data() failed") from exc


# ------------------------------------------------------------------ outputs
def check_output_paths(paths: Sequence[str]) -> None:
    """Upstream's PATH_MAX rule (exit 249), checked for every name before writing."""
    for path in paths:
        if len(os.fsencode(path)) >= PATH_MAX:
            elf, suffix = _split_suffix(path)
            raise PathTooLongError(f"Output path is too long: {elf}{suffix}")


def _split_suffix(path: str) -> tuple[str, str]:
    for suffix in (SUFFIX_BASE, SUFFIX_IDS, SUFFIX_BTF):
        if path.endswith(suffix):
            return path[: -len(suffix)], suffix
    return path, ""


def write_outputs(files: Sequence[tuple[str, bytes]], log: Log) -> list[str]:
    """Write every file to a temporary name in its directory, then rename all in order.

    Any failure before the renames removes the temporary files and writes nothing.
    SIGINT/SIGTERM wait until the outputs are all in place or all gone
    (:mod:`btfids.interrupts`). Messages follow upstream (``Couldn't open %s for
    writing``, ``Failed to write data to %s``, debug ``Dumped %lu bytes of data to
    %s``)."""
    from .interrupts import held

    with held():
        return _write_outputs(files, log)


def _write_outputs(files: Sequence[tuple[str, bytes]], log: Log) -> list[str]:
    check_output_paths([p for p, _ in files])
    staged: list[tuple[int, str, str, str, int]] = []  # dir fd, tmp, final base, path, size
    dir_fds: dict[str, int] = {}
    try:
        for path, data in files:
            dname = os.path.dirname(path) or "."
            base = os.path.basename(path)
            if dname not in dir_fds:
                try:
                    dir_fds[dname] = os.open(dname, os.O_RDONLY | os.O_DIRECTORY)
                except OSError as exc:
                    raise BtfidsError(f"Couldn't open {path} for writing") from exc
            dfd = dir_fds[dname]
            tmp = f".{base[:180]}.{os.urandom(4).hex()}.tmp"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=dfd)
            except OSError as exc:
                raise BtfidsError(f"Couldn't open {path} for writing") from exc
            staged.append((dfd, tmp, base, path, len(data)))
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
            except OSError as exc:
                raise BtfidsError(f"Failed to write data to {path}") from exc
            finally:
                os.close(fd)
        written: list[str] = []
        while staged:
            dfd, tmp, base, path, size = staged[0]
            try:
                os.rename(tmp, base, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as exc:
                raise BtfidsError(f"Couldn't open {path} for writing") from exc
            staged.pop(0)
            written.append(path)
            log.debug(f"Dumped {size} bytes of data to {path}")
        return written
    finally:
        for dfd, tmp, *_ in staged:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
        for dfd in dir_fds.values():
            os.close(dfd)


# ------------------------------------------------------------------ bisect
@dataclass
class BisectStep:
    """One trial of :func:`bisect`: the first ``count`` enabled passes, and the verdict."""

    count: int
    passes: list[str]
    good: bool
    detail: str


@dataclass
class BisectResult:
    culprit: str | None
    steps: list[BisectStep]
    #: verdict with the culprit (and the passes needing it) disabled, all others on
    confirmed: bool | None = None
    disabled_for_confirm: list[str] = field(default_factory=list)
    message: str = ""
    #: the culprit's report entry with its semantic ``changes`` (``explain=True``)
    culprit_entry: dict[str, Any] | None = None


def bisect(
    pipe: Pipeline,
    opts: RunOptions,
    check: Sequence[str],
    *,
    pm: pluggy.PluginManager | None = None,
    echo: Any = None,
    confirm: bool = True,
    explain: bool = True,
) -> BisectResult:
    """Find the first pass (configured order) whose enabling turns good into bad.

    Trial *k* runs the pipeline with only its first *k* enabled passes (any prefix keeps
    the ``needs`` rule: a need is always earlier) into a scratch directory, then runs
    ``check`` in the caller's working directory; exit status 0 is good. ``{elf}``,
    ``{btf}``, ``{btf_ids}``, ``{distilled_base}`` (the trial's outputs), ``{btf_base}``
    (the ``-b`` base, absolute; empty without one) and ``{dir}`` (the scratch
    directory) in ``check`` are replaced, and also in the environment as
    ``BTFIDS_ELF``, ``BTFIDS_BTF``, ``BTFIDS_BTF_IDS``, ``BTFIDS_DISTILLED_BASE``,
    ``BTFIDS_BTF_BASE``, ``BTFIDS_DIR``. A failing run counts as bad; a CHECK that
    cannot be started is an error. Binary search: 2 + ceil(log2 n) trials,
    plus one confirmation run with the culprit (and its dependants) disabled, and with
    ``explain`` one more run up to the culprit that records what it changed.
    """
    import io
    import subprocess
    import tempfile

    if pipe.mode != "newest":
        raise BtfidsError(f"bisect: mode {pipe.mode!r} runs no passes; nothing to bisect")
    if not check:
        raise BtfidsError("bisect: no check command given")
    if pm is None:
        from . import plugins

        pm = plugins.get_manager()
    say = echo or (lambda msg: None)
    names = [s.name for s in pipe.enabled()]
    elf_abs = os.path.abspath(opts.elf)
    steps: list[BisectStep] = []

    def trial_options(tmp: str) -> RunOptions:
        elf = os.path.join(tmp, os.path.basename(elf_abs))
        os.symlink(elf_abs, elf)
        return RunOptions(
            elf=elf,
            btf=os.path.abspath(opts.btf) if opts.btf else None,
            btf_base=os.path.abspath(opts.btf_base) if opts.btf_base else None,
            distill_base=opts.distill_base,
            fatal_warnings=opts.fatal_warnings,
        )

    def trial(enabled: list[str], label: str) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory(prefix="btfids-bisect-") as tmp:
            topts = trial_options(tmp)
            elf = topts.elf
            buf = io.StringIO()
            try:
                res = run(pipe.with_enabled(enabled), topts, pm=pm, log=Log(0, buf))
                ran = res.exit_code == 0
                detail = "" if ran else f"run exit {res.exit_code}"
            except BtfidsError as exc:
                ran, detail = False, f"run failed: {exc}"
            if ran:
                paths = {
                    "elf": elf, "btf": elf + SUFFIX_BTF, "btf_ids": elf + SUFFIX_IDS,
                    "btf_base": topts.btf_base or "", "distilled_base": elf + SUFFIX_BASE,
                    "dir": tmp,
                }
                argv = [a.format(**paths) if "{" in a else a for a in check]
                env = dict(os.environ)
                env.update({f"BTFIDS_{k.upper()}": v for k, v in paths.items()})
                try:  # in the caller's directory: relative paths in CHECK work
                    proc = subprocess.run(argv, env=env, check=False)
                except OSError as exc:
                    raise BtfidsError(
                        f"bisect: cannot run CHECK {argv[0]!r}: {exc.strerror or exc}"
                    ) from exc
                ran = proc.returncode == 0
                detail = f"check exit {proc.returncode}"
        say(f"bisect: {label}: {'good' if ran else 'bad'} ({detail})")
        return ran, detail

    def prefix(k: int) -> bool:
        shown = ", ".join(names[:k]) if k else "none"
        good, detail = trial(names[:k], f"{k}/{len(names)} passes enabled [{shown}]")
        steps.append(BisectStep(k, names[:k], good, detail))
        return good

    if not prefix(0):
        return BisectResult(None, steps, message="bad with no pass enabled: not caused by a pass")
    if prefix(len(names)):
        return BisectResult(None, steps, message="good with every pass enabled: nothing to find")
    lo, hi = 0, len(names)  # prefix(lo) good, prefix(hi) bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if prefix(mid):
            lo = mid
        else:
            hi = mid
    culprit = names[hi - 1]
    result = BisectResult(culprit, steps, message=f"first bad pass: {culprit}")
    say(f"bisect: first bad pass: {culprit} (position {hi} of {len(names)})")
    if explain:
        from .report import Report

        rep = Report(changes=True)
        with tempfile.TemporaryDirectory(prefix="btfids-bisect-") as tmp:
            try:
                run(pipe.with_enabled(names[:hi]), trial_options(tmp), pm=pm,
                    log=Log(0, io.StringIO()), report=rep)
            except BtfidsError:
                pass    # the entries of the passes that ran are kept
        result.culprit_entry = next(
            (e for e in reversed(rep.data["passes"]) if e["name"] == culprit), None)
    if confirm:
        off = {culprit}
        for s in pipe.enabled():  # dependants (transitively, needs come earlier)
            if off & set(s.info.spec.needs):
                off.add(s.name)
        rest = [n for n in names if n not in off]
        result.disabled_for_confirm = [n for n in names if n in off]
        result.confirmed, _ = trial(
            rest, f"confirm: all but {', '.join(result.disabled_for_confirm)}"
        )
        if not result.confirmed:
            result.message += " (still bad with it disabled: another pass is bad too)"
    return result
