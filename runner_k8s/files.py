"""The only module that writes to disk: staged, all-or-nothing output that never clobbers."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import OutputExistsError, RunnerError

PUBLIC_FILE = 0o644
SECRET_FILE = 0o600
PUBLIC_DIR = 0o755
PRIVATE_DIR = 0o700
STAGING_PREFIX = ".runner_k8s-staging-"


@dataclass(frozen=True)
class File:
    """A file to write: its bytes and its permission bits."""

    data: bytes
    mode: int = PUBLIC_FILE


@dataclass(frozen=True)
class Dir:
    """A directory to create (possibly empty) with its permission bits."""

    mode: int = PUBLIC_DIR


Entry = File | Dir
PlanItems = Iterable[tuple[str, Entry]]


def secret_file(data: bytes) -> File:
    """A file that holds a password or a private key (mode 0600)."""
    return File(data, SECRET_FILE)


def existing_outputs(work_dir: Path, roots: Sequence[str]) -> list[str]:
    """The roots that already exist (as anything, even a dangling link) in work_dir."""
    return [root for root in roots if os.path.lexists(work_dir / root)]


def ensure_free(work_dir: Path, roots: Sequence[str], *, force: bool, hint: str) -> None:
    """Raise unless every root is free or --force allows replacing it."""
    taken = existing_outputs(work_dir, roots)
    if taken and not force:
        names = ", ".join(str(work_dir / name) for name in taken)
        verb = "exists" if len(taken) == 1 else "exist"
        raise OutputExistsError(f"{names} already {verb}: {hint}")


def write_outputs(
    work_dir: Path,
    roots: Sequence[str],
    items: PlanItems,
    *,
    force: bool,
    hint: str = "choose another --work_dir, or pass --force to replace it",
) -> None:
    """Stage every entry beside its target, then move each root into place: all or nothing.

    `roots` are paths relative to work_dir (`cita-cloud/test-chain`, `test-chain.yaml`); every
    entry must lie in one of them. Each root is staged in a hidden folder in its own parent
    directory, so the final rename never crosses a filesystem (`cita-cloud/` may be a mount).
    Existing roots are replaced only with `force`, and then all together; on any failure the old
    ones come back, nothing new stays, and parent directories this call created are removed.
    """
    ensure_free(work_dir, roots, force=force, hint=hint)
    created: list[Path] = []
    stagings: dict[Path, Path] = {}
    done = False
    try:
        for root in roots:
            parent = (work_dir / root).parent
            if parent not in stagings:
                created += _make_dirs(parent)
                stagings[parent] = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
        staged = {root: stagings[(work_dir / root).parent] / "new" / PurePosixPath(root).name for root in roots}
        _stage(staged, items)
        ensure_free(work_dir, roots, force=force, hint=hint)
        _swap_in(work_dir, staged)
        done = True
    except OSError as exc:
        where = exc.filename or work_dir
        raise RunnerError(
            f"cannot write {where}: {exc.strerror}; nothing was written, choose a writable --work_dir"
        ) from exc
    finally:
        for staging in stagings.values():
            shutil.rmtree(staging, ignore_errors=True)
        if not done:
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()


def _make_dirs(path: Path) -> list[Path]:
    """Create `path` and its missing parents; return the ones created (outermost first)."""
    missing = [parent for parent in [path, *path.parents] if not parent.exists()]
    missing.reverse()
    for directory in missing:
        directory.mkdir()
    return missing


def _root_of(path: str, roots: Sequence[str]) -> tuple[str, PurePosixPath]:
    pure = PurePosixPath(path)
    if not pure.parts or pure.is_absolute() or ".." in pure.parts or "." in pure.parts:
        raise ValueError(f"planned path {path!r} is not a plain relative path")
    for root in roots:
        root_parts = PurePosixPath(root).parts
        if pure.parts[: len(root_parts)] == root_parts:
            return root, PurePosixPath(*pure.parts[len(root_parts) :]) if len(pure.parts) > len(
                root_parts
            ) else PurePosixPath()
    raise ValueError(f"planned path {path!r} lies outside the outputs {list(roots)}")


def _stage(staged: dict[str, Path], items: PlanItems) -> None:
    for target in staged.values():
        target.parent.mkdir(exist_ok=True)
    dir_modes: dict[Path, int] = {}
    for rel, entry in items:
        root, rest = _root_of(rel, list(staged))
        target = staged[root] / rest
        if isinstance(entry, Dir):
            target.mkdir(parents=True, exist_ok=True)
            dir_modes[target] = entry.mode
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, entry.mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(entry.data)
        os.chmod(target, entry.mode)
    # Deepest first, so a private directory never blocks setting a mode below it.
    for path in sorted(dir_modes, key=lambda p: len(p.parts), reverse=True):
        os.chmod(path, dir_modes[path])
    for root, target in staged.items():
        if not os.path.lexists(target):
            raise ValueError(f"the plan wrote nothing for the output {root!r}")


def _swap_in(work_dir: Path, staged: dict[str, Path]) -> None:
    moved_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for root, new in staged.items():
            target = work_dir / root
            if os.path.lexists(target):
                aside = new.parent.parent / "old"
                aside.mkdir(exist_ok=True)
                aside = aside / target.name
                os.rename(target, aside)
                moved_aside.append((aside, target))
            os.rename(new, target)
            placed.append(target)
    except BaseException:
        for target in placed:
            _remove(target)
        for aside, target in moved_aside:
            os.rename(aside, target)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
