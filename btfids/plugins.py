"""The one pluggy ``PluginManager``: entry points, pass registry and hook tracing.

Plugins come from the entry-point group ``btfids`` (the built-in passes too), from
``$BTFIDS_PLUGINS`` (comma-separated importable module names or ``.py`` file paths, for
trying a pass without installing it) and from :func:`make_manager`'s ``extra`` argument
(tests, embedding).
``BTFIDS_TRACE=1`` prints every hook call, its implementations and results to stderr.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import pluggy

from . import hookspecs
from ._dc import dataclass
from .errors import BtfidsError, PluginError
from .hookspecs import PassSpec

ENTRY_POINT_GROUP = "btfids"
ENV_TRACE = "BTFIDS_TRACE"
ENV_PLUGINS = "BTFIDS_PLUGINS"
#: The distribution whose entry points count as "built-in".
SELF_DIST = "btfids"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class PassInfo:
    """A registered pass and where it comes from."""

    spec: PassSpec
    #: name the plugin is registered under (entry-point name or module name)
    plugin: str
    #: "built-in", "<distribution> <version>", "$BTFIDS_PLUGINS" or "registered"
    origin: str

    @property
    def name(self) -> str:
        return self.spec.name


def make_manager(
    *, entry_points: bool = True, env: bool = True, extra: Iterable[tuple[str, object]] = ()
) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs and the plugins from the given sources."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        _load_entry_points(pm)
    if env:
        names = (m.strip() for m in os.environ.get(ENV_PLUGINS, "").split(","))
        for mod_name in filter(None, names):
            try:
                if mod_name.endswith(".py") or "/" in mod_name:
                    module = _import_file(mod_name)
                    mod_name = module.__name__
                else:
                    module = importlib.import_module(mod_name)
            except Exception as exc:
                raise BtfidsError(
                    f"FAILED: cannot import plugin {mod_name!r} named in ${ENV_PLUGINS}: {exc}"
                ) from exc
            if pm.is_registered(module) or pm.has_plugin(mod_name):
                continue
            pm.register(module, name=mod_name)
            _ORIGINS[id(module)] = f"${ENV_PLUGINS}"
    for name, plugin in extra:
        pm.register(plugin, name=name)
    if os.environ.get(ENV_TRACE, "") not in ("", "0"):
        enable_tracing(pm)
    return pm


def _import_file(path: str) -> Any:
    """A plugin given as a file (``./my_pass.py``): imported under its file name,
    without putting its directory on ``sys.path``."""
    import importlib.util

    if not os.path.isfile(path):
        raise ImportError(f"no such file: {path}")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_ORIGINS: dict[int, str] = {}
_MANAGER: pluggy.PluginManager | None = None


def get_manager() -> pluggy.PluginManager:
    """The process-wide manager (entry points + ``$BTFIDS_PLUGINS``), built once."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = make_manager()
    return _MANAGER


class _EntryPoint:
    """What :func:`_load_entry_points` needs of an ``importlib.metadata.EntryPoint``."""

    def __init__(self, name: str, value: str, dist_dir: str | None) -> None:
        self.name = name
        self.value = value
        self.dist_dir = dist_dir
        self._meta: dict[str, str] | None = None

    def meta(self, key: str) -> str:
        if self._meta is None:
            self._meta = {}
            if self.dist_dir is not None:
                for fname in ("METADATA", "PKG-INFO"):
                    try:
                        with open(os.path.join(self.dist_dir, fname), encoding="utf-8") as f:
                            for line in f:
                                if not line.strip():
                                    break
                                k, sep, v = line.partition(":")
                                if sep and k in ("Name", "Version"):
                                    self._meta.setdefault(k, v.strip())
                        break
                    except OSError:
                        continue
        return self._meta.get(key, "?")

    def load(self) -> Any:
        mod_name, _, attrs = self.value.partition("[")[0].strip().partition(":")
        obj: Any = importlib.import_module(mod_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def _scan_entry_points(group: str) -> list[_EntryPoint] | None:
    """``importlib.metadata.entry_points(group=...)`` without importing it (it costs
    ~15 ms of start-up): ``*.dist-info``/``*.egg-info`` directories on ``sys.path``,
    same search order, the first distribution of a normalized name wins. None when
    ``sys.path`` holds something this scan does not read (zip files)."""
    seen: set[str] = set()
    out: list[_EntryPoint] = []
    for root in sys.path:
        try:
            children = os.listdir(root or ".")
        except NotADirectoryError:
            return None
        except OSError:
            continue
        infos: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                name = low.rpartition(".")[0].partition("-")[0]
                norm = name.replace(".", "-").replace("_", "-")
                while "--" in norm:
                    norm = norm.replace("--", "-")
                infos.setdefault(norm.replace("-", "_"), []).append(child)
        for norm, dirs in infos.items():
            for child in dirs:
                if norm in seen:
                    break
                seen.add(norm)
                path = os.path.join(root or ".", child)
                try:
                    with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    continue
                section = None
                for line in text.splitlines():
                    line = line.strip()
                    if not line or line[0] in "#;":
                        continue
                    if line.startswith("[") and line.endswith("]"):
                        section = line[1:-1].strip()
                    elif section == group and "=" in line:
                        k, _, v = line.partition("=")
                        out.append(_EntryPoint(k.strip(), v.strip(), path))
    return out


def _entry_points(group: str) -> list[Any]:
    found = _scan_entry_points(group)
    if found is not None:
        return found
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


def _dist_meta(ep: Any, key: str) -> str | None:
    if isinstance(ep, _EntryPoint):
        return ep.meta(key) if ep.dist_dir is not None else None
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    return str(dist.metadata["Name"] if key == "Name" else dist.version)


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    seen: set[tuple[str, str]] = set()
    for ep in _entry_points(ENTRY_POINT_GROUP):
        found = _dist_meta(ep, "Name")
        dname = found if found is not None else "?"
        if (dname, ep.name) in seen or pm.has_plugin(ep.name):
            continue  # the same distribution visible twice on sys.path
        seen.add((dname, ep.name))
        try:
            plugin = ep.load()
        except Exception as exc:
            raise BtfidsError(
                f"FAILED: cannot load plugin {ep.name!r} ({ep.value}) "
                f"of distribution {dname}: {exc}"
            ) from exc
        pm.register(plugin, name=ep.name)
        if found is not None and dname.lower() == SELF_DIST:
            _ORIGINS[id(plugin)] = "built-in"
        elif found is not None:
            _ORIGINS[id(plugin)] = f"{dname} {_dist_meta(ep, 'Version')}"
        else:
            _ORIGINS[id(plugin)] = "entry point"


def origin_of(pm: pluggy.PluginManager, plugin: object) -> str:
    return _ORIGINS.get(id(plugin), "registered")


def collect_passes(pm: pluggy.PluginManager) -> dict[str, PassInfo]:
    """Call ``btfids_register_passes`` on every plugin; name → :class:`PassInfo`.

    A plugin that raises or returns something other than PassSpecs, a malformed pass
    name or a name clash is a :class:`~btfids.errors.BtfidsError` naming the plugin(s).
    """
    out: dict[str, PassInfo] = {}
    hook = pm.hook.btfids_register_passes
    for impl in hook.get_hookimpls():
        pname = impl.plugin_name
        _trace_call(pm, "btfids_register_passes", pname)
        try:
            specs = impl.function()
        except Exception as exc:
            raise PluginError(pname, "btfids_register_passes", exc) from exc
        if specs is None:
            specs = []
        if not isinstance(specs, (list, tuple)):
            raise BtfidsError(
                f"FAILED: plugin {pname!r}: btfids_register_passes must return a list "
                f"of PassSpec, got {type(specs).__name__}"
            )
        for spec in specs:
            if not isinstance(spec, PassSpec):
                raise BtfidsError(
                    f"FAILED: plugin {pname!r}: btfids_register_passes returned "
                    f"{type(spec).__name__}, not a PassSpec"
                )
            _check_spec(pname, spec)
            if spec.name in out:
                other = out[spec.name].plugin
                raise BtfidsError(
                    f"FAILED: pass {spec.name!r} is registered by two plugins: "
                    f"{other!r} and {pname!r}"
                )
            out[spec.name] = PassInfo(spec, pname, origin_of(pm, impl.plugin))
    return out


def _check_spec(plugin: str, spec: PassSpec) -> None:
    problem = ""
    if not spec.name or not set(spec.name) <= _NAME_CHARS or spec.name[0] in "-_":
        problem = "pass names are lower-case letters, digits, '-' and '_'"
    elif spec.scope not in ("btf", "kfunc"):
        problem = f"scope must be 'btf' or 'kfunc', not {spec.scope!r}"
    elif not callable(spec.run):
        problem = "run is not callable"
    elif {"enabled", "after", "before"} & set(spec.options):
        problem = "option names 'enabled', 'after' and 'before' are reserved"
    if problem:
        raise BtfidsError(f"FAILED: plugin {plugin!r}: bad pass {spec.name!r}: {problem}")


def plugin_of_exception(pm: pluggy.PluginManager, hook_name: str, exc: BaseException) -> str:
    """Name of the plugin whose implementation of ``hook_name`` appears in ``exc``'s
    traceback (innermost first), or ``"?"``."""
    codes = {
        impl.function.__code__: impl.plugin_name
        for impl in getattr(pm.hook, hook_name).get_hookimpls()
        if hasattr(impl.function, "__code__")
    }
    tb: TracebackType | None = exc.__traceback__
    found = "?"
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            found = name
        tb = tb.tb_next
    return found


def call_hook(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    """Call a notification hook; an exception becomes a :class:`PluginError` naming the
    plugin (a :class:`BtfidsError` a plugin raises on purpose passes through)."""
    try:
        result: list[Any] = getattr(pm.hook, hook_name)(**kwargs)
    except BtfidsError:
        raise
    except Exception as exc:
        raise PluginError(plugin_of_exception(pm, hook_name, exc), hook_name, exc) from exc
    return result


# ------------------------------------------------------------------ tracing
def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _trace_call(pm: pluggy.PluginManager, hook_name: str, plugin: str) -> None:
    if getattr(pm, "_btfids_tracing", False):
        sys.stderr.write(f"btfids-trace: {hook_name} -> {plugin}\n")


def enable_tracing(pm: pluggy.PluginManager) -> None:
    """Print every hook call (arguments, implementations, results) to stderr."""
    if getattr(pm, "_btfids_tracing", False):
        return
    pm._btfids_tracing = True  # type: ignore[attr-defined]

    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        args = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
        names = ", ".join(i.plugin_name for i in impls) or "(none)"
        sys.stderr.write(f"btfids-trace: {hook_name}({args})\n")
        sys.stderr.write(f"btfids-trace:   implementations: {names}\n")

    def after(
        outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        exc = outcome.exception
        if exc is not None:
            sys.stderr.write(f"btfids-trace:   raised: {_short(exc)}\n")
        else:
            sys.stderr.write(f"btfids-trace:   results: {_short(outcome.get_result())}\n")

    pm.add_hookcall_monitoring(before, after)
