"""The live harness's own rules, without services: which program an image runs, as whom, and how the
pod's Secret and emptyDir volumes are laid out, against what Kubernetes documents for each."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tests.live.containers import (
    IMAGE_PASSWD,
    V5,
    V6,
    ImageError,
    User,
    cita_program,
    container_user,
    release_of,
)
from tests.live.volumes import (
    DATA_LINK,
    VolumeError,
    quantity_bytes,
    secret_data,
    secret_files,
    write_secret_payload,
)

V6_POD = [f"citacloud/{name}:v6.7.4" for name in ("network_zenoh", "consensus_raft", "executor_evm", "controller_hsm")]
V5_POD = [f"citacloud/{name}:v5.0.0" for name in ("network_p2p", "consensus_raft", "executor_evm", "kms_sm")]


@pytest.mark.parametrize(
    ("image", "pod", "expected"),
    [
        ("citacloud/consensus_raft:v6.7.4", V6_POD, (V6, "consensus", "consensus_raft")),
        ("citacloud/consensus_raft:v5.0.0", V5_POD, (V5, "consensus", "consensus")),
        ("citacloud/executor_evm:v6.7.4", V6_POD, (V6, "executor", "executor")),
        ("citacloud/consensus_overlord:v6.7.4", V6_POD, (V6, "consensus", "consensus_overlord")),
        ("citacloud/network_zenoh:v6.7.4", V6_POD, (V6, "network", "network")),
        ("citacloud/controller_hsm:v6.7.4", V6_POD, (V6, "controller", "controller")),
        ("citacloud/storage_opendal:v6.7.4", V6_POD, (V6, "storage", "storage")),
        # an untagged or :latest shared image is placed by its pod's other images
        (
            "registry:5000/mirror/executor_evm:latest",
            [*V6_POD[:1], "x/executor_evm:latest"],
            (V6, "executor", "executor"),
        ),
        ("registry:5000/mirror/executor_evm", ["x/kms_sm:latest", "x/executor_evm"], (V5, "executor", "executor")),
        ("syncthing/syncthing:1.16", V5_POD, None),
    ],
)
def test_an_image_runs_its_release_program(image, pod, expected):
    assert cita_program(image, [image, *pod]) == expected


@pytest.mark.parametrize(
    ("image", "pod", "message"),
    [
        ("citacloud/consensus_raft:v6.7.4", V5_POD, "its tag says v6.7.4, the other images of its pod say v5.0.0"),
        ("citacloud/executor_evm:latest", ["citacloud/executor_evm:latest"], "cannot tell whether it is a v5.0.0"),
        ("x/executor_evm:dev", ["x/network_zenoh:dev", "x/kms_sm:dev"], "mixes images of v5.0.0 and v6.7.4"),
        ("citacloud/network_p2p:v6.7.4", ["citacloud/network_p2p:v6.7.4"], "tag says v6.7.4"),
    ],
)
def test_an_image_of_no_clear_release_is_refused(image, pod, message):
    with pytest.raises(ImageError, match=message):
        release_of(image, [image, *pod])


POD = {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "fsGroup": 1000}


@pytest.mark.parametrize(
    ("image_user", "release", "pod", "container", "expected"),
    [
        ("chain", V6, POD, {}, User(1000, 1000, (1000,))),
        ("chain", V6, {**POD, "fsGroup": 2000, "supplementalGroups": [3000]}, {}, User(1000, 1000, (1000, 2000, 3000))),
        ("chain", V6, POD, {"runAsUser": 1001}, User(1001, 1000, (1000,))),
        ("chain", V6, {"runAsUser": 1000}, {}, User(1000, 1000, (1000,))),  # gid from the image's passwd
        ("chain", V6, {}, {}, User(1000, 1000, (1000,))),  # the image's USER
        ("0", V5, {}, {}, User(0, 0, (0,))),  # v5.0.0's images run as root
        ("0", V5, {"runAsUser": 1000}, {}, User(1000, 0, (0,))),  # no such user in the image: group 0
    ],
)
def test_the_container_runs_as_the_kubelet_decides(image_user, release, pod, container, expected):
    assert container_user(image_user, IMAGE_PASSWD[release], pod, container, "p/c") == expected


@pytest.mark.parametrize(
    ("image_user", "pod", "container", "message"),
    [
        ("chain", {"runAsNonRoot": True}, {}, "non-numeric user \\(chain\\)"),  # runAsNonRoot needs a number
        ("0", {"runAsNonRoot": True}, {}, "runAsNonRoot and image will run as root"),
        ("chain", {"runAsNonRoot": True}, {"runAsUser": 0}, "runAsNonRoot and image will run as root"),
        ("nobody", {}, {}, "unable to find user nobody"),
    ],
)
def test_a_user_the_kubelet_refuses_is_refused(image_user, pod, container, message):
    with pytest.raises(ImageError, match=message):
        container_user(image_user, IMAGE_PASSWD[V6], pod, container, "p/c")


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("16Mi", 16 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("500k", 500_000), ("1048576", 2**20), (4096, 4096)],
)
def test_size_limits_read_as_kubernetes_quantities(quantity, expected):
    assert quantity_bytes(quantity) == expected


@pytest.mark.parametrize("quantity", ["16MB", "", "-1", "1.5.0Mi", "Mi"])
def test_a_size_limit_that_is_no_quantity_is_refused(quantity):
    with pytest.raises(VolumeError):
        quantity_bytes(quantity)


def encoded(**keys: bytes) -> dict[str, str]:
    return {key: base64.b64encode(value).decode() for key, value in keys.items()}


def test_a_secret_volume_holds_only_its_items_with_their_modes():
    data = secret_data({"data": encoded(a=b"1", b=b"2", c=b"3"), "stringData": {"c": "three"}})
    assert data == {"a": b"1", "b": b"2", "c": b"three"}
    whole = {"secret": {"secretName": "s"}}
    assert secret_files(whole, data, "w") == {"a": (b"1", 0o644), "b": (b"2", 0o644), "c": (b"three", 0o644)}
    some = {
        "secret": {
            "secretName": "s",
            "defaultMode": 0o440,
            "items": [{"key": "a", "path": "sub/first"}, {"key": "c", "path": "c", "mode": 0o400}],
        }
    }
    assert secret_files(some, data, "w") == {"sub/first": (b"1", 0o440), "c": (b"three", 0o400)}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"key": "missing", "path": "x"}], "has no key 'missing'"),
        ([{"key": "a", "path": "../escape"}], "must be relative"),
        ([{"key": "a", "path": "/abs"}], "must be relative"),
    ],
)
def test_a_secret_item_the_kubelet_refuses_is_refused(items, message):
    with pytest.raises(VolumeError, match=message):
        secret_files({"secret": {"secretName": "s", "items": items}}, {"a": b"1"}, "w")


def test_an_optional_secret_item_that_is_missing_is_left_out():
    volume = {"secret": {"secretName": "s", "optional": True, "items": [{"key": "missing", "path": "x"}]}}
    assert secret_files(volume, {"a": b"1"}, "w") == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another group needs root")
def test_a_secret_update_swaps_the_whole_payload_at_once(tmp_path: Path):
    """The kubelet's atomic writer: files behind `..data`, group fsGroup, group read added; an update
    moves `..data` to a new folder, drops keys gone and the old folder."""
    write_secret_payload(tmp_path, {"config.toml": (b"old", 0o440), "gone": (b"x", 0o400)}, 1234)
    first = os.readlink(tmp_path / DATA_LINK)
    assert (tmp_path / "config.toml").read_bytes() == b"old"
    assert os.readlink(tmp_path / "config.toml") == f"{DATA_LINK}/config.toml"
    gone = (tmp_path / "gone").stat()
    assert (gone.st_gid, stat.S_IMODE(gone.st_mode)) == (1234, 0o440)  # fsGroup adds group read to 0400
    write_secret_payload(tmp_path, {"config.toml": (b"new", 0o440)}, 1234)
    assert (tmp_path / "config.toml").read_bytes() == b"new"
    assert os.readlink(tmp_path / DATA_LINK) != first
    assert not (tmp_path / first).exists()
    assert not os.path.lexists(tmp_path / "gone")
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted(
        [DATA_LINK, os.readlink(tmp_path / DATA_LINK), "config.toml"]
    )


def test_without_fs_group_a_secret_keeps_its_mode_and_root_group(tmp_path: Path):
    write_secret_payload(tmp_path, {"key": (b"k", 0o400)}, None)
    found = (tmp_path / "key").stat()
    assert stat.S_IMODE(found.st_mode) == 0o400
    assert found.st_gid == os.getegid()
