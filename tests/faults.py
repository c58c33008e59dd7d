"""Fault injection: a fault (a signal, an errno, an action) at the Nth file-system call of a run.

`run_child` runs a script's main() in a forked child: a separate process (its own signal handlers, its
own death, so SIGKILL can be tested), sharing only the disk. `injected` does the same wrapping inside
the test's own process, for the faults a process survives. Every call of the wrapped os functions is
one crash window, in the order the run makes them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner_k8s.runtime import Runtime
from runner_k8s.write import durable

# Every rename, unlink, mkdir, rmdir, sync and the journal write (the only os.write the writer makes).
WRAPPED = ("rename", "replace", "unlink", "mkdir", "rmdir", "fsync", "write")
SLOW_CALL_SECONDS = 0.1

Main = Callable[[Sequence[str], Runtime], int]


@dataclass
class ChildResult:
    status: int  # exit code, or -signal number when a signal killed it
    stderr: str
    calls: list[str]


def run_child(
    main: Main,
    argv: Sequence[str],
    runtime: Callable[[], Runtime],
    *,
    log: Path,
    fault_at: int = 0,
    signum: int = signal.SIGKILL,
    fail_with: int | None = None,
    prepare: Callable[[], None] | None = None,
    more_faults: dict[int, Fault] | None = None,
) -> ChildResult:
    """Fork; in the child wrap the os functions so that call number `fault_at` (1-based) sends `signum`
    (or, with `fail_with`, fails with that errno instead, as a full or broken disk would); `more_faults`
    plans further faults at other calls.
    """
    pid = start_child(
        main,
        argv,
        runtime,
        log=log,
        fault_at=fault_at,
        signum=signum,
        fail_with=fail_with,
        prepare=prepare,
        more_faults=more_faults,
    )
    return wait_child(pid, log)


def start_child(
    main: Main,
    argv: Sequence[str],
    runtime: Callable[[], Runtime],
    *,
    log: Path,
    fault_at: int = 0,
    signum: int = signal.SIGKILL,
    fail_with: int | None = None,
    prepare: Callable[[], None] | None = None,
    slow: Sequence[str] = (),
    more_faults: dict[int, Fault] | None = None,
) -> int:
    """Fork the child run_child describes; its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(err, 2)
            out = os.open(os.devnull, os.O_WRONLY)
            os.dup2(out, 1)
            # pytest's capture replaced the streams: point them back at the child's own descriptors.
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            if prepare is not None:
                prepare()
            faults = {fault_at: Fault(signum=signum, fail_with=fail_with), **(more_faults or {})}
            _install(faults, log.with_suffix(".calls"), slow)
            code = main(list(argv), runtime())
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int, log: Path) -> ChildResult:
    """Wait for a forked child; its exit status (or -signal), stderr and file-system calls."""
    _, raw = os.waitpid(pid, 0)
    status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
    calls_file = log.with_suffix(".calls")
    calls = calls_file.read_text().splitlines() if calls_file.exists() else []
    return ChildResult(status, log.read_text() if log.exists() else "", calls)


def _install(faults: dict[int, Fault], calls_file: Path, slow: Sequence[str] = ()) -> None:
    """Wrap the os functions for good (in a child); the ones named in `slow` first wait a little,
    widening every race window."""
    record = open(calls_file, "w", buffering=1)  # noqa: SIM115 - lives as long as the child
    injector = Injector(faults, slow=slow, record=record.write)
    for name, wrapper in injector.wrappers().items():
        setattr(os, name, wrapper)
    durable.syncfs = injector.syncfs


@dataclass
class Fault:
    """What happens at one call: a signal sent to this process, an errno raised, or an action run first."""

    signum: int | None = None
    fail_with: int | None = None
    action: Callable[[], None] | None = None


@dataclass(frozen=True)
class Event:
    """One wrapped call: its name, the path it acts on (a descriptor's own path) and a rename's target."""

    name: str
    path: str
    target: str = ""

    @classmethod
    def of(cls, name: str, args: Sequence[object], kwargs: dict[str, object]) -> Event:
        first = str(args[0]) if args else ""
        if args and isinstance(args[0], int):
            first = _opened(args[0])
        elif isinstance(kwargs.get("dir_fd"), int):  # shutil.rmtree names entries relative to a folder
            first = os.path.join(_opened(kwargs["dir_fd"]), first)  # type: ignore[arg-type]
        target = str(args[1]) if name in ("rename", "replace") and len(args) > 1 else ""
        return cls(name, first, target)


def _opened(fd: int) -> str:
    """The path a descriptor has open (Linux), or the number itself (-1: the syncfs stand-in)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return str(fd)


@dataclass
class Injector:
    """Counts every wrapped os call (1-based) and applies the fault planned for that call number."""

    faults: dict[int, Fault]
    slow: Sequence[str] = ()
    record: Callable[[str], object] | None = None
    calls: list[str] = field(default_factory=list)
    # The same calls with what they act on: a descriptor resolved to the path it has open (fsync, write),
    # and a rename's target, so a test can check which folder or file was synced, in what order.
    events: list[Event] = field(default_factory=list)

    def wrappers(self) -> dict[str, Callable[..., object]]:
        found = {}
        for name in WRAPPED:
            real = getattr(os, name)

            def wrapper(
                *args: object, _real: Callable[..., object] = real, _name: str = name, **kwargs: object
            ) -> object:
                if _name == "write" and args and args[0] in (1, 2):
                    return _real(*args, **kwargs)
                self.calls.append(f"{_name} {args[0] if args else ''}")
                self.events.append(Event.of(_name, args, kwargs))
                if _name in self.slow:
                    time.sleep(SLOW_CALL_SECONDS)
                if self.record is not None:
                    self.record(self.calls[-1] + "\n")
                fault = self.faults.get(len(self.calls))
                if fault is not None:
                    if fault.action is not None:
                        fault.action()
                    if fault.fail_with is not None:
                        raise failure(fault.fail_with, _name, args)
                    if fault.signum is not None:
                        os.kill(os.getpid(), fault.signum)
                if _name == "fsync":
                    return None  # a window all the same; the disk is not made to wait (no power is cut here)
                return _real(*args, **kwargs)

            found[name] = wrapper
        return found

    def syncfs(self, path: Path) -> bool:
        os.fsync(-1)  # counted (and maybe faulted) as the sync it stands for; the real one is skipped
        return True


def failure(number: int, name: str, args: Sequence[object]) -> OSError:
    """The error the real call would raise: with the path it was given, or none for a call on a descriptor."""
    path = args[0] if args and not isinstance(args[0], int) else None
    if name in ("rename", "replace") and len(args) > 1:
        return OSError(number, os.strerror(number), path, None, args[1])
    return OSError(number, os.strerror(number), path)


@contextlib.contextmanager
def injected(faults: dict[int, Fault], *, syncfs: bool = True) -> Iterator[Injector]:
    """The same wrapping inside this process, undone on exit: errors and stop signals (SIGTERM, SIGHUP)
    at chosen calls of a run in the test's own process, where coverage and mutation tools see the code.
    Without `syncfs` the writer finds no syncfs(2) and syncs file by file (each fsync a wrapped call).
    """
    injector = Injector(faults)
    saved = {name: getattr(os, name) for name in WRAPPED}
    saved_syncfs = durable.syncfs
    try:
        for name, wrapper in injector.wrappers().items():
            setattr(os, name, wrapper)
        durable.syncfs = injector.syncfs if syncfs else _no_syncfs
        yield injector
    finally:
        for name, real in saved.items():
            setattr(os, name, real)
        durable.syncfs = saved_syncfs


def _no_syncfs(path: Path) -> bool:
    return False


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root (hidden ones too) with its permission bits and bytes (None for a directory)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        found[str(path.relative_to(root))] = (mode, None if path.is_dir() else path.read_bytes())
    return found


class HeldLock:
    """The work dir's flock taken through a second open file (as another run holds it), released on close."""

    def __init__(self, work: Path) -> None:
        self.fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
