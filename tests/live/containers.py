"""What the live harness runs for an image, and as whom: CITA-Cloud v5.0.0 and v6.7.4 programs, users.

Two releases share image names (consensus_raft, executor_evm), so an image's release is read from its
tag (`v5.…`, `v6.…`) and from the other images of its pod (network_p2p or kms_* only in v5.0.0,
network_zenoh or controller_hsm only in v6.7.4); when both say something they must agree, and one of
them must say something. The program then comes from the folder of that release's built services:
CITA_CLOUD_BIN (v5.0.0) or CITA_CLOUD_BIN_V6 (v6.7.4).

The user a container runs as is decided as the kubelet and the container runtime decide it: the
container's securityContext over the pod's, over the image's USER; runAsNonRoot refuses uid 0 and an
image user given by name that the pod does not override with a number; the groups are runAsGroup
(or the image user's group), with fsGroup and supplementalGroups as supplementary groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

V5 = "v5.0.0"
V6 = "v6.7.4"
# image repository -> (the program's name in the container, the file in the release's bin folder)
V5_PROGRAMS = {
    "network_p2p": ("network", "network"),
    "consensus_raft": ("consensus", "consensus"),
    "executor_evm": ("executor", "executor"),
    "storage_sqlite": ("storage", "storage"),
    "controller": ("controller", "controller"),
    "kms_sm": ("kms", "kms_sm"),
    "kms_eth": ("kms", "kms_eth"),
}
V6_PROGRAMS = {
    "network_zenoh": ("network", "network"),
    "consensus_overlord": ("consensus", "consensus_overlord"),
    "consensus_raft": ("consensus", "consensus_raft"),
    "executor_evm": ("executor", "executor"),
    "storage_opendal": ("storage", "storage"),
    "controller_hsm": ("controller", "controller"),
}
PROGRAMS = {V5: V5_PROGRAMS, V6: V6_PROGRAMS}
ONLY_IN = {
    **{repository: V5 for repository in V5_PROGRAMS if repository not in V6_PROGRAMS},
    **{repository: V6 for repository in V6_PROGRAMS if repository not in V5_PROGRAMS},
}
BIN_VARIABLES = {V5: "CITA_CLOUD_BIN", V6: "CITA_CLOUD_BIN_V6"}
# The USER line of each release's images: v5.0.0's images run as root; every v6.7.4 Dockerfile does
# `useradd -m chain` + `USER chain` (a name, uid and gid 1000 in the image's /etc/passwd).
IMAGE_USERS = {V5: "0", V6: "chain"}
ROOT_ONLY = {"root": (0, 0)}
IMAGE_PASSWD = {V5: ROOT_ONLY, V6: {**ROOT_ONLY, "chain": (1000, 1000)}}  # name -> (uid, gid)


class ImageError(Exception):
    """An image the harness cannot place, or a user the kubelet would refuse to start."""


def image_repository(image: str) -> str:
    """`registry:5000/citacloud/kms_sm:v5.0.0@sha256:…` → `kms_sm`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def release_of(image: str, pod_images: Iterable[str]) -> str:
    """The CITA-Cloud release a service image belongs to, from its tag and its pod's other images."""
    tag = image_tag(image) or ""
    by_tag = V5 if tag.startswith("v5.") else V6 if tag.startswith("v6.") else None
    by_pod = {ONLY_IN[repository] for repository in map(image_repository, pod_images) if repository in ONLY_IN}
    if len(by_pod) > 1:
        raise ImageError(f"{image}: its pod mixes images of {' and '.join(sorted(by_pod))}")
    pod_release = next(iter(by_pod), None)
    if by_tag is not None and pod_release is not None and by_tag != pod_release:
        raise ImageError(f"{image}: its tag says {by_tag}, the other images of its pod say {pod_release}")
    release = by_tag or pod_release or ONLY_IN.get(image_repository(image))
    if release is None:
        raise ImageError(f"{image}: cannot tell whether it is a v5.0.0 or a v6.7.4 image (tag it v5.* or v6.*)")
    return release


def cita_program(image: str, pod_images: Iterable[str]) -> tuple[str, str, str] | None:
    """(release, program name, file in that release's bin folder) of a CITA-Cloud image; None for another."""
    repository = image_repository(image)
    if repository not in V5_PROGRAMS and repository not in V6_PROGRAMS:
        return None
    release = release_of(image, pod_images)
    if repository not in PROGRAMS[release]:
        raise ImageError(f"{image}: {release} has no service image named {repository}")
    program, built = PROGRAMS[release][repository]
    return release, program, built


@dataclass(frozen=True)
class User:
    """The identity a container's process gets: uid, gid and supplementary groups."""

    uid: int
    gid: int
    groups: tuple[int, ...]


def container_user(
    image_user: str,
    passwd: Mapping[str, tuple[int, int]],
    pod_security: Mapping[str, Any],
    container_security: Mapping[str, Any],
    where: str,
) -> User:
    """Who the container runs as (ImageError where the kubelet would refuse to create it).

    `image_user` is the image's USER (`name`, `uid` or `uid:gid`), `passwd` its /etc/passwd.
    """

    def setting(key: str) -> Any:
        return container_security.get(key, pod_security.get(key))

    run_as_user, run_as_group = setting("runAsUser"), setting("runAsGroup")
    image_name, _, image_group = image_user.partition(":")
    if run_as_user is not None:
        uid = int(run_as_user)
        default_gid = next((gid for known, gid in passwd.values() if known == uid), 0)
    elif image_name.isdigit():
        uid, default_gid = int(image_name), 0
    else:
        if setting("runAsNonRoot"):
            raise ImageError(
                f"{where}: image has non-numeric user ({image_name}), cannot verify user is non-root "
                "(runAsNonRoot needs a numeric runAsUser)"
            )
        if image_name not in passwd:
            raise ImageError(f"{where}: unable to find user {image_name}: no matching entries in passwd file")
        uid, default_gid = passwd[image_name]
    if setting("runAsNonRoot") and uid == 0:
        raise ImageError(f"{where}: container has runAsNonRoot and image will run as root")
    gid = int(run_as_group) if run_as_group is not None else int(image_group) if image_group else default_gid
    groups = [gid]
    if pod_security.get("fsGroup") is not None:
        groups.append(int(pod_security["fsGroup"]))
    groups += [int(group) for group in pod_security.get("supplementalGroups", [])]
    return User(uid, gid, tuple(dict.fromkeys(groups)))
