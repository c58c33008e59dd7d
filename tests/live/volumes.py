"""The pod-level volumes of the live harness: Secrets and emptyDirs, made as the kubelet makes them.

A pod's Secret and emptyDir volumes live for the pod's lifetime and are shared by its containers,
so they are made on this host (under the pod's scratch folder) before its containers start, and
bind-mounted into each container by podinit.py. As the kubelet does it:
- a Secret volume is a tmpfs holding only the keys `items` names (all keys without `items`), each
  under its `path`, with the item's `mode` or the volume's `defaultMode` (0644 when unset), laid out
  by the kubelet's atomic writer: the files sit in a hidden timestamped folder, `..data` points at
  it and each top-level name is a symlink through `..data`. An update writes a new folder and swaps
  `..data` with one rename, so a reader sees the old files or the new ones, never a mix;
- an emptyDir is a tmpfs (medium Memory, `size` from sizeLimit) or a folder on disk, mode 0777;
- with the pod's fsGroup, every file and folder of such a volume gets that group (SetVolumeOwnership):
  group read (read-only Secret) or read-write (emptyDir) added, and the set-group-id bit on folders.
The claim's folders are not touched: the kubelet leaves a hostPath-like volume's owners alone.

The tmpfs mounts are made in this host's mount namespace under a folder named after the pod's
network namespace (`volumes-rk8s-<pid>-<tag>-<n>`), so that what a killed test run leaves behind
can be found and unmounted (reap_stale_volume_mounts).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_DEFAULT_MODE = 0o644
EMPTY_DIR_MODE = 0o777
SECRET_DIR_MODE = 0o1777
DATA_LINK = "..data"
# Kubernetes resource quantities (the forms a sizeLimit takes).
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?")
_FACTORS = {
    None: 1,
    "m": 0.001,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


class VolumeError(Exception):
    """A volume the pod asks for cannot be made (the kubelet would leave the pod in ContainerCreating)."""


def quantity_bytes(quantity: str | int) -> int:
    """A Kubernetes quantity (`16Mi`, `1G`, `1048576`) in bytes, rounded up."""
    match = _QUANTITY.fullmatch(str(quantity))
    if match is None:
        raise VolumeError(f"{quantity!r} is not a Kubernetes quantity")
    value = float(match.group(1)) * _FACTORS[match.group(2)]
    return max(1, int(-(-value // 1)))


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's keys decoded: `data` (base64) with `stringData` on top, as the API server merges them."""
    found = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    found.update({key: value.encode("utf-8") for key, value in (secret.get("stringData") or {}).items()})
    return found


def secret_files(volume: Mapping[str, Any], data: Mapping[str, bytes], where: str) -> dict[str, tuple[bytes, int]]:
    """path → (content, mode) of a Secret volume: only the `items` when given, each with its own mode."""
    source = volume["secret"]
    default_mode = int(source.get("defaultMode", SECRET_DEFAULT_MODE))
    items = source.get("items")
    if items is None:
        return {key: (value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(f"{where}: the Secret {source['secretName']} has no key {item['key']!r}")
        path = item["path"]
        if path.startswith("/") or ".." in Path(path).parts:
            raise VolumeError(f"{where}: item path {path!r} must be relative and stay inside the volume")
        files[path] = (data[item["key"]], int(item.get("mode", default_mode)))
    return files


def own(path: Path, fs_group: int | None, *, writable: bool) -> None:
    """The kubelet's SetVolumeOwnership on one entry: group fsGroup, group r (or rw), setgid and x on folders."""
    if fs_group is None:
        return
    os.lchown(path, -1, fs_group)
    if path.is_symlink():
        return
    mode = path.stat().st_mode & 0o7777
    mask = 0o660 if writable else 0o440
    if path.is_dir():
        mask |= 0o2000 | 0o110
    path.chmod(mode | mask)


def own_tree(root: Path, fs_group: int | None, *, writable: bool) -> None:
    """SetVolumeOwnership over a whole volume."""
    if fs_group is None:
        return
    own(root, fs_group, writable=writable)
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            own(Path(folder) / name, fs_group, writable=writable)


def write_secret_payload(root: Path, files: Mapping[str, tuple[bytes, int]], fs_group: int | None) -> None:
    """The atomic writer: the files in a new hidden folder, `..data` swapped to it by one rename, the
    top-level symlinks made or removed to match, then the old folder removed."""
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
    payload = root / stamp
    payload.mkdir(0o755)
    for relative, (content, mode) in files.items():
        target = payload / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    own_tree(payload, fs_group, writable=False)
    old = os.readlink(root / DATA_LINK) if (root / DATA_LINK).is_symlink() else None
    temporary = root / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(stamp)
    os.lchown(temporary, -1, fs_group if fs_group is not None else -1)
    temporary.rename(root / DATA_LINK)
    wanted = {Path(relative).parts[0] for relative in files}
    for entry in root.iterdir():
        if not entry.name.startswith("..") and entry.name not in wanted:
            entry.unlink()
    for name in wanted:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{name}")
            os.lchown(link, -1, fs_group if fs_group is not None else -1)
    if old is not None and old != stamp:
        shutil.rmtree(root / old, ignore_errors=True)


def mount_tmpfs(target: Path, size: int | None, mode: int) -> None:
    """A tmpfs in this host's mount namespace."""
    options = f"mode={mode:o}" + (f",size={size}" if size is not None else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], check=True, capture_output=True)


def unmount(target: Path) -> None:
    """Detach a mount (lazily: a container process still holding a file there does not block it)."""
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


@dataclass
class PodVolumes:
    """One running pod's Secret and emptyDir volumes on this host."""

    root: Path  # <scratch>/<pod>/volumes-<netns>
    fs_group: int | None
    secrets: dict[str, str] = field(default_factory=dict)  # volume name -> Secret name
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # volume name -> its spec
    mounts: list[Path] = field(default_factory=list)

    def path(self, volume: str) -> Path:
        """Where the volume is on this host (what the containers bind-mount)."""
        return self.root / volume

    def make(self, volumes: Mapping[str, dict[str, Any]], secrets: Mapping[str, dict[str, Any]], pod: str) -> None:
        """Make every Secret and emptyDir volume of the pod (other kinds are the containers' business)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            for name, volume in volumes.items():
                if "secret" in volume:
                    self._make_secret(name, volume, secrets, pod)
                elif "emptyDir" in volume:
                    self._make_empty_dir(name, volume["emptyDir"] or {})
        except BaseException:
            self.remove()
            raise

    def _make_secret(self, name: str, volume: dict[str, Any], secrets: Mapping[str, dict[str, Any]], pod: str) -> None:
        secret_name = volume["secret"]["secretName"]
        if secret_name not in secrets:
            raise VolumeError(f"{pod}: Secret {secret_name} is not in the YAML")
        target = self.path(name)
        target.mkdir()
        mount_tmpfs(target, None, SECRET_DIR_MODE)
        self.mounts.append(target)
        own(target, self.fs_group, writable=False)
        files = secret_files(volume, secret_data(secrets[secret_name]), f"{pod} volume {name}")
        write_secret_payload(target, files, self.fs_group)
        self.secrets[name] = secret_name
        self.specs[name] = volume

    def _make_empty_dir(self, name: str, source: dict[str, Any]) -> None:
        target = self.path(name)
        target.mkdir()
        if source.get("medium") == "Memory":
            limit = source.get("sizeLimit")
            mount_tmpfs(target, quantity_bytes(limit) if limit is not None else None, EMPTY_DIR_MODE)
            self.mounts.append(target)
        target.chmod(EMPTY_DIR_MODE)
        own(target, self.fs_group, writable=True)

    def update_secret(self, secret_name: str, secret: Mapping[str, Any], pod: str) -> list[str]:
        """A changed Secret written into every volume of this pod that holds it; the volumes updated."""
        updated = []
        for name, held in self.secrets.items():
            if held == secret_name:
                files = secret_files(self.specs[name], secret_data(secret), f"{pod} volume {name}")
                write_secret_payload(self.path(name), files, self.fs_group)
                updated.append(name)
        return updated

    def remove(self) -> None:
        """Unmount and delete every volume (the pod is gone)."""
        for target in reversed(self.mounts):
            unmount(target)
        self.mounts.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        self.secrets.clear()
        self.specs.clear()


def reap_stale_volume_mounts() -> list[str]:
    """Unmount the volumes of harness runs whose process is gone (named `volumes-rk8s-<pid>-…`)."""
    reaped = []
    with open("/proc/self/mountinfo") as stream:
        points = [line.split()[4] for line in stream]
    for point in points:
        found = re.search(r"/volumes-rk8s-(\d+)-[0-9a-f]{6}-\d+/", point)
        if found and not Path(f"/proc/{found.group(1)}").exists():
            unmount(Path(point))
            reaped.append(point)
    return reaped
