"""Find, load, merge and validate the TOML config; build the effective pass pipeline.

Discovery (first hit wins): ``--config PATH|PRESET``, ``$BTFIDS_CONFIG``,
``$srctree/btfids.toml``, ``./btfids.toml``, the default preset ``bpf-next``.
A file may ``extends`` a bundled preset (or another file) and then replace the
``pipeline``, switch passes on/off, move them (``after``/``before``) and set per-pass
options in ``[passes.<name>]``. See docs/config.md.

Every problem is a :class:`~btfids.errors.ConfigError` naming file, key and fix; all of
it is checked before the host touches any file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence

from ._dc import dataclass, field
from .errors import ConfigError

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from .hookspecs import OptionSpec
    from .plugins import PassInfo

ENV_CONFIG = "BTFIDS_CONFIG"
CONFIG_NAME = "btfids.toml"
DEFAULT_PRESET = "bpf-next"
#: ``newest``: side files (bpf-next); ``in-place-6.12``: the Linux 6.12 in-place rewrite.
MODES = ("newest", "in-place-6.12")
#: what a file with neither ``extends`` nor ``pipeline`` extends, by its ``mode``
PRESET_FOR_MODE = {"newest": DEFAULT_PRESET, "in-place-6.12": "linux-6.12"}
TOP_KEYS: dict[str, type] = {
    "description": str,
    "extends": str,
    "mode": str,
    "pipeline": list,
    "passes": dict,
    "compat": dict,
}
COMPAT_KEYS: dict[str, type] = {"fatal_warnings_noop": bool}
PASS_KEYS: dict[str, type] = {"enabled": bool, "after": str, "before": str}
_TYPE_NAMES = {
    str: "a string", list: "an array", dict: "a table", bool: "a boolean",
    int: "an integer", float: "a number",
}


@dataclass
class PassSettings:
    """What a config says about one pass (``[passes.<name>]``)."""

    enabled: bool | None = None
    after: str | None = None
    before: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: key ("enabled", option name, ...) → file that set it
    src: dict[str, str] = field(default_factory=dict)


@dataclass
class Config:
    """A loaded config, ``extends`` chain merged (not yet checked against passes)."""

    #: "preset bpf-next" or the file path
    name: str
    #: how it was found: "--config", "$BTFIDS_CONFIG", "$srctree", "cwd", "default"
    found_by: str
    #: sources from the root preset to this file
    chain: list[str]
    description: str = ""
    mode: str = "newest"
    pipeline: list[str] = field(default_factory=list)
    passes: dict[str, PassSettings] = field(default_factory=dict)
    compat: dict[str, Any] = field(default_factory=dict)
    #: top-level key → file that set it
    src: dict[str, str] = field(default_factory=dict)
    #: the preset this file extends without saying so (no ``extends``, no ``pipeline``)
    implicit_extends: str | None = None

    def source_of(self, key: str) -> str:
        return self.src.get(key, self.chain[-1])


# ------------------------------------------------------------------ presets
# Paths are plain strings and os.path here: pathlib (and the urllib.parse and ipaddress
# modules it imports) would cost a module run ~2.5 ms of start-up.
def _path(*parts: str | os.PathLike[str]) -> str:
    """``str(pathlib.PurePosixPath(*parts))``: joined, without empty or ``.`` parts."""
    joined = os.path.join(*parts)
    head = "/" if joined.startswith("/") else ""
    if joined.startswith("//") and not joined.startswith("///"):
        head = "//"
    tail = "/".join(p for p in joined.split("/") if p not in ("", "."))
    return head + tail if head or tail else "."


def preset_dir() -> str:
    """Directory of the bundled presets (the ``btfids_presets`` package)."""
    # Importing the (empty) package is cheaper than importlib.util.find_spec, whose
    # imports cost a run ~3 ms of start-up.
    try:
        import btfids_presets
    except ImportError:  # pragma: no cover - a source tree without installation
        here = os.path.dirname(os.path.realpath(__file__))
        return os.path.join(os.path.dirname(here), "config")
    return str(next(iter(btfids_presets.__path__)))


def preset_names() -> list[str]:
    return sorted(n[:-5] for n in os.listdir(preset_dir())
                  if n.endswith(".toml") and len(n) > 5)


def preset_path(name: str) -> str | None:
    path = os.path.join(preset_dir(), f"{name}.toml")
    return path if name and "/" not in name and os.path.isfile(path) else None


# ------------------------------------------------------------------ discovery
def find_config(
    explicit: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[str, str]:
    """``(spec, found_by)``: a preset name or file path and how it was found."""
    env = os.environ if env is None else env
    here = os.fspath(cwd) if cwd is not None else os.getcwd()
    if explicit:
        return explicit, "--config"
    if env.get(ENV_CONFIG):
        return env[ENV_CONFIG], "$" + ENV_CONFIG
    srctree = env.get("srctree")
    if srctree:
        cand = _path(here, srctree, CONFIG_NAME)
        if os.path.isfile(cand):
            return cand, "$srctree"
    cand = _path(here, CONFIG_NAME)
    if os.path.isfile(cand):
        return cand, "current directory"
    return DEFAULT_PRESET, "default"


def load_config(
    explicit: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Config:
    """Find and load the config (see module docstring)."""
    spec, found_by = find_config(explicit, env=env, cwd=cwd)
    return load(spec, found_by=found_by, cwd=cwd)


def load(
    spec: str, *, found_by: str = "--config", cwd: str | os.PathLike[str] | None = None
) -> Config:
    """Load a preset name or a TOML file path."""
    ppath = preset_path(spec)
    looks_like_path = "/" in spec or spec.endswith(".toml") or spec.startswith(".")
    if ppath is not None and not looks_like_path:
        return _load_chain(ppath, f"preset {spec}", found_by, [])
    path = _path(spec)
    if cwd is not None and not os.path.isabs(path):
        path = _path(cwd, path)
    if not os.path.isfile(path):
        fix = f"give an existing TOML file or a preset ({', '.join(preset_names())})"
        if os.path.exists(path):
            problem = "not a regular file"
        else:
            problem = "no such file" if looks_like_path else "no such file or preset"
        if found_by.startswith("$"):  # the user may not know the variable is set
            raise ConfigError(f"{found_by}={spec}", "", problem, f"{fix}, or unset {found_by[1:]}")
        raise ConfigError(spec, "", problem, fix)
    return _load_chain(path, str(spec), found_by, [])


def _read_toml(path: str, label: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(label, "", f"cannot read: {exc.strerror or exc}") from exc
    cached = _parsed_cache(text)
    if cached is not None:
        return cached
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(text.decode())
    except UnicodeDecodeError as exc:
        raise ConfigError(label, "", f"invalid TOML: not UTF-8 ({exc.reason} at byte"
                          f" {exc.start})", "save the file as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(label, "", f"invalid TOML: {exc}", "fix the TOML syntax") from exc
    _parsed_store(text, data)
    return data


def _parsed_path(text: bytes) -> str | None:
    from .cache import cache_dir, cache_enabled

    if not cache_enabled():
        return None
    import zlib

    return os.path.join(cache_dir(), "toml-%08x-%x" % (zlib.crc32(text), len(text)))


def _parsed_cache(text: bytes) -> dict[str, Any] | None:
    """A TOML file's parsed tables from the cache (the parse and ``tomllib``'s import
    cost more than a module run's whole config work); keyed by the exact text."""
    path = _parsed_path(text)
    if path is None:
        return None
    import marshal

    from .cache import read_sealed

    blob = read_sealed(path)   # None when missing or failing its crc32
    if blob is None:
        return None
    try:
        stored, data = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    return data if stored == text and isinstance(data, dict) else None


def _parsed_store(text: bytes, data: dict[str, Any]) -> None:
    path = _parsed_path(text)
    if path is None:
        return
    import marshal

    from .cache import write_atomically

    try:
        blob = marshal.dumps((text, data))
    except ValueError:  # a TOML date or time: not worth caching
        return
    write_atomically(path, blob)


def _load_chain(path: str, label: str, found_by: str, seen: list[str]) -> Config:
    real = os.path.realpath(path)
    if real in seen:
        raise ConfigError(label, "extends", "circular 'extends' chain", "remove the cycle")
    data = _read_toml(path, label)
    _check_structure(data, label)
    parent: Config | None = None
    implicit = None
    if "extends" not in data and "pipeline" not in data and not label.startswith("preset "):
        # Neither a parent nor a pipeline of its own: the file changes the preset of
        # its mode (docs/config.md); an empty pipeline must be written `pipeline = []`.
        implicit = PRESET_FOR_MODE[data.get("mode", "newest")]
        data = {**data, "extends": implicit}
    if "extends" in data:
        target = data["extends"]
        ppath = preset_path(target)
        if ppath is not None and "/" not in target and not target.endswith(".toml"):
            parent = _load_chain(ppath, f"preset {target}", found_by, [*seen, real])
        else:
            tpath = _path(target)
            if not os.path.isabs(tpath):
                tpath = _path(os.path.dirname(path), tpath)
            if not os.path.isfile(tpath):
                raise ConfigError(
                    label, "extends", f"{target!r} is neither a preset nor a file",
                    f"use one of {', '.join(preset_names())} or a path relative to this file",
                )
            parent = _load_chain(tpath, tpath, found_by, [*seen, real])
    cfg = parent or Config(name=label, found_by=found_by, chain=[])
    cfg.implicit_extends = implicit
    cfg.name = label
    cfg.found_by = found_by
    cfg.chain = [*cfg.chain, label]
    _merge(cfg, data, label)
    return cfg


def _type_name(t: type) -> str:
    return _TYPE_NAMES.get(t, t.__name__)


def _is(value: Any, t: type) -> bool:
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, t)


def _check_structure(data: dict[str, Any], label: str) -> None:
    """Keys and value types that need no pass registry."""
    for key, value in data.items():
        want = TOP_KEYS.get(key)
        if want is None:
            raise ConfigError(
                label, key, "unknown key", f"remove it; known keys: {', '.join(TOP_KEYS)}"
            )
        if not _is(value, want):
            raise ConfigError(
                label, key, f"must be {_type_name(want)}, not {_type_name(type(value))}"
            )
    if "mode" in data and data["mode"] not in MODES:
        raise ConfigError(
            label, "mode", f"unknown mode {data['mode']!r}", f"use one of {', '.join(MODES)}"
        )
    for i, name in enumerate(data.get("pipeline", [])):
        if not isinstance(name, str):
            raise ConfigError(label, f"pipeline[{i}]", "must be a pass name (string)")
    for key, value in data.get("compat", {}).items():
        want = COMPAT_KEYS.get(key)
        if want is None:
            raise ConfigError(
                label, f"compat.{key}", "unknown key",
                f"remove it; known keys: {', '.join(COMPAT_KEYS)}",
            )
        if not _is(value, want):
            raise ConfigError(label, f"compat.{key}", f"must be {_type_name(want)}")
    for pname, table in data.get("passes", {}).items():
        if not isinstance(table, dict):
            raise ConfigError(
                label, f"passes.{pname}", "must be a table",
                f"write [passes.{pname}] with enabled/after/before/options",
            )
        for key, want in PASS_KEYS.items():
            if key in table and not _is(table[key], want):
                raise ConfigError(label, f"passes.{pname}.{key}", f"must be {_type_name(want)}")
        if "after" in table and "before" in table:
            raise ConfigError(
                label, f"passes.{pname}", "has both 'after' and 'before'", "keep one of them"
            )


def _merge(cfg: Config, data: dict[str, Any], label: str) -> None:
    for key in ("description", "mode", "pipeline"):
        if key in data:
            setattr(cfg, key, list(data[key]) if key == "pipeline" else data[key])
            cfg.src[key] = label
    for key, value in data.get("compat", {}).items():
        cfg.compat[key] = value
        cfg.src[f"compat.{key}"] = label
    for pname, table in data.get("passes", {}).items():
        ps = cfg.passes.setdefault(pname, PassSettings())
        for key, value in table.items():
            if key == "enabled":
                ps.enabled = value
            elif key in ("after", "before"):
                ps.after = value if key == "after" else None
                ps.before = value if key == "before" else None
            else:
                ps.options[key] = value
            ps.src[key] = label


# ------------------------------------------------------------------ pipeline
@dataclass
class Step:
    """One pass in the effective pipeline."""

    info: PassInfo
    enabled: bool
    #: spec defaults overridden by the config
    options: dict[str, Any]

    @property
    def name(self) -> str:
        return self.info.spec.name


@dataclass
class Pipeline:
    """The checked, ordered pipeline the host runs."""

    config: Config
    steps: list[Step]
    mode: str = "newest"
    compat: dict[str, Any] = field(default_factory=dict)

    def enabled(self) -> list[Step]:
        return [s for s in self.steps if s.enabled]

    def with_enabled(self, names: Iterable[str]) -> Pipeline:
        """A copy with exactly ``names`` enabled (no dependency check)."""
        keep = set(names)
        steps = [Step(s.info, s.name in keep, s.options) for s in self.steps]
        return Pipeline(self.config, steps, self.mode, dict(self.compat))


def _known(registry: Mapping[str, PassInfo]) -> str:
    return ", ".join(sorted(registry)) or "(none)"


def check_option(label: str, key: str, decl: OptionSpec | Any, value: Any) -> None:
    """Raise unless ``value`` suits the option: the type of its default (lists: the item
    type too), then the allowed values the pass declared (:class:`OptionSpec`)."""
    from .hookspecs import OptionSpec

    if not isinstance(decl, OptionSpec):
        decl = OptionSpec(decl)
    default = decl.default
    t = type(default)
    if not _is(value, t):
        raise ConfigError(
            label, key, f"must be {decl.allowed()} like the default {default!r}, "
            f"not {_type_name(type(value))} {value!r}",
        )
    if isinstance(default, list) and default:
        et = type(default[0])
        for i, item in enumerate(value):
            if not _is(item, et):
                raise ConfigError(label, f"{key}[{i}]", f"must be {_type_name(et)}")
    problem = decl.problem(value)
    if problem is not None:
        raise ConfigError(label, key, f"{problem}: allowed is {decl.allowed()}",
                          f"set an allowed value or remove {key.rpartition('.')[2]} "
                          f"(default {default!r})")


def build_pipeline(
    cfg: Config,
    registry: Mapping[str, PassInfo],
    *,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
) -> Pipeline:
    """Check ``cfg`` (plus ``--enable``/``--disable``) against the registered passes and
    return the effective pipeline. Raises :class:`ConfigError` on any problem."""
    psrc = cfg.source_of("pipeline")
    order: list[str] = []
    #: pass → (source, key) of the user's input that disabled or moved it
    blame: dict[str, tuple[str, str]] = {}
    for i, name in enumerate(cfg.pipeline):
        if name not in registry:
            raise ConfigError(
                psrc, f"pipeline[{i}]", f"unknown pass {name!r}",
                f"use a registered pass ({_known(registry)}) or install its plugin",
            )
        if name in order:
            raise ConfigError(psrc, f"pipeline[{i}]", f"pass {name!r} listed twice",
                              "list each pass once")
        order.append(name)
    for pname, ps in cfg.passes.items():
        base_src = next(iter(ps.src.values()), cfg.chain[-1])
        if pname not in registry:
            raise ConfigError(
                base_src, f"passes.{pname}", f"unknown pass {pname!r}",
                f"use a registered pass ({_known(registry)}) or install its plugin",
            )
        spec = registry[pname].spec
        for opt, value in ps.options.items():
            label = ps.src.get(opt, base_src)
            if opt not in spec.options:
                known = ", ".join(sorted(spec.options)) or "none"
                raise ConfigError(
                    label, f"passes.{pname}.{opt}", "unknown option",
                    f"remove it; options of {pname}: {known}; keys: enabled, after, before",
                )
            check_option(label, f"passes.{pname}.{opt}", spec.option(opt), value)
        anchor = ps.after or ps.before
        if anchor is not None:
            key = f"passes.{pname}.{'after' if ps.after else 'before'}"
            label = ps.src.get("after" if ps.after else "before", base_src)
            if anchor == pname or anchor not in order:
                raise ConfigError(
                    label, key, f"{anchor!r} is not another pass of the pipeline",
                    f"name one of: {', '.join(n for n in order if n != pname)}",
                )
            if pname in order:
                order.remove(pname)
            order.insert(order.index(anchor) + (1 if ps.after else 0), pname)
            blame[pname] = (label, key)
        elif pname not in order:
            raise ConfigError(
                base_src, f"passes.{pname}", f"pass {pname!r} is not in the pipeline",
                _placement_fix(cfg, pname, order),
            )
    enabled = {n: (cfg.passes[n].enabled if n in cfg.passes else None) for n in order}
    for n, flag in enabled.items():
        if flag is None:
            enabled[n] = True
        elif not flag:
            blame[n] = (cfg.passes[n].src.get("enabled", cfg.chain[-1]), f"passes.{n}.enabled")
    both = set(enable) & set(disable)
    if both:
        raise ConfigError(
            "command line", "--enable/--disable", f"{sorted(both)[0]!r} is both enabled "
            "and disabled", "give one of them",
        )
    for opt, names, value in (("--enable", enable, True), ("--disable", disable, False)):
        for n in names:
            if n not in registry:
                raise ConfigError(
                    "command line", f"{opt} {n}", "unknown pass",
                    f"use a registered pass ({_known(registry)})",
                )
            if n not in enabled:
                raise ConfigError(
                    "command line", f"{opt} {n}",
                    f"pass is not in the pipeline of {cfg.name}",
                    f"place it with passes.{n}.after in a config file",
                )
            enabled[n] = value
            if not value:
                blame[n] = ("command line", f"{opt} {n}")
    steps = []
    for n in order:
        info = registry[n]
        opts = info.spec.defaults()
        if n in cfg.passes:
            opts.update(cfg.passes[n].options)
        steps.append(Step(info, bool(enabled[n]), opts))
    pipe = Pipeline(cfg, steps, cfg.mode, dict(cfg.compat))
    if cfg.mode == "in-place-6.12" and pipe.enabled():
        raise ConfigError(
            cfg.source_of("mode"), "mode",
            f"mode 'in-place-6.12' runs no passes, but {pipe.enabled()[0].name!r} is enabled",
            "disable the passes or use mode = \"newest\"",
        )
    check_needs(pipe, registry, blame)
    return pipe


def _placement_fix(cfg: Config, pname: str, order: list[str]) -> str:
    """How to give ``pname`` a place: the hint names the file that set the pipeline."""
    after = f'set passes.{pname}.after = "<pass>"'
    if not order:
        src = cfg.source_of("pipeline")
        if src.startswith("preset "):
            return f"{src} runs no passes; extend {DEFAULT_PRESET!r} instead"
        return (f"the pipeline is empty ('pipeline = []' in {src}): remove that line to "
                f"start from preset {DEFAULT_PRESET}'s, or list the passes there")
    return f"add {pname!r} to 'pipeline' (in {cfg.source_of('pipeline')}) or {after}"


def check_needs(
    pipe: Pipeline,
    registry: Mapping[str, PassInfo],
    blame: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Every enabled pass's ``needs`` must be enabled and earlier in the order.

    The error names the user's input that broke the rule (``blame``: pass → (file or
    "command line", key or flag) that disabled or moved it; else the file that set the
    pipeline) and lists every pass that needs the same pass at once."""
    blame = blame or {}
    pos = {s.name: i for i, s in enumerate(pipe.steps) if s.enabled}
    placed = {s.name for s in pipe.steps}
    psrc = pipe.config.source_of("pipeline")
    # (need, problem) → dependants, in pipeline order
    broken: dict[tuple[str, str], list[str]] = {}
    for i, step in enumerate(pipe.steps):
        if not step.enabled:
            continue
        for need in step.info.spec.needs:
            if need not in registry:
                problem = "absent"
            elif need not in pos:
                problem = "disabled" if need in placed else "not placed"
            elif pos[need] > i:
                problem = "later"
            else:
                continue
            broken.setdefault((need, problem), []).append(step.name)
    if not broken:
        return
    (need, problem), deps = next(iter(broken.items()))
    plugins = {d: registry[d].plugin for d in deps}
    who = ", ".join(f"{d!r} (plugin {plugins[d]})" for d in deps)
    who = ("pass " if len(deps) == 1 else "passes ") + who
    verb = "needs" if len(deps) == 1 else "need"
    names = ", ".join(repr(d) for d in deps)
    source, key = blame.get(need, (psrc, "pipeline"))
    if problem == "absent":
        raise ConfigError(
            psrc, "pipeline", f"{who} {verb} {need!r}, which no plugin provides",
            f"install the plugin providing {need!r} or disable {names}",
        )
    if problem == "disabled":
        if source == "command line":
            also = " ".join(f"--disable {d}" for d in deps)
            fix = f"also give {also}, or drop {key}"
        else:
            tables = ", ".join(f"[passes.{d}]" for d in deps)
            fix = f"enable {need!r}, or also set enabled = false in {tables}"
        raise ConfigError(source, key, f"{who} {verb} {need!r}, which is disabled", fix)
    if problem == "not placed":
        raise ConfigError(
            source, key, f"{who} {verb} {need!r}, which is disabled or absent "
            "(not in the pipeline)",
            f"enable {need!r} (add it to 'pipeline' before {deps[0]!r}) or disable {names}",
        )
    moved = next((blame[n] for n in (*deps, need) if n in blame and "." in blame[n][1]
                  and blame[n][1].rsplit(".", 1)[1] in ("after", "before")), None)
    source, key = moved or (psrc, "pipeline")
    raise ConfigError(source, key, f"{who} {verb} {need!r}, which runs after it",
                      f"order {need!r} before {names}")
