"""Errors the command lines turn into one stderr line and an exit status.

Every failure on bad input is a :class:`BtfidsError` (or a subclass) whose ``str()`` is
the complete one-line message (upstream wording where upstream has one) and whose
``exit_code`` is the upstream status: 255 failure, 249 output path too long, 129 usage.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 255
EXIT_PATH_TOO_LONG = 249
EXIT_USAGE = 129

#: set (non-empty) to let an unexpected exception end in its traceback
ENV_DEBUG = "BTFIDS_DEBUG"


def internal_error(exc: BaseException) -> str:
    """The one line for an exception no code path expected (a bug), exit 255."""
    return (f"FAILED: internal error: {type(exc).__name__}: {exc}"
            f" (set {ENV_DEBUG}=1 for a traceback)")


class BtfidsError(Exception):
    """A fatal, user-facing error: ``message`` is printed as is, ``exit_code`` returned."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(BtfidsError):
    """Bad command line (exit 129)."""

    exit_code = EXIT_USAGE


class PathTooLongError(BtfidsError):
    """An output name reached PATH_MAX (exit 249, resolve.md §2.3)."""

    exit_code = EXIT_PATH_TOO_LONG


class ConfigError(BtfidsError):
    """Invalid configuration: names the file, the key and the fix (exit 255)."""

    def __init__(self, source: str, key: str, problem: str, fix: str = "") -> None:
        where = f"{source}: {key}" if key else source
        msg = f"config error: {where}: {problem}"
        if fix:
            msg += f" (fix: {fix})"
        super().__init__(msg)
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix


class PluginError(BtfidsError):
    """A plugin or one of its passes raised; names the plugin and the pass (exit 255)."""

    def __init__(self, plugin: str, where: str, exc: BaseException) -> None:
        detail = str(exc) or type(exc).__name__
        super().__init__(f"FAILED: plugin {plugin!r} raised in {where}: {detail}")
        self.plugin = plugin
        self.where = where
        self.original = exc
