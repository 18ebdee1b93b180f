"""A start-up-cheap stand-in for the part of :mod:`dataclasses` the run path uses.

``import dataclasses`` (with :mod:`inspect`, :mod:`re`, ...) and the ``exec`` of
generated methods for every class cost every process, paid once per module in a
kernel build. Measured with ``bench/dc_cost.py`` (the same runs with this module
replaced by :mod:`dataclasses`, interleaved, median CPU time of 30-40 runs each on the
shared 2-core host, 2026-12-07): a newest-pipeline module run saves 8-18 ms (crc7,
nf_conntrack; pluggy imports :mod:`inspect` anyway), a classic (6.12) module run
23-34 ms, about half its time. That is over the 5 ms below which the standard module
would be used instead (issue 24), so the shim stays.

It behaves as :mod:`dataclasses` for what the project uses (``@dataclass`` with or
without ``frozen=True``, defaults, ``field(default_factory=...)``, ``replace``):
keyword or positional ``__init__`` in annotation order, field-wise
``__eq__``/``__repr__``, ``__hash__`` for frozen classes (``None`` otherwise),
immutability for frozen ones. Type checkers see the real :mod:`dataclasses`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from dataclasses import dataclass, field, replace
    from typing import Any
else:
    _MISSING = object()

    class FrozenInstanceError(AttributeError):
        """Assignment to a field of a frozen instance."""

    class _Field:
        __slots__ = ("default", "factory")

        def __init__(self, default: Any, factory: Any) -> None:
            self.default = default
            self.factory = factory

    def field(*, default: Any = _MISSING, default_factory: Any = _MISSING) -> Any:
        return _Field(default, default_factory)

    def _fields_of(cls: type) -> list[tuple[str, Any, Any]]:
        out: dict[str, tuple[str, Any, Any]] = {}
        for klass in reversed(cls.__mro__[:-1]):
            own = getattr(klass, "__btfids_fields__", None)
            if own is not None and klass is not cls:
                for f in own:
                    out[f[0]] = f
        for name, ann in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            val = cls.__dict__.get(name, _MISSING)
            if isinstance(val, _Field):
                out[name] = (name, val.default, val.factory)
                if val.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, val.default)
            else:
                out[name] = (name, val, _MISSING)
        return list(out.values())

    def _make(cls: type, frozen: bool) -> type:
        fields = _fields_of(cls)
        names = tuple(f[0] for f in fields)
        cls.__btfids_fields__ = fields
        setter = object.__setattr__

        nfields = len(fields)

        def fill(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if len(args) > nfields:
                raise TypeError(
                    f"{cls.__name__}.__init__() takes {nfields + 1} positional "
                    f"arguments but {len(args) + 1} were given"
                )
            for i, (name, default, factory) in enumerate(fields):
                if i < len(args):
                    if name in kwargs:
                        raise TypeError(
                            f"{cls.__name__}.__init__() got multiple values for argument "
                            f"'{name}'"
                        )
                    value = args[i]
                elif name in kwargs:
                    value = kwargs.pop(name)
                elif default is not _MISSING:
                    value = default
                elif factory is not _MISSING:
                    value = factory()
                else:
                    raise TypeError(
                        f"{cls.__name__}.__init__() missing 1 required argument: '{name}'"
                    )
                setter(self, name, value)
            if kwargs:
                extra = next(iter(kwargs))
                raise TypeError(
                    f"{cls.__name__}.__init__() got an unexpected keyword argument '{extra}'"
                )

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) == nfields and not kwargs:   # every field positionally: no checks
                for name, value in zip(names, args, strict=True):
                    setter(self, name, value)
            else:
                fill(self, args, kwargs)
            post = getattr(self, "__post_init__", None)
            if post is not None:
                post()

        def __repr__(self: Any) -> str:
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
            return f"{type(self).__qualname__}({inner})"

        def __eq__(self: Any, other: Any) -> Any:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return tuple(getattr(self, n) for n in names) == tuple(
                getattr(other, n) for n in names
            )

        cls.__init__ = __init__
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = __repr__
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = __eq__
        if frozen:

            def __setattr__(self: Any, name: str, value: Any) -> None:
                raise FrozenInstanceError(f"cannot assign to field '{name}'")

            def __delattr__(self: Any, name: str) -> None:
                raise FrozenInstanceError(f"cannot delete field '{name}'")

            def __hash__(self: Any) -> int:
                return hash(tuple(getattr(self, n) for n in names))

            cls.__setattr__ = __setattr__
            cls.__delattr__ = __delattr__
            if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
                cls.__hash__ = __hash__
        elif "__hash__" not in cls.__dict__:
            cls.__hash__ = None
        return cls

    def dataclass(cls: Any = None, /, *, frozen: bool = False) -> Any:
        if cls is None:
            return lambda c: _make(c, frozen)
        return _make(cls, frozen)

    def replace(obj: Any, /, **changes: Any) -> Any:
        values = {f[0]: getattr(obj, f[0]) for f in type(obj).__btfids_fields__}
        values.update(changes)
        return type(obj)(**values)


__all__ = ["dataclass", "field", "replace"]
