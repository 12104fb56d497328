"""User mistakes as one line: the key, the value given, what is allowed."""

from __future__ import annotations

import errno
import signal

EXIT_USER_ERROR = 2  # a mistake in what the user asked for: one line said, nothing lost
EXIT_FAILED = 1  # part of the work failed (a stack of a sweep): the rest is recorded
EXIT_INTERRUPTED = 130  # stopped by a signal, what was measured kept (128 + SIGINT)

# Signals that stop a command and reach every process of its group: Ctrl-C from a terminal,
# SIGTERM from `timeout`, systemd, SLURM's time limit or `kill -- -PGID`, SIGHUP from a closed
# terminal (Ctrl-C first).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

# OSErrors that mean "this output path cannot be made or written": a user's choice, not a bug.
WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


class ConfigError(ValueError):
    """A value vgx refuses, raised before anything is trained or recorded."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r}: not allowed; expected {allowed}")


class Interrupted(BaseException):
    """A run or sweep was stopped by Ctrl-C or SIGTERM after what it recorded was saved.

    A BaseException, like KeyboardInterrupt: Hydra's run_job catches every Exception of a job and
    launches the next one, and a stopped sweep must not go on."""


class JobRefused(BaseException):
    """A job's user-facing error on its way out of Hydra: a BaseException, so that Hydra's job
    runner does not catch it and print its own line and the job's overrides beside vgx's."""

    def __init__(self, line: str) -> None:
        self.line = line
        super().__init__(line)


class StacksFailed(BaseException):
    """Stacks of a batched sweep failed (their runs are recorded as failed); the other stacks'
    runs are recorded. A BaseException for the reason JobRefused is one."""

    def __init__(self, line: str) -> None:
        self.line = line
        super().__init__(line)


class UsageError(ValueError):
    """A mistake that is not about one config key (a missing run, an unreachable store)."""


def one_line(exc: BaseException) -> str | None:
    """The user-facing line for a known mistake of vgx's own, a path or a tracking server, or
    None (a bug keeps its traceback). The command line adds Hydra's and OmegaConf's."""
    if isinstance(exc, (ConfigError, UsageError)):
        return str(exc)
    if _disk_full(exc):
        return (
            "the store's disk is full (no space left on the device): free some space; the run "
            "was closed as failed with what had been written"
        )
    if isinstance(exc, OSError) and exc.filename and exc.errno in WRITE_ERRNOS:
        return f"cannot write {exc.filename}: {exc.strerror}; choose a folder you can write to"
    if server_gone(exc):
        if any(sign in str(exc) for sign in TIMED_OUT):
            return (
                "the MLflow tracking server stopped answering (no reply within its timeout: "
                "frozen or overloaded); the run was closed where the server still took it"
            )
        return "the MLflow tracking server stopped answering (connection refused); start it again"
    return None


# How requests say that a server took a connection and never answered, or refused it.
TIMED_OUT = ("Read timed out", "timed out", "ReadTimeout")
UNREACHABLE = ("Connection refused", "Max retries exceeded", "Failed to establish")


def server_gone(exc: BaseException) -> bool:
    """A tracking server that refuses connections or does not answer: writing more to it
    (closing a run) would only wait for its timeouts again."""
    return type(exc).__name__ == "MlflowException" and any(
        sign in str(exc) for sign in (*TIMED_OUT, *UNREACHABLE)
    )


def _disk_full(exc: BaseException) -> bool:
    """No space left, as the OS or SQLite says it (SQLAlchemy and MLflow wrap SQLite's)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "database or disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
