"""Container start-up for the live harness: runs inside a pod's network namespace and its own mount namespace.

Usage: ip netns exec NS unshare --mount --pid --fork --propagation private python3 podinit.py SPEC.json [DELAY]
(or, for a pod with shareProcessNamespace, entered into the pod's process namespace by nsenter).

DELAY (seconds) holds the container back before it starts, as a slow image pull or a slow start-up
would: the live tests use it to show the pod does not depend on which container comes up first.

It builds the container's root: a tmpfs whose top-level entries are bind mounts of the host's, except
/tmp (empty and private: the tests' work dirs, the cluster storage and the other containers' files
live under the host's /tmp, and a real container sees none of them) and /proc (a new proc of the
container's own process namespace, so it sees only the processes a real container would). Then it
mounts each volume where the container spec says (a host folder: the claim's with an optional
subPath, or the pod's Secret and emptyDir volumes the harness made), puts the pod's hosts file at
/etc/hosts, makes the root read-only when the container's securityContext says
readOnlyRootFilesystem (the volumes keep their own mode), chroots there, changes to the working
directory (as root, as runc does first), takes the container's user — supplementary groups (fsGroup
among them), gid, uid, in that order, so no capability is left — sets no_new_privs when
allowPrivilegeEscalation is false, and execs the command. Every mount lives in this private mount
namespace only and disappears with the container's last process: nothing is created outside the
spec's scratch dir.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def mount(source: str | None, target: Path, fstype: str | None, flags: int, data: str | None = None) -> None:
    """The mount(2) system call; raises OSError with the target on failure."""
    result = _libc.mount(
        source.encode() if source else None,
        str(target).encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def bind(host: Path, target: Path, *, read_only: bool = False) -> None:
    """Bind `host` (file or directory, recursively) onto `target`, which must exist and be of its kind."""
    mount(str(host), target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def mirror(host_dir: Path, into: Path, skip: frozenset[str] = frozenset()) -> list[Path]:
    """Fill the (tmpfs) directory `into` with bind mounts of every entry of `host_dir`; the binds made.

    Entries named in `skip` become empty directories instead.
    """
    made = []
    for entry in os.scandir(host_dir):
        target = into / entry.name
        if entry.name in skip:
            target.mkdir()
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_dir():
            target.mkdir()
            bind(Path(entry.path), target)
            made.append(target)
        else:
            target.touch()
            bind(Path(entry.path), target)
            made.append(target)
    return made


# Not taken from the host: a container has its own /tmp and a proc of its own process namespace.
PRIVATE_TOP = frozenset({"tmp", "proc"})
# Kernel file systems a read-only root filesystem leaves writable (Kubernetes mounts them apart).
KERNEL_DIRS = ("dev", "proc", "sys")


class RootFs:
    """A container root made of bind mounts of the host's root, shadowed where a mount point is missing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.shadowed: set[Path] = set()
        mount("tmpfs", root, "tmpfs", 0, "mode=0755")
        self.tmpfs = [root]
        self.binds = mirror(Path("/"), root, PRIVATE_TOP)
        (root / "tmp").chmod(0o1777)
        mount("proc", root / "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        self.shadowed.add(Path("/"))

    def make_mount_point(self, path: str, *, is_dir: bool) -> Path:
        """The path inside the root where `path` will be mounted, created without touching the host."""
        inner = Path(path)
        parts = inner.parts[1:]
        host = Path("/")
        for position, part in enumerate(parts):
            child_host = host / part
            child = self.root / child_host.relative_to("/")
            last = position == len(parts) - 1
            if not os.path.lexists(child):
                self._shadow(host)
                if last and not is_dir:
                    child.touch()
                else:
                    child.mkdir()
                    self.shadowed.add(child_host)  # made here, on a tmpfs: nothing of the host's to shadow
            host = child_host
        return self.root / inner.relative_to("/")

    def _shadow(self, host: Path) -> None:
        """Replace the bind mount of `host` in the root with a tmpfs holding binds of its entries."""
        if host in self.shadowed:
            return
        target = self.root / host.relative_to("/")
        mount("tmpfs", target, "tmpfs", 0, "mode=0755")
        self.tmpfs.append(target)
        self.binds += mirror(host, target)
        self.shadowed.add(host)

    def make_read_only(self) -> None:
        """readOnlyRootFilesystem: every part of the root read-only but the volumes and the kernel's dirs."""
        kernel = {self.root / name for name in KERNEL_DIRS}
        for target in self.binds:
            if target not in kernel and not any(parent in kernel for parent in target.parents):
                mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        for target in self.tmpfs:
            mount(None, target, None, MS_REMOUNT | MS_RDONLY)


PR_SET_NO_NEW_PRIVS = 38


def become(user: dict[str, Any] | None, no_new_privs: bool) -> None:
    """Take the container's identity: its groups, gid and uid (root keeps the harness's own groups)."""
    if no_new_privs and _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if user is None:
        return
    uid, gid, groups = int(user["uid"]), int(user["gid"]), [int(group) for group in user["groups"]]
    if uid == 0 and gid == 0 and set(groups) <= {0}:
        return
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)


def main(spec_path: str) -> None:
    """Set up the container's mounts and exec its command."""
    spec = json.loads(Path(spec_path).read_text())
    mount(None, Path("/"), None, MS_REC | MS_PRIVATE)
    root = RootFs(Path(spec["root"]))
    for volume in spec["mounts"]:
        source = Path(volume["source"])
        target = root.make_mount_point(volume["path"], is_dir=source.is_dir())
        bind(source, target, read_only=volume["read_only"])
    hosts = root.make_mount_point("/etc/hosts", is_dir=False)
    bind(Path(spec["hosts"]), hosts, read_only=True)
    if spec.get("read_only_root"):
        root.make_read_only()
    os.chroot(root.root)
    os.chdir(spec["working_dir"])
    become(spec.get("user"), bool(spec.get("no_new_privs")))
    argv = spec["argv"]
    os.execvpe(argv[0], argv, spec["env"])  # noqa: S606 - the container's own command


if __name__ == "__main__":
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[2]))
    main(sys.argv[1])
